"""The executor: runs a plan, one batch per server, and logs every operation.

:class:`Executor` is the caller of the per-server unit
(:func:`~orchestra_core.execution.runner.run_server`): it makes each operation's log, stores
it ``received``, hands the servers' jobs to a :class:`~orchestra_core.execution.executors.
BatchExecutor` chosen by name (``threads``: servers in parallel in this process, waves one
after the other), stores each server's logs ``started`` before its batch is sent and final
once it is done, and calls ``on_step`` and ``on_finished``. Where the logs go is a
:class:`LogSink`: anything with ``save_logs`` (every store is one).

Applies, monitor runs and drift checks all go through it, with the same states, timeouts and
redaction; a read-only run keeps only final logs (:class:`FinalLogs`), or none.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from orchestra_core.execution.executors import BatchExecutor, load_executor
from orchestra_core.execution.results import OperationLog, State, StepResult
from orchestra_core.execution.runner import (
    DEFAULT_BATCH_TIMEOUT,
    RELOAD_TIMEOUT,
    ServerJob,
    TransportSource,
    batch_timeout,
    new_log,
    with_step_timeouts,
)
from orchestra_core.planning.plan import Plan, ServerPlan
from orchestra_core.planning.timeouts import Timeouts

__all__ = [
    "RELOAD_TIMEOUT",
    "ApplyResult",
    "Executor",
    "FinalLogs",
    "LogSink",
    "TransportSource",
    "with_step_timeouts",
]

log = logging.getLogger(__name__)


@runtime_checkable
class LogSink(Protocol):
    """Where an executor's operation logs go (every store is one)."""

    def save_logs(self, logs: Sequence[OperationLog]) -> None:
        """Insert or replace each of ``logs`` by its id, all or none."""
        ...


class FinalLogs:
    """A sink that passes on only final logs: what a read-only run keeps. Its logs are not
    written under a server lock, so an unfinished one must never be stored, where the next
    apply of that server would take it for one it interrupted."""

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink

    def save_logs(self, logs: Sequence[OperationLog]) -> None:
        """Save the final ones of ``logs``."""
        final = [entry for entry in logs if entry.state.is_final]
        if final:
            self.sink.save_logs(final)


@attrs.define(kw_only=True)
class ApplyResult:
    """The final logs of one :meth:`Executor.execute`, in plan order."""

    logs: list[OperationLog] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """True when every operation ended ``success`` or ``nothing``."""
        return all(entry.state.is_ok for entry in self.logs)

    def counts(self) -> dict[State, int]:
        """How many operations ended in each state (states with none are left out)."""
        return dict(Counter(entry.state for entry in self.logs))


class Executor:
    """Runs plans through transports and records each operation in ``store``.

    ``transports`` maps a server's ``transport`` name to a transport (or is a function doing
    so); ``store`` is where logs go (None: nowhere). ``executor`` fans the servers out: a name
    (``threads``, the default; see :func:`~orchestra_core.execution.executors.load_executor`)
    or an instance. At most ``max_parallel`` servers run at once; ``batch_timeout`` bounds one
    server's batch unless the server's ``settings.timeouts.batch`` says otherwise, and
    ``timeout``, when given, bounds every server's batch whatever its settings say.
    ``on_step(log_id, step_result)`` and then ``on_finished(log)`` are called once per step
    and per operation when its server's batch is done (from the executor's threads), after
    the final log is stored. ``finish(log)``, when given, completes each final log before it
    is stored (a read-only run settles its guarded steps).
    """

    def __init__(
        self,
        transports: TransportSource,
        store: LogSink | None = None,
        *,
        max_parallel: int = 8,
        batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT,
        timeout: float | None = None,
        on_finished: Callable[[OperationLog], None] | None = None,
        on_step: Callable[[str, StepResult], None] | None = None,
        executor: str | BatchExecutor = "threads",
        finish: Callable[[OperationLog], None] | None = None,
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.transports = transports
        self.store = store
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout
        self.timeout = timeout
        self.on_finished = on_finished
        self.on_step = on_step
        self.executor = load_executor(executor) if isinstance(executor, str) else executor
        self.finish = finish

    def execute(self, plan: Plan, *, retry_of: Mapping[str, str] | None = None) -> ApplyResult:
        """Run every server's batch of ``plan`` and return the final operation logs.

        ``retry_of`` maps a planned operation's id to the id of the log it retries; the new
        log links to it.
        """
        jobs = self.jobs(plan, retry_of=retry_of)
        self._save([entry for job in jobs for entry in job.logs])
        final: dict[str, list[OperationLog]] = {}

        def started(job: ServerJob) -> None:
            # The job's logs are this call's own (or, shipped, copies of them): marked here,
            # never by the pure unit.
            for entry in job.logs:
                entry.state = State.STARTED
                entry.started_at = job.started_at
            self._save(job.logs)

        def done(job: ServerJob, logs: list[OperationLog]) -> None:
            if self.finish is not None:
                for entry in logs:
                    self.finish(entry)
            self._save(logs)
            final[job.logs[0].id] = logs
            for entry in logs:
                self._notify(entry)

        waves = [
            [job for job in jobs if job.plan.wave == wave]
            for wave in sorted({job.plan.wave for job in jobs})
        ]
        self.executor.run(
            waves,
            self.transports,
            max_parallel=self.max_parallel,
            on_started=started,
            on_done=done,
        )
        missing = [job.server for job in jobs if job.logs[0].id not in final]
        if missing:
            raise RuntimeError(
                f"executor {self.executor.name} gave back no logs for server(s) "
                f"{', '.join(missing)}: it must call on_done once per job"
            )
        return ApplyResult(logs=[entry for job in jobs for entry in final[job.logs[0].id]])

    def jobs(self, plan: Plan, *, retry_of: Mapping[str, str] | None = None) -> list[ServerJob]:
        """One job per server of ``plan`` with operations, its logs ``received``."""
        links = retry_of or {}
        return [
            ServerJob(
                plan=sp,
                logs=tuple(new_log(sp.server, op, links.get(op.id)) for op in sp.operations),
                timeout=self.timeout,
                batch_timeout=self.batch_timeout,
            )
            for sp in plan.servers
            if sp.operations
        ]

    def _batch_timeout(self, server_plan: ServerPlan, timeouts: Timeouts) -> float | None:
        """What :func:`~orchestra_core.execution.runner.batch_timeout` gives this executor's
        jobs."""
        return batch_timeout(
            server_plan, timeouts, timeout=self.timeout, default=self.batch_timeout
        )

    def _save(self, logs: Sequence[OperationLog]) -> None:
        if self.store is not None and logs:
            self.store.save_logs(list(logs))

    def _notify(self, entry: OperationLog) -> None:
        # A failing callback must not cost the other operations their logs.
        if self.on_step is not None:
            for step in entry.steps:
                try:
                    self.on_step(entry.id, step)
                except Exception:
                    log.exception("on_step callback failed for %s", entry.id)
        if self.on_finished is not None:
            try:
                self.on_finished(entry)
            except Exception:
                log.exception("on_finished callback failed for %s", entry.id)

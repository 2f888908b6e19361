"""The executor: runs a plan, one batch per server, servers in parallel, and logs every operation.

Per server: its operations' logs are stored as ``started``, its steps are compiled into one
batch, the server's transport runs it, and the per-step records are mapped back onto each
operation's log. Nothing a transport does (fail, raise, time out) escapes :meth:`execute`;
it becomes ``error``, ``timeout`` or ``unknown`` in the logs. A sensitive step's content and
stdin never reach a log: the script is the redacted one, and the secret's text is scrubbed
from output.

Timeouts: a server's batch is bounded by ``timeout`` when the executor is given one (``apply
--timeout``), else by the longest any of its operations asks for: its route's
``settings.timeouts.batch`` (which the planner puts in ``PlannedOperation.batch_timeout``),
else the server's ``settings.timeouts.batch``, else ``batch_timeout``. The planner gives each
step its timeout (:func:`~orchestra_core.execution.server_settings.with_timeouts`); a step of
a plan built by hand that has none gets the server's ``settings.timeouts.step`` here, and a
reload :data:`RELOAD_TIMEOUT`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from orchestra_core.backends.steps import Command, Step, WriteFile
from orchestra_core.errors import ConfigurationError, TransportError
from orchestra_core.execution.results import OperationLog, State, StepResult, utcnow
from orchestra_core.execution.script import compile_batch, describe_for_log
from orchestra_core.execution.transport import Batch, BatchResult, RawStepResult, Transport
from orchestra_core.model.secret import REDACTED
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.planning.timeouts import (
    RELOAD_TIMEOUT,
    Timeouts,
    server_timeouts,
    with_timeouts,
)

if TYPE_CHECKING:
    from orchestra_core.storage.protocol import Store

__all__ = ["RELOAD_TIMEOUT", "ApplyResult", "Executor", "TransportSource", "with_step_timeouts"]

log = logging.getLogger(__name__)

#: Transports by name, or a function that returns the transport for a name.
TransportSource = Mapping[str, Transport] | Callable[[str], Transport]

_STATUS_STATE = {
    "changed": State.SUCCESS,
    "unchanged": State.NOTHING,
    "failed": State.FAILURE,
    "timeout": State.TIMEOUT,
}
_BAD_STATES = (State.TIMEOUT, State.FAILURE, State.ERROR, State.UNKNOWN, State.ABORTED)


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
    so). At most ``max_parallel`` servers run at once; ``batch_timeout`` bounds one server's
    batch unless the server's ``settings.timeouts.batch`` says otherwise, and ``timeout``, when
    given, bounds every server's batch whatever its settings say. ``on_step(log_id,
    step_result)`` and then ``on_finished(log)`` are called once per step and per operation
    when its server's batch is done, from worker threads.
    """

    def __init__(
        self,
        transports: TransportSource,
        store: Store,
        *,
        max_parallel: int = 8,
        batch_timeout: float | None = 600,
        timeout: float | None = None,
        on_finished: Callable[[OperationLog], None] | None = None,
        on_step: Callable[[str, StepResult], None] | None = None,
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

    def execute(self, plan: Plan, *, retry_of: Mapping[str, str] | None = None) -> ApplyResult:
        """Run every server's batch of ``plan`` and return the final operation logs.

        ``retry_of`` maps a planned operation's id to the id of the log it retries; the new
        log links to it.
        """
        work: list[tuple[ServerPlan, list[OperationLog]]] = []
        for server_plan in plan.servers:
            if not server_plan.operations:
                continue
            logs = [
                _new_log(server_plan.server, op, (retry_of or {}).get(op.id))
                for op in server_plan.operations
            ]
            work.append((server_plan, logs))
        self.store.save_logs([entry for _, logs in work for entry in logs])
        # Waves run one after the other; the servers of one wave run in parallel.
        for wave in sorted({sp.wave for sp, _ in work}):
            batch = [(sp, logs) for sp, logs in work if sp.wave == wave]
            workers = min(self.max_parallel, len(batch))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="orchestra") as pool:
                for future in [pool.submit(self._run_server, sp, logs) for sp, logs in batch]:
                    future.result()
        return ApplyResult(logs=[entry for _, logs in work for entry in logs])

    def _run_server(self, server_plan: ServerPlan, logs: list[OperationLog]) -> None:
        started = utcnow()
        for entry in logs:
            entry.state = State.STARTED
            entry.started_at = started
        self.store.save_logs(logs)
        try:
            timeouts = server_timeouts(server_plan.server)
        except ConfigurationError as exc:
            result = BatchResult(steps=(), error=str(exc))
        else:
            server_plan = with_step_timeouts(server_plan, timeouts)
            result = self._run_batch(server_plan, self._batch_timeout(server_plan, timeouts))
        finished = utcnow()
        steps = _map_results(server_plan.steps, result)
        _scrub(steps, server_plan.steps)
        offset = 0
        earlier: list[tuple[int, Step]] = []
        for op, entry in zip(server_plan.operations, logs, strict=True):
            own = steps[offset : offset + len(op.steps)]
            scripts = []
            for i, step in enumerate(op.steps, start=offset):
                scripts.append(describe_for_log(step, i, earlier))
                earlier.append((i, step))
            offset += len(op.steps)
            _finish(entry, own, "\n".join(scripts), finished)
        self.store.save_logs(logs)
        for entry in logs:
            self._notify(entry)

    def _batch_timeout(self, server_plan: ServerPlan, timeouts: Timeouts) -> float | None:
        """``apply --timeout``, else the longest its operations ask for (their route's batch
        timeout, else the server's, else the executor's; None asks for no bound)."""
        if self.timeout is not None:
            return self.timeout
        own = timeouts.batch if timeouts.batch is not None else self.batch_timeout
        asked = [
            own if op.batch_timeout is None else op.batch_timeout for op in server_plan.operations
        ]
        if not asked:
            return own
        bounded = [seconds for seconds in asked if seconds is not None]
        return max(bounded) if len(bounded) == len(asked) else None

    def _run_batch(self, server_plan: ServerPlan, timeout: float | None) -> BatchResult:
        server = server_plan.server
        try:
            batch = compile_batch(server_plan)
        except Exception as exc:
            log.exception("could not compile the batch for server %s", server.name)
            return BatchResult(steps=(), error=f"could not compile the batch: {exc}")
        try:
            transport = self._transport_for(server.transport)
        except Exception as exc:
            return BatchResult(steps=(), error=str(exc))
        return _call(transport, server, batch, timeout)

    def _transport_for(self, name: str) -> Transport:
        if isinstance(self.transports, Mapping):
            try:
                return self.transports[name]
            except KeyError:
                known = ", ".join(sorted(self.transports)) or "none"
                raise KeyError(f"no transport named {name!r} (configured: {known})") from None
        return self.transports(name)

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


def with_step_timeouts(server_plan: ServerPlan, timeouts: Timeouts) -> ServerPlan:
    """``server_plan`` with a timeout on every step that has none: the server's ``step``
    timeout, or for a reload :data:`RELOAD_TIMEOUT` (the planner has given them already; this
    is for plans built by hand)."""
    operations = []
    for op in server_plan.operations:
        steps = with_timeouts(op.steps, timeouts)
        operations.append(op if steps is op.steps else attrs.evolve(op, steps=steps))
    return attrs.evolve(server_plan, operations=tuple(operations))


def _new_log(server: Server, op: PlannedOperation, retry_of: str | None) -> OperationLog:
    return OperationLog(
        operation_id=op.id,
        server=server.name,
        backend=op.backend,
        action=op.action,
        object_keys=op.object_keys,
        retry_of=retry_of,
    )


def _call(transport: Transport, server: Server, batch: Batch, timeout: float | None) -> BatchResult:
    """Run the batch; every exception becomes a ``BatchResult`` with ``error`` set."""
    try:
        return transport.run(server, batch, timeout=timeout)
    except (TransportError, OSError) as exc:
        return BatchResult(steps=(), error=str(exc))
    except Exception as exc:
        log.exception("transport %s raised on server %s", transport.name, server.name)
        return BatchResult(
            steps=(), error=f"transport {transport.name} failed: {type(exc).__name__}: {exc}"
        )


def _from_raw(result: StepResult, raw: RawStepResult) -> None:
    result.state = _STATUS_STATE.get(raw.status, State.ERROR)
    result.exit_code = raw.exit_code
    result.stdout = raw.stdout
    result.stderr = raw.stderr
    result.duration = raw.duration


def _map_results(steps: Sequence[Step], result: BatchResult) -> list[StepResult]:
    """One final :class:`StepResult` per step of the batch."""
    reported = {raw.index: raw for raw in result.steps}
    halted = False
    out: list[StepResult] = []
    for index, step in enumerate(steps):
        item = StepResult(index=index, kind=step.kind, description=step.description)
        raw = reported.get(index)
        if halted:
            item.state = State.ABORTED
        elif raw is not None:
            _from_raw(item, raw)
            halted = item.state in (State.FAILURE, State.TIMEOUT, State.ERROR)
        elif result.cut_off:
            # The batch may have run on past its last report: never say "not run" here.
            item.state = State.UNKNOWN
            item.stderr = (
                f"{result.error or 'the batch was cut off'}: this step may or may not have "
                "run; the next apply does it again\n"
            )
        elif result.error is not None:
            item.state = State.ERROR
            item.stderr = result.error
        elif result.timed_out:
            item.state = State.TIMEOUT
            item.stderr = "the batch hit its time limit while this step ran"
            halted = True
        else:
            item.state = State.ERROR
            item.stderr = (
                f"the batch reported no result for this step (exit code {result.exit_code})"
                + (f": {result.stderr.strip()}" if result.stderr.strip() else "")
            )
        out.append(item)
    return out


def _finish(
    entry: OperationLog, steps: list[StepResult], script: str, finished_at: datetime
) -> None:
    entry.steps = steps
    entry.script = script
    entry.finished_at = finished_at
    bad = next((s for s in steps if s.state in _BAD_STATES), None)
    if bad is not None:
        entry.state = bad.state
        entry.exit_code = bad.exit_code
    else:
        entry.state = (
            State.SUCCESS if any(s.state is State.SUCCESS for s in steps) else State.NOTHING
        )
        entry.exit_code = 0
    entry.stdout = "".join(s.stdout for s in steps)
    stderr: list[str] = []
    previous: State | None = None
    for s in steps:
        # One transport error message per operation, not one per step.
        if not (s.state in (State.ERROR, State.UNKNOWN) and previous is s.state):
            stderr.append(s.stderr)
        previous = s.state
    entry.stderr = "".join(stderr)


def _secrets_of(steps: Sequence[Step]) -> list[str]:
    """The text of every sensitive step's secret, longest first, as it may show in output."""
    found: set[str] = set()
    for step in steps:
        if not step.sensitive:
            continue
        values = []
        if isinstance(step, WriteFile):
            values.append(step.content)
        if isinstance(step, Command) and step.stdin is not None:
            values.append(step.stdin)
            values.extend(line.strip() for line in step.stdin.splitlines())
        for value in values:
            # Stripped: surrounding whitespace is not secret, and output rarely keeps it.
            text = value.strip()
            if len(text) >= 4:
                found.add(text)
    return sorted(found, key=len, reverse=True)


def _scrub(results: list[StepResult], steps: Sequence[Step]) -> None:
    """Replace every secret of the batch in step output by the redaction marker."""
    secrets = _secrets_of(steps)
    if not secrets:
        return
    for item in results:
        for secret in secrets:
            item.stdout = item.stdout.replace(secret, REDACTED)
            item.stderr = item.stderr.replace(secret, REDACTED)

"""Read-only batches: one round trip per server whose steps each report, whatever the others do.

What monitors, ``orchestra check`` and ``plan --refresh`` send: :class:`Command` steps that
change nothing, run *guarded* (a failing step does not stop the batch; its exit status travels
at the end of its output), one batch per server, servers in parallel. They run through the
same :class:`~orchestra_core.execution.executor.Executor` and per-server unit as applies
(states, timeouts, redaction); :func:`read_results` turns each guarded step's result into a
:class:`ReadResult`, and :func:`settle_guarded` settles its log first (a step that exited
non-zero is a ``failure``, one that exited 0 changed ``nothing``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from orchestra_core.backends.steps import Command, Step
from orchestra_core.errors import OrchestraError
from orchestra_core.execution.executor import Executor, FinalLogs, LogSink
from orchestra_core.execution.executors import BatchExecutor
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.execution.runner import DEFAULT_BATCH_TIMEOUT, TransportSource, settle
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.rendering.shell import quote

__all__ = [
    "ReadResult",
    "guard",
    "read_only_operation",
    "read_results",
    "run_read_only",
    "settle_guarded",
    "unguard",
]

#: The line a guarded step ends its output with: its script's exit status.
_STATUS = "@@ORCHESTRA-MONITOR-STATUS"
_STATUS_LINE = re.compile(rf"(?:^|\n){re.escape(_STATUS)} (\d+)\n?$")


def guard(step: Step) -> Command:
    """``step`` (a :class:`Command`) run so that its failure does not stop the batch: its
    output ends with a status line that :func:`unguard` reads back."""
    if not isinstance(step, Command) or step.unless is not None or step.stdin is not None:
        raise OrchestraError(
            f"read-only step {step.description!r}: a read-only batch takes Command steps "
            "without unless or stdin"
        )
    script = f'( eval {quote(step.script)} ); printf "\\n{_STATUS} %d\\n" "$?"\n'
    return attrs.evolve(step, script=script)


def unguard(stdout: str) -> tuple[int | None, str]:
    """The exit status and the output of a guarded step (None: the status line is missing)."""
    found = _STATUS_LINE.search(stdout)
    if found is None:
        return None, stdout
    return int(found[1]), stdout[: found.start()]


@attrs.frozen(kw_only=True)
class ReadResult:
    """What one read-only step gave: its output, or ``problem`` (why there is none)."""

    output: str = ""
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the step ran and exited 0."""
        return self.problem is None


def read_only_operation(
    server: Server,
    steps: Sequence[Step],
    *,
    id: str,
    backend: str,
    action: str,
    object_keys: tuple[str, ...] = (),
) -> PlannedOperation:
    """An operation of ``steps`` on ``server``, each :func:`guard` ed."""
    return PlannedOperation(
        id=id,
        server=server.name,
        backend=backend,
        action=action,
        object_keys=object_keys,
        steps=tuple(guard(step) for step in steps),
    )


def settle_guarded(entry: OperationLog) -> None:
    """Settle ``entry``, a final log of guarded steps (once, before it is stored): each
    step's output loses its status line; a step whose script exited non-zero (or left no
    status) becomes a ``failure`` with that exit code, one that exited 0 ``nothing``."""
    for step in entry.steps:
        if step.state not in (State.SUCCESS, State.NOTHING, State.FAILURE, State.TIMEOUT):
            continue
        status, step.stdout = unguard(step.stdout)
        if step.state is State.TIMEOUT:
            continue
        if step.state is State.SUCCESS or step.state is State.NOTHING:
            step.state = State.NOTHING if status == 0 else State.FAILURE
        if step.state is State.FAILURE and status:
            step.exit_code = status
    settle(entry)


def read_results(entry: OperationLog) -> list[ReadResult]:
    """One :class:`ReadResult` per step of ``entry``, a log settled by
    :func:`settle_guarded`."""
    out: list[ReadResult] = []
    for step in entry.steps:
        if step.state is State.NOTHING:
            out.append(ReadResult(output=step.stdout))
        elif step.state is State.FAILURE:
            words = (step.stderr or step.stdout).strip()[-2000:]
            why = f"exit status {step.exit_code}" + (f": {words}" if words else "")
            out.append(ReadResult(output=step.stdout, problem=why))
        elif step.state is State.TIMEOUT:
            out.append(ReadResult(output=step.stdout, problem="timed out"))
        elif step.state is State.ABORTED:
            out.append(ReadResult(problem="did not run"))
        else:  # error or unknown: the transport's words
            out.append(ReadResult(problem=step.stderr.strip() or step.state.value))
    return out


def run_read_only(
    work: Sequence[tuple[Server, Sequence[Step]]],
    transports: TransportSource,
    *,
    label: str,
    max_parallel: int = 8,
    batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT,
    executor: str | BatchExecutor = "threads",
    logs: LogSink | None = None,
    timeout: float | None = None,
) -> list[list[ReadResult]]:
    """Run each server's steps in one batch, servers in parallel; per server (in order), one
    :class:`ReadResult` per step. ``label`` names the batch's operations (``check``); their
    final logs go to ``logs`` when given. ``timeout`` bounds every server's batch whatever
    its ``settings.timeouts`` say (``apply --timeout``); else they do, else
    ``batch_timeout``."""
    if not work:
        return []
    plan = Plan(
        servers=tuple(
            ServerPlan(
                server=server,
                operations=(
                    read_only_operation(
                        server, steps, id=f"{server.name}:{label}", backend=label, action=label
                    ),
                ),
            )
            for server, steps in work
        )
    )
    runner = Executor(
        transports,
        None if logs is None else FinalLogs(logs),
        max_parallel=max_parallel,
        batch_timeout=batch_timeout,
        timeout=timeout,
        executor=executor,
        finish=settle_guarded,
    )
    return [read_results(entry) for entry in runner.execute(plan).logs]

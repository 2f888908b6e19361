"""The per-server unit: one server's batch compiled, run and mapped onto its operations' logs.

:func:`run_server` is what every executor runs for each server, applies and read-only runs
(monitors, drift checks) alike, in one process or on a worker host: it takes a
:class:`ServerJob` (pure data: the server's plan, its operations' logs, its timeouts) and the
transports, and returns the final logs. It never touches a store and fires no hook: its
caller does both (:class:`~orchestra_core.execution.executor.Executor`). Nothing a transport
does (fail, raise, time out) escapes it; it becomes ``error``, ``timeout`` or ``unknown`` in
the logs. A sensitive step's content and stdin never reach a log: the script is the redacted
one, and the secret's text is scrubbed from output.

Timeouts: a server's batch is bounded by ``timeout`` when the job has one (``apply
--timeout``), else by the longest any of its operations asks for: its route's
``settings.timeouts.batch`` (which the planner puts in ``PlannedOperation.batch_timeout``),
else the server's ``settings.timeouts.batch``, else the job's ``batch_timeout`` (600 s). The
planner gives each step its timeout (:func:`~orchestra_core.planning.timeouts.with_timeouts`);
a step of a plan built by hand that has none gets the server's ``settings.timeouts.step``
here, and a reload :data:`RELOAD_TIMEOUT`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from orchestra_core.backends.steps import Command, Step, WriteFile
from orchestra_core.errors import ConfigurationError, TransportError
from orchestra_core.execution.results import OperationLog, State, StepResult, utcnow
from orchestra_core.execution.script import compile_batch, describe_for_log
from orchestra_core.execution.transport import Batch, BatchResult, RawStepResult, Transport
from orchestra_core.model.secret import REDACTED
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import PlannedOperation, ServerPlan
from orchestra_core.planning.timeouts import (
    RELOAD_TIMEOUT,
    Timeouts,
    server_timeouts,
    with_timeouts,
)

__all__ = [
    "BAD_STATES",
    "DEFAULT_BATCH_TIMEOUT",
    "RELOAD_TIMEOUT",
    "ServerJob",
    "TransportSource",
    "batch_timeout",
    "new_log",
    "run_server",
    "settle",
    "transport_for",
    "with_step_timeouts",
]

log = logging.getLogger(__name__)

#: Transports by name, or a function that returns the transport for a name.
TransportSource = Mapping[str, Transport] | Callable[[str], Transport]

#: Seconds a server's batch may take when nothing else says.
DEFAULT_BATCH_TIMEOUT = 600.0

#: The states that make an operation's log end badly, by its first such step.
BAD_STATES = (State.TIMEOUT, State.FAILURE, State.ERROR, State.UNKNOWN, State.ABORTED)

_STATUS_STATE = {
    "changed": State.SUCCESS,
    "unchanged": State.NOTHING,
    "failed": State.FAILURE,
    "timeout": State.TIMEOUT,
}


@attrs.frozen(kw_only=True)
class ServerJob:
    """One server's work as an executor receives it: plain data that can travel to a worker.

    ``logs`` holds one log per operation of ``plan``, in order (their ids are what the
    caller stores); ``timeout`` is ``apply --timeout`` (None: the operations' and the
    server's settings decide), ``batch_timeout`` the bound when nothing else gives one.
    """

    plan: ServerPlan
    logs: tuple[OperationLog, ...]
    timeout: float | None = None
    batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT
    #: When its batch was sent (:meth:`start`); None before.
    started_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if len(self.logs) != len(self.plan.operations):
            raise ValueError(
                f"server {self.plan.server.name}: {len(self.logs)} logs for "
                f"{len(self.plan.operations)} operations"
            )

    @property
    def server(self) -> str:
        """The server's name."""
        return self.plan.server.name

    def start(self, at: datetime | None = None) -> ServerJob:
        """This job started at ``at`` (now): what an executor hands to ``on_started`` just
        before the batch is sent, and then to :func:`run_server`, whose logs start then."""
        return attrs.evolve(self, started_at=at or utcnow())


def new_log(server: Server, op: PlannedOperation, retry_of: str | None = None) -> OperationLog:
    """The ``received`` log of ``op`` on ``server`` (``retry_of``: the log it retries)."""
    return OperationLog(
        operation_id=op.id,
        server=server.name,
        backend=op.backend,
        action=op.action,
        object_keys=op.object_keys,
        retry_of=retry_of,
    )


def run_server(job: ServerJob, transports: TransportSource) -> list[OperationLog]:
    """Run ``job``'s batch on its server and return its operations' final logs, in order.

    The job's logs are not changed: the returned ones are new, started at the job's
    ``started_at`` (now, for a job not started). Pure but for the transport: no store, no hook.
    """
    started = job.started_at or utcnow()
    server_plan = job.plan
    try:
        timeouts = server_timeouts(server_plan.server)
    except ConfigurationError as exc:
        result = BatchResult(steps=(), error=str(exc))
    else:
        server_plan = with_step_timeouts(server_plan, timeouts)
        seconds = batch_timeout(
            server_plan, timeouts, timeout=job.timeout, default=job.batch_timeout
        )
        result = _run_batch(server_plan, transports, seconds)
    finished = utcnow()
    steps = _map_results(server_plan.steps, result)
    _scrub(steps, server_plan.steps)
    out: list[OperationLog] = []
    offset = 0
    earlier: list[tuple[int, Step]] = []
    for op, entry in zip(server_plan.operations, job.logs, strict=True):
        own = steps[offset : offset + len(op.steps)]
        scripts = []
        for i, step in enumerate(op.steps, start=offset):
            scripts.append(describe_for_log(step, i, earlier))
            earlier.append((i, step))
        offset += len(op.steps)
        final = attrs.evolve(
            entry,
            steps=own,
            script="\n".join(scripts),
            started_at=started,
            finished_at=finished,
        )
        settle(final)
        out.append(final)
    return out


def batch_timeout(
    server_plan: ServerPlan,
    timeouts: Timeouts,
    *,
    timeout: float | None = None,
    default: float | None = DEFAULT_BATCH_TIMEOUT,
) -> float | None:
    """The bound of ``server_plan``'s batch: ``timeout`` (``apply --timeout``), else the
    longest its operations ask for (their route's batch timeout, else the server's
    ``timeouts.batch``, else ``default``); None asks for no bound."""
    if timeout is not None:
        return timeout
    own = timeouts.batch if timeouts.batch is not None else default
    asked = [own if op.batch_timeout is None else op.batch_timeout for op in server_plan.operations]
    if not asked:
        return own
    bounded = [seconds for seconds in asked if seconds is not None]
    return max(bounded) if len(bounded) == len(asked) else None


def with_step_timeouts(server_plan: ServerPlan, timeouts: Timeouts) -> ServerPlan:
    """``server_plan`` with a timeout on every step that has none: the server's ``step``
    timeout, or for a reload :data:`RELOAD_TIMEOUT` (the planner has given them already; this
    is for plans built by hand)."""
    operations = []
    for op in server_plan.operations:
        steps = with_timeouts(op.steps, timeouts)
        operations.append(op if steps is op.steps else attrs.evolve(op, steps=steps))
    return attrs.evolve(server_plan, operations=tuple(operations))


def transport_for(transports: TransportSource, name: str) -> Transport:
    """The transport called ``name``; a :class:`KeyError` naming the configured ones."""
    if isinstance(transports, Mapping):
        try:
            return transports[name]
        except KeyError:
            known = ", ".join(sorted(transports)) or "none"
            raise KeyError(f"no transport named {name!r} (configured: {known})") from None
    return transports(name)


def settle(entry: OperationLog) -> None:
    """Set ``entry``'s state, exit code, stdout and stderr from its steps: the first step
    that ended badly decides, else ``success`` if one changed something, else ``nothing``."""
    steps = entry.steps
    bad = next((s for s in steps if s.state in BAD_STATES), None)
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


def _run_batch(
    server_plan: ServerPlan, transports: TransportSource, timeout: float | None
) -> BatchResult:
    server = server_plan.server
    try:
        batch = compile_batch(server_plan)
    except Exception as exc:
        log.exception("could not compile the batch for server %s", server.name)
        return BatchResult(steps=(), error=f"could not compile the batch: {exc}")
    try:
        transport = transport_for(transports, server.transport)
    except Exception as exc:
        return BatchResult(steps=(), error=str(exc))
    return _call(transport, server, batch, timeout)


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

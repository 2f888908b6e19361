"""Probe, then reconcile: the steps a backend decides from what the server has, at apply time.

A backend that probes (:meth:`~orchestra_core.backends.base.Backend.probe`) leaves a
:class:`~orchestra_core.backends.steps.Reconcile` in its operation's steps; the plan shows it
and nothing has run. :func:`decide_plan` is what an apply does with them before the batches:
every server with probes gets one read-only round trip holding all of them (through
:func:`~orchestra_core.execution.readonly.run_read_only`: the executor, the transports, the
server's timeouts and redaction of every batch), then each placeholder is replaced by the
steps its backend's ``reconcile`` returns for what its probe printed (none: the operation
reports "nothing", unless its other steps change something).

A probe that fails (it exits non-zero, times out, its server cannot be reached) or whose
output the backend cannot use (``parse`` or ``reconcile`` raises) is replaced by one step that
fails with those words: the operation fails (and stops its server's batch there, as any
failed step does), is not recorded, and the other servers go on. No traceback reaches a log.

All probes run before the first wave: a probe sees the server as the batch finds it, before
any step of that batch (a backend's ``reconcile`` must not depend on what an earlier
operation of the same batch changes in what it reads).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import attrs

from orchestra_core.backends.steps import Command, Inspect, Reconcile, Step
from orchestra_core.errors import OrchestraError
from orchestra_core.execution.executors import BatchExecutor
from orchestra_core.execution.readonly import ReadResult, run_read_only
from orchestra_core.execution.runner import DEFAULT_BATCH_TIMEOUT, TransportSource
from orchestra_core.model.servers import Server
from orchestra_core.model.state import content_hash
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.rendering.shell import quote

__all__ = ["decide_plan", "failed_step", "has_probes"]

log = logging.getLogger(__name__)


def has_probes(plan: Plan) -> bool:
    """True when some operation of ``plan`` still has steps to decide from a probe."""
    return any(isinstance(step, Reconcile) for op in plan.operations() for step in op.steps)


def failed_step(step: Reconcile, words: str) -> Command:
    """The step that stands for ``step`` when its probe failed: it fails with ``words``."""
    return Command(
        description=f"{step.description} (the probe failed)",
        script=f"printf '%s\\n' {quote(words)} >&2\nexit 1\n",
        timeout=step.timeout,
    )


def _decided(op: PlannedOperation, step: Reconcile, result: ReadResult) -> tuple[Step, ...]:
    """The steps that replace ``step`` of ``op`` given what its probe gave."""
    what = f"{op.object_keys[0]} [{op.backend}]"
    if not result.ok:
        return (failed_step(step, f"orchestra: the probe of {what} failed: {result.problem}"),)
    try:
        return step.decide(result.output)
    except (OrchestraError, ValueError) as exc:
        words = str(exc) or type(exc).__name__
    except Exception as exc:
        log.exception("reconciling %s failed", what)
        words = f"{type(exc).__name__} in the driver: {exc} (report this to the driver's authors)"
    return (failed_step(step, f"orchestra: cannot reconcile {what}: {words}"),)


def _probes(server_plan: ServerPlan) -> list[tuple[PlannedOperation, Reconcile]]:
    return [
        (op, step)
        for op in server_plan.operations
        for step in op.steps
        if isinstance(step, Reconcile)
    ]


def decide_plan(
    plan: Plan,
    transports: TransportSource,
    *,
    max_parallel: int = 8,
    batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT,
    executor: str | BatchExecutor = "threads",
    timeout: float | None = None,
) -> Plan:
    """``plan`` with every :class:`Reconcile` replaced by the steps decided from its probe
    (see the module's docstring); the same plan when it has none. ``timeout`` bounds each
    server's probe batch as ``apply --timeout`` bounds its batch, over its settings."""
    probing = [(sp, _probes(sp)) for sp in plan.servers]
    probing = [(sp, found) for sp, found in probing if found]
    if not probing:
        return plan
    work: list[tuple[Server, Sequence[Step]]] = [
        (
            sp.server,
            [
                Command(
                    description=f"probe {op.object_keys[0]} [{op.backend}]",
                    script=step.probe,
                    timeout=step.timeout,
                )
                for op, step in found
            ],
        )
        for sp, found in probing
    ]
    results = run_read_only(
        work,
        transports,
        label="probe",
        max_parallel=max_parallel,
        batch_timeout=batch_timeout,
        executor=executor,
        timeout=timeout,
    )
    decided: dict[int, tuple[Step, ...]] = {}
    seen: dict[int, str] = {}
    for (_, found), read in zip(probing, results, strict=True):
        for (op, step), result in zip(found, read, strict=True):
            decided[id(step)] = _decided(op, step, result)
            if result.ok:
                seen[id(step)] = result.output
    servers = []
    for sp in plan.servers:
        operations = []
        for op in sp.operations:
            if any(isinstance(step, Reconcile) for step in op.steps):
                op = _replaced(op, decided, seen)
            operations.append(op)
        servers.append(attrs.evolve(sp, operations=tuple(operations)))
    return attrs.evolve(plan, servers=tuple(servers))


def _replaced(
    op: PlannedOperation, decided: Mapping[int, tuple[Step, ...]], seen: Mapping[int, str]
) -> PlannedOperation:
    """``op`` with its :class:`Reconcile` steps replaced by what was decided for them.

    When a probe stands for an observation (``Reconcile.observation``) and nothing was
    decided, and the operation has no other step that could change anything (only checks),
    what the probe read is what the server holds afterwards: it is kept as observed, and the
    read after the operation that would learn it again is left out."""
    steps = tuple(
        new
        for step in op.steps
        for new in (decided[id(step)] if isinstance(step, Reconcile) else (step,))
    )
    known: dict[str, str] = {}
    only_checks = all(isinstance(step, Inspect | Reconcile) for step in op.steps)
    for step in op.steps:
        if (
            isinstance(step, Reconcile)
            and step.observation is not None
            and not decided[id(step)]
            and id(step) in seen
            and only_checks
            and op.placement is not None
        ):
            known[step.observation] = content_hash(seen[id(step)])
    if not known or op.placement is None:
        return attrs.evolve(op, steps=steps)
    steps = tuple(s for s in steps if not (isinstance(s, Inspect) and s.probe in known))
    if not steps:
        # One step that does nothing, so that the operation is still part of its batch: it
        # reports "nothing", or "aborted" behind a failed step, as any operation does.
        first = next(step for step in op.steps if isinstance(step, Reconcile))
        steps = (Inspect(description=f"{first.description}: as wanted already", script=":\n"),)
    placement = attrs.evolve(op.placement, observed={**op.placement.observed, **known})
    return attrs.evolve(op, steps=steps, placement=placement)

"""What an apply leaves in the store: the placements that are now applied, and those gone.

A save's placement is recorded when its operation succeeded and the reload of its server's
daemon did too (a reload that failed put the previous files back: what runs is the old
state). A delete's placement is forgotten on the same terms. Placements whose operations
render no step (a subdomain lives in its zone) follow the operations of their backend on
their server: recorded or forgotten when none of those failed. The objects that gain their
first placement start a lifetime (what billing prorates by); those that lose their last end
theirs.

What it needs of a store is declared here (:class:`OutcomeStore`); every store is one.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from orchestra_core.backends.steps import AssembleFile, DeleteFile, Inspect, Step, WriteFile
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.execution.results import OperationLog, utcnow
from orchestra_core.model.state import Placement, PlacementKey, content_hash
from orchestra_core.planning.plan import Plan, PlannedOperation

__all__ = ["Lifetimes", "OutcomeStore", "learned", "record_outcome"]

_HASH = re.compile(r"[0-9a-f]{64}")


@runtime_checkable
class Lifetimes(Protocol):
    """Where objects' lifetimes are kept (a store's ``usage``)."""

    def object_started(self, object_key: str, kind: str, account: str, at: datetime) -> None:
        """The object exists from ``at``, unless a lifetime of it is open already."""
        ...

    def object_ended(self, object_key: str, at: datetime) -> None:
        """The object's open lifetime ends at ``at`` (nothing when none is open)."""
        ...


@runtime_checkable
class OutcomeStore(Protocol):
    """What :func:`record_outcome` reads and writes: placements, and lifetimes in ``usage``."""

    @property
    def usage(self) -> Lifetimes:
        """Where lifetimes are kept."""
        ...

    def placements(
        self,
        *,
        servers: Collection[str] | None = None,
        object_keys: Collection[str] | None = None,
    ) -> list[Placement]:
        """The applied placements (on these servers, of these objects, when given)."""
        ...

    def record_placements(
        self,
        recorded: Sequence[Placement],
        forgotten: Sequence[PlacementKey] = (),
        *,
        contents: Mapping[str, str] | None = None,
    ) -> None:
        """Record ``recorded``, forget ``forgotten`` and keep ``contents``, all at once."""
        ...


def learned(op: PlannedOperation, log: OperationLog) -> dict[str, str]:
    """The probe hashes the operation's observe steps printed (malformed ones left out)."""
    found: dict[str, str] = {}
    for step, result in zip(op.steps, log.steps, strict=False):
        if isinstance(step, Inspect) and step.probe is not None:
            value = result.stdout.strip()
            if _HASH.fullmatch(value):
                found[step.probe] = value
    return found


def record_outcome(store: OutcomeStore, plan: Plan, result: ApplyResult) -> None:
    """Record in ``store`` what ``plan``'s run (``result``) applied and removed."""
    logs = {log.operation_id: log for log in result.logs}
    failed_reloads = {
        (log.server, key)
        for log in result.logs
        # A failed reload, or a refused assembled file, fails the operations that asked for it.
        if log.action in ("reload", "assemble") and not log.state.is_ok
        for key in log.object_keys
    }
    # A refused assembled file takes back what the batch changed for its daemon: every
    # operation with a file of that daemon is not applied either.
    refused = {
        (op.server, step.notify)
        for op in plan.operations()
        if op.action == "assemble" and op.id in logs and not logs[op.id].state.is_ok
        for step in op.steps
        if isinstance(step, AssembleFile) and step.notify is not None
    }
    if refused:
        failed_reloads |= {
            (op.server, key)
            for op in plan.operations()
            if any((op.server, _daemon(step)) in refused for step in op.steps)
            for key in op.object_keys
        }
    failed_backends = {(log.server, log.backend) for log in result.logs if not log.state.is_ok}
    recorded: list[Placement] = []
    forgotten: list[PlacementKey] = []
    contents: dict[str, str] = {}
    for op in plan.operations():
        log = logs.get(op.id)
        if op.placement is None or log is None or not log.state.is_ok:
            continue
        if (op.server, op.object_keys[0]) in failed_reloads:
            continue
        if op.action == "save":
            observed = learned(op, log)
            placement = op.placement
            if observed:
                placement = attrs.evolve(placement, observed={**placement.observed, **observed})
            recorded.append(placement)
            for step in op.steps:
                if isinstance(step, WriteFile) and not step.sensitive:
                    contents[content_hash(step.content)] = step.content
        elif op.action == "delete":
            forgotten.append(op.placement.key)
    for placement in plan.recorded:
        if (placement.server, placement.backend) not in failed_backends:
            recorded.append(placement)
    for placement in plan.forgotten:
        if (placement.server, placement.backend) not in failed_backends:
            forgotten.append(placement.key)
    if not recorded and not forgotten:
        return
    store.record_placements(recorded, forgotten, contents=contents)
    _lifetimes(store, recorded, forgotten)


def _daemon(step: Step) -> str | None:
    """The daemon a step's file is for: its own ``notify``, or its assembled file's."""
    if isinstance(step, WriteFile | DeleteFile) and step.fragment_of is not None:
        return step.fragment_of.notify
    return step.notify


def _lifetimes(
    store: OutcomeStore, recorded: Sequence[Placement], forgotten: Sequence[PlacementKey]
) -> None:
    now = utcnow()
    for placement in {p.object_key: p for p in recorded}.values():
        account = str(placement.snapshot.data.get("account", ""))
        store.usage.object_started(placement.object_key, placement.kind, account, now)
    gone = {key.object_key for key in forgotten} - {p.object_key for p in recorded}
    if gone:
        still = {p.object_key for p in store.placements(object_keys=gone)}
        for key in sorted(gone - still):
            store.usage.object_ended(key, now)

"""The embedding API: plan and apply change sets with the installed plugins.

An embedding application (a panel, a billing system, a provisioning API) builds an
:class:`Orchestra` with its servers and routes, collects a :class:`ChangeSet` from its own
objects, and calls :meth:`Orchestra.plan` and :meth:`Orchestra.apply`. No file and no CLI are
involved; the CLI is a thin layer over the same calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from orchestra_core.billing.metrics import UsageRecord
from orchestra_core.billing.run import make_records
from orchestra_core.errors import FieldError, PlanningError, ValidationError
from orchestra_core.execution.executor import ApplyResult, Executor
from orchestra_core.execution.loading import load_transport
from orchestra_core.execution.results import OperationLog, utcnow
from orchestra_core.execution.transport import Transport
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service
from orchestra_core.planning.changeset import ChangeSet, Operation
from orchestra_core.planning.incremental import Changes, restore
from orchestra_core.planning.plan import Plan, ServerPlan
from orchestra_core.planning.planner import Planner
from orchestra_core.registry import Registry
from orchestra_core.resources.definitions import Allocation
from orchestra_core.resources.evaluation import ResourceEvent, evaluate
from orchestra_core.resources.measure import Measurer, MeasureResult
from orchestra_core.resources.periods import Period
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import ObjectSnapshot, Store, holder_id

__all__ = ["Evaluation", "Orchestra", "record_outcome"]


@attrs.frozen(kw_only=True)
class Evaluation:
    """What :meth:`Orchestra.evaluate` found: the crossings, and the apply that followed."""

    events: tuple[ResourceEvent, ...] = ()
    applied: ApplyResult | None = None


def record_outcome(store: Store, changes: Changes, result: ApplyResult) -> None:
    """Remember as applied every wanted object none of whose operations failed, and forget
    every removed object whose deletes all succeeded. A failed object keeps its previous
    applied state, so the next incremental plan tries it again. The objects applied start a
    lifetime (unless one is open), the removed ones end theirs: what billing prorates by."""
    failed = {key for log in result.logs if not log.state.is_ok for key in log.object_keys}
    applied = [snap for snap in changes.touched if snap.key not in failed]
    removed = [key for key in changes.removed if key not in failed]
    store.record_applied(applied)
    store.forget_applied(removed)
    now = utcnow()
    for snap in applied:
        store.usage.object_started(snap.key, snap.kind, str(snap.data.get("account", "")), now)
    for key in removed:
        store.usage.object_ended(key, now)


def _live(snap: ObjectSnapshot, types: Mapping[str, type[Service]]) -> Service:
    """The object of a snapshot, suspended if it was (its account is not in the store)."""
    obj = restore(snap, types)
    return obj if snap.active == obj.is_active else attrs.evolve(obj, is_active=snap.active)


class Orchestra:
    """Plans and applies changes on a set of servers, through the installed plugins.

    ``registry`` defaults to every installed plugin; ``store`` to a :class:`MemoryStore`;
    ``transports`` maps a transport name to an instance, and names not given are loaded through
    the ``orchestra.transports`` entry points when first needed.
    """

    def __init__(
        self,
        *,
        servers: Sequence[Server],
        routes: Sequence[Route],
        registry: Registry | None = None,
        store: Store | None = None,
        transports: Mapping[str, Transport] | None = None,
        max_parallel: int = 8,
        batch_timeout: float | None = 600,
    ) -> None:
        self.registry = registry or Registry.load()
        self.store: Store = store if store is not None else MemoryStore()
        self.servers = tuple(servers)
        self.routes = tuple(routes)
        self.planner = Planner(
            {name: info.cls for name, info in self.registry.backends.items()},
            self.servers,
            self.routes,
            monitors=self.registry.monitors,
        )
        self._transports: dict[str, Transport] = dict(transports or {})
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout

    def transport(self, name: str) -> Transport:
        """The transport of this name, loaded once."""
        if name not in self._transports:
            self._transports[name] = load_transport(name)
        return self._transports[name]

    def plan(
        self,
        changes: ChangeSet | Iterable[Operation],
        *,
        index: ServiceIndex | None = None,
        accounts: Iterable[Account] = (),
        exceeded: Mapping[str, frozenset[str]] | None = None,
    ) -> Plan:
        """Validate, route and render ``changes``; fires ``orchestra_plan_ready``.

        ``index`` is the world the renderers may look at (defaults to the saved objects of the
        change set, with ``accounts``). ``exceeded`` gives the resources whose allocation each
        object is over (defaults to what the last evaluation kept in the store).
        """
        ops = changes.operations() if isinstance(changes, ChangeSet) else list(changes)
        if index is None:
            index = ServiceIndex(accounts, [op.obj for op in ops if op.action == "save"])
        if isinstance(changes, ChangeSet):
            ops = changes.operations(index)
        if exceeded is None:
            exceeded = self.exceeded()
        plan = self.planner.plan(ops, index, exceeded=exceeded)
        self.registry.plan_ready(plan)
        return plan

    def apply(
        self,
        plan: Plan,
        *,
        changes: Changes | None = None,
        on_finished: Callable[[OperationLog], None] | None = None,
        lock_wait: float = 0.0,
        retry_of: Mapping[str, str] | None = None,
    ) -> ApplyResult:
        """Run ``plan``: servers in parallel, each server's steps in order, one batch each.

        The plan's servers are locked in the store for the run (waiting up to ``lock_wait``
        seconds for another apply, then :class:`~orchestra_core.storage.ServerBusy`). Every
        operation's log goes to the store and to ``orchestra_operation_finished`` (and to
        ``on_finished``) as soon as it is final. With ``changes`` (from
        :func:`~orchestra_core.planning.incremental.compare`), the store also learns the
        servers and routes, what was asked of each object, and what is now applied: an object
        counts as applied only when none of its operations failed.
        """

        def finished(log: OperationLog) -> None:
            self.registry.operation_finished(log)
            if on_finished is not None:
                on_finished(log)

        holder = holder_id(uuid.uuid4().hex[:8])
        names = sorted({sp.server.name for sp in plan.servers if sp.operations})
        self.store.lock_servers(names, holder, wait=lock_wait)
        try:
            if changes is not None:
                self.store.save_topology(self.servers, self.routes)
                self.store.record_desired(changes.touched)
            executor = Executor(
                self.transport,
                self.store,
                max_parallel=self.max_parallel,
                batch_timeout=self.batch_timeout,
                on_finished=finished,
            )
            result = executor.execute(plan, retry_of=retry_of)
            if changes is not None:
                record_outcome(self.store, changes, result)
            return result
        finally:
            self.store.unlock_servers(names, holder)

    def retry(
        self,
        log_id: str,
        *,
        on_finished: Callable[[OperationLog], None] | None = None,
        lock_wait: float = 0.0,
    ) -> ApplyResult:
        """Run a failed operation again, with its objects as last asked for.

        Re-plans the operation's objects (the world is the applied state, with the retried
        objects as last asked for), keeps that server's operations of that backend (and the
        server's reloads), and links each new log to the original with ``retry_of``.
        """
        original = self.store.get_log(log_id)
        if original.state.is_ok:
            raise PlanningError(
                f"operation {original.id} ended {original.state.value}: nothing to retry"
            )
        if original.action == "set_password":
            raise PlanningError(
                f"operation {original.id} set a password, which orchestra does not keep: "
                "set it again from the application"
            )
        types = self.registry.service_types
        applied = self.store.applied()
        wanted: dict[str, ObjectSnapshot] = {}
        for key in original.object_keys:
            snap = self.store.desired(key) or applied.get(key)
            if snap is None:
                raise PlanningError(f"{key} is not known to the store: nothing to retry it with")
            wanted[key] = snap
        world = {key: _live(snap, types) for key, snap in {**applied, **wanted}.items()}
        index = ServiceIndex((), world.values())
        changes = ChangeSet()
        for key in original.object_keys:
            if original.action == "delete":
                changes.delete(world[key])
            else:
                changes.save(world[key])
        plan = self.plan(changes, index=index)
        kept = tuple(
            ServerPlan(
                server=sp.server,
                wave=sp.wave,
                operations=tuple(
                    op
                    for op in sp.operations
                    if op.backend == original.backend or op.action == "reload"
                ),
            )
            for sp in plan.servers
            if sp.server.name == original.server
        )
        retry_plan = Plan(servers=tuple(sp for sp in kept if sp.operations))
        if retry_plan.is_empty:
            raise PlanningError(
                f"operation {original.id}: {original.backend} no longer sends "
                f"{', '.join(original.object_keys)} to server {original.server}"
            )
        outcome = Changes(
            changeset=changes,
            index=index,
            desired=tuple(wanted.values()) if original.action != "delete" else (),
            changed=tuple(wanted) if original.action != "delete" else (),
            removed=original.object_keys if original.action == "delete" else (),
        )
        links = {
            op.id: original.id for op in retry_plan.operations() if op.id == original.operation_id
        }
        return self.apply(
            retry_plan,
            changes=outcome,
            on_finished=on_finished,
            lock_wait=lock_wait,
            retry_of=links,
        )

    # -- usage ----------------------------------------------------------------------------------

    def world(self) -> ServiceIndex:
        """Every object the store has as applied (suspended ones as suspended): what the
        command line measures and evaluates. An embedding application passes its own index."""
        types = self.registry.service_types
        return ServiceIndex((), [_live(snap, types) for snap in self.store.applied().values()])

    def exceeded(self) -> dict[str, frozenset[str]]:
        """By object key, the resources whose allocation it is over, as last evaluated."""
        over: dict[str, set[str]] = {}
        for (key, resource), state in self.store.usage.resource_states().items():
            if state.exceeded:
                over.setdefault(key, set()).add(resource)
        return {key: frozenset(names) for key, names in over.items()}

    def measure(
        self,
        index: ServiceIndex | None = None,
        *,
        monitors: Iterable[str] | None = None,
        at: datetime | None = None,
    ) -> MeasureResult:
        """Run the monitors (all, or those named) for the objects of ``index`` (by default
        :meth:`world`), one batch per server, and keep the samples in the store."""
        measurer = Measurer(
            self.registry.monitors,
            {name: info.cls for name, info in self.registry.backends.items()},
            self.servers,
            self.planner.router,
            self.transport,
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
        )
        world = self.world() if index is None else index
        result = measurer.run(measurer.plan(world, monitors), at=at)
        return attrs.evolve(result, ingested=self.store.usage.add_samples(result.samples))

    def evaluate(
        self, index: ServiceIndex | None = None, *, at: datetime | None = None, react: bool = True
    ) -> Evaluation:
        """Compare usage with allocations at ``at`` (now), keep the states, fire
        ``orchestra_resource_exceeded`` / ``_recovered`` once per crossing and, with
        ``react``, apply again the objects that crossed and those that name them, so that
        their backends render the restriction (or lift it)."""
        world = self.world() if index is None else index
        events = evaluate(self.store.usage, self.registry.resources.values(), world, at or utcnow())
        for event in events:
            self.registry.resource_crossed(event)
        applied = self._react(events, world) if react and events else None
        return Evaluation(events=tuple(events), applied=applied)

    def _react(self, events: Sequence[ResourceEvent], index: ServiceIndex) -> ApplyResult | None:
        keys = {event.object_key for event in events}
        changes = ChangeSet()
        for obj in index:
            if obj.key in keys or any(key in keys for _, key in obj.references()):
                changes.save(obj)
        if not len(changes):
            return None
        plan = self.plan(changes, index=index)
        return None if plan.is_empty else self.apply(plan)

    def allocate(self, object_key: str, resource: str, value: float | None) -> None:
        """Give ``object_key`` an allocation of ``resource`` (in the resource's unit), or take
        it back with None (the resource's default applies again). An unknown resource, or a
        value outside its bounds, is a :class:`ValidationError` naming the object and field;
        nothing is stored then. The next evaluation compares usage with it."""
        definition = self.registry.resources.get(resource)
        if definition is None:
            known = ", ".join(sorted(self.registry.resources)) or "none"
            raise ValidationError(
                [FieldError(object_key, f"allocations[{resource}]", f"no such resource ({known})")]
            )
        if value is None:
            self.store.usage.remove_allocations([(object_key, resource)])
            return
        errors = definition.check_allocation(object_key, value)
        if errors:
            raise ValidationError(errors)
        self.store.usage.set_allocations(
            [Allocation(object_key=object_key, resource=resource, value=float(value))]
        )

    def reconcile_lifetimes(self, at: datetime | None = None) -> None:
        """Start a lifetime for every applied object that has none open, and end the open
        ones of objects no longer applied: for stores that had objects before lifetimes were
        kept, or objects applied without a change set."""
        now = at or utcnow()
        applied = self.store.applied()
        open_ = {
            life.object_key
            for life in self.store.usage.lifetimes(now, now + timedelta(microseconds=1))
            if life.ended_at is None
        }
        for key, snap in applied.items():
            if key not in open_:
                account = str(snap.data.get("account", ""))
                self.store.usage.object_started(key, snap.kind, account, now)
        for key in open_ - set(applied):
            self.store.usage.object_ended(key, now)

    def bill(
        self, period: Period, *, account: str | None = None, until: datetime | None = None
    ) -> list[UsageRecord]:
        """The usage records of ``period`` for every billing metric (of ``account`` only),
        kept in the store (again: the same records replace themselves). With ``until`` before
        the period's end, partial records up to then, not kept (see
        :func:`~orchestra_core.billing.run.make_records`)."""
        return make_records(
            self.store.usage,
            self.registry.billing_metrics.values(),
            self.registry.resources,
            period,
            account=account,
            until=until,
        )

    def close(self) -> None:
        """Close every transport that was opened."""
        for transport in self._transports.values():
            transport.close()

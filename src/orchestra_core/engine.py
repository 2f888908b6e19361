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

from orchestra_core.backends.steps import WriteFile
from orchestra_core.billing.metrics import UsageRecord
from orchestra_core.billing.run import make_records
from orchestra_core.errors import FieldError, PlanningError, ValidationError
from orchestra_core.execution.drift import DriftReport, Inspector
from orchestra_core.execution.executor import ApplyResult, Executor
from orchestra_core.execution.executors import BatchExecutor, load_executor
from orchestra_core.execution.loading import load_transport
from orchestra_core.execution.outcome import record_outcome
from orchestra_core.execution.reconcile import decide_plan
from orchestra_core.execution.results import OperationLog, utcnow
from orchestra_core.execution.transport import Transport
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service
from orchestra_core.model.state import Placement, PlacementKey
from orchestra_core.planning.changeset import ChangeSet, Operation
from orchestra_core.planning.guards import (
    DeleteLimit,
    StalePlan,
    check_deletes,
    check_inventory,
)
from orchestra_core.planning.incremental import (
    RenameRefused,
    find_renames,
    snapshot,
    world_from_snapshots,
)
from orchestra_core.planning.plan import Baseline, Plan, ServerPlan, Summary
from orchestra_core.planning.planner import Planner, state_digest
from orchestra_core.registry import Registry
from orchestra_core.resources.definitions import Allocation
from orchestra_core.resources.evaluation import ResourceEvent, evaluate
from orchestra_core.resources.measure import Measurer, MeasureResult
from orchestra_core.resources.periods import Period
from orchestra_core.storage.leases import LeaseKeeper
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import DEFAULT_LEASE, Store, holder_id, newest_snapshots

__all__ = ["Evaluation", "Orchestra"]


@attrs.frozen(kw_only=True)
class Evaluation:
    """What :meth:`Orchestra.evaluate` found: the crossings, and the apply that followed."""

    events: tuple[ResourceEvent, ...] = ()
    applied: ApplyResult | None = None


def summarize(
    plan: Plan, compared: Iterable[str], applied: Mapping[PlacementKey, Placement]
) -> Summary:
    """What ``plan`` does to the objects of ``compared`` (and the applied ones it removes)."""
    before = {key.object_key for key in applied}
    ops = [(op.change, op.object_keys[0]) for op in plan.operations() if op.change]
    ops += [("add", p.object_key) for p in plan.recorded]
    ops += [("delete", p.object_key) for p in plan.forgotten]
    touched = {key for change, key in ops if change != "resync"}
    staying = {key for change, key in ops if change in ("add", "change", "resync")}
    kept = {key.object_key for key, p in applied.items() if key.object_key not in touched}
    staying |= kept & set(compared)
    new = sorted(key for key in touched if key not in before and key in staying)
    removed = sorted(key for key in touched if key in before and key not in staying)
    changed = sorted(touched - set(new) - set(removed))
    keys = set(compared)
    unrouted = keys & set(plan.unrouted)
    return Summary(
        new=tuple(new),
        changed=tuple(changed),
        removed=tuple(removed),
        unchanged=len(keys - touched - unrouted),
        unrouted=len(unrouted - touched),
    )


class Orchestra:
    """Plans and applies changes on a set of servers, through the installed plugins.

    ``registry`` defaults to every installed plugin; ``store`` to a :class:`MemoryStore`;
    ``transports`` maps a transport name to an instance, and names not given are loaded through
    the ``orchestra.transports`` entry points when first needed. ``lease`` is how long a
    server lock lasts unless renewed (an apply renews its locks while it runs). ``sources``
    says where each object was declared (``FILE:LINE`` by key, as :attr:`Inventory.sources`
    has it): an error a driver raises for an object then names its file and line.
    ``executor`` fans the servers' batches out, for applies, monitor runs and drift checks
    alike: a name from the ``orchestra.executors`` entry points (``threads``, the default: a
    pool of threads in this process) or an instance; an unknown name is a
    :class:`~orchestra_core.errors.ConfigurationError` naming the installed ones.
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
        lease: float = DEFAULT_LEASE,
        sources: Mapping[str, str] | None = None,
        executor: str | BatchExecutor = "threads",
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
            versions={
                name: info.plugin.version or "" for name, info in self.registry.backends.items()
            },
            sources=sources,
        )
        self._transports: dict[str, Transport] = dict(transports or {})
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout
        self.lease = lease
        self.executor = load_executor(executor) if isinstance(executor, str) else executor

    def transport(self, name: str) -> Transport:
        """The transport of this name, loaded once."""
        if name not in self._transports:
            self._transports[name] = load_transport(name)
        return self._transports[name]

    def applied_placements(self) -> dict[PlacementKey, Placement]:
        """Every applied placement in the store, by (object key, backend, server)."""
        return {placement.key: placement for placement in self.store.placements()}

    # -- planning -------------------------------------------------------------------------------

    def plan(
        self,
        changes: ChangeSet | Iterable[Operation],
        *,
        index: ServiceIndex | None = None,
        accounts: Iterable[Account] = (),
        exceeded: Mapping[str, frozenset[str]] | None = None,
        force: bool = False,
        allow_deletes: bool = False,
        delete_limit: DeleteLimit | None = None,
    ) -> Plan:
        """Validate, route and render ``changes`` against the applied state; fires
        ``orchestra_plan_ready``.

        The world the renderers see (and that routes match) is the store's applied objects
        with the change set over them: saved objects replace theirs, deleted ones are gone,
        and ``index`` (more of the application's objects) and ``accounts`` (which accounts
        are suspended) go over both. So a change set of one object renders exactly what the
        whole inventory would: a saved subdomain's zone keeps its other records. The objects
        of the change set (with the owners that gather them and the objects that name them)
        are compared placement by placement with what is applied: an object whose route
        changed is saved where it goes now and deleted where it was. (To compare everything,
        with what is gone deleted, use :meth:`plan_inventory`.) ``exceeded`` gives the
        resources each object is over (by default what the last evaluation kept).

        An operation on an applied placement first checks that what it replaces on the server
        is what orchestra last applied (``force`` leaves that check out). A plan that deletes
        more objects than ``delete_limit`` allows (10, or 10% of the applied ones) raises
        :class:`~orchestra_core.planning.guards.TooManyDeletes` unless ``allow_deletes``.
        """
        ops = changes.operations() if isinstance(changes, ChangeSet) else list(changes)
        applied = self.applied_placements()
        deleting = {op.key: op.obj for op in ops if op.action == "delete"}
        overlay: dict[str, Service] = {
            op.key: op.obj for op in ops if op.action in ("save", "set_password")
        }
        extra_accounts = list(accounts)
        if index is not None:
            extra_accounts = [*index.accounts.values(), *extra_accounts]
            for obj in index:
                overlay.setdefault(obj.key, obj)
        for op in ops:
            if op.action == "save":
                overlay[op.key] = op.obj
        base = {
            key: snap
            for key, snap in newest_snapshots(applied.values()).items()
            if key not in overlay and key not in deleting
        }
        stored = world_from_snapshots(base.values(), self.registry.service_types, extra_accounts)
        world = ServiceIndex(
            stored.accounts.values(),
            [*stored, *(obj for key, obj in overlay.items() if key not in deleting)],
        )
        if isinstance(changes, ChangeSet):
            ops = changes.operations(world)
        saves = {op.key for op in ops if op.action == "save"}
        touched = {op.key for op in ops if op.action in ("save", "delete")}
        # Applied objects that name a changed one render with it (a website with its web
        # app): compared too, as the whole inventory would compare them.
        placed = {key.object_key for key in applied}
        naming = {
            obj.key
            for obj in world
            if obj.key in placed and any(key in touched for _, key in obj.references())
        }
        plan = self.planner.reconcile(
            world,
            applied,
            candidates=touched | naming,
            saves=saves,
            deletes=deleting,
            passwords=[op for op in ops if op.action == "set_password"],
            exceeded=self.exceeded() if exceeded is None else exceeded,
            order=list(dict.fromkeys(op.key for op in ops)),
            guard=not force,
        )
        return self._finish_plan(
            plan, [obj.key for obj in world], applied, allow_deletes, delete_limit
        )

    def plan_inventory(
        self,
        accounts: Iterable[Account],
        services: Iterable[Service],
        *,
        full: bool = False,
        force: bool = False,
        allow_renames: bool = False,
        allow_deletes: bool = False,
        delete_limit: DeleteLimit | None = None,
        exceeded: Mapping[str, frozenset[str]] | None = None,
    ) -> Plan:
        """The plan that makes the servers hold exactly ``accounts`` and ``services`` (an
        inventory): every object not among them is deleted where it is applied.

        ``full`` saves every placement again (a resync, which also overwrites what was
        changed by hand); ``force`` only skips the drift check. An inventory with no accounts
        or no services while objects are applied raises
        :class:`~orchestra_core.planning.guards.EmptyInventory`, and one that deletes too
        many :class:`~orchestra_core.planning.guards.TooManyDeletes`, unless
        ``allow_deletes``; what looks like renames raises
        :class:`~orchestra_core.planning.incremental.RenameRefused` unless ``allow_renames``.
        """
        accounts = list(accounts)
        services = list(services)
        applied = self.applied_placements()
        snapshots = newest_snapshots(applied.values())
        if not allow_deletes:
            check_inventory(len(accounts), len(services), len(snapshots))
        world = ServiceIndex(accounts, services)
        if not allow_renames:
            types = self.registry.service_types
            removed = {
                key: world_from_snapshots([snap], types).get(key)
                for key, snap in snapshots.items()
                if key not in world
            }
            wanted = {obj.key: obj for obj in world if obj.key not in snapshots}
            pairs = find_renames(
                {k: v for k, v in removed.items() if v is not None},
                wanted.values(),
                snapshots,
                {key: snapshot(obj, world) for key, obj in wanted.items()},
            )
            if pairs:
                raise RenameRefused(pairs)
        plan = self.planner.reconcile(
            world,
            applied,
            full=full,
            exceeded=self.exceeded() if exceeded is None else exceeded,
            order=[obj.key for obj in services],
            guard=not (force or full),
        )
        return self._finish_plan(
            plan, [obj.key for obj in world], applied, allow_deletes, delete_limit
        )

    def _finish_plan(
        self,
        plan: Plan,
        compared: Iterable[str],
        applied: Mapping[PlacementKey, Placement],
        allow_deletes: bool,
        delete_limit: DeleteLimit | None,
    ) -> Plan:
        plan = attrs.evolve(plan, summary=summarize(plan, compared, applied))
        if not allow_deletes:
            objects = {key.object_key for key in applied}
            check_deletes(plan, len(objects), delete_limit or DeleteLimit())
        self.registry.plan_ready(plan)
        return plan

    # -- what is on the servers -----------------------------------------------------------------

    def baseline(self, plan: Plan, *, refresh: bool = False) -> Baseline:
        """What ``plan``'s files are diffed against, by (server, path): the content last
        applied there (from the store), or with ``refresh`` what the servers hold now (one
        read-only batch per server)."""
        wanted: dict[str, list[str]] = {}
        for op in plan.operations():
            for step in op.steps:
                if isinstance(step, WriteFile) and not step.sensitive:
                    wanted.setdefault(op.server, []).append(step.path)
        if not wanted:
            return {}
        if refresh:
            servers = {sp.server.name: sp.server for sp in plan.servers}
            return self.inspector().read_files(wanted, servers)
        hashes: dict[tuple[str, str], str] = {}
        for placement in self.store.placements(servers=set(wanted)):
            for record in placement.files:
                if record.sha256 is not None:
                    hashes[placement.server, record.path] = record.sha256
        kept = self.store.file_contents(set(hashes.values()))
        return {
            (server, path): kept.get(hashes[server, path])
            for server, paths in wanted.items()
            for path in paths
            if (server, path) in hashes
        }

    def inspector(self) -> Inspector:
        """Reads the servers without writing (drift, live files)."""
        return Inspector(
            self.planner,
            self.transport,
            servers={server.name: server for server in self.servers},
            contents=self.store.file_contents,
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
            executor=self.executor,
        )

    def check(self, *, servers: Iterable[str] | None = None) -> DriftReport:
        """Drift: every applied placement (on ``servers``, when given) against what its
        server holds now, in one read-only batch per server (see
        :class:`~orchestra_core.execution.drift.Inspector`)."""
        names = None if servers is None else set(servers)
        placements = self.store.placements(servers=names)
        world = world_from_snapshots(
            newest_snapshots(self.store.placements()).values(), self.registry.service_types
        )
        return self.inspector().check(placements, world)

    # -- applying -------------------------------------------------------------------------------

    def apply(
        self,
        plan: Plan,
        *,
        on_finished: Callable[[OperationLog], None] | None = None,
        lock_wait: float = 0.0,
        retry_of: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ApplyResult:
        """Run ``plan``: servers in parallel, each server's steps in order, one batch each.

        The plan's servers are locked in the store for the run (waiting up to ``lock_wait``
        seconds for another apply, then :class:`~orchestra_core.storage.ServerBusy`), under a
        lease renewed while it runs. Logs that a dead apply left unfinished on them become
        ``interrupted``. A plan made against an applied state that changed meanwhile on its
        servers raises :class:`~orchestra_core.planning.guards.StalePlan` before anything
        runs. Every operation's log goes to the store and to ``orchestra_operation_finished``
        (and to ``on_finished``) as soon as it is final. Then the store records each placement
        whose operations (and its server's reload) succeeded, and forgets each one deleted.
        ``timeout``, when given, bounds every server's batch (``apply --timeout``), whatever
        the server's ``settings.timeouts.batch`` and the engine's ``batch_timeout`` say.
        Operations whose backend probes first get their steps decided from one read-only
        round trip per server just before the batches (a failed probe fails its operation
        with the probe's words; see :mod:`orchestra_core.execution.reconcile`).
        """

        def finished(log: OperationLog) -> None:
            self.registry.operation_finished(log)
            if on_finished is not None:
                on_finished(log)

        holder = holder_id(uuid.uuid4().hex[:8])
        names = sorted(
            {sp.server.name for sp in plan.servers if sp.operations}
            | {p.server for p in (*plan.recorded, *plan.forgotten)}
        )
        self.store.lock_servers(names, holder, wait=lock_wait, lease=self.lease)
        try:
            with LeaseKeeper(self.store, names, holder, self.lease):
                self.store.interrupt_logs(names)
                if plan.basis is not None:
                    now = state_digest(self.store.placements(servers=names))
                    if now != plan.basis:
                        raise StalePlan(names)
                self.store.save_topology(self.servers, self.routes)
                self.store.record_desired(
                    [
                        op.placement.snapshot
                        for op in plan.operations()
                        if op.action == "save" and op.placement is not None
                    ]
                )
                executor = Executor(
                    self.transport,
                    self.store,
                    max_parallel=self.max_parallel,
                    batch_timeout=self.batch_timeout,
                    timeout=timeout,
                    on_finished=finished,
                    executor=self.executor,
                )
                # Probes first: one read-only round trip per server that has any, then the
                # steps their backends decide from what they read (see execution.reconcile).
                plan = decide_plan(
                    plan,
                    self.transport,
                    max_parallel=self.max_parallel,
                    batch_timeout=self.batch_timeout,
                    executor=self.executor,
                    timeout=timeout,
                )
                result = executor.execute(plan, retry_of=retry_of)
                record_outcome(self.store, plan, result)
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

        Re-plans the operation's objects against the applied state (the objects as last
        asked for over it; a delete's placement as it was applied), keeps that server's
        operations of that backend (and the server's reloads), and links each new log to the
        original with ``retry_of``.
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
        applied = self.applied_placements()
        snapshots = newest_snapshots(applied.values())
        keys = set(original.object_keys)
        if original.action == "delete":
            placed = {pk.object_key for pk in applied if pk.server == original.server}
            missing = keys - placed
            if missing:
                raise PlanningError(
                    f"{', '.join(sorted(missing))} is no longer applied on server "
                    f"{original.server}: nothing to retry it with"
                )
            world = world_from_snapshots(
                [snap for key, snap in snapshots.items() if key not in keys], types
            )
            deletes = {key: world_from_snapshots([snapshots[key]], types).get(key) for key in keys}
            plan = self.planner.reconcile(
                world,
                applied,
                candidates=keys,
                deletes={k: v for k, v in deletes.items() if v is not None},
            )
        else:
            wanted = {}
            for key in original.object_keys:
                snap = self.store.desired(key) or snapshots.get(key)
                if snap is None:
                    raise PlanningError(
                        f"{key} is not known to the store: nothing to retry it with"
                    )
                wanted[key] = snap
            world = world_from_snapshots({**snapshots, **wanted}.values(), types)
            plan = self.planner.reconcile(
                world, applied, candidates=keys, saves=keys, exceeded=self.exceeded()
            )
        kept = tuple(
            ServerPlan(
                server=sp.server,
                wave=sp.wave,
                operations=tuple(
                    op
                    for op in sp.operations
                    if op.backend == original.backend or op.action in ("reload", "assemble")
                ),
            )
            for sp in plan.servers
            if sp.server.name == original.server
        )
        retry_plan = Plan(
            servers=tuple(sp for sp in kept if sp.operations),
            recorded=tuple(p for p in plan.recorded if p.server == original.server),
            forgotten=tuple(p for p in plan.forgotten if p.server == original.server),
        )
        if retry_plan.is_empty:
            raise PlanningError(
                f"operation {original.id}: {original.backend} no longer sends "
                f"{', '.join(original.object_keys)} to server {original.server}"
            )
        links = {
            op.id: original.id for op in retry_plan.operations() if op.id == original.operation_id
        }
        return self.apply(retry_plan, on_finished=on_finished, lock_wait=lock_wait, retry_of=links)

    # -- usage ----------------------------------------------------------------------------------

    def world(self) -> ServiceIndex:
        """Every object the store has as applied (suspended ones as suspended): what the
        command line measures and evaluates. An embedding application passes its own index."""
        return world_from_snapshots(self.store.applied().values(), self.registry.service_types)

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
        :meth:`world`), one batch per server, and keep the samples in the store. Each
        monitor's work on a server leaves its final operation log in the store (action
        ``monitor``, backend the monitor), as an apply's operations do; no lock is taken."""
        measurer = Measurer(
            self.registry.monitors,
            {name: info.cls for name, info in self.registry.backends.items()},
            self.servers,
            self.planner.router,
            self.transport,
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
            logs=self.store,
            executor=self.executor,
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
        plan = self.plan(changes, index=index, allow_deletes=True)
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

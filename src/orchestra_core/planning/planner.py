"""The planner: from the wanted world and the applied placements to a plan of steps per server.

:meth:`Planner.reconcile` routes every candidate object of the world to its wanted
placements (object, backend, server), compares them with the applied ones and renders the
difference: a new placement or one whose fingerprint changed is a save there, an applied
placement that is no longer wanted (the object is gone, moved, or no longer routed) is a
delete on the server where it lived, rendered with the snapshot and settings it was applied
with. :meth:`Planner.plan` renders a change set's operations on their routed servers,
comparing with nothing (the contract suite, one-off tools).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import attrs

from orchestra_core.backends.base import Backend, Observation, Probe, RenderContext, server_path
from orchestra_core.backends.settings import build_settings
from orchestra_core.backends.steps import (
    AssembleFile,
    DeleteFile,
    EnsureDirectory,
    Reconcile,
    Reload,
    Step,
    WriteFile,
)
from orchestra_core.errors import (
    BackendError,
    ConfigurationError,
    DependencyCycleError,
    FieldError,
    OrchestraError,
    PlanningError,
    SandboxViolation,
    ValidationError,
)
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.secret import Secret
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Service
from orchestra_core.model.state import (
    ObjectSnapshot,
    Placement,
    PlacementKey,
    content_hash,
    server_to_dict,
)
from orchestra_core.planning.changeset import ChangeSet, Operation
from orchestra_core.planning.incremental import restore, snapshot
from orchestra_core.planning.placements import (
    drift_guard,
    expected_observations,
    file_records,
    fingerprint,
    observe_steps,
    settings_data,
)
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.planning.routing import Router
from orchestra_core.planning.timeouts import (
    Timeouts,
    route_timeouts,
    server_timeouts,
    with_timeouts,
)
from orchestra_core.rendering.names import file_name

#: A route that says nothing of timeouts.
_NO_TIMEOUTS = Timeouts()

__all__ = ["Planner", "dependency_order"]


def dependency_order(backends: Mapping[str, type[Backend[Any]]]) -> list[str]:
    """Backend names so that each comes after the ones it declares in ``after``.

    Names in ``after`` that are not installed are ignored; a cycle raises
    :class:`DependencyCycleError` listing it. Ties keep alphabetical order, so the result is
    stable.
    """
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            start = path.index(name)
            raise DependencyCycleError([*path[start:], name])
        state[name] = "visiting"
        for dep in sorted(backends[name].after):
            if dep in backends:
                visit(dep, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in sorted(backends):
        visit(name, [])
    return order


@attrs.frozen(kw_only=True)
class _Wanted:
    """A placement routing asks for today, with what it would be rendered with."""

    obj: Service
    backend: str
    server: Server
    route: Route
    settings: Any
    snapshot: ObjectSnapshot
    fingerprint: str

    @property
    def key(self) -> PlacementKey:
        return PlacementKey(self.obj.key, self.backend, self.server.name)


@attrs.frozen(kw_only=True)
class _Work:
    """One operation to render: an action of a backend for an object on a server."""

    seq: int
    action: str
    obj: Service
    backend: str
    server: Server
    settings: Any
    active: bool
    secret: Secret | None = None
    wanted: _Wanted | None = None
    applied: Placement | None = None
    change: str = ""
    #: The route that sends it (None for a delete of a placement no route asks for any more).
    route: Route | None = None


class Planner:
    """Routes objects to backends and servers and renders operations into a :class:`Plan`.

    Built once per set of servers and routes; planning is pure (it touches no server).
    ``versions`` gives each backend's driver version (part of every fingerprint).
    """

    def __init__(
        self,
        backends: Mapping[str, type[Backend[Any]]],
        servers: Sequence[Server],
        routes: Sequence[Route],
        *,
        monitors: Mapping[str, object] | None = None,
        versions: Mapping[str, str] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self.backend_classes = dict(backends)
        #: Where each object was declared (``FILE:LINE`` by key): a driver's error names it.
        self.sources: Mapping[str, str] = sources or {}
        # Routes may also name a monitor that follows no backend (it is routed by its own).
        self.router = Router(servers, routes, {**(monitors or {}), **self.backend_classes})
        self.order = {name: i for i, name in enumerate(dependency_order(self.backend_classes))}
        self.requires = _transitive_after(self.backend_classes)
        self.versions = dict(versions or {})
        self._instances: dict[str, Backend[Any]] = {}
        self._settings: dict[tuple[str, str, int], Any] = {}
        self._settings_data: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._timeouts: dict[tuple[str, object], Timeouts] = {}

    def backend(self, name: str) -> Backend[Any]:
        """The (cached) instance of a backend."""
        if name not in self._instances:
            self._instances[name] = self.backend_classes[name]()
        return self._instances[name]

    def settings(self, backend: str, server: Server, route: Route) -> Any:
        """Backend defaults overridden by the server's and then the route's settings."""
        cache_key = (backend, server.name, id(route))
        if cache_key not in self._settings:
            cls = self.backend_classes[backend]
            self._settings[cache_key] = build_settings(
                cls.settings_class,
                *server.layers(backend, cls.settings_section),
                route.backend_settings,
                where=f"backend {backend} on server {server.name} (route {route.label})",
            )
        return self._settings[cache_key]

    def _route_timeouts(self, route: Route | None) -> Timeouts:
        """The route's ``settings.timeouts`` (none for no route), read once per route."""
        if route is None:
            return _NO_TIMEOUTS
        cache_key = ("route", id(route))
        if cache_key not in self._timeouts:
            self._timeouts[cache_key] = route_timeouts(route)
        return self._timeouts[cache_key]

    def _server_timeouts(self, server: Server) -> Timeouts:
        """The server's ``settings.timeouts``, read once per server."""
        cache_key = ("server", server.name)
        if cache_key not in self._timeouts:
            self._timeouts[cache_key] = server_timeouts(server)
        return self._timeouts[cache_key]

    def _data_of(self, backend: str, server: Server, route: Route) -> dict[str, Any]:
        cache_key = (backend, server.name, id(route))
        if cache_key not in self._settings_data:
            self._settings_data[cache_key] = settings_data(self.settings(backend, server, route))
        return self._settings_data[cache_key]

    def peers(self, backend: str, obj: Any, index: ServiceIndex) -> list[tuple[Server, Any]]:
        """The servers ``backend`` routes ``obj`` to, with its settings on each (none when the
        backend is not installed or not routed)."""
        if backend not in self.backend_classes:
            return []
        return [
            (server, self.settings(backend, server, route))
            for server, route in self.router.targets(backend, obj, index)
        ]

    def backends_for(self, kind: str, action: str) -> list[str]:
        """Names of the backends provisioning ``kind`` that support ``action``, in order."""
        names = [
            name
            for name, cls in self.backend_classes.items()
            if cls.service_type.kind == kind and action in cls.actions
        ]
        return sorted(names, key=self.order.__getitem__)

    # -- what is wanted -------------------------------------------------------------------------

    def wanted(
        self,
        index: ServiceIndex,
        *,
        candidates: Collection[str] | None = None,
        exceeded: Mapping[str, frozenset[str]] | None = None,
    ) -> tuple[dict[PlacementKey, _Wanted], list[str]]:
        """The placements routing gives the objects of ``index`` (those of ``candidates``
        only, when given), with their fingerprints; and the objects routed nowhere."""
        over = exceeded or {}
        # Only the objects placed here and those they name are snapshotted: a change set of
        # one among thousands unstructures a handful, not every object of the index.
        snapshots: dict[str, ObjectSnapshot | None] = {}

        def snapshot_of(key: str) -> ObjectSnapshot | None:
            if key not in snapshots:
                found = index.get(key)
                snapshots[key] = snapshot(found, index) if found is not None else None
            return snapshots[key]

        gathered: dict[str, list[str]] = {}
        for obj in index:
            for owner in obj.related_keys(index):
                gathered.setdefault(owner, []).append(obj.key)
        wanted: dict[PlacementKey, _Wanted] = {}
        unrouted: list[str] = []
        for obj in index:
            if candidates is not None and obj.key not in candidates:
                continue
            related = [
                (key, snapshot_of(key))
                for key in (
                    *(key for _, key in obj.references()),
                    *gathered.get(obj.key, ()),
                )
            ]
            own = snapshot_of(obj.key)
            assert own is not None  # obj is in the index
            keys = [obj.key, *(key for key, _ in related)]
            exceeded_here = {key: over[key] for key in keys if over.get(key)}
            placed = False
            for name in self.backends_for(obj.kind, "save"):
                cls = self.backend_classes[name]
                for server, route in self.router.targets(name, obj, index):
                    placed = True
                    peers = {
                        peer: [
                            (s.name, s.address, self._data_of(peer, s, r))
                            for s, r in self.router.targets(peer, obj, index)
                        ]
                        for peer in cls.reads_peers
                        if peer in self.backend_classes
                    }
                    want = _Wanted(
                        obj=obj,
                        backend=name,
                        server=server,
                        route=route,
                        settings=self.settings(name, server, route),
                        snapshot=own,
                        fingerprint=fingerprint(
                            backend=name,
                            version=self.versions.get(name, ""),
                            settings=self._data_of(name, server, route),
                            server=server,
                            snapshot=own,
                            related=related,
                            exceeded=exceeded_here,
                            peers=peers,
                        ),
                    )
                    wanted[want.key] = want
            if not placed:
                unrouted.append(obj.key)
        return wanted, unrouted

    # -- planning -------------------------------------------------------------------------------

    def plan(
        self,
        changes: ChangeSet | Iterable[Operation],
        index: ServiceIndex,
        *,
        exceeded: Mapping[str, frozenset[str]] | None = None,
    ) -> Plan:
        """Render a change set's operations on the servers their routes name, comparing with
        no applied state: every save is rendered where the object is routed, every delete
        where it would be. Validation problems of all objects are raised together."""
        operations = changes.operations(index) if isinstance(changes, ChangeSet) else list(changes)
        saves = {op.key for op in operations if op.action == "save"}
        deletes = {op.key: op.obj for op in operations if op.action == "delete"}
        passwords = [op for op in operations if op.action == "set_password"]
        order = list(dict.fromkeys(op.key for op in operations))
        extra = {op.key: op.obj for op in passwords if op.key not in index}
        world = ServiceIndex(
            index.accounts.values(),
            [*(obj for obj in index if obj.key not in deletes), *extra.values()],
        )
        plan = self.reconcile(
            world,
            {},
            candidates=saves,
            saves=saves,
            deletes=deletes,
            passwords=passwords,
            exceeded=exceeded,
            order=order,
            guard=False,
        )
        # Compared with nothing: no applied state for an apply to check it against.
        return attrs.evolve(plan, basis=None)

    def reconcile(
        self,
        index: ServiceIndex,
        applied: Mapping[PlacementKey, Placement],
        *,
        candidates: Collection[str] | None = None,
        saves: Collection[str] = (),
        deletes: Mapping[str, Service] | None = None,
        passwords: Sequence[Operation] = (),
        full: bool = False,
        exceeded: Mapping[str, frozenset[str]] | None = None,
        order: Sequence[str] = (),
        guard: bool = True,
    ) -> Plan:
        """The plan that turns the ``applied`` placements into the wanted ones.

        ``index`` is the wanted world; only the objects of ``candidates`` (all, when None)
        and their applied placements are compared. ``saves`` are saved wherever they are
        wanted even when unchanged (so is everything with ``full``); ``deletes`` are deleted
        wherever they are applied (or, if nowhere, wherever they would be routed);
        ``passwords`` are set where their objects are wanted. With ``guard``, an operation on
        an applied placement first checks that its files and observed state are still what
        was last applied (drift). ``order`` lists keys whose operations come first, in that
        order. Nothing is half planned: every problem of every object is raised together.
        """
        over = exceeded or {}
        deleting = dict(deletes or {})
        for_passwords = {op.key for op in passwords}
        looked_up = None if candidates is None else {*candidates, *for_passwords}
        wanted, unrouted = self.wanted(index, candidates=looked_up, exceeded=over)
        rank = {key: i for i, key in enumerate(order)}
        base = len(rank)

        def seq(key: str) -> int:
            return rank.get(key, base)

        work: list[_Work] = []
        errors: list[FieldError] = []
        checked: set[str] = set()

        def check(obj: Service) -> None:
            if obj.key not in checked:  # once per object, not once per placement
                checked.add(obj.key)
                errors.extend(obj.check() or obj.check_references(index))

        for want in wanted.values():
            key = want.obj.key
            if candidates is not None and key not in candidates:
                continue  # looked up for its password only
            prev = applied.get(want.key)
            if prev is None:
                change = "add"
            elif prev.fingerprint != want.fingerprint:
                change = "change"
            elif full or key in saves:
                change = "resync"
            else:
                continue
            check(want.obj)
            work.append(self._save_work(want, prev, change, seq(key)))
        compared = set(candidates) if candidates is not None else None
        for pk, prev in applied.items():
            if pk in wanted and prev.object_key not in deleting:
                continue
            if compared is not None and prev.object_key not in compared | set(deleting):
                continue
            work.append(self._delete_work(prev, seq(prev.object_key), index))
        placed = {pk.object_key for pk in applied}
        for key, obj in deleting.items():
            if key not in placed:
                for name in self.backends_for(obj.kind, "delete"):
                    for server, route in self.router.targets(name, obj, index):
                        work.append(
                            _Work(
                                seq=seq(key),
                                action="delete",
                                obj=obj,
                                backend=name,
                                server=server,
                                settings=self.settings(name, server, route),
                                active=index.is_effectively_active(obj),
                                change="delete",
                                route=route,
                            )
                        )
        for op in passwords:
            check(op.obj)
            for want in wanted.values():
                if (
                    want.obj.key == op.key
                    and op.action in self.backend_classes[want.backend].actions
                ):
                    work.append(
                        _Work(
                            seq=seq(op.key),
                            action="set_password",
                            obj=op.obj,
                            backend=want.backend,
                            server=want.server,
                            settings=want.settings,
                            active=index.is_effectively_active(op.obj),
                            secret=op.secret,
                            wanted=want,
                            route=want.route,
                        )
                    )
        if errors:
            raise ValidationError(errors)
        for item in work:
            if item.action != "delete":
                errors.extend(self.backend(item.backend).check(item.obj, item.settings))
        if errors:
            raise ValidationError(errors)
        return self._assemble(
            work,
            index,
            over,
            guard=guard,
            unrouted=[key for key in unrouted if key not in deleting],
            applied=applied,
        )

    def _save_work(self, want: _Wanted, prev: Placement | None, change: str, seq: int) -> _Work:
        return _Work(
            seq=seq,
            action="save",
            obj=want.obj,
            backend=want.backend,
            server=want.server,
            settings=want.settings,
            active=want.snapshot.active,
            wanted=want,
            applied=prev,
            change=change,
            route=want.route,
        )

    def _delete_work(self, prev: Placement, seq: int, index: ServiceIndex) -> _Work:
        """A delete of an applied placement, as it was applied: its snapshot, its settings,
        the server as it was (the current definition of that server, if it still has one,
        is what the batch runs through)."""
        cls = self.backend_classes.get(prev.backend)
        if cls is None:
            raise PlanningError(
                f"{prev.key} was applied by backend {prev.backend!r}, which is no longer "
                "installed: install it again to delete the object there"
            )
        obj = restore(prev.snapshot, {cls.service_type.kind: cls.service_type})
        if obj.key != prev.object_key:
            raise PlanningError(
                f"{prev.key}: its stored snapshot is of {obj.key}: the store is inconsistent; "
                "delete it by hand"
            )
        host = prev.on_server()
        try:
            settings = build_settings(
                cls.settings_class,
                prev.settings,
                where=f"backend {prev.backend} on server {prev.server} (as last applied)",
            )
        except ConfigurationError as exc:
            raise PlanningError(
                f"{prev.key}: the settings it was applied with no longer fit backend "
                f"{prev.backend} ({exc}); delete it by hand, or install the driver's "
                "earlier version to delete it"
            ) from exc
        return _Work(
            seq=seq,
            action="delete",
            obj=obj,
            backend=prev.backend,
            server=host,
            settings=settings,
            active=prev.snapshot.active,
            applied=prev,
            change="delete",
        )

    def probes_of(self, placement: Placement, index: ServiceIndex) -> tuple[Observation, ...]:
        """The probes of an applied placement, rendered as it was applied (for ``check``)."""
        item = self._delete_work(placement, 0, index)
        backend = self.backend(placement.backend)
        ctx = self._context(item, index, {}, "save")
        return self._call(backend, "observing", placement.object_key, lambda: backend.observe(ctx))

    # -- rendering ------------------------------------------------------------------------------

    def _context(
        self, item: _Work, index: ServiceIndex, over: Mapping[str, frozenset[str]], action: str
    ) -> RenderContext[Any]:
        allowed = self.backend_classes[item.backend].reads_peers
        obj, backend = item.obj, item.backend

        def lookup(name: str) -> list[tuple[Server, Any]]:
            if name not in allowed:
                raise BackendError(
                    backend,
                    f"reads the placements of backend {name!r} without declaring it in "
                    "reads_peers (a change there would not save this object again)",
                    object_key=obj.key,
                )
            return self.peers(name, obj, index)

        return RenderContext(
            obj=item.obj,
            action=action,
            server=item.server,
            settings=item.settings,
            index=index,
            active=item.active,
            secret=item.secret,
            peer_lookup=lookup,
            over_allocation=over,
        )

    def _call(
        self, backend: Backend[Any], what: str, key: str, render: Callable[[], Iterable[Any]]
    ) -> tuple[Any, ...]:
        try:
            return tuple(render())
        except OrchestraError:
            raise
        except Exception as exc:
            # The inventory loader refuses what a valid driver cannot render, at its line;
            # what still fails here is the driver's: say what, in its words, and whose it is.
            said = str(exc) or type(exc).__name__
            raise BackendError(
                backend.name,
                f"{what} failed: {said} (a {type(exc).__name__} in the driver: the inventory "
                "passed validation, so report this to the driver's authors)",
                object_key=key,
            ) from exc

    def _render(
        self, item: _Work, index: ServiceIndex, over: Mapping[str, frozenset[str]], *, guard: bool
    ) -> tuple[PlannedOperation, Placement | None]:
        """The operation of one work item, and the placement it records when it succeeds."""
        backend = self.backend(item.backend)
        key = item.obj.key
        ctx = self._context(item, index, over, item.action)
        steps: list[Step] = list(
            self._call(backend, f"rendering {item.action}", key, lambda: backend.render(ctx))
        )
        route_timeouts = self._route_timeouts(item.route)
        label = f"{key} [{item.backend}]"
        record: Placement | None = None
        probes: tuple[Observation, ...] = ()
        if item.action in ("save", "delete"):
            observe_ctx = ctx if item.action == "save" else attrs.evolve(ctx, action="save")
            probes = self._call(backend, "observing", key, lambda: backend.observe(observe_ctx))
        guarded = probes
        if type(backend).probes():
            found = self._call(backend, "probing", key, lambda: _one(backend.probe(ctx)))
            if found:
                covered = _covered(found[0], probes)
                # The probe's output stands for that observation: the drift check compares
                # it (no read of its own), and the guard leaves it out.
                guarded = tuple(p for p in probes if covered is None or p.name != covered.name)
                drift = None
                if guard and covered is not None and item.applied is not None:
                    drift = self._probe_drift(item.applied, covered, label)
                steps.append(
                    self._reconcile_step(
                        backend, ctx, found[0], route_timeouts, item.server, covered, drift
                    )
                )
        if item.action == "save":
            assert item.wanted is not None
            files = file_records(steps)
            if item.applied is not None:
                steps += self._orphans(item, index, over, steps)
            record = Placement(
                object_key=key,
                backend=item.backend,
                server=item.server.name,
                snapshot=item.wanted.snapshot,
                fingerprint=item.wanted.fingerprint,
                settings=settings_data(item.settings),
                host=server_to_dict(item.server),
                files=files,
                observed=expected_observations(probes),
            )
            if steps:
                steps += observe_steps(probes, label)
            if guard and item.applied is not None and steps:
                check = drift_guard(item.applied, label, new_files=files, probes=guarded)
                if check is not None:
                    steps.insert(0, check)
        elif item.action == "delete" and guard and item.applied is not None and steps:
            check = drift_guard(item.applied, label, probes=guarded)
            if check is not None:
                steps.insert(0, check)
        _check_sandbox(item.server, steps)
        timed = with_timeouts(tuple(steps), route_timeouts, self._server_timeouts(item.server))
        planned = PlannedOperation(
            id=f"{item.server.name}:{item.backend}:{item.action}:{key}",
            server=item.server.name,
            backend=item.backend,
            action=item.action,
            object_keys=(key,),
            steps=timed,
            placement=record if item.action == "save" else item.applied,
            change=item.change,
            batch_timeout=route_timeouts.batch,
        )
        return planned, record

    def _reconcile_step(
        self,
        backend: Backend[Any],
        ctx: RenderContext[Any],
        probe: Probe[Any],
        route_timeouts: Timeouts,
        server: Server,
        covered: Observation | None = None,
        drift: tuple[str, frozenset[str]] | None = None,
    ) -> Reconcile:
        """The placeholder of the steps ``backend`` decides from ``probe``'s output at apply
        time: its ``decide`` parses the output, reconciles, and gives the steps the
        operation's timeouts and sandbox check, as rendered steps get them here. With
        ``drift`` (what to say, and the hashes the output may have), an output that hashes to
        neither is drift: refused before anything is decided."""
        server_timeouts = self._server_timeouts(server)

        def decide(output: str) -> tuple[Step, ...]:
            if drift is not None and content_hash(output) not in drift[1]:
                raise DriftRefused(drift[0])
            observed = probe.parse(output)
            decided = tuple(backend.reconcile(ctx, observed))
            for step in decided:
                if not isinstance(step, Step) or isinstance(step, Reconcile):
                    raise BackendError(
                        backend.name,
                        f"reconcile gave {step!r}: it returns steps (never a Reconcile)",
                        object_key=ctx.obj.key,
                    )
            _check_sandbox(server, decided)
            return with_timeouts(decided, route_timeouts, server_timeouts)

        return Reconcile(
            description=probe.description,
            probe=probe.script,
            decide=decide,
            timeout=probe.timeout,
            observation=None if covered is None else covered.name,
        )

    def _probe_drift(
        self, applied: Placement, covered: Observation, label: str
    ) -> tuple[str, frozenset[str]] | None:
        """What a probe standing for ``covered`` must hash to on ``applied`` (what was last
        observed, or what the operation makes), and the words of a drift; None when nothing
        was kept to compare with."""
        last = applied.observed.get(covered.name)
        if last is None:
            return None
        allowed = {last}
        if covered.expected is not None:
            allowed.add(content_hash(covered.expected))
        words = (
            f"drift: {covered.name} of {label} differs from what orchestra last applied; "
            "refusing to replace what was changed on the server by hand: `orchestra check` "
            "shows it; apply with --force to overwrite it"
        )
        return words, frozenset(allowed)

    def _orphans(
        self,
        item: _Work,
        index: ServiceIndex,
        over: Mapping[str, frozenset[str]],
        written: Sequence[Step],
    ) -> list[Step]:
        """Files the placement had that its new settings no longer make: what a delete with
        the old settings removes and a delete with the new ones would not (a changed
        directory). Removed after the save's own steps, so the old files serve until the new
        ones are in place."""
        prev = item.applied
        assert prev is not None
        if prev.settings == settings_data(item.settings) and prev.host.get("root") == (
            item.server.root
        ):
            return []
        backend = self.backend(item.backend)
        if "delete" not in type(backend).actions:
            return []
        old = self._delete_work(prev, item.seq, index)
        old_steps = self._call(
            backend,
            "rendering delete",
            item.obj.key,
            lambda: backend.render(self._context(old, index, over, "delete")),
        )
        new_item = attrs.evolve(item, action="delete")
        new_steps = self._call(
            backend,
            "rendering delete",
            item.obj.key,
            lambda: backend.render(self._context(new_item, index, over, "delete")),
        )
        kept = {s.path for s in (*new_steps, *written) if isinstance(s, DeleteFile | WriteFile)}
        return [
            attrs.evolve(step, description=f"{step.description} (left by its earlier settings)")
            for step in old_steps
            if isinstance(step, DeleteFile)
            and step.path not in kept
            and _inside(item.server, step.path)
        ]

    def _assemble(
        self,
        work: list[_Work],
        index: ServiceIndex,
        over: Mapping[str, frozenset[str]],
        *,
        guard: bool,
        unrouted: Sequence[str],
        applied: Mapping[PlacementKey, Placement],
    ) -> Plan:
        per_server: dict[tuple[int, str], list[tuple[tuple[int, int], int, PlannedOperation]]] = {}
        settings_of: dict[str, Any] = {}
        servers: dict[str, Server] = {}
        recorded: list[Placement] = []
        forgotten: list[Placement] = []
        placed: dict[str, list[tuple[str, str, int]]] = {}  # (backend, server, wave) by key
        work = sorted(work, key=lambda w: w.seq)
        for item in work:
            try:
                planned, record = self._render(item, index, over, guard=guard)
            except BackendError as exc:
                raise exc.at(self.sources.get(item.obj.key)) from exc.__cause__
            if not planned.steps:  # e.g. a subdomain: its zone renders its records
                if item.action == "save" and record is not None:
                    recorded.append(record)
                elif item.action == "delete" and item.applied is not None:
                    forgotten.append(item.applied)
                continue
            name = item.server.name
            settings_of[planned.id] = item.settings
            rank = self._rank(item.backend, item.action)
            done = placed.setdefault(item.obj.key, [])
            wave = self._wave(item.backend, name, item.action, done)
            done.append((item.backend, name, wave))
            per_server.setdefault((wave, name), []).append((rank, item.seq, planned))
            servers.setdefault(name, self.router.servers.get(name, item.server))

        server_plans = []
        for wave, name in sorted(per_server):
            ordered = [p for _, _, p in sorted(per_server[wave, name], key=lambda t: (t[0], t[1]))]
            assembled = self._add_assemblies(servers[name], ordered, settings_of)
            with_reloads = self._add_reloads(servers[name], assembled, settings_of)
            server_plans.append(
                ServerPlan(server=servers[name], operations=tuple(with_reloads), wave=wave)
            )
        touched = {sp.server.name for sp in server_plans}
        return Plan(
            servers=tuple(server_plans),
            unrouted=tuple(dict.fromkeys(unrouted)),
            recorded=tuple(recorded),
            forgotten=tuple(forgotten),
            basis=_basis(applied, touched | {p.server for p in (*recorded, *forgotten)}),
        )

    def _wave(
        self, backend: str, server: str, action: str, placed: list[tuple[str, str, int]]
    ) -> int:
        """The wave of an operation on an object, given its operations placed so far.

        A backend's dependency on the same server is met by the order inside the batch. A
        dependency with no operation on this server but some on others (a DNS slave's zone and
        its master's) is met by running one wave later than those. Deletes need no waves.
        """
        if action == "delete":
            return 0
        wave = 0
        needed = self.requires[backend]
        for dep in needed:
            here = [w for b, s, w in placed if b == dep and s == server]
            elsewhere = [w + 1 for b, s, w in placed if b == dep and s != server]
            wave = max(wave, *here) if here else max(wave, *elsewhere, 0)
        return wave

    def _rank(self, backend: str, action: str) -> tuple[int, int]:
        # Deletes first, dependants before what they depend on; then saves in dependency order.
        position = self.order[backend]
        return (0, -position) if action == "delete" else (1, position)

    def _add_assemblies(
        self,
        server: Server,
        operations: list[PlannedOperation],
        settings_of: dict[str, Any],
    ) -> list[PlannedOperation]:
        """Insert one assembly per assembled file that a fragment step names
        (``fragment_of``), after the last operation with a fragment of it. The assembly
        notifies its daemon, so the reload :meth:`_add_reloads` adds comes after it.

        The file is built as the saves of the batch say (their settings are today's); a
        delete, rendered with the settings it was applied with, says how only when no save
        does. Two saves that would build it differently (a checker set for one backend of
        the file and not the other) are an error: one file, one way to build it."""
        found: dict[str, tuple[AssembleFile, bool]] = {}

        def assembly_of(op: PlannedOperation, step: Step) -> str | None:
            if not isinstance(step, WriteFile | DeleteFile) or step.fragment_of is None:
                return None
            spec, saved = step.fragment_of, op.action != "delete"
            known, known_saved = found.get(spec.path, (None, False))
            if known is None or not known_saved:
                found[spec.path] = (spec, saved)
            elif saved and attrs.evolve(spec, description=known.description) != known:
                raise BackendError(
                    op.backend,
                    f"builds {spec.path} on server {server.name} unlike another operation of "
                    f"the batch ({_difference(known, spec)}): one file, one way to build it; "
                    "give the backends that write its fragments the same settings",
                    object_key=op.object_keys[0],
                )
            return spec.path

        after: dict[int, list[PlannedOperation]] = {}
        for path, (position, keys, source) in _coalesce(operations, assembly_of).items():
            assemble_op = PlannedOperation(
                id=f"{server.name}:{source.backend}:assemble:{path}",
                server=server.name,
                backend=source.backend,
                action="assemble",
                object_keys=keys,
                steps=with_timeouts((found[path][0],), self._server_timeouts(server)),
                batch_timeout=source.batch_timeout,
            )
            _check_sandbox(server, assemble_op.steps)
            settings_of[assemble_op.id] = settings_of[source.id]
            after.setdefault(position, []).append(assemble_op)
        return _insert_after(operations, after)

    def _add_reloads(
        self,
        server: Server,
        operations: list[PlannedOperation],
        settings_of: Mapping[str, Any],
    ) -> list[PlannedOperation]:
        """Insert one reload per notified daemon, after the last operation notifying it."""
        after: dict[int, list[PlannedOperation]] = {}
        notified = _coalesce(operations, lambda _, step: step.notify)
        for daemon, (position, keys, source) in notified.items():
            backend_name = source.backend
            backend = self.backend(backend_name)
            script = backend.reload(server, settings_of[source.id], daemon)
            if script is None:
                continue
            reload_op = PlannedOperation(
                id=f"{server.name}:{backend_name}:reload:{daemon}",
                server=server.name,
                backend=backend_name,
                action="reload",
                object_keys=keys,
                steps=with_timeouts(
                    (
                        Reload(
                            description=f"reload {daemon}",
                            daemon=daemon,
                            script=script,
                            marker=_reload_marker(server, daemon),
                        ),
                    ),
                    self._server_timeouts(server),
                ),
                batch_timeout=source.batch_timeout,
            )
            after.setdefault(position, []).append(reload_op)
        return _insert_after(operations, after)


class DriftRefused(OrchestraError):
    """A probe read state that is not what orchestra last applied (nor what it makes)."""


def _covered(probe: Probe[Any], observations: Sequence[Observation]) -> Observation | None:
    """The observation ``probe`` stands for (its ``observation``), if the backend has it."""
    if probe.observation is None:
        return None
    return next((o for o in observations if o.name == probe.observation), None)


def _one(probe: Probe[Any] | None) -> tuple[Probe[Any], ...]:
    """A backend's probe as a tuple (:meth:`Planner._call` takes iterables)."""
    return () if probe is None else (probe,)


def _difference(one: AssembleFile, other: AssembleFile) -> str:
    """The fields two definitions of one assembled file differ in."""
    fields = [
        f.name
        for f in attrs.fields(AssembleFile)
        if f.name != "description" and getattr(one, f.name) != getattr(other, f.name)
    ]
    return ", ".join(fields) + " differ"


def _coalesce(
    operations: Sequence[PlannedOperation],
    key_of: Callable[[PlannedOperation, Step], str | None],
) -> dict[str, tuple[int, tuple[str, ...], PlannedOperation]]:
    """For each key a step names (a daemon it notifies, a file it is a fragment of): the
    position of the last operation naming it, the objects of every operation naming it, and
    that last operation (whose backend and settings the coalesced step is made with)."""
    last: dict[str, int] = {}
    keys: dict[str, list[str]] = {}
    for i, op in enumerate(operations):
        for step in op.steps:
            key = key_of(op, step)
            if key:
                last[key] = i
                keys.setdefault(key, []).extend(op.object_keys)
    return {
        key: (position, tuple(dict.fromkeys(keys[key])), operations[position])
        for key, position in last.items()
    }


def _insert_after(
    operations: Sequence[PlannedOperation], after: Mapping[int, Sequence[PlannedOperation]]
) -> list[PlannedOperation]:
    """``operations`` with ``after[i]`` (in order of their ids) after the i-th."""
    out: list[PlannedOperation] = []
    for i, op in enumerate(operations):
        out.append(op)
        out.extend(sorted(after.get(i, ()), key=lambda o: o.id))
    return out


def _basis(applied: Mapping[PlacementKey, Placement], servers: Collection[str]) -> str:
    """What the plan was compared with on its servers (see :func:`state_digest`)."""
    return state_digest(p for p in applied.values() if p.server in servers)


def state_digest(placements: Iterable[Placement]) -> str:
    """A digest of applied placements: equal digests, equal state to plan against. An apply
    compares the digest of its servers' placements, read once it holds their locks, with
    the one its plan was made from."""
    items = sorted(
        f"{p.object_key}\x00{p.backend}\x00{p.server}\x00{p.fingerprint}\x00"
        f"{p.applied_at.isoformat() if p.applied_at else ''}"
        for p in placements
    )
    return hashlib.sha256("\x01".join(items).encode("utf-8")).hexdigest()


#: Where orchestra keeps its own state on a server unless its ``state_dir`` setting says.
STATE_DIR = "/var/lib/orchestra"


def _safe(name: str) -> str:
    """A server or daemon name as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "_"


def _reload_marker(server: Server, daemon: str) -> str:
    """The file that says a reload of ``daemon`` is owed on ``server`` (see :class:`Reload`).

    Named after the server too: two servers may share a machine (two named instances).
    """
    state_dir = str(server.settings.get("state_dir", STATE_DIR))
    name = file_name(f"{_safe(server.name)}.{_safe(daemon)}")
    return server_path(server, f"{state_dir}/pending-reload/{name}")


def _transitive_after(backends: Mapping[str, type[Backend[Any]]]) -> dict[str, frozenset[str]]:
    """For each backend, every installed backend it runs after, directly or not."""
    closure: dict[str, frozenset[str]] = {}

    def visit(name: str) -> frozenset[str]:
        if name not in closure:
            closure[name] = frozenset()  # dependency_order has already refused cycles
            direct = [dep for dep in backends[name].after if dep in backends]
            closure[name] = frozenset(direct).union(*(visit(dep) for dep in direct))
        return closure[name]

    for name in backends:
        visit(name)
    return closure


def _step_paths(step: Step) -> Iterable[str]:
    if isinstance(step, WriteFile | DeleteFile | EnsureDirectory):
        yield step.path
    if isinstance(step, AssembleFile):
        yield step.path
        yield step.fragments


def _inside(server: Server, path: str) -> bool:
    """True when ``path`` is under the server's sandbox root (or it has none)."""
    if server.root is None:
        return True
    root = posixpath.normpath(server.root)
    normal = posixpath.normpath(path)
    return normal == root or normal.startswith(root.rstrip("/") + "/")


def _check_sandbox(server: Server, steps: Iterable[Step]) -> None:
    for step in steps:
        for path in _step_paths(step):
            if not _inside(server, path):
                assert server.root is not None
                raise SandboxViolation(server.name, path, posixpath.normpath(server.root))

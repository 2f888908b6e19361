"""The planner: from merged operations to a plan of steps per server."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchestra_core.backends.base import Backend, RenderContext, server_path
from orchestra_core.backends.settings import build_settings
from orchestra_core.errors import (
    BackendError,
    DependencyCycleError,
    FieldError,
    OrchestraError,
    SandboxViolation,
    ValidationError,
)
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.planning.changeset import ChangeSet, Operation
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.planning.routing import Router
from orchestra_core.planning.steps import DeleteFile, EnsureDirectory, Reload, Step, WriteFile

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


class Planner:
    """Routes operations to backends and servers and renders them into a :class:`Plan`.

    Built once per set of servers and routes; :meth:`plan` is pure (it touches no server).
    """

    def __init__(
        self,
        backends: Mapping[str, type[Backend[Any]]],
        servers: Sequence[Server],
        routes: Sequence[Route],
        *,
        monitors: Mapping[str, object] | None = None,
    ) -> None:
        self.backend_classes = dict(backends)
        # Routes may also name a monitor that follows no backend (it is routed by its own).
        self.router = Router(servers, routes, {**(monitors or {}), **self.backend_classes})
        self.order = {name: i for i, name in enumerate(dependency_order(self.backend_classes))}
        self.requires = _transitive_after(self.backend_classes)
        self._instances: dict[str, Backend[Any]] = {}
        self._settings: dict[tuple[str, str, int], Any] = {}

    def backend(self, name: str) -> Backend[Any]:
        """The (cached) instance of a backend."""
        if name not in self._instances:
            self._instances[name] = self.backend_classes[name]()
        return self._instances[name]

    def settings(self, backend: str, server: Server, route: Route) -> Any:
        """Backend defaults overridden by the server's and then the route's settings."""
        cache_key = (backend, server.name, id(route))
        if cache_key not in self._settings:
            server_layer = server.settings.get(backend, {})
            self._settings[cache_key] = build_settings(
                self.backend_classes[backend].settings_class,
                server_layer,
                route.settings,
                where=f"backend {backend} on server {server.name} (route {route.label})",
            )
        return self._settings[cache_key]

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

    def plan(
        self,
        changes: ChangeSet | Iterable[Operation],
        index: ServiceIndex,
        *,
        exceeded: Mapping[str, frozenset[str]] | None = None,
    ) -> Plan:
        """Validate, route and render every operation; nothing is half planned.

        All validation problems of all objects are raised together as one
        :class:`ValidationError`. ``exceeded`` gives, by object key, the resources whose
        allocation the object is over (``RenderContext.exceeded``).
        """
        over = exceeded or {}
        operations = changes.operations(index) if isinstance(changes, ChangeSet) else list(changes)
        errors: list[FieldError] = []
        for op in operations:
            if op.action != "delete":
                errors.extend(op.obj.check() or op.obj.check_references(index))
        if errors:
            raise ValidationError(errors)

        per_server: dict[tuple[int, str], list[tuple[tuple[int, int], int, PlannedOperation]]] = {}
        settings_of: dict[str, Any] = {}
        servers: dict[str, Server] = {}
        unrouted: list[str] = []
        for seq, op in enumerate(operations):
            routed = False
            placed: list[tuple[str, str, int]] = []  # (backend, server, wave) for this object
            for backend_name in self.backends_for(op.obj.kind, op.action):
                backend = self.backend(backend_name)
                for server, route in self.router.targets(backend_name, op.obj, index):
                    routed = True
                    settings = self.settings(backend_name, server, route)
                    if op.action != "delete":
                        problems = backend.check(op.obj, settings)
                        if problems:  # rendering would only trip over them
                            errors.extend(problems)
                            continue
                    planned = self._render(backend, op, server, settings, index, over)
                    if not planned.steps:  # e.g. a subdomain: its zone renders its records
                        continue
                    settings_of[planned.id] = settings
                    rank = self._rank(backend_name, op.action)
                    wave = self._wave(backend_name, server.name, op.action, placed)
                    placed.append((backend_name, server.name, wave))
                    per_server.setdefault((wave, server.name), []).append((rank, seq, planned))
                    servers[server.name] = server
            if not routed:
                unrouted.append(op.key)
        if errors:
            raise ValidationError(errors)

        server_plans = []
        for wave, name in sorted(per_server):
            ordered = [p for _, _, p in sorted(per_server[wave, name], key=lambda t: (t[0], t[1]))]
            with_reloads = self._add_reloads(servers[name], ordered, settings_of)
            server_plans.append(
                ServerPlan(server=servers[name], operations=tuple(with_reloads), wave=wave)
            )
        return Plan(servers=tuple(server_plans), unrouted=tuple(dict.fromkeys(unrouted)))

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

    def _render(
        self,
        backend: Backend[Any],
        op: Operation,
        server: Server,
        settings: Any,
        index: ServiceIndex,
        exceeded: Mapping[str, frozenset[str]],
    ) -> PlannedOperation:
        ctx = RenderContext(
            obj=op.obj,
            action=op.action,
            server=server,
            settings=settings,
            index=index,
            active=index.is_effectively_active(op.obj),
            secret=op.secret,
            peer_lookup=lambda name: self.peers(name, op.obj, index),
            over_allocation=exceeded,
        )
        try:
            steps = tuple(backend.render(ctx))
        except OrchestraError:
            raise
        except Exception as exc:
            raise BackendError(
                backend.name, f"rendering {op.action} failed: {exc!r}", object_key=op.key
            ) from exc
        _check_sandbox(server, steps)
        return PlannedOperation(
            id=f"{server.name}:{backend.name}:{op.action}:{op.key}",
            server=server.name,
            backend=backend.name,
            action=op.action,
            object_keys=(op.key,),
            steps=steps,
        )

    def _add_reloads(
        self,
        server: Server,
        operations: list[PlannedOperation],
        settings_of: Mapping[str, Any],
    ) -> list[PlannedOperation]:
        """Insert one reload per notified daemon, after the last operation notifying it."""
        last: dict[str, int] = {}
        keys: dict[str, list[str]] = {}
        source: dict[str, PlannedOperation] = {}
        for i, op in enumerate(operations):
            for step in op.steps:
                if step.notify:
                    last[step.notify] = i
                    keys.setdefault(step.notify, []).extend(op.object_keys)
                    source[step.notify] = op
        after: dict[int, list[PlannedOperation]] = {}
        for daemon, position in last.items():
            backend_name = source[daemon].backend
            backend = self.backend(backend_name)
            script = backend.reload(server, settings_of[source[daemon].id])
            if script is None:
                continue
            reload_op = PlannedOperation(
                id=f"{server.name}:{backend_name}:reload:{daemon}",
                server=server.name,
                backend=backend_name,
                action="reload",
                object_keys=tuple(dict.fromkeys(keys[daemon])),
                steps=(
                    Reload(
                        description=f"reload {daemon}",
                        daemon=daemon,
                        script=script,
                        marker=_reload_marker(server, daemon),
                    ),
                ),
            )
            after.setdefault(position, []).append(reload_op)
        out: list[PlannedOperation] = []
        for i, op in enumerate(operations):
            out.append(op)
            out.extend(sorted(after.get(i, ()), key=lambda o: o.id))
        return out


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
    return server_path(server, f"{state_dir}/pending-reload/{_safe(server.name)}.{_safe(daemon)}")


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


def _check_sandbox(server: Server, steps: Iterable[Step]) -> None:
    if server.root is None:
        return
    root = posixpath.normpath(server.root)
    for step in steps:
        for path in _step_paths(step):
            normal = posixpath.normpath(path)
            if not (normal == root or normal.startswith(root.rstrip("/") + "/")):
                raise SandboxViolation(server.name, path, root)

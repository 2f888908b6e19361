"""Routes: which servers a backend's operations go to, chosen by a sandboxed expression.

Match expressions are jinja2 expressions compiled in jinja2's :class:`SandboxedEnvironment`
(no attribute access to internals, no calls to unsafe methods); ``eval`` is never used. The
object is visible under its kind name (``domain``, ``mailbox``...) and as ``obj``, its account
as ``account``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from orchestra_core.errors import ConfigurationError, RouteError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Service

__all__ = ["CompiledRoute", "Router", "compile_match"]

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined)


def compile_match(expression: str, *, route: str) -> Callable[..., Any]:
    """Compile a match expression; a syntax error is a :class:`RouteError` naming the route."""
    try:
        return _ENV.compile_expression(expression, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise RouteError(route, f"invalid match expression {expression!r}: {exc.message}") from exc


class CompiledRoute:
    """A route with its expression compiled and its servers resolved."""

    def __init__(self, route: Route, servers: Sequence[Server]) -> None:
        self.route = route
        self.servers = tuple(servers)
        self._match = compile_match(route.match, route=route.label)

    def matches(self, obj: Service, index: ServiceIndex) -> bool:
        """True when the expression holds for ``obj``; an evaluation error is a RouteError."""
        variables = {obj.kind: obj, "obj": obj, "account": index.account(obj.account)}
        try:
            return bool(self._match(**variables))
        except jinja2.UndefinedError as exc:
            raise RouteError(self.route.label, exc.message or str(exc), object_key=obj.key) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise RouteError(self.route.label, f"not allowed: {exc}", object_key=obj.key) from exc
        except Exception as exc:
            raise RouteError(
                self.route.label, f"{type(exc).__name__}: {exc}", object_key=obj.key
            ) from exc


class Router:
    """All routes, grouped by backend, checked against the known servers and backends."""

    def __init__(
        self,
        servers: Sequence[Server],
        routes: Sequence[Route],
        backends: Mapping[str, object],
    ) -> None:
        self.servers: dict[str, Server] = {}
        for server in servers:
            if server.name in self.servers:
                raise ConfigurationError(f"server {server.name!r} is defined twice")
            self.servers[server.name] = server
        self.by_backend: dict[str, list[CompiledRoute]] = {}
        for route in routes:
            if route.backend not in backends:
                known = ", ".join(sorted(backends)) or "none"
                raise RouteError(
                    route.label,
                    f"backend {route.backend!r} is not installed (installed: {known})",
                )
            missing = [name for name in route.servers if name not in self.servers]
            if missing:
                raise RouteError(route.label, f"unknown servers {missing}")
            resolved = [self.servers[name] for name in route.servers]
            self.by_backend.setdefault(route.backend, []).append(CompiledRoute(route, resolved))

    def targets(
        self, backend: str, obj: Service, index: ServiceIndex
    ) -> list[tuple[Server, Route]]:
        """The servers (with the route that chose each) this backend's work on ``obj`` goes to.

        A server chosen by several routes appears once, with the first route's settings.
        """
        seen: dict[str, tuple[Server, Route]] = {}
        for compiled in self.by_backend.get(backend, ()):
            if compiled.matches(obj, index):
                for server in compiled.servers:
                    seen.setdefault(server.name, (server, compiled.route))
        return list(seen.values())

"""Routes: which servers a backend's operations go to, chosen by a sandboxed expression.

Match expressions are jinja2 expressions compiled in the bounded, immutable sandbox of
:mod:`orchestra_core.planning.expressions` (no attribute access to internals, no calls to
unsafe methods, no change to the objects routed, a budget of work and time); ``eval`` is never
used. The object is visible under its kind name (``domain``, ``mailbox``...) and as ``obj``,
its account as ``account``. Every error of a match is a :class:`RouteError` naming the route
and, for a route read from an inventory, its file and line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jinja2
from jinja2.environment import TemplateExpression

from orchestra_core.errors import ConfigurationError, RouteError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Service
from orchestra_core.planning.budget import ExpressionRefused
from orchestra_core.planning.expressions import MatchEnvironment, evaluate

__all__ = ["CompiledRoute", "Router", "compile_match"]

_ENV = MatchEnvironment()


def compile_match(expression: str, *, route: str, source: str | None = None) -> TemplateExpression:
    """Compile a match expression; an invalid one (bad syntax, an unknown filter, nesting
    too deep to parse) is a :class:`RouteError` naming the route (and ``source``)."""
    try:
        return _ENV.compile_expression(expression, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        message = f"invalid match expression {expression!r}: {exc.message}"
        raise RouteError(route, message, source=source) from exc
    except (RecursionError, MemoryError, SyntaxError) as exc:  # Python's limits on nesting
        message = f"invalid match expression {expression!r}: it nests too deeply"
        raise RouteError(route, message, source=source) from exc


class CompiledRoute:
    """A route with its expression compiled and its servers resolved."""

    def __init__(self, route: Route, servers: Sequence[Server]) -> None:
        self.route = route
        self.servers = tuple(servers)
        self._match = compile_match(route.match, route=route.label, source=route.source)

    def matches(self, obj: Service, index: ServiceIndex) -> bool:
        """True when the expression holds for ``obj``; any failure of it (an undefined name,
        what the sandbox refuses, too much work) is a RouteError naming the route."""
        variables = {obj.kind: obj, "obj": obj, "account": index.account(obj.account)}
        try:
            return evaluate(self._match, variables)
        except jinja2.UndefinedError as exc:
            raise self._error(exc.message or str(exc), obj) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise self._error(f"not allowed: {exc}", obj) from exc
        except ExpressionRefused as exc:
            raise self._error(f"refused: {exc}", obj) from exc
        except RecursionError as exc:
            raise self._error("refused: it nests too deeply", obj) from exc
        except Exception as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", obj) from exc

    def _error(self, message: str, obj: Service) -> RouteError:
        return RouteError(self.route.label, message, object_key=obj.key, source=self.route.source)


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
                    source=route.source,
                )
            missing = [name for name in route.servers if name not in self.servers]
            if missing:
                raise RouteError(route.label, f"unknown servers {missing}", source=route.source)
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

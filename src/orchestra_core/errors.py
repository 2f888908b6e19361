"""The one exception tree of orchestra-core.

Every error raised on purpose by the library derives from :class:`OrchestraError` and carries
structured fields (which object, which field, which server, which file and line) so that a CLI,
a panel or a log line can say exactly what is wrong and what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = [
    "BackendError",
    "ConfigurationError",
    "DependencyCycleError",
    "FieldError",
    "InventoryError",
    "OrchestraError",
    "PlanningError",
    "PluginLoadError",
    "RouteError",
    "SandboxViolation",
    "TemplateError",
    "TransportError",
    "ValidationError",
    "shown",
]

#: How many characters of a name (an object key, a field path) a message shows.
SHOWN_LIMIT = 100


def shown(name: str, limit: int = SHOWN_LIMIT) -> str:
    """How a message shows a name it did not choose (an object key, a field path, a server):
    as it is when it is printable and at most ``limit`` characters long, else quoted and
    escaped as a value is (``'domain:a\\nb'``: a line break, a terminal escape or a NUL shows
    as such) and cut at ``limit`` characters, with the whole length said. JSON output keeps
    names exact; this is for text read by people."""
    if not isinstance(name, str):
        return shown(repr(name), limit)
    if name.isprintable() and len(name) <= limit:
        return name
    if len(name) > limit:
        return repr(name[:limit]) + f"... ({len(name)} characters)"
    return repr(name)


class OrchestraError(Exception):
    """Root of every error orchestra-core raises on purpose."""


@attrs.frozen
class FieldError:
    """One problem with one field of one object, found without touching a server."""

    object_key: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{shown(self.object_key)}: {shown(self.field)}: {self.message}"


class ValidationError(OrchestraError):
    """An object (or several) failed validation; ``errors`` names each object and field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors) or "validation failed")


class InventoryError(OrchestraError):
    """An inventory file is malformed: says which file, which line and what was expected."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        where = file or "<inventory>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class PluginLoadError(OrchestraError):
    """A plugin could not be loaded or registered; names the plugin and its distribution."""

    def __init__(self, plugin: str, reason: str, *, distribution: str | None = None) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.reason = reason
        dist = f" (distribution {distribution})" if distribution else ""
        super().__init__(f"plugin {plugin!r}{dist} failed to load: {reason}")


class ConfigurationError(OrchestraError):
    """Servers, routes or settings are inconsistent (unknown backend, unknown server...)."""


class RouteError(ConfigurationError):
    """A route's match expression is invalid or failed for an object.

    ``reason`` is what went wrong; ``source`` is where the route was declared
    (``FILE:LINE`` of its ``match``, for a route read from an inventory file), and then
    leads the message.
    """

    def __init__(
        self,
        route: str,
        message: str,
        *,
        object_key: str | None = None,
        source: str | None = None,
    ) -> None:
        self.route = route
        self.object_key = object_key
        self.reason = message
        self.source = source
        where = f"{source}: " if source else ""
        target = f" for {shown(object_key)}" if object_key else ""
        super().__init__(f"{where}route {shown(route)}{target}: {message}")


class PlanningError(OrchestraError):
    """A plan could not be produced from a change set."""


class DependencyCycleError(PlanningError):
    """Backends declare dependencies that form a cycle; ``cycle`` lists it in order."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("backend dependency cycle: " + " -> ".join(self.cycle))


class SandboxViolation(PlanningError):
    """A step would touch a path outside its server's sandbox root."""

    def __init__(self, server: str, path: str, root: str) -> None:
        self.server = server
        self.path = path
        self.root = root
        super().__init__(
            f"server {shown(server)}: path {path!r} is outside the sandbox root {root!r}"
        )


class TemplateError(OrchestraError):
    """A template failed to render (undefined variable, syntax error)."""


class BackendError(OrchestraError):
    """A backend refused to render an operation (missing settings, unsupported action).

    ``source`` is where the object was declared (``FILE:LINE``, for an object read from an
    inventory file), and then leads the message; :meth:`at` adds it where it is known.
    """

    def __init__(
        self,
        backend: str,
        message: str,
        *,
        object_key: str | None = None,
        source: str | None = None,
    ) -> None:
        self.backend = backend
        self.object_key = object_key
        self.reason = message
        self.source = source
        where = f"{source}: " if source else ""
        target = f" ({shown(object_key)})" if object_key else ""
        super().__init__(f"{where}backend {shown(backend)}{target}: {message}")

    def at(self, source: str | None) -> BackendError:
        """This error, declared at ``source`` when it has no source yet (else itself)."""
        if source is None or self.source is not None:
            return self
        located = BackendError(self.backend, self.reason, object_key=self.object_key, source=source)
        located.__cause__ = self.__cause__
        return located


class TransportError(OrchestraError):
    """A transport could not run a batch on a server (connect failure, broken pipe)."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        super().__init__(f"server {shown(server)}: {message}")

"""Servers and the routes that send a backend's operations to them."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ROUTE_OWN", "Route", "Server"]

#: The keys of ``Route.settings`` that are the core's, not the backend's: ``timeouts`` (how
#: long the steps and batches of the operations it sends may take). A backend's settings
#: class may not have a setting of that name.
ROUTE_OWN = ("timeouts",)


@attrs.frozen(kw_only=True)
class Server:
    """A machine that runs daemons.

    ``transport`` names how to reach it (``local``, ``ssh``, ``recording``). ``root`` is a
    sandbox folder for the ``local`` transport: every path a backend writes is placed under it,
    and the executor refuses any step that would leave it. ``settings`` holds transport options
    (user, port, key file) and per-backend overrides under the backend's name.
    """

    name: str
    address: str = "127.0.0.1"
    transport: str = "local"
    root: str | None = None
    settings: dict[str, Any] = attrs.field(factory=dict)

    @property
    def key(self) -> str:
        """Stable natural key, ``server:NAME``."""
        return f"server:{self.name}"

    def layers(self, name: str, section: str | None = None) -> tuple[Any, ...]:
        """This server's settings layers for the backend or monitor ``name``, weakest first:
        the block of its driver's shared ``section`` (when it has one), then ``name``'s own."""
        own = self.settings.get(name, {})
        if section is None or section == name:
            return (own,)
        return (self.settings.get(section, {}), own)


@attrs.frozen(kw_only=True)
class Route:
    """Sends the operations of one backend to servers, for the objects its expression matches.

    ``match`` is a jinja2 expression evaluated in a sandbox with the object under its kind name
    (``domain.name.endswith(".example")``) and as ``obj``; the default matches everything.
    ``settings`` override the backend's defaults for the objects this route sends, except for
    the core's keys (:data:`ROUTE_OWN`): ``timeouts``, read by
    :func:`~orchestra_core.execution.server_settings.route_timeouts`.
    """

    backend: str
    servers: tuple[str, ...]
    match: str = "True"
    settings: dict[str, Any] = attrs.field(factory=dict)
    name: str | None = None
    #: Where the route was declared (``FILE:LINE`` of its ``match``) when it was read from an
    #: inventory file, else None: errors of its match name it. Not part of the route's value
    #: (two routes that differ only here are equal) and not a key of an inventory.
    source: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def backend_settings(self) -> dict[str, Any]:
        """The settings this route gives its backend: :attr:`settings` without the core's
        keys."""
        if not any(key in self.settings for key in ROUTE_OWN):
            return self.settings
        return {k: v for k, v in self.settings.items() if k not in ROUTE_OWN}

    @property
    def label(self) -> str:
        """How errors and listings name this route."""
        return self.name or f"{self.backend}[{self.match}]"

    def declared_at(self, source: str) -> Route:
        """This route, noted as declared at ``source`` (``FILE:LINE``)."""
        located = attrs.evolve(self)
        object.__setattr__(located, "source", source)  # frozen, and not an init argument
        return located

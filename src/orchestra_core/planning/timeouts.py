"""How long steps and batches may take: the ``timeouts`` block of a server's and a route's
settings (:class:`Timeouts`), and :func:`with_timeouts`, which gives each step of an
operation the timeout they say. The planner uses it for every operation it renders; the
executor for plans built by hand.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from orchestra_core.backends.settings import block_problems, build_settings
from orchestra_core.backends.steps import Reload, Step
from orchestra_core.errors import FieldError
from orchestra_core.model.servers import Route, Server

__all__ = [
    "RELOAD_TIMEOUT",
    "Timeouts",
    "check_route_settings",
    "route_timeouts",
    "seconds",
    "server_timeouts",
    "with_timeouts",
]

#: Seconds a reload may take when neither its driver nor a timeouts block bounds it.
RELOAD_TIMEOUT = 300.0


def seconds(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    """A duration: a finite number of seconds above 0 and at most a day (or null)."""
    if value is not None and not (math.isfinite(value) and 0 < value <= 86400):
        raise ValueError(
            f"'{attribute.name}' must be a number of seconds above 0 and at most 86400, "
            f"got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Timeouts:
    """How long a server's work may take, from ``Server.settings["timeouts"]``, in seconds.

    ``step`` bounds every step that has no timeout of its own (a driver sets its own on its
    checkers and reloads); ``batch`` bounds the server's whole batch (the executor's default,
    600 s, when unset; ``apply --timeout`` overrides it). In a route's ``settings.timeouts``,
    ``step`` bounds the steps of the operations the route sends (before the server's), and
    ``batch`` is what those operations ask of their server's batch: a batch may take the
    longest that any of its operations asks for (the route's, else the server's).
    """

    step: float | None = attrs.field(default=None, validator=seconds)
    batch: float | None = attrs.field(default=None, validator=seconds)


def server_timeouts(server: Server) -> Timeouts:
    """The timeouts of ``server``; bad ones are a :class:`SettingsError`."""
    built: Timeouts = build_settings(
        Timeouts,
        server.settings.get("timeouts", {}),
        where=f"timeouts of server {server.name}",
        subject="timeouts",
    )
    return built


def route_timeouts(route: Route) -> Timeouts:
    """The timeouts of the operations ``route`` sends; bad ones are a :class:`SettingsError`."""
    block = route.settings.get("timeouts", {})
    built: Timeouts = build_settings(
        Timeouts, block, where=f"timeouts of route {route.label}", subject="timeouts"
    )
    return built


def check_route_settings(route: Route, key: str) -> list[FieldError]:
    """Every problem with ``route``'s ``settings.timeouts`` block, as
    :func:`check_server_settings` names them (``key`` is how errors name the route)."""
    return block_problems(route.settings, (("timeouts", Timeouts),), key, f"route {route.label}")


def with_timeouts(steps: tuple[Step, ...], *layers: Timeouts) -> tuple[Step, ...]:
    """``steps`` with a timeout on each that has none: the ``step`` timeout of the first of
    ``layers`` that has one (a route's before its server's), else for a reload
    :data:`RELOAD_TIMEOUT`. The same tuple when nothing changes."""
    default = next((layer.step for layer in layers if layer.step is not None), None)

    def timed(step: Step) -> Step:
        if step.timeout is not None:
            return step
        seconds = (
            default
            if default is not None
            else (RELOAD_TIMEOUT if isinstance(step, Reload) else None)
        )
        return step if seconds is None else attrs.evolve(step, timeout=seconds)

    out = tuple(timed(step) for step in steps)
    return steps if all(new is old for new, old in zip(out, steps, strict=True)) else out

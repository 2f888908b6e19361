"""The settings of a server and a route that belong to no backend: ``ssh`` and ``timeouts``.

``Server.settings`` holds, besides the overrides of each backend under its name, two blocks of
the core's own: ``ssh`` (how the ssh transport reaches the server, :class:`SSHSettings`) and
``timeouts`` (how long its steps and batches may take, :class:`Timeouts`). Both are read
strictly, like backend settings: an unknown key, a value of the wrong type and a value out of
range are refused, by :func:`check_server_settings` when an inventory is validated (each
problem named by its field, ``settings.ssh.port``, which the loader places at its line) and
by :func:`ssh_settings` and :func:`server_timeouts` when they are used. A route's
``settings.timeouts`` is the same block for the operations it sends (:func:`route_timeouts`,
checked by :func:`check_route_settings`); :func:`with_timeouts` gives the steps of an
operation the timeout these blocks say. This module imports
neither paramiko nor fabric, so that validating an inventory stays cheap.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

import attrs

from orchestra_core.backends.settings import SettingsError, build_settings
from orchestra_core.backends.steps import Reload, Step
from orchestra_core.errors import FieldError
from orchestra_core.model.servers import Route, Server

T = TypeVar("T")

__all__ = [
    "CORE_SETTINGS",
    "POLICIES",
    "RELOAD_TIMEOUT",
    "SSHSettings",
    "Timeouts",
    "check_route_settings",
    "check_server_settings",
    "parse_jump",
    "route_timeouts",
    "server_timeouts",
    "ssh_settings",
    "with_timeouts",
]

#: The keys of ``Server.settings`` that are the core's own, not a backend's.
CORE_SETTINGS = ("ssh", "timeouts")
#: Seconds a reload may take when neither its driver nor a timeouts block bounds it.
RELOAD_TIMEOUT = 300.0
#: The host-key policies :class:`SSHSettings` knows.
POLICIES = ("strict", "accept-new", "ignore")

_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}")
_HOSTPORT = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.%]{2,64})\]|(?P<host>[A-Za-z0-9_.%-]{1,253}))(?::(?P<port>\d{1,5}))?"
)


def _seconds(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    """A duration: a finite number of seconds above 0 and at most a day (or null)."""
    if value is not None and not (math.isfinite(value) and 0 < value <= 86400):
        raise ValueError(
            f"'{attribute.name}' must be a number of seconds above 0 and at most 86400, "
            f"got {value!r}"
        )


def _text(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """A path or name: not empty, no control character."""
    if value is not None and (not value or not value.isprintable()):
        raise ValueError(f"'{attribute.name}' must be a non-empty printable string")


def _user(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _USER.fullmatch(value):
        raise ValueError(
            f"'{attribute.name}' must be a user name (letters, digits, '_ . @ -'), got {value!r}"
        )


def _port(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 1 <= value <= 65535:
        raise ValueError(f"'{attribute.name}' must be a port from 1 to 65535, got {value!r}")


def parse_jump(text: str, default_user: str) -> tuple[str, str, int]:
    """``[user@]host[:port]`` (an IPv6 address in brackets) as (user, host, port); a
    ``ValueError`` in an operator's words when it is not that."""
    user, at, hostport = text.rpartition("@")
    match = _HOSTPORT.fullmatch(hostport)
    if (at and not _USER.fullmatch(user)) or match is None:
        raise ValueError(f"'jump' must be [user@]host[:port], got {text!r}")
    port = int(match["port"] or 22)
    if not 1 <= port <= 65535:
        raise ValueError(f"'jump' must have a port from 1 to 65535, got {text!r}")
    return user or default_user, match["v6"] or match["host"], port


def _jump(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        parse_jump(value, "root")


@attrs.frozen(kw_only=True)
class SSHSettings:
    """How to reach a server over SSH, from ``Server.settings["ssh"]``.

    ``host_key_policy``: ``strict`` (the default) refuses a host that is not in
    ``known_hosts``; ``accept-new`` adds a host seen for the first time to ``known_hosts``
    (still refusing a changed key); ``ignore`` accepts unknown hosts without recording them.
    A key that differs from the one on record is refused under every policy. ``jump`` is a
    bastion, ``[user@]host[:port]``, reached with the same key. ``sudo`` runs batches with
    ``sudo -n`` (the user needs password-less sudo for ``setsid``, see docs/servers.md).
    ``connect_timeout`` bounds each connection attempt: the TCP connection, the server's SSH
    banner and the key exchange, and the login.
    """

    user: str = attrs.field(default="root", validator=_user)
    port: int = attrs.field(default=22, validator=_port)
    key_file: str | None = attrs.field(default=None, validator=_text)
    known_hosts: str | None = attrs.field(default=None, validator=_text)
    host_key_policy: str = attrs.field(default="strict", validator=attrs.validators.in_(POLICIES))
    jump: str | None = attrs.field(default=None, validator=_jump)
    connect_timeout: float = attrs.field(default=10.0, validator=_seconds)
    connect_retries: int = attrs.field(
        default=2, validator=[attrs.validators.ge(0), attrs.validators.le(10)]
    )
    retry_backoff: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(60)]
    )
    idle_timeout: float = attrs.field(default=300.0, validator=_seconds)
    sudo: bool = False


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

    step: float | None = attrs.field(default=None, validator=_seconds)
    batch: float | None = attrs.field(default=None, validator=_seconds)


def _block(server: Server, cls: type[T], key: str, where: str) -> T:
    """The ``settings[key]`` block of ``server`` as ``cls``; a bad one is a SettingsError."""
    built: T = build_settings(cls, server.settings.get(key, {}), where=where, subject=key)
    return built


def ssh_settings(server: Server) -> SSHSettings:
    """The SSH settings of ``server``; bad ones are a :class:`SettingsError`."""
    return _block(server, SSHSettings, "ssh", f"ssh on server {server.name}")


def server_timeouts(server: Server) -> Timeouts:
    """The timeouts of ``server``; bad ones are a :class:`SettingsError`."""
    return _block(server, Timeouts, "timeouts", f"timeouts of server {server.name}")


def route_timeouts(route: Route) -> Timeouts:
    """The timeouts of the operations ``route`` sends; bad ones are a :class:`SettingsError`."""
    block = route.settings.get("timeouts", {})
    built: Timeouts = build_settings(
        Timeouts, block, where=f"timeouts of route {route.label}", subject="timeouts"
    )
    return built


def check_server_settings(server: Server) -> list[FieldError]:
    """Every problem with ``server``'s ``ssh`` and ``timeouts`` blocks, each named by its field
    (``settings.ssh.port``, or ``settings.ssh`` when the block itself is wrong). Each key is
    read on its own, so that a wrong type does not hide a value out of range beside it."""
    blocks = (("ssh", SSHSettings), ("timeouts", Timeouts))
    return _check_blocks(server.settings, blocks, server.key, f"server {server.name}")


def check_route_settings(route: Route, key: str) -> list[FieldError]:
    """Every problem with ``route``'s ``settings.timeouts`` block, as
    :func:`check_server_settings` names them (``key`` is how errors name the route)."""
    return _check_blocks(route.settings, (("timeouts", Timeouts),), key, f"route {route.label}")


def _check_blocks(
    settings: dict[str, Any], blocks: tuple[tuple[str, type[Any]], ...], key: str, whose: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, cls in blocks:
        if name not in settings:
            continue
        block = settings[name]
        layers = (
            [{item: value} for item, value in block.items()] if isinstance(block, dict) else [block]
        )
        for layer in layers:
            try:
                build_settings(cls, layer, where=f"{name} of {whose}", subject=name)
            except SettingsError as exc:
                for problem in exc.problems:
                    field = f"settings.{name}"
                    if isinstance(block, dict) and problem.setting in block:
                        field += f".{problem.setting}"
                    errors.append(FieldError(key, field, problem.message))
    return errors


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

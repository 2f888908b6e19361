"""The settings of a server that belong to no backend: ``ssh`` and ``timeouts``.

``Server.settings`` holds, besides the overrides of each backend under its name, two blocks of
the core's own: ``ssh`` (how the ssh transport reaches the server, :class:`SSHSettings`) and
``timeouts`` (how long its steps and batches may take, :class:`Timeouts`). Both are read
strictly, like backend settings: an unknown key, a value of the wrong type and a value out of
range are refused, by :func:`check_server_settings` when an inventory is validated (each
problem named by its field, ``settings.ssh.port``, which the loader places at its line) and
by :func:`ssh_settings` and :func:`server_timeouts` when they are used (the timeouts block
and a route's are :mod:`orchestra_core.planning.timeouts`'). This module imports
neither paramiko nor fabric, so that validating an inventory stays cheap.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import attrs

from orchestra_core.backends.settings import block_problems, build_settings
from orchestra_core.errors import FieldError
from orchestra_core.model.servers import Server
from orchestra_core.planning.timeouts import Timeouts, seconds

T = TypeVar("T")

__all__ = [
    "CORE_SETTINGS",
    "POLICIES",
    "SSHSettings",
    "check_server_settings",
    "parse_jump",
    "ssh_settings",
]

#: The keys of ``Server.settings`` that are the core's own, not a backend's.
CORE_SETTINGS = ("ssh", "timeouts")
#: The host-key policies :class:`SSHSettings` knows.
POLICIES = ("strict", "accept-new", "ignore")

_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}")
_HOSTPORT = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.%]{2,64})\]|(?P<host>[A-Za-z0-9_.%-]{1,253}))(?::(?P<port>\d{1,5}))?"
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
    connect_timeout: float = attrs.field(default=10.0, validator=seconds)
    connect_retries: int = attrs.field(
        default=2, validator=[attrs.validators.ge(0), attrs.validators.le(10)]
    )
    retry_backoff: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(60)]
    )
    idle_timeout: float = attrs.field(default=300.0, validator=seconds)
    sudo: bool = False


def _block(server: Server, cls: type[T], key: str, where: str) -> T:
    """The ``settings[key]`` block of ``server`` as ``cls``; a bad one is a SettingsError."""
    built: T = build_settings(cls, server.settings.get(key, {}), where=where, subject=key)
    return built


def ssh_settings(server: Server) -> SSHSettings:
    """The SSH settings of ``server``; bad ones are a :class:`SettingsError`."""
    return _block(server, SSHSettings, "ssh", f"ssh on server {server.name}")


def check_server_settings(server: Server) -> list[FieldError]:
    """Every problem with ``server``'s ``ssh`` and ``timeouts`` blocks, each named by its field
    (``settings.ssh.port``, or ``settings.ssh`` when the block itself is wrong). Each key is
    read on its own, so that a wrong type does not hide a value out of range beside it."""
    blocks = (("ssh", SSHSettings), ("timeouts", Timeouts))
    return block_problems(server.settings, blocks, server.key, f"server {server.name}")

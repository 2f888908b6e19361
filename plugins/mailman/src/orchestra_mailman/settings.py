"""Settings of the mailman backends and monitors, per server or route (defaults fit Debian's
``mailman3`` package).

Every mailman backend and monitor reads one block, ``mailman`` in a server's settings (a
block named after one backend, ``mailman-list``, overrides it for that backend). The
``mailman-postfix`` backend writes the postfix driver's tables and reads the ``postfix``
block instead; it takes the address Postfix delivers a list's mail to (``lmtp``) from the
``mailman-list`` placement of the same list.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["ARCHIVE_ON_DELETE", "MANAGED_OPTIONS", "MailmanSettings"]

#: The list options the backend itself decides, which ``enforced`` may not name: the
#: description is the list's own, ``emergency`` is how a suspended list holds its posts.
MANAGED_OPTIONS = frozenset({"description", "emergency"})
#: What a delete does with the list's archive: ``keep`` it where Mailman's archiver wrote it,
#: or move it to ``trash_dir`` (``TRASH_DIR/YYYY-MM-DD/LIST@DOMAIN``).
ARCHIVE_ON_DELETE = ("keep", "trash")

_OPTION = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: A host name or IPv4 address and a port; IPv6 in brackets.
_LMTP = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):[0-9]{1,5}"
)


def _absolute_path(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    from orchestra_core import driver

    driver.absolute_path(instance, attribute, value)


def _optional_path(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        _absolute_path(instance, attribute, value)


def _command(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    from orchestra_core import driver

    driver.command(instance, attribute, value)


def _program(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    from orchestra_core import driver

    driver.program(instance, attribute, value)


def _log_files(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    from orchestra_postfix import settings

    settings.log_files(instance, attribute, value)


def _zone_name(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    from orchestra_postfix import settings

    settings.zone_name(instance, attribute, value)


def _lmtp(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _LMTP.fullmatch(value):
        raise ValueError(f"{attribute.name} {value!r} is not HOST:PORT (127.0.0.1:8024)")
    if not 1 <= int(value.rpartition(":")[2]) <= 65535:
        raise ValueError(f"{attribute.name} {value!r}: the port must be from 1 to 65535")


def _enforced(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{attribute.name} must be a mapping of list options to values")
    for key, item in value.items():
        if not isinstance(key, str) or not _OPTION.fullmatch(key):
            raise ValueError(f"{attribute.name}: {key!r} is not a Mailman list option name")
        if key in MANAGED_OPTIONS:
            raise ValueError(
                f"{attribute.name}: {key} is the backend's own (the list's description, its "
                "suspension), not an option a host enforces"
            )
        if not isinstance(item, bool | int | str) or (isinstance(item, str) and "\n" in item):
            raise ValueError(
                f"{attribute.name}.{key}: {item!r} is not a one-line text, a number or a true/false"
            )


def _timeout(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 3600:
        raise ValueError(f"{attribute.name} must be a number of seconds from 1 to 3600")


@attrs.frozen(kw_only=True)
class MailmanSettings:
    """How Mailman is reached on the list server, what a host enforces on every list, and
    what a delete keeps. Paths are the server's (under its sandbox root, if it has one)."""

    #: Mailman's command line as the user Mailman runs as (it refuses root): ``mailman
    #: info`` tells the backend where the REST API is and its credentials.
    mailman: tuple[str, ...] = attrs.field(
        default=("runuser", "-u", "list", "--", "mailman"), validator=_command
    )
    #: Mailman's configuration file (``mailman -C``), when it is not the default one.
    config: str | None = attrs.field(default=None, validator=_optional_path)
    #: The Python Mailman runs on: it runs the REST calls, and reads the API's address and
    #: credentials from Mailman's configuration with Mailman's packages (another Python
    #: asks ``mailman info``, a second more per step).
    python: str = attrs.field(default="/usr/bin/python3", validator=_program)
    #: Where Postfix delivers the list's mail over LMTP: Mailman's ``[mta] lmtp_host`` and
    #: ``lmtp_port``, as the Postfix server reaches it.
    lmtp: str = attrs.field(default="127.0.0.1:8024", validator=_lmtp)
    #: List options every list gets, whatever was set by hand: the seeds keep lists from
    #: hiding their posters (``anonymous_list: false``). Any option of Mailman's REST
    #: ``lists/ID/config`` with a one-line value, a number or a true/false.
    enforced: dict[str, Any] = attrs.field(
        factory=lambda: {"anonymous_list": False}, validator=_enforced
    )
    #: What a delete does with the archive (see :data:`ARCHIVE_ON_DELETE`).
    archive_on_delete: str = attrs.field(
        default="keep", validator=attrs.validators.in_(ARCHIVE_ON_DELETE)
    )
    #: Where Mailman's prototype archiver keeps each list's archive (``ARCHIVE_DIR/LIST@DOMAIN``).
    archive_dir: str = attrs.field(
        default="/var/lib/mailman3/archives/prototype", validator=_absolute_path
    )
    #: Where a deleted list's archive goes with ``archive_on_delete: trash``.
    trash_dir: str = attrs.field(default="/var/lib/mailman3/trash", validator=_absolute_path)
    #: Mailman's ``smtp.log`` files, newest first: the posts monitor counts the ``post to``
    #: line Mailman writes for every post it sends out (held posts count once released).
    post_logs: tuple[str, ...] = attrs.field(
        default=("/var/log/mailman3/smtp.log", "/var/log/mailman3/smtp.log.1"),
        validator=_log_files,
    )
    #: The zone the log's times are in; None asks the server (``TZ``, ``/etc/timezone``,
    #: ``/etc/localtime``), as the postfix monitors do.
    timezone: str | None = attrs.field(default=None, validator=_zone_name)
    #: Seconds one step (``mailman info`` and its REST calls) may take.
    timeout: float = attrs.field(default=120.0, validator=_timeout)

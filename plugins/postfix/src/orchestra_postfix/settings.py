"""Settings of the postfix backends and monitors, per server or route (defaults fit Debian's
postfix and dovecot packages).

Every postfix backend reads the same keys from one block, ``postfix`` in a server's settings
(a block named after one backend, ``postfix-mailbox``, overrides it for that backend), so a
server's paths are written once. The files orchestra owns are in two folders:

``maps_dir`` (Postfix tables, each with its ``.db`` or ``.lmdb``)
    ``virtual_domains`` (``virtual_mailbox_domains``), ``virtual_mailboxes``
    (``virtual_mailbox_maps``), ``virtual_aliases`` and ``virtual_mailbox_aliases`` (the two
    tables of ``virtual_alias_maps``, in that order), ``recipient_access`` (a
    ``check_recipient_access`` table: suspended mailboxes that defer), and for a backup MX
    ``relay_domains``, ``relay_recipients`` (``relay_recipient_maps``) and ``transport``
    (``transport_maps``). The fragments each is built from are in ``maps_dir/parts/NAME/``.

``dovecot_dir`` (Dovecot passwd-files)
    ``users`` (the userdb: uid, gid, home and quota rule of each mailbox), ``suspended`` (a
    ``deny = yes`` passdb of the suspended mailboxes) and ``passwords/ADDRESS`` (one passdb
    line per mailbox, the hash ``doveadm pw`` made on the server: ``args =
    DOVECOT_DIR/passwords/%u``). Fragments in ``dovecot_dir/parts/NAME/``.

The driver's README shows the ``main.cf`` and ``dovecot.conf`` lines that read them.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = [
    "MAP_TYPES",
    "PASSWORD_SCHEMES",
    "SUSPENDED_MAIL",
    "PostfixSettings",
    "log_files",
    "zone_name",
]


# The core's validators, imported when first used: importing this package (its pytest fixtures
# in ``orchestra_postfix.testing`` do) must not import orchestra_core.
def absolute_path(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """See :func:`orchestra_core.driver.absolute_path`."""
    from orchestra_core import driver

    driver.absolute_path(instance, attribute, value)


def program(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """See :func:`orchestra_core.driver.program`."""
    from orchestra_core import driver

    driver.program(instance, attribute, value)


def command(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    """See :func:`orchestra_core.driver.command`."""
    from orchestra_core import driver

    driver.command(instance, attribute, value)


#: Postfix table types the maps are built as (``postmap TYPE:FILE``): ``hash`` (Berkeley DB,
#: ``FILE.db``) or ``lmdb`` (``FILE.lmdb``, package postfix-lmdb).
MAP_TYPES = {"hash": ".db", "lmdb": ".lmdb"}
#: Schemes ``doveadm pw -s`` hashes passwords with, which Dovecot verifies.
PASSWORD_SCHEMES = ("SHA512-CRYPT", "ARGON2ID")
#: What a suspended mailbox does with new mail: ``accept`` it into the Maildir (nothing lost,
#: the customer reads it after the resume) or ``defer`` it (``450``: senders retry for days).
SUSPENDED_MAIL = ("accept", "defer")
#: A host name or IPv4 address, optionally with ``:PORT``; IPv6 in brackets.
_RELAY = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::[0-9]{1,5})?"
)
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")


def _id(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 2:
        raise ValueError(f"{attribute.name} must be a uid or gid from 1 to 2147483646 (not root)")


def _relay(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not _RELAY.fullmatch(value):
        raise ValueError(
            f"{attribute.name} {value!r} is not a host name or address with an optional :PORT"
        )
    _, _, port = value.rpartition("]")[2].partition(":")
    if port and not 1 <= int(port) <= 65535:
        raise ValueError(f"{attribute.name} {value!r}: the port must be from 1 to 65535")


_DEFER = re.compile(r"4[0-9]{2}(?: [ -~]{1,200})?")


def _defer_reply(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _DEFER.fullmatch(value) or value != value.rstrip():
        raise ValueError(
            f"{attribute.name} {value!r} is not a 4xx reply: a code from 400 to 499 and "
            "printable ASCII text on one line (450 4.2.1 Mailbox temporarily unavailable)"
        )


_GROUP = re.compile(r"[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}")


def _group(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _GROUP.fullmatch(value):
        raise ValueError(f"{attribute.name} {value!r} is not a group name or id")


def _no_colon(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if ":" in value:
        raise ValueError(
            f"{attribute.name} {value!r} has a ':', which a passwd-file home cannot hold"
        )


def zone_name(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    """Validator: None or a time zone's name (``Europe/Madrid``)."""
    if value is not None and (not isinstance(value, str) or not _ZONE.fullmatch(value)):
        raise ValueError(f"{attribute.name} {value!r} is not a time zone name (Europe/Madrid)")


def log_files(
    _: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    """Validator: a tuple of absolute paths (log files, newest first)."""
    from orchestra_core import driver

    if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{attribute.name} must be a list of absolute paths")
    for item in value:
        driver.any_absolute_path(None, attribute, item)


@attrs.frozen(kw_only=True)
class PostfixSettings:
    """Where the maps and passwd-files are, how Postfix and Dovecot are driven, and where
    mail lives. Paths are the server's (under its sandbox root, if it has one)."""

    #: Postfix's configuration folder (``postfix -c``, ``postmap -c``): where main.cf is.
    config_dir: str = attrs.field(default="/etc/postfix", validator=absolute_path)
    #: The Postfix tables orchestra owns (see the module's docs).
    maps_dir: str = attrs.field(default="/etc/postfix/orchestra", validator=absolute_path)
    map_type: str = attrs.field(default="hash", validator=attrs.validators.in_(tuple(MAP_TYPES)))
    postfix: tuple[str, ...] = attrs.field(default=("postfix",), validator=command)
    postmap: str = attrs.field(default="postmap", validator=program)
    postconf: str = attrs.field(default="postconf", validator=program)
    #: The passwd-files orchestra owns (see the module's docs).
    dovecot_dir: str = attrs.field(default="/etc/dovecot/orchestra", validator=absolute_path)
    #: Dovecot's programs, with ``-c CONFIG`` when it is not ``/etc/dovecot/dovecot.conf``.
    doveadm: tuple[str, ...] = attrs.field(default=("doveadm",), validator=command)
    doveconf: tuple[str, ...] = attrs.field(default=("doveconf",), validator=command)
    #: The group Dovecot's auth process reads the passwd-files and password files as
    #: (``default_internal_user``'s: ``dovecot`` on Debian); they are mode 0640, root's.
    dovecot_group: str = attrs.field(default="dovecot", validator=_group)
    #: Homes of mailboxes, ``MAIL_BASE/DOMAIN/LOCAL``; mail is in ``HOME/Maildir``
    #: (``mail_location = maildir:~/Maildir``). Owned by ``uid``:``gid``.
    mail_base: str = attrs.field(default="/var/vmail", validator=[absolute_path, _no_colon])
    #: Where a deleted mailbox's home goes: ``TRASH_DIR/YYYY-MM-DD/ADDRESS`` (UTC date; a
    #: second one of the same day ``ADDRESS.2``...). Never removed by orchestra.
    trash_dir: str = attrs.field(default="/var/vmail-trash", validator=absolute_path)
    #: The virtual user and group every Maildir belongs to.
    uid: int = attrs.field(default=5000, validator=_id)
    gid: int = attrs.field(default=5000, validator=_id)
    password_scheme: str = attrs.field(
        default="SHA512-CRYPT", validator=attrs.validators.in_(PASSWORD_SCHEMES)
    )
    #: What a suspended mailbox does with new mail (see :data:`SUSPENDED_MAIL`).
    suspended_mail: str = attrs.field(
        default="accept", validator=attrs.validators.in_(SUSPENDED_MAIL)
    )
    #: The code and text a suspended mailbox defers with (``suspended_mail = defer``).
    defer_reply: str = attrs.field(
        default="450 4.2.1 Mailbox temporarily unavailable", validator=_defer_reply
    )
    #: How a backup MX reaches this server's Postfix when it is a domain's primary: host or
    #: address with an optional ``:PORT``; the server's address (port 25) when None.
    relay_address: str | None = attrs.field(default=None, validator=_relay)
    #: Postfix's log files, newest first (the traffic monitor reads them).
    maillog: tuple[str, ...] = attrs.field(
        default=("/var/log/mail.log", "/var/log/mail.log.1"), validator=log_files
    )
    #: The zone the log's times are in; None asks the server (``TZ``, ``/etc/timezone``,
    #: ``/etc/localtime``).
    timezone: str | None = attrs.field(default=None, validator=zone_name)

    @property
    def map_suffix(self) -> str:
        """The ending of the tables ``postmap`` builds (``.db`` for ``hash``)."""
        return MAP_TYPES[self.map_type]

    def home(self, address: str) -> str:
        """A mailbox's home (before the sandbox root): ``MAIL_BASE/DOMAIN/LOCAL``."""
        local, _, domain = address.rpartition("@")
        return f"{self.mail_base.rstrip('/')}/{domain}/{local}"

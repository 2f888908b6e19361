"""What may stand in Postfix's lookup tables and Dovecot's passwd-files, and the lines the
backends write there.

A Postfix table source line is ``KEY WHITESPACE VALUE``: the key cannot hold whitespace, a line
starting with ``#`` is a comment and one starting with whitespace continues the line before;
an alias value is a list of addresses split at commas and whitespace. A Dovecot passwd-file
line is split at ``:``. Nothing in either format escapes these characters, so a value that
holds one cannot be expressed at all: it is refused (with its field) before anything is
rendered, never quoted into something else. The catalogue's own checks already keep
addresses to a narrow set; these checks are the formats' own, so that the driver is safe
whatever the catalogue lets through.
"""

from __future__ import annotations

import re

__all__ = ["address_problem", "alias_line", "domain_line", "map_line", "user_line"]

#: Letters, digits and RFC 5322's other atom characters, but the ones a format gives a
#: meaning: ``,`` (an alias list), ``:`` (a passwd-file), ``%`` (Dovecot's variables), ``/``
#: (an address names a home and a password file), ``#`` and ``|`` (a comment, a pipe).
_TOKEN = re.compile(r"[A-Za-z0-9.!$&'*+=?^_`{}~@-]+")
#: The longest address an SMTP path holds (256 with its angle brackets).
ADDRESS_MAX = 254


def address_problem(value: object, *, catch_all: bool = False) -> str | None:
    """Why ``value`` cannot be a key or a destination in the maps and passwd-files (``None``
    when it can): one ``@``, a local part (none for a ``catch_all``), a domain, at most 254
    characters, and only characters both formats take as they are."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not an address"
    if len(value) > ADDRESS_MAX:
        return f"has {len(value)} characters: Postfix takes addresses of at most {ADDRESS_MAX}"
    local, at, domain = value.rpartition("@")
    if not at or "@" in local or not domain:
        return "is not an address of the form local@domain"
    if not local and not catch_all:
        return "has no local part (only a mail address may be a catch-all @domain)"
    if not _TOKEN.fullmatch(value) or value.startswith(("#", "-")):
        return (
            "cannot be written in a Postfix table or a Dovecot passwd-file: it holds "
            'whitespace, a control or non-ASCII character, or one of , : % / " \\ | # ; < > '
            "[ ] ( ) (or starts with - or #)"
        )
    if value != value.lower():
        return "has upper-case letters: Postfix looks addresses up in lower case"
    return None


def map_line(key: str, value: str) -> str:
    """One line of a Postfix table source: ``KEY VALUE``. Both were checked by
    :func:`address_problem` (or are the driver's own words)."""
    return f"{key} {value}\n"


def domain_line(domain: str) -> str:
    """A domain's line in ``virtual_domains`` or ``relay_domains``."""
    return map_line(domain, "OK")


def alias_line(address: str, destinations: tuple[str, ...]) -> str:
    """An address's line in a ``virtual_alias_maps`` table: where its mail goes."""
    return map_line(address, ",".join(destinations))


def user_line(address: str, uid: int, gid: int, home: str, quota: int | None) -> str:
    """A mailbox's line in Dovecot's userdb passwd-file: ``USER::UID:GID::HOME::EXTRA``, with
    its quota rule (``storage=0`` is no limit). ``home`` holds no ``:`` (its parts are the
    checked address and a checked absolute path)."""
    storage = f"{quota}B" if quota else "0"
    return f"{address}::{uid}:{gid}::{home}::userdb_quota_rule=*:storage={storage}\n"

"""Names and quoting: what a web app's pool, a website's file and a value in Apache's or
PHP-FPM's configuration are called, and how a value is written there without changing the
meaning of what is around it."""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "apache_quote",
    "define_name",
    "ini_quote",
    "pool_name",
    "server_name",
    "site_name",
]

#: A pool's name is also its socket's file name, and a unix socket path holds at most 107
#: bytes: a long account or app name is cut and marked with its hash.
POOL_NAME_MAX = 40
_PLAIN = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def pool_name(account: str, app: str) -> str:
    """The PHP-FPM pool (and instance file, socket, pid file) of web app ``account/app``:
    ``ACCOUNT-APP``, or its first characters and a hash when longer than 40."""
    name = f"{account}-{app}"
    if len(name) <= POOL_NAME_MAX and _PLAIN.fullmatch(name):
        return name
    digest = _digest(f"{account}/{app}", 10)
    head = re.sub(r"[^a-z0-9_.-]", "_", name)[: POOL_NAME_MAX - 11].rstrip(".-")
    return f"{head}-{digest}"


def site_name(account: str, name: str) -> str:
    """The stem of website ``account/name``'s files: ``ACCOUNT~NAME``."""
    return f"{account}~{name}"


def server_name(account: str, name: str, domains: tuple[str, ...]) -> str:
    """The ``ServerName`` of a website (what Apache logs as ``%v``): its first domain that is
    not a wildcard; for a site of wildcards only, a name of its own that nobody asks for
    (``NAME.ACCOUNT.orchestra.invalid``): Apache refuses a wildcard ``ServerName``."""
    for domain in domains:
        if not domain.startswith("*"):
            return domain
    return f"{name}.{account}.orchestra.invalid"


def define_name(site: str) -> str:
    """The ``<IfDefine>`` parameter that hides site file ``site`` from ``apache2 -t`` while its
    candidate is checked in its place."""
    return f"orchestra_skip_{_digest(site, 20)}"


def apache_quote(value: str) -> str:
    """``value`` as one double-quoted argument of an Apache directive.

    Apache reads ``\\"`` and ``\\\\`` inside double quotes; a line break, NUL or other control
    character cannot be held by a directive's line at all and is refused (``ValueError``), as
    is ``${``: Apache would expand a variable there, even inside quotes.
    """
    if not isinstance(value, str):
        raise ValueError(f"an Apache argument must be text, not {type(value).__name__}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"refusing a control character in an Apache argument: {value[:60]!r}")
    if "${" in value:
        raise ValueError(f"refusing '${{' in an Apache argument (a variable): {value[:60]!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ini_quote(value: str) -> str:
    """``value`` as a double-quoted value of a PHP-FPM (INI) file.

    PHP's INI reader ends a quoted value at ``"``, expands ``${...}`` inside it and takes
    ``\\`` before a quote as an escape: all three, line breaks and control characters are
    refused (``ValueError``); every value the driver writes (paths, names) is free of them.
    """
    if not isinstance(value, str):
        raise ValueError(f"an INI value must be text, not {type(value).__name__}")
    bad = [c for c in value if ord(c) < 32 or ord(c) == 127 or c in '"\\$']
    if bad:
        raise ValueError(f"refusing {bad[0]!r} in a PHP-FPM value: {value[:60]!r}")
    return f'"{value}"'

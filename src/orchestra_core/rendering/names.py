"""File names made from object names, kept within what a file system takes.

A file name holds at most 255 bytes (``NAME_MAX`` on Linux), and a legal object name does not
always fit: a domain may be 253 characters, a mailbox address 318, and a percent-encoded name
three bytes for each character. What goes beside a file needs room too: a journal
(``NAME.jnl``), a copy (``NAME.orchestra-previous``), the batch's candidate and restore names
(``.NAME.orchestra-XXXXXX``). :func:`file_name` keeps every name a backend makes within
``NAME_MAX - HEADROOM`` bytes, and :func:`companion` keeps a name made beside one within
``NAME_MAX``: a name that would not fit is cut short and ends with a hash of the whole, so
distinct names stay distinct and the same name always gives the same file.
"""

from __future__ import annotations

import hashlib

__all__ = ["HEADROOM", "NAME_MAX", "companion", "file_name"]

#: The most bytes a file name may hold.
NAME_MAX = 255
#: Bytes every name from :func:`file_name` leaves free for the names made beside it.
HEADROOM = 40
#: ``~`` and 16 hex digits of SHA-256: what marks a shortened name.
_MARK = 17


def _fit(name: str, limit: int) -> str:
    """``name``, or its first bytes (whole UTF-8 characters) with ``~HASH``, in ``limit``."""
    raw = name.encode("utf-8", errors="surrogateescape")
    if len(raw) <= limit:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    head = raw[: max(limit - _MARK, 0)].decode("utf-8", errors="ignore")
    return f"{head}~{digest}"


def file_name(stem: str, suffix: str = "") -> str:
    """The file name ``stem + suffix``, with ``stem`` shortened (and marked with its hash)
    when the whole would not leave :data:`HEADROOM` bytes of the 255 a name may hold."""
    room = NAME_MAX - HEADROOM - len(suffix.encode("utf-8"))
    return _fit(stem, room) + suffix


def companion(prefix: str, name: str, suffix: str) -> str:
    """The name ``prefix + name + suffix`` made beside ``name`` (a candidate, a backup), with
    ``name`` shortened when the whole would not fit in 255 bytes."""
    room = NAME_MAX - len(prefix.encode("utf-8")) - len(suffix.encode("utf-8"))
    return prefix + _fit(name, room) + suffix

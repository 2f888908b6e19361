"""Quoting for the shell: the only way a value reaches a script."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from orchestra_core.errors import TemplateError

__all__ = ["ShellSafe", "quote", "quote_words"]


class ShellSafe(str):
    """Shell text that is already quoted (built by :func:`quote` or :func:`quote_words`).

    Templates print it as it is; every other value is quoted. Only this module makes them.
    """

    __slots__ = ()


def quote(value: object) -> ShellSafe:
    """One shell word holding exactly ``value``'s text.

    NUL cannot be held by any shell word, and ``None`` is almost always a missing value, so
    both are refused rather than rendered as something else.
    """
    if isinstance(value, ShellSafe):
        return value
    if value is None:
        raise TemplateError("refusing to put None into a shell script (a missing value?)")
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise TemplateError("refusing to put a NUL character into a shell script")
    return ShellSafe(shlex.quote(text))


def quote_words(values: Iterable[object]) -> ShellSafe:
    """Several shell words, each quoted, separated by spaces (for argv lists)."""
    return ShellSafe(" ".join(quote(v) for v in values))

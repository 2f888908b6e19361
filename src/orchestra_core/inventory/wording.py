"""How problems quote what an operator wrote, and suggest what they probably meant.

A value in a message is its ``repr`` (quotes and escapes, so that a newline or a control
character shows as such), cut at 80 characters so that a 10 kB value does not flood the
terminal. A misspelt name gets the closest known names (:func:`difflib.get_close_matches`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = ["alternatives", "close_matches", "did_you_mean", "quote", "suggest"]


def quote(value: object, limit: int = 80) -> str:
    """``value``'s repr, cut after ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text)} characters)"


def close_matches(word: object, choices: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``word``: at most ``n``, and only those nearly as close as
    the closest (``dummy-domian`` is ``dummy-domain``, not also ``dummy-mailbox``); none when
    ``word`` is not a string."""
    if not isinstance(word, str):
        return []
    found = difflib.get_close_matches(word, sorted(set(choices)), n=n, cutoff=0.6)
    if not found:
        return []
    ratios = [difflib.SequenceMatcher(None, word, name).ratio() for name in found]
    return [name for name, ratio in zip(found, ratios, strict=True) if ratio >= ratios[0] - 0.1]


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)``, `` (did you mean 'x' or 'y'?)``, or nothing."""
    return suggest(close_matches(word, choices))


def suggest(names: Sequence[str]) -> str:
    """`` (did you mean 'x' or 'y'?)`` for these names, nothing for none."""
    if not names:
        return ""
    return f" (did you mean {' or '.join(quote(name) for name in names)}?)"


def alternatives(word: object, choices: Iterable[str], known_as: str, *, sort: bool = True) -> str:
    """`` (did you mean 'ssh'?; installed transports: local, ssh)``, or without the question
    when nothing is close: what an unknown name's message ends with."""
    names = sorted(set(choices)) if sort else list(dict.fromkeys(choices))
    listed = f"{known_as}: {', '.join(names) or 'none'}"
    found = close_matches(word, names)
    if not found:
        return f" ({listed})"
    return f" (did you mean {' or '.join(quote(name) for name in found)}?; {listed})"

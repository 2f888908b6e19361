"""Durations on the command line: one grammar for every option that takes one.

``log prune --older-than`` and ``monitor --keep-samples`` both take a whole number of weeks,
days, hours, minutes or seconds (``2w``, ``30d``, ``12h``, ``90m``, ``45s``), or several of
them (``1d12h``, ``1w 2d``), or ``0``. ``m`` is minutes: a month is not a fixed length, so it
has no unit (say ``30d``).
"""

from __future__ import annotations

import re
from datetime import timedelta

import click

__all__ = ["MAX_DURATION", "Duration", "parse_duration"]

#: Longer than any retention is meant to be; also keeps ``now - duration`` a valid date.
MAX_DURATION = timedelta(days=36525)

_PART = re.compile(r"\s*([0-9]{1,9})\s*([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_EXAMPLES = "30d, 12h, 90m, 2w, 45s or 1d12h"


# click.ParamType is generic from click 8.2 on (pyproject allows 8.1): no argument here
class Duration(click.ParamType):  # type: ignore[type-arg]
    """A click type for a duration (:mod:`orchestra_core.cli.durations`) as a timedelta."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``1d12h``, ``1w 2d``, ``0`` as a timedelta; a ValueError says what is wrong."""
    shown = _shown(text)
    if text.strip() == "0":
        return timedelta(0)
    total = timedelta(0)
    seen: set[str] = set()
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _PART.match(stripped, pos)
        if match is None:
            raise ValueError(f"{shown} is not an age like {_EXAMPLES}{_hint(text)}")
        number, unit = match.groups()
        if unit in seen:
            raise ValueError(f"{shown} gives {unit!r} twice")
        seen.add(unit)
        total += timedelta(**{_UNITS[unit]: int(number)})
        if total > MAX_DURATION:
            raise ValueError(f"{shown} is longer than {MAX_DURATION.days} days")
        pos = match.end()
    if not seen:
        raise ValueError(f"{shown} is not an age like {_EXAMPLES}")
    return total


def _hint(text: str) -> str:
    """What an operator probably meant, when it can be told."""
    found = re.fullmatch(r"\s*([0-9]+)\s*([a-z]*)\s*", text.lower())
    if found is None:
        return ""
    number, word = found.groups()
    if not word:
        return " (a number needs a unit: w, d, h, m for minutes, s)"
    if word in ("mo", "mon", "month", "months", "y", "yr", "year", "years"):
        return " (months and years have no unit: say 30d or 365d)"
    for unit in _UNITS.values():
        if word in (unit, unit[:-1]):
            return f" (say {number}{unit[0]})"
    return ""


def _shown(text: str, limit: int = 80) -> str:
    """The text's repr, cut at ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"

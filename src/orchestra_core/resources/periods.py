"""Periods and windows of time: half-open ``[start, end)`` intervals in UTC.

A billing period is a calendar month (``2026-11``), a day (``2026-11-05``) or two dates
(``2026-11-05/2026-11-20``, the second one excluded). A resource's window is where its usage is
read for its allocation: ``month`` or ``day`` (so far, calendar), or a duration back from now
(``24h``, ``7d``, ``30m``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import attrs

from orchestra_core.errors import ConfigurationError

__all__ = ["Period", "parse_window", "utc"]

_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused (time is UTC inside orchestra)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: give times in UTC")
    return moment.astimezone(UTC)


@attrs.frozen
class Period:
    """The half-open interval ``[start, end)`` of UTC instants."""

    start: datetime = attrs.field(converter=utc)
    end: datetime = attrs.field(converter=utc)

    def __attrs_post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a period ends ({self.end}) before it starts ({self.start})")

    @property
    def seconds(self) -> float:
        """Its length in seconds."""
        return (self.end - self.start).total_seconds()

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    def overlap(self, start: datetime, end: datetime | None) -> Period | None:
        """The part of this period within ``[start, end)`` (``end`` None: no end), or None."""
        low = max(self.start, utc(start))
        high = self.end if end is None else min(self.end, utc(end))
        return Period(low, high) if high > low else None

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        """The calendar month."""
        start = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return cls(start, following)

    @classmethod
    def day(cls, day: date) -> Period:
        """The UTC day."""
        start = datetime.combine(day, time(), tzinfo=UTC)
        return cls(start, start + timedelta(days=1))

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-11`` (a month), ``2026-11-05`` (a day) or ``2026-11-05/2026-11-20`` (from
        the first date to the second, excluded); :class:`ConfigurationError` otherwise."""
        text = text.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}", text):
                year, month = map(int, text.split("-"))
                return cls.month(year, month)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return cls.day(date.fromisoformat(text))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}/\d{4}-\d{2}-\d{2}", text):
                first, last = (date.fromisoformat(part) for part in text.split("/"))
                return cls(cls.day(first).start, cls.day(last).start)
        except ValueError as exc:
            raise ConfigurationError(f"period {text!r}: {exc}") from exc
        raise ConfigurationError(
            f"period {text!r} is not YYYY-MM, YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD"
        )


def parse_window(spec: str, now: datetime) -> Period:
    """The window ``spec`` ending at ``now``: ``month`` and ``day`` start at the calendar
    month's or day's start, ``24h``, ``7d``, ``30m`` that long before ``now``."""
    now = utc(now)
    if spec == "month":
        return Period(Period.month(now.year, now.month).start, now)
    if spec == "day":
        return Period(Period.day(now.date()).start, now)
    found = _DURATION.fullmatch(spec)
    if found is None:
        raise ConfigurationError(
            f"window {spec!r} is not 'month', 'day' or a duration such as 24h, 7d, 30m"
        )
    length = timedelta(**{_UNITS[found[2]]: int(found[1])})
    return Period(now - length, now)

"""A monitor's samples of one object as a step function, and what a window of it adds up to.

A gauge (disk usage, a database's size) is known at the instants it was measured; between two
samples the earlier value holds, and the last one holds until something says otherwise (the
window ends, the object is deleted). A counter (traffic) reports deltas: its samples add up.
:func:`fold` reads one series over a half-open window ``[start, end)`` once and gives every
quantity a resource or a billing metric needs (:class:`Usage`): the sum and count of the
samples in the window, the value holding at its end, the largest value holding for some time
in it, and the exact time integral with the time it covers.

Old samples are compacted into one :class:`DaySummary` per UTC day (see :func:`summarize_day`)
that :func:`fold` reads like the samples they replace: every result over a window is the same,
provided the window does not cut a compacted day between its first and last sample (a window
on day boundaries never does). A window that would is refused (:class:`CompactedWindow`)
rather than answered approximately.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import attrs

from orchestra_core.errors import OrchestraError

__all__ = [
    "CompactedWindow",
    "DaySummary",
    "Point",
    "Usage",
    "day_bounds",
    "fold",
    "summarize_day",
]


class CompactedWindow(OrchestraError):
    """A window boundary falls inside a compacted day, between its first and last sample,
    where the samples that would answer exactly are gone."""


@attrs.frozen(order=True)
class Point:
    """One sample of a series: ``value`` measured ``at`` (timezone-aware, UTC)."""

    at: datetime
    value: float


@attrs.frozen(kw_only=True)
class DaySummary:
    """The samples of one series on one UTC ``day``, folded: what remains once compacted.

    ``first_at``/``last_at`` are the first and last sample's times, ``last_value`` the last
    one's value; ``total``, ``count``, ``maximum`` and ``integral`` are those of :func:`fold`
    over ``[first_at, end of day)``, where the last value holds until the day ends.
    """

    day: date
    first_at: datetime
    last_at: datetime
    last_value: float
    count: int
    total: float
    maximum: float
    integral: float

    @property
    def start(self) -> datetime:
        """Midnight (UTC) at the start of :attr:`day`."""
        return day_bounds(self.day)[0]

    @property
    def end(self) -> datetime:
        """Midnight (UTC) at the end of :attr:`day`."""
        return day_bounds(self.day)[1]


@attrs.frozen(kw_only=True)
class Usage:
    """What one series adds up to over a window.

    ``total`` and ``count``: the sum and number of samples in the window (what a counter
    adds up to). ``last``: the value holding at the end of the window (the latest sample
    before its end, possibly from before its start), None when nothing is known.
    ``maximum``: the largest value holding for some time in the window. ``integral``: the
    exact time integral of the step function over the window (value times seconds), over the
    ``covered`` seconds where a value is known.
    """

    total: float = 0.0
    count: int = 0
    last: float | None = None
    maximum: float | None = None
    integral: float = 0.0
    covered: float = 0.0

    @property
    def average(self) -> float | None:
        """The time-weighted average over the covered part of the window, or None."""
        return self.integral / self.covered if self.covered > 0 else None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Midnight (UTC) at the start and at the end of ``day``."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def fold(
    elements: Iterable[Point | DaySummary],
    start: datetime,
    end: datetime,
    *,
    since: datetime | None = None,
) -> Usage:
    """Fold one series over ``[start, end)``.

    ``elements`` are the series' samples and day summaries in time order; those before
    ``start`` only tell the value holding when the window opens, those from ``end`` on are
    not read. Elements before ``since`` are ignored entirely (an earlier object that had the
    same key). :class:`CompactedWindow` when ``start`` or ``end`` cuts a summary between its
    first and last sample.
    """
    if end < start:
        raise ValueError(f"a window ends ({end}) before it starts ({start})")
    current: float | None = None
    cursor = start
    total = 0.0
    count = 0
    integral = 0.0
    covered = 0.0
    maximum: float | None = None

    def hold(until: datetime) -> None:
        """The current value holds from the cursor until ``until``."""
        nonlocal cursor, integral, covered, maximum
        if current is not None and until > cursor:
            seconds = (until - cursor).total_seconds()
            integral += current * seconds
            covered += seconds
            maximum = current if maximum is None else max(maximum, current)
        cursor = max(cursor, until)

    for element in elements:
        if isinstance(element, Point):
            if since is not None and element.at < since:
                continue
            if element.at >= end:
                break
            if element.at < start:
                current = element.value
                continue
            hold(element.at)
            current = element.value
            total += element.value
            count += 1
            continue
        summary = element
        if since is not None and summary.first_at < since:
            if summary.last_at >= since:
                raise CompactedWindow(
                    f"the series starts ({since}) inside the compacted day {summary.day}"
                )
            continue
        if summary.first_at >= end:
            break
        if summary.last_at < start:
            current = summary.last_value
            continue
        if start > summary.first_at or end <= summary.last_at:
            raise CompactedWindow(
                f"the window {start} to {end} cuts the compacted day {summary.day} between "
                f"its first and last sample ({summary.first_at} to {summary.last_at})"
            )
        hold(summary.first_at)
        stop = min(summary.end, end)
        integral += summary.integral - summary.last_value * (summary.end - stop).total_seconds()
        covered += (stop - summary.first_at).total_seconds()
        maximum = summary.maximum if maximum is None else max(maximum, summary.maximum)
        total += summary.total
        count += summary.count
        current = summary.last_value
        cursor = stop
    hold(end)
    return Usage(
        total=total,
        count=count,
        last=current,
        maximum=maximum,
        integral=integral,
        covered=covered,
    )


def summarize_day(points: Sequence[Point]) -> DaySummary:
    """The :class:`DaySummary` of one series' samples of one UTC day (sorted, at least one)."""
    if not points:
        raise ValueError("a day summary needs at least one sample")
    day = points[0].at.astimezone(UTC).date()
    if any(p.at.astimezone(UTC).date() != day for p in points):
        raise ValueError(f"the samples of a day summary must all be on {day}")
    first, last = points[0], points[-1]
    usage = fold(points, first.at, day_bounds(day)[1])
    assert usage.maximum is not None  # the last sample holds until midnight
    return DaySummary(
        day=day,
        first_at=first.at,
        last_at=last.at,
        last_value=last.value,
        count=usage.count,
        total=usage.total,
        maximum=usage.maximum,
        integral=usage.integral,
    )

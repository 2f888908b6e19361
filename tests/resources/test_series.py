"""fold against a brute-force reading of the step function, and compaction against raw samples.

Values are whole numbers and times whole seconds, so every sum is exact in floating point and
results are compared with ``==``: "equal to the exact integral", not "close to it".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra_core.resources.series import (
    CompactedWindow,
    DaySummary,
    Point,
    Usage,
    fold,
    summarize_day,
)

BASE = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86_400


def at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


def brute(points: list[Point], start: datetime, end: datetime) -> Usage:
    """The step function read piece by piece between every two instants where it may change."""

    def value_at(t: datetime) -> float | None:
        held = [p.value for p in points if p.at <= t]
        return held[-1] if held else None

    inside = [p for p in points if start <= p.at < end]
    cuts = sorted({start, end, *(p.at for p in inside)})
    integral = covered = 0.0
    highest: float | None = None
    for a, b in pairwise(cuts):
        v = value_at(a)
        if v is not None and b > a:
            seconds = (b - a).total_seconds()
            integral += v * seconds
            covered += seconds
            highest = v if highest is None else max(highest, v)
    before_end = [p.value for p in points if p.at < end]
    return Usage(
        total=float(sum(p.value for p in inside)),
        count=len(inside),
        last=before_end[-1] if before_end else None,
        maximum=highest,
        integral=integral,
        covered=covered,
    )


series = st.lists(st.tuples(st.integers(0, 5 * DAY), st.integers(0, 1_000_000)), max_size=40).map(
    lambda items: [Point(at(s), float(v)) for s, v in sorted(items, key=lambda i: i[0])]
)
windows = st.tuples(st.integers(-DAY, 6 * DAY), st.integers(-DAY, 6 * DAY)).map(sorted)


@settings(max_examples=400)
@given(points=series, window=windows)
def test_fold_is_the_exact_step_function(points: list[Point], window: list[int]) -> None:
    start, end = at(window[0]), at(window[1])
    assert fold(points, start, end) == brute(points, start, end)


@settings(max_examples=200)
@given(points=series, window=windows)
def test_the_average_is_the_exact_integral_over_the_covered_time(
    points: list[Point], window: list[int]
) -> None:
    usage = fold(points, at(window[0]), at(window[1]))
    expected = brute(points, at(window[0]), at(window[1]))
    if expected.covered == 0:
        assert usage.average is None
    else:
        assert usage.average == expected.integral / expected.covered


def compacted(points: list[Point], days: int) -> list[Point | DaySummary]:
    """The series with its first ``days`` UTC days compacted into summaries."""
    horizon = BASE + timedelta(days=days)
    old = [p for p in points if p.at < horizon]
    summaries = [summarize_day(list(group)) for _, group in groupby(old, key=lambda p: p.at.date())]
    return [*summaries, *(p for p in points if p.at >= horizon)]


@settings(max_examples=400)
@given(points=series, days=st.integers(0, 6), window=windows, aligned=st.booleans())
def test_compaction_keeps_every_result_of_a_window_it_can_answer(
    points: list[Point], days: int, window: list[int], aligned: bool
) -> None:
    if aligned:
        window = [w - w % DAY for w in window]
    start, end = at(window[0]), at(window[1])
    elements = compacted(points, days)
    raw = fold(points, start, end)
    try:
        assert fold(elements, start, end) == raw
    except CompactedWindow:
        # Only a boundary inside a compacted day, between its first and last sample.
        assert not aligned
        cut = [
            s
            for s in elements
            if isinstance(s, DaySummary)
            and (s.first_at < start <= s.last_at or s.first_at < end <= s.last_at)
        ]
        assert cut


def test_a_day_aligned_month_reads_the_same_from_summaries() -> None:
    points = [Point(at(h * 3600), float(h % 7)) for h in range(24 * 30)]
    start, end = BASE, BASE + timedelta(days=30)
    assert fold(compacted(points, 25), start, end) == fold(points, start, end)


def test_the_last_value_holds_across_an_empty_window() -> None:
    points = [Point(at(0), 5.0)]
    usage = fold(points, at(DAY), at(2 * DAY))
    assert usage.last == 5.0 and usage.count == 0 and usage.total == 0
    assert usage.integral == 5.0 * DAY and usage.average == 5.0


def test_samples_before_since_belong_to_an_earlier_object() -> None:
    points = [Point(at(0), 100.0), Point(at(10), 1.0)]
    usage = fold(points, at(0), at(20), since=at(5))
    assert usage == Usage(total=1.0, count=1, last=1.0, maximum=1.0, integral=10.0, covered=10.0)
    before = fold(points, at(5), at(8), since=at(5))
    assert before == Usage()


def test_a_series_that_starts_inside_a_compacted_day_is_refused() -> None:
    [summary] = compacted([Point(at(10), 1.0), Point(at(100), 2.0)], 1)
    with pytest.raises(CompactedWindow, match="starts"):
        fold([summary], BASE, at(DAY), since=at(50))


def test_summaries_need_samples_of_one_day() -> None:
    with pytest.raises(ValueError, match="at least one"):
        summarize_day([])
    with pytest.raises(ValueError, match="all be on"):
        summarize_day([Point(at(0), 1.0), Point(at(DAY), 1.0)])


def test_a_window_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        fold([], at(10), at(0))

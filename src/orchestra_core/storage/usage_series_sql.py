"""Reading series out of the SQL usage tables, streamed: the three queries of
:meth:`~orchestra_core.storage.usage_sql.SQLUsageStore.iter_series` (samples of a window, day
summaries of a window, the element holding when it opens) and their merge, one series at a
time; the conversion of stored times and summary rows. Used by the usage store only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from orchestra_core.resources.series import DaySummary, Point
from orchestra_core.storage.schema import (
    USAGE_DAY_SUMMARIES,
    USAGE_SAMPLES,
    USAGE_SERIES,
    UTCDateTime,
)
from orchestra_core.storage.usage import Series

__all__ = [
    "Moments",
    "merge_series",
    "ordered_samples",
    "raw",
    "read_carried",
    "read_points",
    "read_summaries",
    "summary_row",
]

#: Rows fetched at a time from a streamed query.
_BATCH = 5000
#: Distinct sample times remembered while streaming (a million samples have a few thousand).
_SEEN = 100_000

_Element = Point | DaySummary
_Name = tuple[str, str]

_SAMPLES = USAGE_SAMPLES.c
_SUMMARIES = USAGE_DAY_SUMMARIES.c
_SERIES = USAGE_SERIES.c


# -- the three streams of iter_series ---------------------------------------------------------

#: The order of the series index: series by name, samples by time, then by key.
_SAMPLE_ORDER = (
    _SAMPLES.object_key,
    _SAMPLES.monitor,
    _SAMPLES.measured_at,
    _SAMPLES.idempotency_key,
)

_series_name = itemgetter(0, 1)


def _where_series(
    columns: sa.ColumnCollection[str, Any], monitors: Sequence[str], keys: Sequence[str] | None
) -> list[sa.ColumnElement[bool]]:
    found = [columns.monitor.in_(monitors)]
    if keys is not None:
        found.append(columns.object_key.in_(keys))
    return found


def read_points(
    conn: sa.Connection,
    monitors: Sequence[str],
    start: datetime,
    end: datetime,
    keys: Sequence[str] | None,
) -> Iterator[tuple[_Name, Sequence[_Element]]]:
    """The samples in ``[start, end)``, as points, one series at a time."""
    yield from ordered_samples(
        conn,
        *_where_series(_SAMPLES, monitors, keys),
        _SAMPLES.measured_at >= start,
        _SAMPLES.measured_at < end,
    )


def ordered_samples(
    conn: sa.Connection, *where: sa.ColumnElement[bool]
) -> Iterator[tuple[_Name, Sequence[Point]]]:
    """The samples ``where`` holds as points, one series at a time, streamed."""
    query = (
        sa.select(_SAMPLES.object_key, _SAMPLES.monitor, raw(_SAMPLES.measured_at), _SAMPLES.value)
        .where(*where)
        .order_by(*_SAMPLE_ORDER)
        .execution_options(yield_per=_BATCH)
    )
    moment = Moments(conn.dialect)
    for name, rows in groupby(conn.execute(query), key=_series_name):
        yield name, [Point(moment(row[2]), row[3]) for row in rows]


def read_summaries(
    conn: sa.Connection,
    monitors: Sequence[str],
    start: datetime,
    end: datetime,
    keys: Sequence[str] | None,
) -> Iterator[tuple[_Name, Sequence[_Element]]]:
    """The day summaries whose first sample is in ``[start, end)``, one series at a time."""
    query = (
        sa.select(
            _SUMMARIES.object_key,
            _SUMMARIES.monitor,
            _SUMMARIES.day,
            raw(_SUMMARIES.first_at),
            raw(_SUMMARIES.last_at),
            _SUMMARIES.last_value,
            _SUMMARIES.count,
            _SUMMARIES.total,
            _SUMMARIES.maximum,
            _SUMMARIES.integral,
        )
        .where(*_where_series(_SUMMARIES, monitors, keys))
        .where(_SUMMARIES.first_at >= start, _SUMMARIES.first_at < end)
        # Implied by the line above, and what the index on days can answer.
        .where(_SUMMARIES.day >= start.date(), _SUMMARIES.day <= end.date())
        .order_by(_SUMMARIES.object_key, _SUMMARIES.monitor, _SUMMARIES.day)
        .execution_options(yield_per=_BATCH)
    )
    moment = Moments(conn.dialect)
    for name, rows in groupby(conn.execute(query), key=_series_name):
        yield (
            name,
            [
                DaySummary(
                    day=row[2],
                    first_at=moment(row[3]),
                    last_at=moment(row[4]),
                    last_value=row[5],
                    count=row[6],
                    total=row[7],
                    maximum=row[8],
                    integral=row[9],
                )
                for row in rows
            ],
        )


def raw(column: sa.Column[datetime]) -> sa.ColumnElement[Any]:
    """``column`` as the driver gives it, for :class:`Moments` to convert."""
    return sa.type_coerce(column, sa.types.NullType()).label(column.key)


class Moments:
    """Turns raw stored times into timezone-aware UTC datetimes, as
    :class:`~orchestra_core.storage.schema.UTCDateTime` does, but each distinct one once: the
    samples of one collection run share their time, so a million samples have a few
    thousand. The hot loop of reading usage."""

    def __init__(self, dialect: sa.Dialect) -> None:
        processor = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
        assert processor is not None
        self._convert = processor
        self._seen: dict[Any, datetime] = {}

    def __call__(self, raw: Any) -> datetime:
        found = self._seen.get(raw)
        if found is None:
            if len(self._seen) >= _SEEN:
                self._seen.clear()
            found = self._convert(raw)
            assert isinstance(found, datetime)
            self._seen[raw] = found
        return found


def read_carried(
    conn: sa.Connection, monitors: Sequence[str], start: datetime, keys: Sequence[str] | None
) -> Iterator[tuple[_Name, Sequence[_Element]]]:
    """The last element before ``start`` of every series that has one: the latest sample
    (ties: the greatest key) or day summary, found by one index look-up each per series."""
    sample = USAGE_SAMPLES.alias("before")
    summary = USAGE_DAY_SUMMARIES.alias("earlier")
    last_sample = (
        sa.select(sample.c.idempotency_key)
        .where(
            sample.c.object_key == _SERIES.object_key,
            sample.c.monitor == _SERIES.monitor,
            sample.c.measured_at < start,
        )
        .order_by(sample.c.measured_at.desc(), sample.c.idempotency_key.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_day = (
        sa.select(summary.c.day)
        .where(
            summary.c.object_key == _SERIES.object_key,
            summary.c.monitor == _SERIES.monitor,
            summary.c.day <= start.date(),
            summary.c.first_at < start,
        )
        .order_by(summary.c.day.desc())
        .limit(1)
        .scalar_subquery()
    )
    found = (
        sa.select(
            _SERIES.object_key,
            _SERIES.monitor,
            last_sample.label("sample_key"),
            last_day.label("day"),
        )
        .where(*_where_series(_SERIES, monitors, keys))
        .subquery("found")
    )
    query = (
        sa.select(
            found.c.object_key,
            found.c.monitor,
            _SAMPLES.measured_at,
            _SAMPLES.value,
            *(
                column
                for column in USAGE_DAY_SUMMARIES.c
                if column.key not in ("object_key", "monitor")
            ),
        )
        .select_from(
            found.outerjoin(
                USAGE_SAMPLES, _SAMPLES.idempotency_key == found.c.sample_key
            ).outerjoin(
                USAGE_DAY_SUMMARIES,
                sa.and_(
                    _SUMMARIES.object_key == found.c.object_key,
                    _SUMMARIES.monitor == found.c.monitor,
                    _SUMMARIES.day == found.c.day,
                ),
            )
        )
        .where(sa.or_(found.c.sample_key.is_not(None), found.c.day.is_not(None)))
        .order_by(found.c.object_key, found.c.monitor)
        .execution_options(yield_per=_BATCH)
    )
    for row in conn.execute(query):
        point = None if row.measured_at is None else Point(row.measured_at, row.value)
        day = None if row.day is None else _summary(row)
        # Samples come after every compacted day; of the two, the later one holds.
        if point is not None and (day is None or point.at >= day.first_at):
            yield (row.object_key, row.monitor), [point]
        else:
            assert day is not None
            yield (row.object_key, row.monitor), [day]


def merge_series(
    carried: Iterator[tuple[_Name, Sequence[_Element]]],
    summaries: Iterator[tuple[_Name, Sequence[_Element]]],
    points: Iterator[tuple[_Name, Sequence[_Element]]],
) -> Iterator[Series]:
    """The series of three streams ordered by name, each element list in time order."""
    streams = [carried, summaries, points]
    heads = [next(stream, None) for stream in streams]
    while True:
        names = [head[0] for head in heads if head is not None]
        if not names:
            return
        name = min(names)
        parts: list[Sequence[_Element]] = []
        for index, head in enumerate(heads):
            if head is not None and head[0] == name:
                parts.append(head[1])
                heads[index] = next(streams[index], None)
            else:
                parts.append([])
        before, days, samples = parts
        if days and samples and _element_time(days[-1]) > _element_time(samples[0]):
            # Never so far: every compacted day is before every sample left.
            yield name[0], name[1], [*before, *sorted([*days, *samples], key=_element_time)]
        else:
            yield name[0], name[1], [*before, *days, *samples]


def _element_time(element: _Element) -> datetime:
    return element.at if isinstance(element, Point) else element.first_at


# -- rows <-> domain objects ------------------------------------------------------------------


def _summary(row: sa.Row[Any]) -> DaySummary:
    return DaySummary(
        day=row.day,
        first_at=row.first_at,
        last_at=row.last_at,
        last_value=row.last_value,
        # ``row.count`` would be the tuple method.
        count=row._mapping["count"],
        total=row.total,
        maximum=row.maximum,
        integral=row.integral,
    )


def summary_row(object_key: str, monitor: str, summary: DaySummary) -> dict[str, Any]:
    return {
        "object_key": object_key,
        "monitor": monitor,
        "day": summary.day,
        "first_at": summary.first_at,
        "last_at": summary.last_at,
        "last_value": summary.last_value,
        "count": summary.count,
        "total": summary.total,
        "maximum": summary.maximum,
        "integral": summary.integral,
    }

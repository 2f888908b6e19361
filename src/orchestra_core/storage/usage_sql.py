"""The usage store in SQL: what ``SQLStore(...).usage`` is, on the store's own engine.

SQLAlchemy Core on the ``usage_*`` tables of :mod:`orchestra_core.storage.schema`; rows and
domain objects are converted here, explicitly. How it stays fast with millions of samples:

* :meth:`SQLUsageStore.add_samples` is one transaction: the stored rows of the call's keys are
  read first (one array of thousands of keys per query on PostgreSQL, ``IN`` lists of a few
  hundred on SQLite), so that the report is counted in Python and only new or changed samples
  are written, in one ``INSERT ... ON CONFLICT DO UPDATE`` per batch whose ``WHERE`` leaves an
  identical row alone. Every series written is recorded in ``usage_series``.
* :meth:`SQLUsageStore.iter_series` streams: the samples of the window in one query ordered
  by the series index (a server-side cursor on PostgreSQL), the day summaries of the window
  in another, and the element holding when the window opens in a third, one index look-up
  per series of ``usage_series``, never a scan of what came before. The three are merged in
  Python, one series at a time, all in one snapshot (one read transaction; ``REPEATABLE
  READ`` on PostgreSQL).
* :meth:`SQLUsageStore.compact` goes one day at a time, one transaction each, the horizon
  moving with it: it streams the day's samples in the same order and folds them with
  :func:`~orchestra_core.resources.series.summarize_day`, so a summary holds exactly the
  floats the memory store's would. Reading series is in
  :mod:`~orchestra_core.storage.usage_series_sql`.

Ingestion and compaction exclude each other through the one row of ``usage_horizon``
(PostgreSQL: shared lock to ingest, exclusive to compact; SQLite: every writer has the whole
file), so that no sample lands in a day that is being folded. Rows are written in key order,
so that concurrent ingestions of overlapping batches wait for each other but cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from orchestra_core.billing.metrics import UsageRecord
from orchestra_core.resources.definitions import Allocation, Lifetime, ResourceState, Sample
from orchestra_core.resources.periods import utc
from orchestra_core.resources.series import summarize_day
from orchestra_core.storage.schema import (
    USAGE_ALLOCATIONS,
    USAGE_DAY_SUMMARIES,
    USAGE_HORIZON,
    USAGE_LIFETIMES,
    USAGE_RECORDS,
    USAGE_RESOURCE_STATES,
    USAGE_SAMPLES,
    USAGE_SERIES,
)
from orchestra_core.storage.sqlcore import (
    KEYS_PER_QUERY,
    ROWS_PER_BATCH,
    SQLPart,
    chunks,
    dialect_insert,
    upsert,
)
from orchestra_core.storage.usage import IngestReport, Series
from orchestra_core.storage.usage_memory import midnight
from orchestra_core.storage.usage_series_sql import (
    Moments,
    merge_series,
    ordered_samples,
    raw,
    read_carried,
    read_points,
    read_summaries,
    summary_row,
)

__all__ = ["SQLUsageStore"]

_SAMPLES = USAGE_SAMPLES.c
_LIFETIMES = USAGE_LIFETIMES.c
_HORIZON_ROW = 1


class SQLUsageStore(SQLPart):
    """A :class:`~orchestra_core.storage.usage.UsageStore` in the SQL store's database;
    thread-safe (each call takes a pooled connection of ``engine``)."""

    def __repr__(self) -> str:
        return f"SQLUsageStore({self._db.label!r})"

    def _stored_samples(
        self, conn: sa.Connection, keys: Sequence[str]
    ) -> Iterator[sa.Row[str, str, str, datetime, float]]:
        """The stored samples of ``keys``, a batch of keys per query (one array parameter on
        PostgreSQL, ``IN (...)`` within SQLite's limit on bound parameters)."""
        query = sa.select(
            _SAMPLES.idempotency_key,
            _SAMPLES.object_key,
            _SAMPLES.monitor,
            _SAMPLES.measured_at,
            _SAMPLES.value,
        )
        if conn.dialect.name == "postgresql":
            wanted = sa.bindparam("keys", type_=postgresql.ARRAY(sa.String()))
            by_array = query.where(_SAMPLES.idempotency_key == sa.any_(wanted))
            for chunk in chunks(keys, ROWS_PER_BATCH):
                yield from conn.execute(by_array, {"keys": list(chunk)})
        else:
            for chunk in chunks(keys, KEYS_PER_QUERY):
                yield from conn.execute(query.where(_SAMPLES.idempotency_key.in_(chunk)))

    def _locked_horizon(self, conn: sa.Connection, *, exclusive: bool) -> datetime | None:
        """The horizon, locked until the transaction ends: shared to ingest, exclusive to
        compact (PostgreSQL; an SQLite writer holds the whole file anyway)."""
        query = (
            sa.select(USAGE_HORIZON.c.horizon)
            .where(USAGE_HORIZON.c.id == _HORIZON_ROW)
            .with_for_update(read=not exclusive)
        )
        row = conn.execute(query).first()
        if row is None:
            # The migration makes the row; should it have gone, it comes back.
            conn.execute(
                dialect_insert(conn, USAGE_HORIZON)
                .values(id=_HORIZON_ROW, horizon=None)
                .on_conflict_do_nothing()
            )
            row = conn.execute(query).one()
        horizon: datetime | None = row.horizon
        return horizon

    # -- samples ------------------------------------------------------------------------------

    def add_samples(self, samples: Sequence[Sample]) -> IngestReport:
        """Store samples by idempotency key, all or none (see the protocol)."""
        latest = {sample.idempotency_key: sample for sample in samples}
        dropped = len(samples) - len(latest)
        keys = sorted(latest)
        added = replaced = unchanged = too_old = 0
        writes: list[dict[str, Any]] = []
        if not keys:
            return IngestReport(unchanged=dropped)
        with self._write() as conn:
            horizon = self._locked_horizon(conn, exclusive=False)
            stored = {row.idempotency_key: row for row in self._stored_samples(conn, keys)}
            for key in keys:
                sample = latest[key]
                if horizon is not None and sample.measured_at < horizon:
                    too_old += 1
                    continue
                old = stored.get(key)
                if old is None:
                    added += 1
                elif (
                    old.value == sample.value
                    and old.measured_at == sample.measured_at
                    and old.object_key == sample.object_key
                    and old.monitor == sample.monitor
                ):
                    unchanged += 1
                    continue
                else:
                    replaced += 1
                writes.append(
                    {
                        "idempotency_key": key,
                        "object_key": sample.object_key,
                        "monitor": sample.monitor,
                        "measured_at": sample.measured_at,
                        "value": float(sample.value),
                    }
                )
            names = sorted({(row["object_key"], row["monitor"]) for row in writes})
            upsert(
                conn,
                USAGE_SERIES,
                [{"object_key": key, "monitor": monitor} for key, monitor in names],
                keys=["object_key", "monitor"],
                update=False,
                arrays=True,
            )
            # The WHERE matters on PostgreSQL only, when another call stored the same sample
            # since the rows were read: an identical row is not rewritten.
            excluded = dialect_insert(conn, USAGE_SAMPLES).excluded
            upsert(
                conn,
                USAGE_SAMPLES,
                writes,
                keys=["idempotency_key"],
                where=sa.or_(
                    _SAMPLES.value != excluded.value,
                    _SAMPLES.measured_at != excluded.measured_at,
                    _SAMPLES.object_key != excluded.object_key,
                    _SAMPLES.monitor != excluded.monitor,
                ),
                arrays=True,
            )
        return IngestReport(
            added=added, replaced=replaced, unchanged=unchanged + dropped, too_old=too_old
        )

    def iter_series(
        self,
        monitors: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        object_keys: Sequence[str] | None = None,
    ) -> Iterator[Series]:
        """The series of ``monitors`` holding a value in ``[start, end)``, streamed (see the
        protocol)."""
        start, end = utc(start), utc(end)
        wanted = sorted(set(monitors))
        if object_keys is None:
            groups: list[Sequence[str] | None] = [None]
        else:
            # Chunks of sorted keys: their series follow each other in order.
            groups = list(chunks(sorted(set(object_keys)), KEYS_PER_QUERY))
        if not wanted or not groups:
            return
        with self._snapshot() as conn:
            for keys in groups:
                yield from merge_series(
                    read_carried(conn, wanted, start, keys),
                    read_summaries(conn, wanted, start, end, keys),
                    read_points(conn, wanted, start, end, keys),
                )

    def compact(self, before: datetime) -> int:
        """Fold whole days before ``before`` into day summaries (see the protocol).

        One transaction per day that has samples, the horizon moving with it: a backlog of
        months never holds the database's write lock for more than a day's worth of samples
        (on SQLite that lock is the whole file: an apply's logs wait for it), and a
        compaction cut short leaves the store consistent, at a day's boundary.
        """
        target = midnight(before)
        with self._snapshot() as conn:
            current = conn.execute(
                sa.select(USAGE_HORIZON.c.horizon).where(USAGE_HORIZON.c.id == _HORIZON_ROW)
            ).scalar()
            oldest = conn.execute(
                sa.select(sa.func.min(raw(_SAMPLES.measured_at))).where(
                    _SAMPLES.measured_at < target
                )
            ).scalar()
        if current is not None and target <= current:
            return 0
        folded = 0
        day = midnight(Moments(self._engine.dialect)(oldest)) if oldest is not None else target
        while True:
            end = min(day + timedelta(days=1), target)
            folded += self._compact_until(end)
            if end >= target:
                return folded
            day = end

    def _compact_until(self, horizon: datetime) -> int:
        """Fold every sample before ``horizon`` (what is left of one day) and move the
        horizon there, in one transaction; how many samples went."""
        with self._write() as conn:
            current = self._locked_horizon(conn, exclusive=True)
            if current is not None and horizon <= current:
                return 0
            old = ordered_samples(conn, _SAMPLES.measured_at < horizon)
            folded = 0
            summaries: list[dict[str, Any]] = []
            insert = sa.insert(USAGE_DAY_SUMMARIES)
            for (object_key, monitor), points in old:
                for _, day in groupby(points, key=lambda point: point.at.date()):
                    points = list(day)
                    folded += len(points)
                    summaries.append(summary_row(object_key, monitor, summarize_day(points)))
                if len(summaries) >= ROWS_PER_BATCH:
                    conn.execute(insert, summaries)
                    summaries = []
            if summaries:
                conn.execute(insert, summaries)
            if folded:
                conn.execute(sa.delete(USAGE_SAMPLES).where(_SAMPLES.measured_at < horizon))
            conn.execute(
                sa.update(USAGE_HORIZON)
                .where(USAGE_HORIZON.c.id == _HORIZON_ROW)
                .values(horizon=horizon)
            )
        return folded

    def horizon(self) -> datetime | None:
        """Midnight before which samples are compacted, or None."""
        with self._snapshot() as conn:
            found: datetime | None = conn.execute(
                sa.select(USAGE_HORIZON.c.horizon).where(USAGE_HORIZON.c.id == _HORIZON_ROW)
            ).scalar()
        return found

    # -- lifetimes ----------------------------------------------------------------------------

    def object_started(self, object_key: str, kind: str, account: str, at: datetime) -> None:
        """A new lifetime from ``at`` unless one is open."""
        with self._write() as conn:
            conn.execute(
                dialect_insert(conn, USAGE_LIFETIMES)
                .values(object_key=object_key, kind=kind, account=account, started_at=utc(at))
                .on_conflict_do_nothing(
                    index_elements=["object_key"], index_where=_LIFETIMES.ended_at.is_(None)
                )
            )

    def object_ended(self, object_key: str, at: datetime) -> None:
        """Close the open lifetime at ``at`` (not before it started)."""
        with self._write() as conn:
            row = conn.execute(
                sa.select(_LIFETIMES.id, _LIFETIMES.started_at)
                .where(_LIFETIMES.object_key == object_key, _LIFETIMES.ended_at.is_(None))
                .with_for_update()
            ).first()
            if row is not None:
                conn.execute(
                    sa.update(USAGE_LIFETIMES)
                    .where(_LIFETIMES.id == row.id)
                    .values(ended_at=max(utc(at), row.started_at))
                )

    def lifetimes(
        self, start: datetime, end: datetime, *, account: str | None = None
    ) -> list[Lifetime]:
        """Lifetimes overlapping ``[start, end)``."""
        query = sa.select(USAGE_LIFETIMES).where(
            _LIFETIMES.started_at < utc(end),
            sa.or_(_LIFETIMES.ended_at.is_(None), _LIFETIMES.ended_at > utc(start)),
        )
        if account is not None:
            query = query.where(_LIFETIMES.account == account)
        query = query.order_by(_LIFETIMES.object_key, _LIFETIMES.started_at, _LIFETIMES.id)
        with self._snapshot() as conn:
            return [
                Lifetime(
                    object_key=row.object_key,
                    kind=row.kind,
                    account=row.account,
                    started_at=row.started_at,
                    ended_at=row.ended_at,
                )
                for row in conn.execute(query)
            ]

    # -- allocations and states ---------------------------------------------------------------

    def set_allocations(self, allocations: Sequence[Allocation]) -> None:
        """Set each allocation (the last one of a key wins)."""
        latest = {(a.object_key, a.resource): float(a.value) for a in allocations}
        rows = [
            {"object_key": key, "resource": resource, "value": value}
            for (key, resource), value in sorted(latest.items())
        ]
        with self._write() as conn:
            upsert(conn, USAGE_ALLOCATIONS, rows, keys=["object_key", "resource"], arrays=True)

    def remove_allocations(self, keys: Sequence[tuple[str, str]]) -> None:
        """Take allocations back; unknown ones are fine."""
        rows = [{"k": key, "r": resource} for key, resource in sorted(set(keys))]
        if not rows:
            return
        columns = USAGE_ALLOCATIONS.c
        statement = sa.delete(USAGE_ALLOCATIONS).where(
            columns.object_key == sa.bindparam("k"), columns.resource == sa.bindparam("r")
        )
        with self._write() as conn:
            conn.execute(statement, rows)

    def allocations(self) -> dict[tuple[str, str], float]:
        """Every allocation set."""
        columns = USAGE_ALLOCATIONS.c
        with self._snapshot() as conn:
            return {
                (row.object_key, row.resource): row.value
                for row in conn.execute(
                    sa.select(columns.object_key, columns.resource, columns.value)
                )
            }

    def save_resource_states(self, states: Sequence[ResourceState]) -> None:
        """Insert or replace states by ``(object key, resource)``."""
        latest = {(state.object_key, state.resource): state for state in states}
        rows = [
            {
                "object_key": state.object_key,
                "resource": state.resource,
                "exceeded": state.exceeded,
                "usage": state.usage,
                "allocation": state.allocation,
                "since": state.since,
                "evaluated_at": state.evaluated_at,
            }
            for _, state in sorted(latest.items(), key=itemgetter(0))
        ]
        with self._write() as conn:
            upsert(conn, USAGE_RESOURCE_STATES, rows, keys=["object_key", "resource"], arrays=True)

    def resource_states(self) -> dict[tuple[str, str], ResourceState]:
        """The last state of everything evaluated."""
        with self._snapshot() as conn:
            return {
                (row.object_key, row.resource): ResourceState(
                    object_key=row.object_key,
                    resource=row.resource,
                    exceeded=bool(row.exceeded),
                    usage=row.usage,
                    allocation=row.allocation,
                    since=row.since,
                    evaluated_at=row.evaluated_at,
                )
                for row in conn.execute(sa.select(USAGE_RESOURCE_STATES))
            }

    # -- usage records ------------------------------------------------------------------------

    def save_records(self, records: Sequence[UsageRecord]) -> None:
        """Insert or replace records by idempotency key, all or none."""
        latest = {record.idempotency_key: record for record in records}
        rows = [
            {
                "idempotency_key": key,
                "account": record.account,
                "object_key": record.object_key,
                "metric": record.metric,
                "period_start": record.start,
                "period_end": record.end,
                "used_from": record.used_from,
                "used_until": record.used_until,
                "quantity": float(record.quantity),
                "unit": record.unit,
            }
            for key, record in sorted(latest.items(), key=itemgetter(0))
        ]
        with self._write() as conn:
            upsert(conn, USAGE_RECORDS, rows, keys=["idempotency_key"], arrays=True)

    def records(
        self, start: datetime, end: datetime, *, account: str | None = None
    ) -> list[UsageRecord]:
        """Records of periods within ``[start, end)``."""
        columns = USAGE_RECORDS.c
        query = sa.select(USAGE_RECORDS).where(
            columns.period_start >= utc(start), columns.period_end <= utc(end)
        )
        if account is not None:
            query = query.where(columns.account == account)
        query = query.order_by(
            columns.account,
            columns.object_key,
            columns.metric,
            columns.period_start,
            columns.idempotency_key,
        )
        with self._snapshot() as conn:
            return [
                UsageRecord(
                    account=row.account,
                    object_key=row.object_key,
                    metric=row.metric,
                    start=row.period_start,
                    end=row.period_end,
                    used_from=row.used_from,
                    used_until=row.used_until,
                    quantity=row.quantity,
                    unit=row.unit,
                    idempotency_key=row.idempotency_key,
                )
                for row in conn.execute(query)
            ]

"""The usage store in memory: what ``MemoryStore().usage`` is (nothing survives the process)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time
from itertools import groupby

import attrs

from orchestra_core.billing.metrics import UsageRecord
from orchestra_core.resources.definitions import Allocation, Lifetime, ResourceState, Sample
from orchestra_core.resources.periods import utc
from orchestra_core.resources.series import DaySummary, Point, summarize_day
from orchestra_core.storage.usage import IngestReport, Series

__all__ = ["MemoryUsageStore", "midnight"]


def midnight(moment: datetime) -> datetime:
    """Midnight (UTC) at the start of ``moment``'s UTC day."""
    return datetime.combine(utc(moment).date(), time(), tzinfo=UTC)


class MemoryUsageStore:
    """Samples by series in sorted lists, everything else in dicts, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (object key, monitor) -> sorted [(measured_at, idempotency key)], and key -> sample.
        self._series: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        self._samples: dict[str, Sample] = {}
        self._summaries: dict[tuple[str, str], list[DaySummary]] = {}
        self._horizon: datetime | None = None
        self._lifetimes: dict[str, list[Lifetime]] = {}
        self._allocations: dict[tuple[str, str], float] = {}
        self._states: dict[tuple[str, str], ResourceState] = {}
        self._records: dict[str, UsageRecord] = {}

    # -- samples ------------------------------------------------------------------------------

    def add_samples(self, samples: Sequence[Sample]) -> IngestReport:
        """Store samples by idempotency key (see the protocol)."""
        latest = {s.idempotency_key: s for s in samples}
        added = replaced = unchanged = too_old = 0
        with self._lock:
            for key, sample in latest.items():
                if self._horizon is not None and sample.measured_at < self._horizon:
                    too_old += 1
                    continue
                old = self._samples.get(key)
                if old == sample:
                    unchanged += 1
                    continue
                if old is not None:
                    self._unindex(old)
                    replaced += 1
                else:
                    added += 1
                self._samples[key] = sample
                bisect.insort(
                    self._series.setdefault((sample.object_key, sample.monitor), []),
                    (sample.measured_at, key),
                )
        dropped = len(samples) - len(latest)
        return IngestReport(
            added=added, replaced=replaced, unchanged=unchanged + dropped, too_old=too_old
        )

    def _unindex(self, sample: Sample) -> None:
        entries = self._series[(sample.object_key, sample.monitor)]
        entries.remove((sample.measured_at, sample.idempotency_key))

    def iter_series(
        self,
        monitors: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        object_keys: Sequence[str] | None = None,
    ) -> Iterator[Series]:
        """The series of ``monitors`` holding a value in ``[start, end)`` (see the protocol)."""
        start, end = utc(start), utc(end)
        wanted = set(monitors)
        objects = None if object_keys is None else set(object_keys)
        with self._lock:
            names = sorted(
                name
                for name in {*self._series, *self._summaries}
                if name[1] in wanted and (objects is None or name[0] in objects)
            )
            found: list[Series] = []
            for name in names:
                elements: list[Point | DaySummary] = [
                    *self._summaries.get(name, ()),
                    *(
                        Point(at, self._samples[key].value)
                        for at, key in self._series.get(name, ())
                    ),
                ]
                elements.sort(key=_element_time)
                before = [e for e in elements if _element_time(e) < start]
                inside = [e for e in elements if start <= _element_time(e) < end]
                if before or inside:
                    found.append((name[0], name[1], [*before[-1:], *inside]))
        yield from found

    def compact(self, before: datetime) -> int:
        """Fold whole days before ``before`` into day summaries (see the protocol)."""
        horizon = midnight(before)
        removed = 0
        with self._lock:
            if self._horizon is not None and horizon <= self._horizon:
                return 0
            for name, entries in self._series.items():
                old = [(at, key) for at, key in entries if at < horizon]
                if not old:
                    continue
                points = [Point(at, self._samples[key].value) for at, key in old]
                for _, day in groupby(points, key=lambda p: p.at.date()):
                    self._summaries.setdefault(name, []).append(summarize_day(list(day)))
                for _, key in old:
                    del self._samples[key]
                entries[: len(old)] = []
                removed += len(old)
            self._horizon = horizon
        return removed

    def horizon(self) -> datetime | None:
        """Midnight before which samples are compacted, or None."""
        with self._lock:
            return self._horizon

    # -- lifetimes ----------------------------------------------------------------------------

    def object_started(self, object_key: str, kind: str, account: str, at: datetime) -> None:
        """A new lifetime from ``at`` unless one is open."""
        with self._lock:
            lives = self._lifetimes.setdefault(object_key, [])
            if not lives or lives[-1].ended_at is not None:
                lives.append(
                    Lifetime(object_key=object_key, kind=kind, account=account, started_at=at)
                )

    def object_ended(self, object_key: str, at: datetime) -> None:
        """Close the open lifetime at ``at``."""
        with self._lock:
            lives = self._lifetimes.get(object_key)
            if lives and lives[-1].ended_at is None:
                lives[-1] = attrs.evolve(lives[-1], ended_at=max(utc(at), lives[-1].started_at))

    def lifetimes(
        self, start: datetime, end: datetime, *, account: str | None = None
    ) -> list[Lifetime]:
        """Lifetimes overlapping ``[start, end)``."""
        start, end = utc(start), utc(end)
        with self._lock:
            return [
                life
                for key in sorted(self._lifetimes)
                for life in self._lifetimes[key]
                if life.started_at < end
                and (life.ended_at is None or life.ended_at > start)
                and (account is None or life.account == account)
            ]

    # -- allocations and states ---------------------------------------------------------------

    def set_allocations(self, allocations: Sequence[Allocation]) -> None:
        """Set each allocation."""
        with self._lock:
            for a in allocations:
                self._allocations[(a.object_key, a.resource)] = float(a.value)

    def remove_allocations(self, keys: Sequence[tuple[str, str]]) -> None:
        """Take allocations back."""
        with self._lock:
            for key in keys:
                self._allocations.pop(key, None)

    def allocations(self) -> dict[tuple[str, str], float]:
        """Every allocation set."""
        with self._lock:
            return dict(self._allocations)

    def save_resource_states(self, states: Sequence[ResourceState]) -> None:
        """Insert or replace states."""
        with self._lock:
            for state in states:
                self._states[(state.object_key, state.resource)] = state

    def resource_states(self) -> dict[tuple[str, str], ResourceState]:
        """The last state of everything evaluated."""
        with self._lock:
            return dict(self._states)

    # -- usage records ------------------------------------------------------------------------

    def save_records(self, records: Sequence[UsageRecord]) -> None:
        """Insert or replace records by idempotency key."""
        with self._lock:
            for record in records:
                self._records[record.idempotency_key] = record

    def records(
        self, start: datetime, end: datetime, *, account: str | None = None
    ) -> list[UsageRecord]:
        """Records of periods within ``[start, end)``."""
        start, end = utc(start), utc(end)
        with self._lock:
            found = [
                r
                for r in self._records.values()
                if r.start >= start and r.end <= end and (account is None or r.account == account)
            ]
        return sorted(found, key=lambda r: (r.account, r.object_key, r.metric, r.start))


def _element_time(element: Point | DaySummary) -> datetime:
    return element.at if isinstance(element, Point) else element.first_at

"""What resources need of a store: :class:`UsageReader` (series, lifetimes, allocations,
states) and :class:`UsageWriter` (samples, lifetimes, allocations, states), declared here so
that resources depend on no store. Every store's ``usage`` implements both, structurally
(:class:`~orchestra_core.storage.usage.UsageStore`); its contract suite is
``tests/storage/test_usage_contract.py``.

Samples are kept by idempotency key: a new key is added, a known one replaced (a counter's
bucket read again), the same sample again changes nothing. :meth:`UsageWriter.compact` folds
the samples of whole UTC days before a horizon into one
:class:`~orchestra_core.resources.series.DaySummary` per series and day, which
:func:`~orchestra_core.resources.series.fold` reads like the samples they replace; samples that
arrive later for a compacted day are dropped and counted (``too_old``), so that re-ingesting
never counts twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from orchestra_core.resources.definitions import Allocation, Lifetime, ResourceState, Sample
from orchestra_core.resources.series import DaySummary, Point

__all__ = ["IngestReport", "Series", "UsageLedger", "UsageReader", "UsageWriter"]

#: One series: ``(object key, monitor, its elements in time order)``.
Series = tuple[str, str, list[Point | DaySummary]]


@attrs.frozen(kw_only=True)
class IngestReport:
    """What :meth:`UsageWriter.add_samples` did with each sample it was given."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    too_old: int = 0

    def __add__(self, other: IngestReport) -> IngestReport:
        return IngestReport(
            added=self.added + other.added,
            replaced=self.replaced + other.replaced,
            unchanged=self.unchanged + other.unchanged,
            too_old=self.too_old + other.too_old,
        )


@runtime_checkable
class UsageReader(Protocol):
    """Reads measured usage and what it led to. Safe to call from several threads."""

    def iter_series(
        self,
        monitors: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        object_keys: Sequence[str] | None = None,
    ) -> Iterator[Series]:
        """The series of ``monitors`` (of ``object_keys``, or of every object) that hold a
        value in ``[start, end)``: each with its last element before ``start`` (the value
        holding when the window opens), then its elements before ``end``, in time order
        (samples at the same instant by idempotency key). Series come ordered by object key,
        then monitor, one at a time: the whole store never needs to fit in memory."""
        ...

    def horizon(self) -> datetime | None:
        """Midnight (UTC) before which samples are compacted; None before any compaction."""
        ...

    def lifetimes(
        self, start: datetime, end: datetime, *, account: str | None = None
    ) -> list[Lifetime]:
        """Lifetimes that overlap ``[start, end)`` (of ``account``'s objects only), ordered by
        object key, then start."""
        ...

    def allocations(self) -> dict[tuple[str, str], float]:
        """Every allocation set, by ``(object key, resource)``."""
        ...

    def resource_states(self) -> dict[tuple[str, str], ResourceState]:
        """The last state of every evaluated ``(object key, resource)``."""
        ...


@runtime_checkable
class UsageWriter(Protocol):
    """Keeps measured usage and what it led to. Safe to call from several threads."""

    def add_samples(self, samples: Sequence[Sample]) -> IngestReport:
        """Store ``samples`` by idempotency key, all or none: a new key is added, a known key
        with another value or time replaced, the same sample again left as it is; a sample
        before the compaction horizon is dropped (``too_old``). Within one call, the last
        sample of a key wins and the others count as ``unchanged``. When two calls add the same
        new key at the same moment, both may count it as added (it is stored once)."""
        ...

    def compact(self, before: datetime) -> int:
        """Fold every sample of a UTC day before ``before`` (rounded down to midnight) into
        its series' :class:`DaySummary` of that day and delete it; the horizon moves there
        (never back). How many samples went."""
        ...

    def object_started(self, object_key: str, kind: str, account: str, at: datetime) -> None:
        """The object exists from ``at``, unless a lifetime of it is open already."""
        ...

    def object_ended(self, object_key: str, at: datetime) -> None:
        """The object's open lifetime ends at ``at`` (nothing when none is open)."""
        ...

    def set_allocations(self, allocations: Sequence[Allocation]) -> None:
        """Give each object its allocation of each resource (replacing any it had)."""
        ...

    def remove_allocations(self, keys: Sequence[tuple[str, str]]) -> None:
        """Take back allocations by ``(object key, resource)``: the default applies again."""
        ...

    def save_resource_states(self, states: Sequence[ResourceState]) -> None:
        """Insert or replace states by ``(object key, resource)``."""
        ...


@runtime_checkable
class UsageLedger(UsageReader, UsageWriter, Protocol):
    """Both: what evaluating usage against allocations reads and keeps."""

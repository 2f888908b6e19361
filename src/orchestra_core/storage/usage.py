"""The usage store: samples, their day summaries, lifetimes, allocations, resource states and
usage records. Every :class:`~orchestra_core.storage.protocol.Store` has one as ``store.usage``.

:class:`UsageStore` is the union of what its consumers declare: resources' reader and writer
(:mod:`orchestra_core.resources.usage`, where the contract of each method is written) and
billing's record store (:mod:`orchestra_core.billing.records`). Every implementation passes
``tests/storage/test_usage_contract.py``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from orchestra_core.billing.records import RecordStore
from orchestra_core.resources.usage import IngestReport, Series, UsageLedger

__all__ = ["IngestReport", "Series", "UsageStore"]


@runtime_checkable
class UsageStore(UsageLedger, RecordStore, Protocol):
    """Where measured usage and what it led to are kept. Safe to call from several threads."""

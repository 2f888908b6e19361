"""What billing needs of a store: :class:`RecordStore`, the usage it reads and the records it
keeps, declared here so that billing depends on no store. Every store's ``usage`` implements
it, structurally (:class:`~orchestra_core.storage.usage.UsageStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from orchestra_core.billing.metrics import UsageRecord
from orchestra_core.resources.usage import UsageReader

__all__ = ["RecordStore"]


@runtime_checkable
class RecordStore(UsageReader, Protocol):
    """Reads usage (series, lifetimes) and keeps usage records. Safe to call from several
    threads."""

    def save_records(self, records: Sequence[UsageRecord]) -> None:
        """Insert or replace records by idempotency key, all or none."""
        ...

    def records(
        self, start: datetime, end: datetime, *, account: str | None = None
    ) -> list[UsageRecord]:
        """Records of billing periods within ``[start, end)`` (of ``account`` only), ordered by
        account, object key, metric, period start."""
        ...

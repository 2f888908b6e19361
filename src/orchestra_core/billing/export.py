"""Usage records as a billing system takes them: JSON lines, CSV, or Lago events.

Every format carries the record's idempotency key, so that a billing system ingests a record
once however often it is exported (Lago's ``transaction_id``; a column for an importer of
CSV). Times are ISO 8601 in UTC; quantities are in the metric's unit, unrounded.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from orchestra_core.billing.metrics import BillingMetric, UsageRecord

__all__ = ["FORMATS", "record_dict", "to_csv", "to_jsonl", "to_lago"]

#: The export formats, by name.
FORMATS = ("jsonl", "csv", "lago")

_COLUMNS = (
    "idempotency_key",
    "account",
    "object_key",
    "metric",
    "start",
    "end",
    "used_from",
    "used_until",
    "quantity",
    "unit",
)


def record_dict(record: UsageRecord) -> dict[str, Any]:
    """The record as plain data, times in ISO 8601 UTC (``2026-11-01T00:00:00Z``)."""
    data: dict[str, Any] = {}
    for column in _COLUMNS:
        value = getattr(record, column)
        if hasattr(value, "isoformat"):
            value = value.isoformat().replace("+00:00", "Z")
        data[column] = value
    return data


def to_jsonl(records: Iterable[UsageRecord]) -> Iterator[str]:
    """One JSON object a line (with its newline)."""
    for record in records:
        yield json.dumps(record_dict(record), ensure_ascii=False, sort_keys=False) + "\n"


def to_csv(records: Iterable[UsageRecord]) -> Iterator[str]:
    """A header line, then one line a record (RFC 4180 quoting)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    yield buffer.getvalue()
    for record in records:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(record_dict(record))
        yield buffer.getvalue()


def to_lago(
    records: Iterable[UsageRecord],
    metrics: Mapping[str, BillingMetric],
    *,
    subscription: Callable[[UsageRecord], str] = lambda record: record.account,
) -> Iterator[str]:
    """One ``{"event": {...}}`` a line: the body of Lago's ``POST /api/v1/events``.

    ``transaction_id`` is the record's idempotency key (Lago ignores an event it has seen),
    ``external_subscription_id`` comes from ``subscription`` (the account by default), ``code``
    is the metric's, ``timestamp`` the last second the object was used in the period (so the
    event falls within the period, and within a subscription that started during it), and
    ``properties`` carry the quantity under the metric's ``field`` with the object and the
    period.
    """
    for record in records:
        metric = metrics.get(record.metric)
        field = metric.field if metric is not None else "quantity"
        stamp = record.used_until - timedelta(seconds=1)
        plain = record_dict(record)
        event = {
            "transaction_id": record.idempotency_key,
            "external_subscription_id": subscription(record),
            "code": record.metric,
            "timestamp": int(max(stamp, record.used_from).timestamp()),
            "properties": {
                field: record.quantity,
                "object": record.object_key,
                "unit": record.unit,
                "period_start": plain["start"],
                "period_end": plain["end"],
            },
        }
        yield json.dumps({"event": event}, ensure_ascii=False) + "\n"

"""Making a billing period's usage records from what was measured.

For every metric, every object of its resource's kind that existed during the period (by its
lifetimes) gets one record: its monitors' series are folded over the part of the period it
existed, from its own start on (an earlier object with the same key does not count), and
:func:`~orchestra_core.billing.metrics.quantity` makes the billable amount. An object created
and deleted twice in one period gets one record for both lives. Making the records again gives
the same idempotency keys, so saving them replaces, and exporting them again is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from orchestra_core.billing.metrics import BillingMetric, UsageRecord, quantity
from orchestra_core.billing.records import RecordStore
from orchestra_core.resources.definitions import Lifetime, ResourceDefinition
from orchestra_core.resources.evaluation import series_by_object
from orchestra_core.resources.periods import Period
from orchestra_core.resources.series import fold

__all__ = ["make_records"]


def make_records(
    store: RecordStore,
    metrics: Iterable[BillingMetric],
    resources: Mapping[str, ResourceDefinition],
    period: Period,
    *,
    account: str | None = None,
    until: datetime | None = None,
) -> list[UsageRecord]:
    """The usage records of ``period`` (of ``account``'s objects only), ordered by metric,
    then object; an object nothing was measured of gets none.

    They are saved in ``store``, unless ``until`` cuts the period short (a period still going
    on): such records are partial, for a look, never for a billing system, which would keep
    the first quantity it saw under a key.
    """
    if until is not None and until < period.end:
        used_period = period.overlap(period.start, until)
    else:
        used_period, until = period, None
    lives: dict[str, list[Lifetime]] = {}
    for life in store.lifetimes(period.start, period.end, account=account):
        lives.setdefault(life.object_key, []).append(life)
    records: list[UsageRecord] = []
    for metric in sorted(metrics, key=lambda m: m.code):
        resource = resources[metric.resource]
        keys = sorted(k for k, ls in lives.items() if ls[0].kind == resource.service_kind)
        if not keys or used_period is None:
            continue
        # Series stream object by object: one object's samples in memory at a time.
        for key, series in series_by_object(store, resource.monitors, period, keys):
            amount = 0.0
            used: list[Period] = []
            for life in lives[key]:
                part = used_period.overlap(life.started_at, life.ended_at)
                if part is None:
                    continue
                usages = [
                    fold(elements, part.start, part.end, since=life.started_at)
                    for elements in series
                ]
                amount += quantity(metric, resource, usages, period, part)
                used.append(part)
            if not used:
                continue
            records.append(
                UsageRecord(
                    account=lives[key][0].account,
                    object_key=key,
                    metric=metric.code,
                    start=period.start,
                    end=period.end,
                    used_from=min(p.start for p in used),
                    used_until=max(p.end for p in used),
                    quantity=amount,
                    unit=metric.unit,
                    idempotency_key=UsageRecord.key_for(metric.code, key, period.start),
                )
            )
    if until is None:
        store.save_records(records)
    return records

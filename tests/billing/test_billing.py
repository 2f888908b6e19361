"""Usage records: quantities by aggregation and proration, one record per object and period,
the same keys when made again, and the exports a billing system takes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra_core.billing.export import to_csv, to_jsonl, to_lago
from orchestra_core.billing.metrics import BillingMetric, UsageRecord
from orchestra_core.billing.run import make_records
from orchestra_core.resources import Aggregation, Period, ResourceDefinition, Sample
from orchestra_core.storage.memory import MemoryStore

NOV = Period.month(2026, 11)  # 30 days
DAY = timedelta(days=1)
GIB = 2**30
DISK = ResourceDefinition(
    name="disk",
    service_kind="systemuser",
    monitors=("du",),
    aggregation="last",
    unit="GiB",
    scale=1 / GIB,
)
TRAFFIC = ResourceDefinition(
    name="traffic",
    service_kind="website",
    monitors=("log",),
    aggregation="sum",
    unit="GiB",
    scale=1 / GIB,
)
RESOURCES = {r.name: r for r in (DISK, TRAFFIC)}
AVERAGE = BillingMetric(
    code="disk_month", resource="disk", unit="GiB-month", aggregation=Aggregation.AVERAGE
)
LAST = BillingMetric(code="disk_last", resource="disk", unit="GiB", field="gb")
PEAK = BillingMetric(
    code="disk_peak", resource="disk", unit="GiB", aggregation="max", prorate=False
)
SENT = BillingMetric(code="traffic", resource="traffic", unit="GiB")


def gauge(store: MemoryStore, key: str, at: datetime, gib: float, monitor: str = "du") -> None:
    store.usage.add_samples(
        [
            Sample(
                monitor=monitor,
                object_key=key,
                value=gib * GIB,
                measured_at=at,
                idempotency_key=f"{monitor}:{key}:{at.isoformat()}",
            )
        ]
    )


def records(
    store: MemoryStore, *metrics: BillingMetric, **kw: object
) -> dict[tuple[str, str], UsageRecord]:
    made = make_records(store.usage, metrics, RESOURCES, NOV, **kw)  # type: ignore[arg-type]
    return {(r.metric, r.object_key): r for r in made}


def test_a_gauge_is_billed_by_its_average_and_prorated_by_its_life() -> None:
    store = MemoryStore()
    # All month at 3 GiB: one GiB-month... three.
    store.usage.object_started("systemuser:full", "systemuser", "acme", NOV.start - DAY)
    gauge(store, "systemuser:full", NOV.start - DAY, 3)
    # Created on the 21st (10 of 30 days) at 3 GiB: one GiB-month.
    store.usage.object_started("systemuser:late", "systemuser", "acme", NOV.start + 20 * DAY)
    gauge(store, "systemuser:late", NOV.start + 20 * DAY, 3)
    # 6 GiB for the first 15 days, then 2 GiB, deleted after 20 days.
    store.usage.object_started("systemuser:gone", "systemuser", "other", NOV.start)
    gauge(store, "systemuser:gone", NOV.start, 6)
    gauge(store, "systemuser:gone", NOV.start + 15 * DAY, 2)
    store.usage.object_ended("systemuser:gone", NOV.start + 20 * DAY)
    got = records(store, AVERAGE, LAST, PEAK)
    assert got[("disk_month", "systemuser:full")].quantity == 3.0
    assert got[("disk_month", "systemuser:late")].quantity == 1.0
    assert got[("disk_month", "systemuser:gone")].quantity == (6 * 15 + 2 * 5) / 30
    # last and max: the value times the part of the month it existed, unless not prorated.
    assert got[("disk_last", "systemuser:late")].quantity == 1.0
    assert got[("disk_last", "systemuser:gone")].quantity == 2 * 20 / 30
    assert got[("disk_peak", "systemuser:gone")].quantity == 6.0
    gone = got[("disk_month", "systemuser:gone")]
    assert (gone.account, gone.used_from, gone.used_until) == (
        "other",
        NOV.start,
        NOV.start + 20 * DAY,
    )
    assert (gone.start, gone.end, gone.unit) == (NOV.start, NOV.end, "GiB-month")
    assert gone.idempotency_key == "disk_month:systemuser:gone:2026-11-01T00:00:00Z"


def test_an_earlier_object_with_the_same_key_does_not_count() -> None:
    store = MemoryStore()
    store.usage.object_started("systemuser:u", "systemuser", "acme", NOV.start - 10 * DAY)
    gauge(store, "systemuser:u", NOV.start - 10 * DAY, 100)
    store.usage.object_ended("systemuser:u", NOV.start - 5 * DAY)
    store.usage.object_started("systemuser:u", "systemuser", "acme", NOV.start + 15 * DAY)
    # Nothing measured yet for the new one: its first fifteen days are unknown, not 100 GiB.
    assert records(store, AVERAGE)[("disk_month", "systemuser:u")].quantity == 0.0
    gauge(store, "systemuser:u", NOV.start + 15 * DAY, 2)
    assert records(store, AVERAGE)[("disk_month", "systemuser:u")].quantity == 1.0


def test_two_lives_in_one_period_are_one_record() -> None:
    store = MemoryStore()
    for first, last in ((0, 5), (10, 20)):
        store.usage.object_started("systemuser:u", "systemuser", "acme", NOV.start + first * DAY)
        gauge(store, "systemuser:u", NOV.start + first * DAY, 3)
        store.usage.object_ended("systemuser:u", NOV.start + last * DAY)
    [record] = make_records(store.usage, [AVERAGE], RESOURCES, NOV)
    assert record.quantity == 3 * 15 / 30
    assert (record.used_from, record.used_until) == (NOV.start, NOV.start + 20 * DAY)


def test_a_counter_is_summed_over_the_period_only() -> None:
    store = MemoryStore()
    store.usage.object_started("website:acme/shop", "website", "acme", NOV.start - 30 * DAY)
    for day, gib in ((-1, 50), (0, 1), (12, 2), (29, 4), (30, 80)):
        gauge(store, "website:acme/shop", NOV.start + day * DAY, gib, monitor="log")
    assert records(store, SENT)[("traffic", "website:acme/shop")].quantity == 7.0


def test_records_made_again_replace_themselves() -> None:
    store = MemoryStore()
    store.usage.object_started("systemuser:u", "systemuser", "acme", NOV.start)
    gauge(store, "systemuser:u", NOV.start, 3)
    first = make_records(store.usage, [AVERAGE], RESOURCES, NOV)
    gauge(store, "systemuser:u", NOV.start + 15 * DAY, 1)
    second = make_records(store.usage, [AVERAGE], RESOURCES, NOV)
    assert [r.idempotency_key for r in first] == [r.idempotency_key for r in second]
    assert [r.quantity for r in store.usage.records(NOV.start, NOV.end)] == [2.0]


def test_records_of_one_account_and_none_for_what_was_never_measured() -> None:
    store = MemoryStore()
    for account in ("a", "b", "c"):
        store.usage.object_started(f"systemuser:{account}", "systemuser", account, NOV.start)
    for account in ("a", "b"):
        gauge(store, f"systemuser:{account}", NOV.start, 1)
    assert [r.account for r in make_records(store.usage, [AVERAGE], RESOURCES, NOV)] == ["a", "b"]
    assert [
        r.account for r in make_records(store.usage, [AVERAGE], RESOURCES, NOV, account="b")
    ] == ["b"]


steps = st.lists(st.tuples(st.integers(0, 29 * 24), st.integers(0, 64)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(points=steps, born=st.integers(-48, 29 * 24), lived=st.integers(1, 40 * 24))
def test_the_average_is_the_exact_integral_over_the_period(
    points: list[tuple[int, int]], born: int, lived: int
) -> None:
    store = MemoryStore()
    start = NOV.start + timedelta(hours=born)
    end = start + timedelta(hours=lived)
    store.usage.object_started("systemuser:u", "systemuser", "acme", start)
    store.usage.object_ended("systemuser:u", end)
    samples = sorted({NOV.start + timedelta(hours=h): v for h, v in points}.items())
    for at, gib in samples:
        gauge(store, "systemuser:u", at, gib)
    # The exact integral, hour by hour: the value holding in each hour of the object's life
    # within the period, counting only samples from its own start on.
    total = 0
    for hour in range(30 * 24):
        moment = NOV.start + timedelta(hours=hour)
        if not (start <= moment < end):
            continue
        held = [v for at, v in samples if start <= at <= moment]
        total += held[-1] if held else 0
    made = make_records(store.usage, [AVERAGE], RESOURCES, NOV)
    if not made:  # it did not exist during the period
        assert end <= NOV.start and total == 0
        return
    [record] = made
    assert record.quantity == pytest.approx(total / (30 * 24), rel=1e-12, abs=1e-12)


def sample_records() -> list[UsageRecord]:
    store = MemoryStore()
    store.usage.object_started("systemuser:u", "systemuser", "acme", NOV.start + 20 * DAY)
    gauge(store, "systemuser:u", NOV.start + 20 * DAY, 3)
    return make_records(store.usage, [LAST], RESOURCES, NOV)


def test_jsonl_and_csv_carry_every_field() -> None:
    [line] = list(to_jsonl(sample_records()))
    data = json.loads(line)
    assert data == {
        "idempotency_key": "disk_last:systemuser:u:2026-11-01T00:00:00Z",
        "account": "acme",
        "object_key": "systemuser:u",
        "metric": "disk_last",
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-12-01T00:00:00Z",
        "used_from": "2026-11-21T00:00:00Z",
        "used_until": "2026-12-01T00:00:00Z",
        "quantity": 1.0,
        "unit": "GiB",
    }
    rows = list(csv.DictReader(io.StringIO("".join(to_csv(sample_records())))))
    assert rows == [{k: str(v) for k, v in data.items()}]


def test_lago_events_are_what_its_api_takes() -> None:
    [line] = list(
        to_lago(sample_records(), {"disk_last": LAST}, subscription=lambda r: f"sub-{r.account}")
    )
    event = json.loads(line)["event"]
    assert event == {
        "transaction_id": "disk_last:systemuser:u:2026-11-01T00:00:00Z",
        "external_subscription_id": "sub-acme",
        "code": "disk_last",
        "timestamp": int(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC).timestamp()),
        "properties": {
            "gb": 1.0,
            "object": "systemuser:u",
            "unit": "GiB",
            "period_start": "2026-11-01T00:00:00Z",
            "period_end": "2026-12-01T00:00:00Z",
        },
    }


def test_a_period_going_on_gives_partial_records_that_are_not_kept() -> None:
    store = MemoryStore()
    store.usage.object_started("systemuser:u", "systemuser", "acme", NOV.start)
    gauge(store, "systemuser:u", NOV.start, 3)
    [partial] = make_records(
        store.usage, [AVERAGE, LAST], RESOURCES, NOV, until=NOV.start + 10 * DAY
    )[:1]
    assert partial.quantity == 1.0  # 3 GiB for 10 of 30 days so far
    assert partial.used_until == NOV.start + 10 * DAY
    assert store.usage.records(NOV.start, NOV.end) == []

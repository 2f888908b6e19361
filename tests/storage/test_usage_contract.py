"""The usage store contract: every store's ``usage`` (memory, SQLite, PostgreSQL) passes it.

Samples are kept by idempotency key (re-ingesting changes nothing), read back as series with
the value holding when a window opens, and compacted into day summaries that answer every
day-aligned window exactly as the samples did; hypothesis generates the series.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_core.billing.metrics import UsageRecord
from orchestra_core.resources.definitions import Allocation, ResourceState, Sample
from orchestra_core.resources.series import DaySummary, Point, fold
from orchestra_core.storage.protocol import Store
from orchestra_core.storage.usage import IngestReport, UsageStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def sample(
    n: int,
    value: float,
    *,
    key: str = "database:mysql/shop",
    monitor: str = "size",
    seconds: int | None = None,
) -> Sample:
    at = T0 + timedelta(seconds=n * 3600 if seconds is None else seconds)
    return Sample(
        monitor=monitor,
        object_key=key,
        value=value,
        measured_at=at,
        idempotency_key=f"{monitor}:{key}:{at.isoformat()}",
    )


def series(usage: UsageStore, start: datetime, end: datetime, **kw: object) -> dict:
    return {
        (k, m): elements
        for k, m, elements in usage.iter_series(["size", "traffic"], start, end, **kw)
    }  # type: ignore[arg-type]


def test_the_store_has_a_usage_store(store: Store) -> None:
    assert isinstance(store.usage, UsageStore)


def test_samples_are_kept_by_idempotency_key(store: Store) -> None:
    usage = store.usage
    first = [sample(0, 1.0), sample(1, 2.0), sample(2, 3.0)]
    assert usage.add_samples(first) == IngestReport(added=3)
    assert usage.add_samples(first) == IngestReport(unchanged=3)
    changed = sample(1, 5.0)
    assert usage.add_samples([changed]) == IngestReport(replaced=1)
    [(_, _, elements)] = list(usage.iter_series(["size"], T0, T0 + DAY))
    assert elements == [
        Point(T0, 1.0),
        Point(T0 + timedelta(hours=1), 5.0),
        Point(T0 + timedelta(hours=2), 3.0),
    ]


def test_within_one_call_the_last_sample_of_a_key_wins(store: Store) -> None:
    report = store.usage.add_samples([sample(0, 1.0), sample(0, 7.0)])
    assert report.added == 1 and report.added + report.unchanged + report.replaced == 2
    [(_, _, elements)] = list(store.usage.iter_series(["size"], T0, T0 + DAY))
    assert elements == [Point(T0, 7.0)]


def test_a_series_carries_the_value_holding_when_the_window_opens(store: Store) -> None:
    usage = store.usage
    usage.add_samples([sample(0, 1.0), sample(5, 2.0), sample(30, 3.0), sample(50, 4.0)])
    got = series(usage, T0 + timedelta(hours=10), T0 + timedelta(hours=40))
    assert got == {
        ("database:mysql/shop", "size"): [
            Point(T0 + timedelta(hours=5), 2.0),
            Point(T0 + timedelta(hours=30), 3.0),
        ]
    }
    # Only a value from before the window: the series still holds one in it.
    later = series(usage, T0 + timedelta(hours=60), T0 + timedelta(hours=70))
    assert later == {("database:mysql/shop", "size"): [Point(T0 + timedelta(hours=50), 4.0)]}
    # Nothing before its end: no series.
    assert series(usage, T0 - DAY, T0) == {}


def test_series_are_ordered_and_filtered(store: Store) -> None:
    usage = store.usage
    usage.add_samples(
        [
            sample(0, 1.0, key="database:mysql/b"),
            sample(0, 1.0, key="database:mysql/a", monitor="traffic"),
            sample(0, 1.0, key="database:mysql/a"),
            sample(0, 9.0, key="database:mysql/a", monitor="other"),
        ]
    )
    names = [(k, m) for k, m, _ in usage.iter_series(["size", "traffic"], T0, T0 + DAY)]
    assert names == [
        ("database:mysql/a", "size"),
        ("database:mysql/a", "traffic"),
        ("database:mysql/b", "size"),
    ]
    only = usage.iter_series(["size"], T0, T0 + DAY, object_keys=["database:mysql/b"])
    assert [(k, m) for k, m, _ in only] == [("database:mysql/b", "size")]


def test_samples_at_the_same_instant_come_in_key_order(store: Store) -> None:
    at = T0 + timedelta(hours=1)
    a = Sample(monitor="size", object_key="k", value=1.0, measured_at=at, idempotency_key="b")
    b = Sample(monitor="size", object_key="k", value=2.0, measured_at=at, idempotency_key="a")
    store.usage.add_samples([a, b])
    [(_, _, elements)] = list(store.usage.iter_series(["size"], T0, T0 + DAY))
    assert elements == [Point(at, 2.0), Point(at, 1.0)]


def test_compaction_folds_whole_days_and_moves_the_horizon(store: Store) -> None:
    usage = store.usage
    hourly = [sample(h, float(h % 5)) for h in range(24 * 4)]
    usage.add_samples(hourly)
    assert usage.horizon() is None
    assert usage.compact(T0 + 2 * DAY + timedelta(hours=7)) == 48
    assert usage.horizon() == T0 + 2 * DAY
    assert usage.compact(T0 + DAY) == 0 and usage.horizon() == T0 + 2 * DAY
    [(_, _, elements)] = list(usage.iter_series(["size"], T0, T0 + 4 * DAY))
    assert [type(e) for e in elements[:2]] == [DaySummary, DaySummary]
    assert all(isinstance(e, Point) for e in elements[2:]) and len(elements) == 2 + 48
    raw = [Point(s.measured_at, s.value) for s in hourly]
    for start, end in [(T0, T0 + 4 * DAY), (T0 + DAY, T0 + 3 * DAY), (T0 + 2 * DAY, T0 + 4 * DAY)]:
        got = fold(
            [e for _, _, es in usage.iter_series(["size"], start, end) for e in es], start, end
        )
        assert got == fold(raw, start, end)


def test_a_sample_for_a_compacted_day_is_dropped_not_counted_twice(store: Store) -> None:
    usage = store.usage
    usage.add_samples([sample(1, 10.0), sample(30, 5.0)])
    usage.compact(T0 + DAY)
    assert usage.add_samples([sample(1, 10.0), sample(2, 1.0)]) == IngestReport(too_old=2)
    [(_, _, elements)] = list(usage.iter_series(["size"], T0, T0 + 2 * DAY))
    assert fold(elements, T0, T0 + 2 * DAY).total == 15.0


hourly_values = st.lists(st.integers(0, 1000), min_size=1, max_size=24 * 5)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=hourly_values, days=st.integers(1, 5), gaps=st.integers(1, 7))
def test_reingesting_and_compacting_keep_every_day_aligned_result(
    store: Store, values: list[int], days: int, gaps: int
) -> None:
    usage = store.usage
    tag = f"database:mysql/x{len(values)}-{days}-{gaps}-{sum(values)}"
    samples = [sample(i * gaps, float(v), key=tag) for i, v in enumerate(values)]
    usage.add_samples(samples)

    def results() -> list[object]:
        out = []
        for first in range(0, 6):
            for last in range(first, 7):
                start, end = T0 + first * DAY, T0 + last * DAY
                elements = [
                    e
                    for _, _, es in usage.iter_series(["size"], start, end, object_keys=[tag])
                    for e in es
                ]
                out.append(fold(elements, start, end))
        return out

    before = results()
    report = usage.add_samples(samples)
    assert report.added == 0 and report.replaced == 0
    assert results() == before
    horizon = usage.horizon()
    if horizon is None or horizon < T0 + days * DAY:
        usage.compact(T0 + days * DAY)
    if usage.horizon() == T0 + days * DAY:
        assert results() == before


def test_lifetimes_open_close_and_overlap(store: Store) -> None:
    usage = store.usage
    usage.object_started("database:mysql/a", "database", "acme", T0)
    usage.object_started("database:mysql/a", "database", "acme", T0 + DAY)  # already open
    usage.object_ended("database:mysql/a", T0 + 2 * DAY)
    usage.object_started("database:mysql/a", "database", "acme", T0 + 5 * DAY)
    usage.object_started("mailbox:b@example.com", "mailbox", "other", T0 + DAY)
    usage.object_ended("mailbox:nobody@example.com", T0)  # nothing open: nothing
    lives = usage.lifetimes(T0, T0 + 10 * DAY)
    assert [(lf.object_key, lf.started_at, lf.ended_at) for lf in lives] == [
        ("database:mysql/a", T0, T0 + 2 * DAY),
        ("database:mysql/a", T0 + 5 * DAY, None),
        ("mailbox:b@example.com", T0 + DAY, None),
    ]
    assert lives[0].kind == "database" and lives[0].account == "acme"
    assert [lf.started_at for lf in usage.lifetimes(T0 + 2 * DAY, T0 + 5 * DAY)] == [T0 + DAY]
    assert [lf.object_key for lf in usage.lifetimes(T0, T0 + DAY, account="acme")] == [
        "database:mysql/a"
    ]


def test_allocations_and_resource_states(store: Store) -> None:
    usage = store.usage
    usage.set_allocations(
        [
            Allocation(object_key="database:mysql/a", resource="database-size", value=1.5),
            Allocation(object_key="database:mysql/b", resource="database-size", value=2),
        ]
    )
    usage.set_allocations(
        [Allocation(object_key="database:mysql/a", resource="database-size", value=3.0)]
    )
    usage.remove_allocations([("database:mysql/b", "database-size"), ("nothing", "x")])
    assert usage.allocations() == {("database:mysql/a", "database-size"): 3.0}
    state = ResourceState(
        object_key="database:mysql/a",
        resource="database-size",
        exceeded=True,
        usage=3.5,
        allocation=3.0,
        since=T0,
        evaluated_at=T0,
    )
    usage.save_resource_states([state])
    later = ResourceState(
        object_key="database:mysql/a",
        resource="database-size",
        exceeded=True,
        usage=3.7,
        allocation=3.0,
        since=T0,
        evaluated_at=T0 + DAY,
    )
    usage.save_resource_states([later])
    assert usage.resource_states() == {("database:mysql/a", "database-size"): later}


def record(account: str, key: str, month: int, quantity: float) -> UsageRecord:
    start = datetime(2026, month, 1, tzinfo=UTC)
    end = datetime(2026, month + 1, 1, tzinfo=UTC)
    return UsageRecord(
        account=account,
        object_key=key,
        metric="storage",
        start=start,
        end=end,
        used_from=start,
        used_until=end,
        quantity=quantity,
        unit="GiB",
        idempotency_key=UsageRecord.key_for("storage", key, start),
    )


def test_records_are_kept_by_idempotency_key(store: Store) -> None:
    usage = store.usage
    usage.save_records(
        [
            record("b", "database:mysql/x", 10, 1.0),
            record("a", "database:mysql/y", 10, 2.0),
            record("a", "database:mysql/y", 11, 3.0),
        ]
    )
    usage.save_records([record("a", "database:mysql/y", 10, 2.5)])
    october = usage.records(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    assert [(r.account, r.quantity) for r in october] == [("a", 2.5), ("b", 1.0)]
    both = usage.records(
        datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), account="a"
    )
    assert [r.quantity for r in both] == [2.5, 3.0]
    assert both[0] == record("a", "database:mysql/y", 10, 2.5)


def test_ingest_from_several_threads(store: Store) -> None:
    usage = store.usage

    def ingest(n: int) -> None:
        usage.add_samples([sample(h, float(h), key=f"database:mysql/t{n}") for h in range(50)])

    threads = [threading.Thread(target=ingest, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = list(usage.iter_series(["size"], T0, T0 + 3 * DAY))
    assert [len(elements) for _, _, elements in found] == [50] * 4


@pytest.mark.parametrize("n", [0])
def test_timestamps_come_back_in_utc(store: Store, n: int) -> None:
    store.usage.add_samples([sample(n, 1.0)])
    [(_, _, [point])] = list(store.usage.iter_series(["size"], T0, T0 + DAY))
    assert isinstance(point, Point) and point.at.tzinfo is not None
    assert point.at.utcoffset() == timedelta(0)


def test_big_calls_are_counted_exactly(store: Store) -> None:
    """Thousands of samples in one call (more than one batch of keys or rows), some of them
    stored already, some changed, some given twice."""
    usage = store.usage
    first = [sample(0, float(n), key=f"database:mysql/big{n:05d}") for n in range(7000)]
    assert usage.add_samples(first) == IngestReport(added=7000)
    again = [
        sample(0, float(n) + (0.5 if n % 7000 < 3000 else 0.0), key=f"database:mysql/big{n:05d}")
        for n in range(12000)
    ]
    report = usage.add_samples([*again, *again[:100]])
    assert report == IngestReport(added=5000, replaced=3000, unchanged=4000 + 100)
    found = list(usage.iter_series(["size"], T0, T0 + DAY))
    assert len(found) == 12000
    assert [k for k, _, _ in found] == sorted(f"database:mysql/big{n:05d}" for n in range(12000))
    assert found[1][2] == [Point(T0, 1.5)] and found[5000][2] == [Point(T0, 5000.0)]


def test_many_object_keys_come_in_order(store: Store) -> None:
    usage = store.usage
    usage.add_samples([sample(0, 1.0, key=f"database:mysql/m{n:04d}") for n in range(1500)])
    wanted = [f"database:mysql/m{n:04d}" for n in range(1499, -1, -2)] + ["database:mysql/none"]
    got = [k for k, _, _ in usage.iter_series(["size"], T0, T0 + DAY, object_keys=wanted)]
    assert got == sorted(wanted[:-1])
    assert list(usage.iter_series(["size"], T0, T0 + DAY, object_keys=[])) == []
    assert list(usage.iter_series([], T0, T0 + DAY)) == []


def test_names_are_ordered_as_python_orders_strings(store: Store) -> None:
    """By code point, whatever the database's own collation would say."""
    usage = store.usage
    keys = ["database:mysql/b", "database:mysql/B", "database:mysql/_a", "database:mysql/é"]
    keys += ["database:mysql/ä", "database:mysql/a-b", "database:mysql/ab", "database:mysql/a b"]
    usage.add_samples([sample(0, 1.0, key=key) for key in keys])
    for key in keys:
        usage.object_started(key, "database", "acme", T0)
    usage.save_records([record(key[-3:], key, 10, 1.0) for key in keys])
    assert [k for k, _, _ in usage.iter_series(["size"], T0, T0 + DAY)] == sorted(keys)
    assert [lf.object_key for lf in usage.lifetimes(T0, T0 + DAY)] == sorted(keys)
    october = usage.records(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    assert [r.account for r in october] == sorted(key[-3:] for key in keys)


def test_times_and_values_come_back_exactly(store: Store) -> None:
    at = T0 + timedelta(seconds=1, microseconds=234567)
    value = 0.1 + 0.2  # not 0.3
    store.usage.add_samples(
        [Sample(monitor="size", object_key="k", value=value, measured_at=at, idempotency_key="x")]
    )
    assert store.usage.add_samples(
        [Sample(monitor="size", object_key="k", value=value, measured_at=at, idempotency_key="x")]
    ) == IngestReport(unchanged=1)
    [(_, _, [point])] = list(store.usage.iter_series(["size"], T0, T0 + DAY))
    assert point == Point(at, value)


def test_a_sample_moved_to_another_series_leaves_the_first(store: Store) -> None:
    usage = store.usage
    usage.add_samples([sample(0, 1.0, key="database:mysql/a")])
    moved = Sample(
        monitor="size",
        object_key="database:mysql/b",
        value=1.0,
        measured_at=T0,
        idempotency_key=sample(0, 1.0, key="database:mysql/a").idempotency_key,
    )
    assert usage.add_samples([moved]) == IngestReport(replaced=1)
    assert series(usage, T0, T0 + DAY) == {("database:mysql/b", "size"): [Point(T0, 1.0)]}
    assert series(usage, T0 + DAY, T0 + 2 * DAY) == {("database:mysql/b", "size"): [Point(T0, 1.0)]}


def test_the_value_holding_may_come_from_a_compacted_day(store: Store) -> None:
    usage = store.usage
    usage.add_samples([sample(1, 4.0), sample(5, 6.0), sample(24 * 3, 8.0)])
    usage.compact(T0 + DAY)
    got = series(usage, T0 + DAY, T0 + 2 * DAY)
    [(_, [summary])] = got.items()
    assert isinstance(summary, DaySummary) and summary.day == T0.date()
    assert summary.last_value == 6.0 and summary.count == 2 and summary.total == 10.0
    assert fold([summary], T0 + DAY, T0 + 2 * DAY).last == 6.0


def test_samples_ingested_while_compacting_are_folded_or_refused(store: Store) -> None:
    """Never lost: each lands before the compaction (folded into its day) or after it (too
    old), whichever thread wins."""
    usage = store.usage
    reports: list[IngestReport] = []

    def ingest(n: int) -> None:
        for batch in range(10):
            reports.append(
                usage.add_samples(
                    [
                        sample(0, 1.0, key=f"database:mysql/c{n}", seconds=batch * 600 + i)
                        for i in range(50)
                    ]
                )
            )

    threads = [threading.Thread(target=ingest, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    usage.compact(T0 + DAY)
    for thread in threads:
        thread.join()
    total = sum(reports, IngestReport())
    assert total.added + total.too_old == 3 * 10 * 50
    found = [e for _, _, es in usage.iter_series(["size"], T0, T0 + DAY) for e in es]
    assert fold(found, T0, T0 + DAY).count == total.added


def test_writing_while_series_are_read(store: Store) -> None:
    usage = store.usage
    usage.add_samples([sample(0, 1.0, key=f"database:mysql/w{n}") for n in range(3)])
    stream = usage.iter_series(["size"], T0, T0 + DAY)
    first = next(stream)
    usage.add_samples([sample(1, 2.0, key="database:mysql/w9")])
    usage.compact(T0)
    names = [first[0], *(k for k, _, _ in stream)]
    # Whether the stream sees the sample written meanwhile is not said; it sees the others.
    assert names[:3] == [f"database:mysql/w{n}" for n in range(3)]
    assert set(names[3:]) <= {"database:mysql/w9"}

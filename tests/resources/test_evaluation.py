"""Allocations, crossings and the reaction, through the engine with the dummy backends: a home
over its disk allocation makes its user's and its web app's files say so, once; recovering
lifts it, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestra_core import ChangeSet, Orchestra, Route, Server, ServiceIndex, ValidationError
from orchestra_core.catalogue import Database, SystemUser, WebApp
from orchestra_core.hookspecs import hookimpl
from orchestra_core.registry import Registry
from orchestra_core.resources import ResourceDefinition
from orchestra_core.resources.evaluation import ResourceEvent, evaluate, resource_values
from orchestra_core.resources.periods import Period
from orchestra_core.storage.memory import MemoryStore

T1 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
USER = SystemUser(account="acme", name="u1", home="/srv/homes/u1")
APP = WebApp(account="acme", name="app", system_user="u1")
OTHER = SystemUser(account="acme", name="u2", home="/srv/homes/u2")
WORLD = ServiceIndex((), [USER, APP, OTHER])
KIB = 1024 / 2**30  # one KiB in GiB, the home-disk unit


class Recorder:
    """Keeps every crossing the hooks tell."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def orchestra_resource_exceeded(self, event: ResourceEvent) -> None:
        self.seen.append(("exceeded", event.object_key))

    @hookimpl
    def orchestra_resource_recovered(self, event: ResourceEvent) -> None:
        self.seen.append(("recovered", event.object_key))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def orchestra(root: Path, recorder: Recorder) -> Iterator[Orchestra]:
    routes = [
        Route(backend="dummy-systemuser", servers=("box",)),
        Route(backend="dummy-webapp", servers=("box",)),
        Route(backend="disk-usage", servers=("box",), settings={"apparent_size": True}),
    ]
    engine = Orchestra(
        servers=[Server(name="box", root=str(root))],
        routes=routes,
        registry=Registry.load(extra={"recorder": recorder}),
        store=MemoryStore(),
    )
    result = engine.apply(engine.plan(ChangeSet().save(USER).save(APP).save(OTHER), index=WORLD))
    assert result.ok
    yield engine
    engine.close()


def fill(root: Path, user: str, size: int) -> None:
    home = root / "srv/homes" / user
    home.mkdir(parents=True, exist_ok=True)
    (home / "data").write_bytes(b"x" * size)


def conf(root: Path, kind: str, name: str) -> str:
    return (root / "var/lib/orchestra-dummy" / kind / f"{name}.conf").read_text()


def test_a_crossing_is_told_once_and_restricts_what_names_it(
    orchestra: Orchestra, root: Path, recorder: Recorder
) -> None:
    fill(root, "u1", 64 * 1024)
    fill(root, "u2", 1024)
    orchestra.allocate(USER.key, "home-disk", 16 * KIB)
    orchestra.allocate(OTHER.key, "home-disk", 16 * KIB)

    assert orchestra.measure(WORLD, at=T1).ok
    first = orchestra.evaluate(WORLD, at=T1)
    assert [(e.kind, e.object_key) for e in first.events] == [("exceeded", USER.key)]
    assert recorder.seen == [("exceeded", USER.key)]
    assert first.applied is not None and first.applied.ok
    assert "exceeded[systemuser:u1] = home-disk" in conf(root, "systemuser", "u1")
    assert "exceeded[systemuser:u1] = home-disk" in conf(root, "webapp", "acme%2Fapp")
    assert "exceeded" not in conf(root, "systemuser", "u2")
    state = orchestra.store.usage.resource_states()[(USER.key, "home-disk")]
    assert state.exceeded and state.since == T1 and state.allocation == 16 * KIB
    assert state.usage is not None and state.usage > 64 * KIB

    # The same usage again: no crossing, no hook, nothing applied; the state keeps its since.
    later = T1 + timedelta(hours=1)
    orchestra.measure(WORLD, at=later)
    again = orchestra.evaluate(WORLD, at=later)
    assert again.events == () and again.applied is None
    assert recorder.seen == [("exceeded", USER.key)]
    assert orchestra.store.usage.resource_states()[(USER.key, "home-disk")].since == T1

    # A plan made meanwhile (a change of the web app) keeps the restriction.
    changed = WebApp(account="acme", name="app", system_user="u1", php_version="8.2")
    plan = orchestra.plan(ChangeSet().save(changed), index=ServiceIndex((), [USER, changed]))
    assert orchestra.apply(plan).ok
    assert "exceeded[systemuser:u1] = home-disk" in conf(root, "webapp", "acme%2Fapp")

    # Raising the allocation recovers, once.
    orchestra.allocate(USER.key, "home-disk", 1024 * KIB)
    recovered = orchestra.evaluate(WORLD, at=later + timedelta(hours=1))
    assert [(e.kind, e.object_key) for e in recovered.events] == [("recovered", USER.key)]
    assert "exceeded" not in conf(root, "systemuser", "u1")
    assert "exceeded" not in conf(root, "webapp", "acme%2Fapp")
    assert orchestra.evaluate(WORLD, at=later + timedelta(hours=2)).events == ()
    assert recorder.seen == [("exceeded", USER.key), ("recovered", USER.key)]


def test_without_an_allocation_usage_is_only_kept(orchestra: Orchestra, root: Path) -> None:
    fill(root, "u1", 4096)
    orchestra.measure(WORLD, at=T1)
    result = orchestra.evaluate(WORLD, at=T1)
    assert result.events == ()
    state = orchestra.store.usage.resource_states()[(USER.key, "home-disk")]
    assert not state.exceeded and state.allocation is None and state.usage is not None
    u2 = orchestra.store.usage.resource_states()[(OTHER.key, "home-disk")]
    assert u2.usage is None  # no home on the server, no sample


def test_allocations_are_checked_before_they_are_kept(orchestra: Orchestra) -> None:
    with pytest.raises(ValidationError) as raised:
        orchestra.allocate(USER.key, "home-disk", -1)
    [error] = raised.value.errors
    assert (error.object_key, error.field) == (USER.key, "allocations[home-disk]")
    with pytest.raises(ValidationError, match="no such resource"):
        orchestra.allocate(USER.key, "nope", 1)
    assert orchestra.store.usage.allocations() == {}
    orchestra.allocate(USER.key, "home-disk", 2)
    orchestra.allocate(USER.key, "home-disk", None)
    assert orchestra.store.usage.allocations() == {}


def test_bounds_and_windows_of_a_resource_are_checked() -> None:
    base = {
        "name": "r",
        "service_kind": "database",
        "monitors": ("m",),
        "aggregation": "last",
        "unit": "GiB",
    }
    resource = ResourceDefinition(**base, min_allocation=1, max_allocation=10)  # type: ignore[arg-type]
    assert [e.message for e in resource.check_allocation("database:mysql/x", 0.5)] == [
        "0.5 GiB is below 1"
    ]
    assert [e.message for e in resource.check_allocation("database:mysql/x", 11)] == [
        "11 GiB is above 10"
    ]
    assert resource.check_allocation("database:mysql/x", float("nan"))
    with pytest.raises(ValueError, match="min_allocation"):
        ResourceDefinition(**base, min_allocation=5, max_allocation=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="default_allocation"):
        ResourceDefinition(**base, max_allocation=1, default_allocation=2)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="window"):
        ResourceDefinition(**base, window="fortnight")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one monitor"):
        ResourceDefinition(**{**base, "monitors": ()})  # type: ignore[arg-type]


def test_a_default_allocation_applies_to_every_object(tmp_path: Path) -> None:
    store = MemoryStore()
    resource = ResourceDefinition(
        name="db-size",
        service_kind="database",
        monitors=("size",),
        aggregation="last",
        unit="bytes",
        default_allocation=100,
        window="24h",
    )
    from orchestra_core.resources import Sample

    db = Database(account="acme", name="shop")
    store.usage.add_samples(
        [Sample(monitor="size", object_key=db.key, value=150, measured_at=T1, idempotency_key="a")]
    )
    [event] = evaluate(store.usage, [resource], [db], T1 + timedelta(minutes=1))
    assert (event.kind, event.usage, event.allocation, event.account) == (
        "exceeded",
        150,
        100,
        "acme",
    )
    assert str(event) == "database:mysql/shop: db-size exceeded (150 of 100)"
    # Two days later the last sample, before the window, still holds: still over, no event.
    assert evaluate(store.usage, [resource], [db], T1 + timedelta(days=2)) == []
    later = T1 + timedelta(days=2, hours=1)
    store.usage.add_samples(
        [
            Sample(
                monitor="size", object_key=db.key, value=90, measured_at=later, idempotency_key="b"
            )
        ]
    )
    [back] = evaluate(store.usage, [resource], [db], later)
    assert (back.kind, back.usage) == ("recovered", 90)
    values = resource_values(store.usage, resource, Period(T1, T1 + timedelta(hours=1)), [db.key])
    assert values == {db.key: 150.0}

"""The applied state per placement, through the engine on real files (the dummy driver on a
local sandbox): moves, added servers, settings changes, unrouted objects, guards, drift,
stale plans, interrupted logs and leases."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server
from orchestra_core.catalogue import Domain, Mailbox, Record
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.model.service import Service
from orchestra_core.planning.guards import EmptyInventory, StalePlan, TooManyDeletes
from orchestra_core.storage.memory import MemoryStore

ACME = Account(name="acme")
A = Domain(account="acme", name="a.example", records=(Record(type="A", values=("192.0.2.1",)),))
B = Domain(account="acme", name="b.example")
BOX = Mailbox(account="acme", address="x@a.example")


class World:
    """Servers ns1, ns2 and mail1 under a sandbox, an engine per topology, one store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = MemoryStore()
        self.engines: list[Orchestra] = []

    def server(self, name: str) -> Server:
        return Server(name=name, root=str(self.root / name))

    def engine(
        self, routes: Sequence[Route], servers: Sequence[str] = ("ns1", "ns2", "mail1")
    ) -> Orchestra:
        engine = Orchestra(
            servers=[self.server(name) for name in servers], routes=routes, store=self.store
        )
        self.engines.append(engine)
        return engine

    def file(
        self, server: str, kind: str, name: str, directory: str = "var/lib/orchestra-dummy"
    ) -> Path:
        return self.root / server / directory / kind / f"{name}.conf"

    def placed(self) -> set[tuple[str, str, str]]:
        return {tuple(p.key) for p in self.store.placements()}  # type: ignore[misc]


@pytest.fixture
def world(tmp_path: Path) -> World:
    made = World(tmp_path)
    yield made  # type: ignore[misc]
    for engine in made.engines:
        engine.close()


DNS1 = [
    Route(backend="dummy-domain", servers=("ns1",)),
    Route(backend="dummy-mailbox", servers=("mail1",)),
]


def apply(
    engine: Orchestra, services: Sequence[Service], **kw: object
) -> list[tuple[str, str, str, str]]:
    plan = engine.plan_inventory([ACME], services, **kw)  # type: ignore[arg-type]
    result = engine.apply(plan)
    assert result.ok, [(log.operation_id, log.state.value, log.stderr) for log in result.logs]
    return [(log.server, log.action, log.object_keys[0], log.state.value) for log in result.logs]


def test_moving_a_zone_saves_it_on_the_new_server_and_deletes_it_on_the_old(world: World) -> None:
    apply(world.engine(DNS1), [A, BOX])
    assert world.file("ns1", "domain", "a.example").exists()
    moved = [Route(backend="dummy-domain", servers=("ns2",)), DNS1[1]]
    ran = apply(world.engine(moved), [A, BOX])
    assert ("ns2", "save", "domain:a.example", "success") in ran
    assert ("ns1", "delete", "domain:a.example", "success") in ran
    assert world.file("ns2", "domain", "a.example").exists()
    assert not world.file("ns1", "domain", "a.example").exists()
    assert ("domain:a.example", "dummy-domain", "ns2") in world.placed()
    assert ("domain:a.example", "dummy-domain", "ns1") not in world.placed()
    assert world.engine(moved).plan_inventory([ACME], [A, BOX]).is_empty


def test_adding_a_server_to_a_route_saves_every_object_there_only(world: World) -> None:
    apply(world.engine(DNS1), [A, B, BOX])
    both = [Route(backend="dummy-domain", servers=("ns1", "ns2")), DNS1[1]]
    plan = world.engine(both).plan_inventory([ACME], [A, B, BOX])
    assert sorted((op.server, op.action, op.object_keys[0]) for op in plan.operations()) == [
        ("ns2", "reload", "domain:a.example"),
        ("ns2", "save", "domain:a.example"),
        ("ns2", "save", "domain:b.example"),
    ]
    assert plan.summary is not None and plan.summary.changed == (
        "domain:a.example",
        "domain:b.example",
    )
    world.engine(both).apply(plan)
    assert world.file("ns2", "domain", "b.example").exists()


def test_a_settings_change_saves_every_affected_object_and_removes_what_it_left(
    world: World,
) -> None:
    apply(world.engine(DNS1), [A, B, BOX])
    moved = [
        Route(backend="dummy-domain", servers=("ns1",), settings={"directory": "/srv/zones"}),
        DNS1[1],
    ]
    plan = world.engine(moved).plan_inventory([ACME], [A, B, BOX])
    assert {op.object_keys[0] for op in plan.operations() if op.action == "save"} == {
        "domain:a.example",
        "domain:b.example",
    }
    world.engine(moved).apply(plan)
    assert world.file("ns1", "domain", "a.example", "srv/zones").exists()
    assert not world.file("ns1", "domain", "a.example").exists()  # the old directory's file
    mode = [
        Route(
            backend="dummy-domain",
            servers=("ns1",),
            settings={"directory": "/srv/zones", "file_mode": "0600"},
        ),
        DNS1[1],
    ]
    apply(world.engine(mode), [A, B, BOX])
    assert world.file("ns1", "domain", "b.example", "srv/zones").stat().st_mode & 0o777 == 0o600


def test_an_unrouted_object_is_not_applied_and_is_saved_once_routed(world: World) -> None:
    only_dns = [DNS1[0]]
    plan = world.engine(only_dns).plan_inventory([ACME], [A, BOX])
    assert plan.unrouted == ("mailbox:x@a.example",)
    world.engine(only_dns).apply(plan)
    assert "mailbox:x@a.example" not in world.store.applied()
    plan = world.engine(DNS1).plan_inventory([ACME], [A, BOX])
    assert [(op.action, op.object_keys[0]) for op in plan.operations() if op.action == "save"] == [
        ("save", "mailbox:x@a.example")
    ]


def test_unrouting_an_object_deletes_it_where_it_was(world: World) -> None:
    apply(world.engine(DNS1), [A, BOX])
    narrowed = [
        Route(backend="dummy-domain", servers=("ns1",), match="domain.name != 'a.example'"),
        DNS1[1],
    ]
    plan = world.engine(narrowed).plan_inventory([ACME], [A, BOX])
    assert plan.unrouted == ("domain:a.example",)
    first = next(op for op in plan.operations() if op.object_keys == ("domain:a.example",))
    assert (first.server, first.action) == ("ns1", "delete")
    assert plan.summary is not None and plan.summary.removed == ("domain:a.example",)


def test_an_empty_inventory_is_refused_while_objects_are_applied(world: World) -> None:
    engine = world.engine(DNS1)
    apply(engine, [A, BOX])
    with pytest.raises(EmptyInventory, match="no accounts, while 2 objects are applied"):
        engine.plan_inventory([], [])
    with pytest.raises(EmptyInventory, match="no services"):
        engine.plan_inventory([ACME], [])
    assert world.file("ns1", "domain", "a.example").exists()
    plan = engine.plan_inventory([], [], allow_deletes=True)
    assert plan.deleted_objects() == {"domain:a.example", "mailbox:x@a.example"}


def test_deleting_more_than_the_limit_is_refused(world: World) -> None:
    engine = world.engine(DNS1)
    many = [Domain(account="acme", name=f"d{n}.example") for n in range(30)]
    apply(engine, many)
    with pytest.raises(
        TooManyDeletes, match="deletes 11 of the 30 applied objects, more than the 10"
    ):
        engine.plan_inventory([ACME], many[:19])
    assert len(engine.plan_inventory([ACME], many[:20]).deleted_objects()) == 10
    from orchestra_core.planning.guards import DeleteLimit

    with pytest.raises(TooManyDeletes):
        engine.plan_inventory([ACME], many[:28], delete_limit=DeleteLimit(objects=1, percent=0))
    assert len(engine.plan_inventory([ACME], many[:19], allow_deletes=True).deleted_objects()) == 11


def test_a_file_edited_by_hand_is_reported_and_not_overwritten_without_force(world: World) -> None:
    engine = world.engine(DNS1)
    apply(engine, [A, BOX])
    path = world.file("ns1", "domain", "a.example")
    path.write_text(path.read_text() + "# by hand\n")
    report = engine.check()
    [finding] = report.findings
    assert (finding.placement.object_key, finding.name, finding.state) == (
        "domain:a.example",
        str(path),
        "changed",
    )
    assert finding.live is not None and finding.live.endswith("# by hand\n")
    assert finding.applied is not None and "# by hand" not in finding.applied
    changed = attrs.evolve(A, ttl=60)
    result = engine.apply(engine.plan_inventory([ACME], [changed, BOX]))
    [log] = [log for log in result.logs if log.action == "save"]
    assert (
        log.state is State.FAILURE
        and "was changed on the server" in log.stderr
        and str(path) in log.stderr
    )
    assert path.read_text().endswith("# by hand\n")
    assert world.store.applied()["domain:a.example"].data["ttl"] is None  # not applied
    assert engine.apply(engine.plan_inventory([ACME], [changed, BOX], force=True)).ok
    assert "# by hand" not in path.read_text() and engine.check().clean


def test_a_missing_file_is_drift_and_a_resync_puts_it_back(world: World) -> None:
    engine = world.engine(DNS1)
    apply(engine, [A, BOX])
    world.file("mail1", "mailbox", "x@a.example").unlink()
    [finding] = engine.check().findings
    assert finding.state == "missing"
    apply(engine, [A, BOX], full=True)
    assert engine.check().clean


def test_a_change_set_of_one_object_renders_against_the_applied_world(world: World) -> None:
    engine = world.engine(DNS1)
    apply(engine, [A, BOX])
    plan = engine.plan(ChangeSet().save(attrs.evolve(BOX, quota=5)))
    assert [
        (op.action, op.object_keys[0]) for op in plan.operations() if op.action != "reload"
    ] == [("save", "mailbox:x@a.example")]
    assert engine.apply(plan).ok
    assert world.store.applied()["mailbox:x@a.example"].data["quota"] == 5
    assert set(world.store.applied()) == {"domain:a.example", "mailbox:x@a.example"}


def test_a_plan_made_before_another_apply_changed_its_servers_is_refused(world: World) -> None:
    engine = world.engine(DNS1)
    apply(engine, [A])
    stale = engine.plan_inventory([ACME], [attrs.evolve(A, ttl=60)])
    apply(engine, [attrs.evolve(A, ttl=120)])
    with pytest.raises(StalePlan, match="servers ns1"):
        engine.apply(stale)
    assert world.store.applied()["domain:a.example"].data["ttl"] == 120
    # An apply on another server meanwhile does not make a plan stale.
    fresh = engine.plan_inventory([ACME], [attrs.evolve(A, ttl=60)], allow_deletes=True)
    assert engine.apply(engine.plan(ChangeSet().save(BOX))).ok  # mail1 only
    assert engine.apply(fresh).ok
    assert world.store.applied()["domain:a.example"].data["ttl"] == 60


def test_logs_a_dead_apply_left_are_marked_interrupted(world: World) -> None:
    engine = world.engine(DNS1)
    dead = OperationLog(
        operation_id="x",
        server="ns1",
        backend="dummy-domain",
        action="save",
        object_keys=("domain:a.example",),
        state=State.STARTED,
    )
    world.store.save_log(dead)
    world.store.lock_servers(["ns1"], "other-host:1:gone", lease=0.01)
    time.sleep(0.05)  # its lease runs out: the holder is gone
    apply(engine, [A])
    assert world.store.get_log(dead.id).state is State.INTERRUPTED
    assert world.store.locks() == []


def test_a_failed_reload_leaves_the_object_unapplied(world: World) -> None:
    engine = world.engine(DNS1)
    apply(engine, [A, BOX])
    log = world.root / "ns1/var/lib/orchestra-dummy/reloads.log"
    log.unlink()
    log.mkdir()  # the "daemon" cannot take its reload now
    result = engine.apply(engine.plan_inventory([ACME], [attrs.evolve(A, ttl=60), BOX]))
    assert [
        (entry.action, entry.state.value) for entry in result.logs if entry.server == "ns1"
    ] == [
        ("save", "success"),
        ("reload", "failure"),
    ]
    assert world.store.applied()["domain:a.example"].data["ttl"] is None
    assert (
        "ttl" in world.file("ns1", "domain", "a.example").read_text()
    )  # the previous file is back
    assert '"ttl": null' in world.file("ns1", "domain", "a.example").read_text()


def test_an_apply_renews_its_lease_while_it_runs(world: World, tmp_path: Path) -> None:
    import threading

    from orchestra_core.backends.steps import Command
    from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
    from orchestra_core.storage.protocol import ServerBusy

    engine = Orchestra(servers=[world.server("ns1")], routes=DNS1[:1], store=world.store, lease=0.3)
    world.engines.append(engine)
    started = tmp_path / "started"
    slow = Command(description="slow", script=f"touch {started}; sleep 1.5")
    op = PlannedOperation(
        id="ns1:x:save:y",
        server="ns1",
        backend="x",
        action="save",
        object_keys=("y",),
        steps=(slow,),
    )
    plan = Plan(servers=(ServerPlan(server=world.server("ns1"), operations=(op,)),))
    runner = threading.Thread(target=engine.apply, args=(plan,))
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.6)  # twice the lease: only renewals keep it
        with pytest.raises(ServerBusy):
            world.store.lock_servers(["ns1"], "other-host:1:b")
    finally:
        runner.join()
    assert world.store.locks() == []

"""The store contract: every implementation in ``STORE_FACTORIES`` must pass all of it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from orchestra_core.errors import OrchestraError
from orchestra_core.execution.results import OperationLog, State, StepResult
from orchestra_core.model.state import FileRecord, ObjectSnapshot, Placement, PlacementKey
from orchestra_core.storage.protocol import NotFound, Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_log(n: int = 0, **kw: object) -> OperationLog:
    fields: dict[str, object] = {
        "operation_id": f"op{n}",
        "server": "web1",
        "backend": "apache",
        "action": "save",
        "object_keys": (f"website:site{n}.example",),
        "created_at": T0 + timedelta(minutes=n),
    }
    fields.update(kw)
    return OperationLog(**fields)  # type: ignore[arg-type]


def placement(
    key: str,
    backend: str,
    server: str,
    *,
    data: dict[str, object] | None = None,
    active: bool = True,
) -> Placement:
    return Placement(
        object_key=key,
        backend=backend,
        server=server,
        snapshot=ObjectSnapshot(key=key, kind=key.split(":")[0], data=data or {}, active=active),
        fingerprint=f"fp-{key}-{server}",
        settings={"mode": "0644", "peers": ["192.0.2.1"]},
        host={"name": server, "address": "127.0.0.1", "transport": "ssh", "root": None},
        files=(
            FileRecord(path=f"/etc/{server}/{key}.conf", sha256="h1", mode=0o640),
            FileRecord(path=f"/etc/{server}/{key}.secret", sha256=None, mode=0o600),
        ),
        observed={"state": "ab" * 32},
    )


def full_log() -> OperationLog:
    return make_log(
        7,
        state=State.FAILURE,
        script="# step 0\nexec bash x\n",
        steps=[
            StepResult(
                index=0,
                kind="command",
                description="run ✓",
                state=State.FAILURE,
                exit_code=3,
                stdout="out\n",
                stderr="err\n",
                duration=0.25,
            ),
            StepResult(index=1, kind="reload", description="reload", state=State.ABORTED),
        ],
        exit_code=3,
        stdout="out\n",
        stderr="err\n",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
        retry_of="abc",
        object_keys=("website:a.example", "domain:a.example"),
    )


class TestStoreContract:
    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)

    def test_round_trip_keeps_every_field(self, store: Store) -> None:
        log = full_log()
        store.save_log(log)
        assert store.get_log(log.id) == log

    def test_save_replaces_by_id(self, store: Store) -> None:
        log = make_log()
        store.save_log(log)
        log.state = State.SUCCESS
        log.stdout = "done"
        store.save_log(log)

        assert store.get_log(log.id).state is State.SUCCESS
        assert store.get_log(log.id).stdout == "done"
        assert [entry.id for entry in store.list_logs()] == [log.id]

    def test_unknown_id_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound) as info:
            store.get_log("nope")
        assert isinstance(info.value, OrchestraError)
        assert isinstance(info.value, KeyError)
        assert info.value.id == "nope"
        assert str(info.value) == "no operation log with id 'nope' in the store"

    def test_stored_log_is_a_copy(self, store: Store) -> None:
        log = full_log()
        store.save_log(log)
        log.state = State.SUCCESS
        log.steps[0].stdout = "changed afterwards"

        got = store.get_log(log.id)
        assert got.state is State.FAILURE
        assert got.steps[0].stdout == "out\n"

        got.steps.clear()
        assert len(store.get_log(log.id).steps) == 2

    def test_save_logs_saves_and_replaces_many_at_once(self, store: Store) -> None:
        logs = [make_log(n) for n in range(700)]  # more than one chunk of the SQL store
        logs[5] = full_log()
        store.save_logs(logs)
        assert len(store.list_logs()) == 700
        assert store.get_log(logs[5].id) == logs[5]

        for log in logs:
            log.state = State.SUCCESS
        logs[5].steps = logs[5].steps[:1]
        store.save_logs([*logs[:10], logs[3]])  # a log given twice: saved once
        assert {log.state for log in store.list_logs()[-10:]} == {State.SUCCESS}
        assert store.get_log(logs[5].id).steps == logs[5].steps
        assert store.get_log(logs[20].id).state is State.RECEIVED
        store.save_logs([])

    def test_list_is_newest_first(self, store: Store) -> None:
        logs = [make_log(n) for n in (2, 0, 3, 1)]
        for log in logs:
            store.save_log(log)
        assert [entry.operation_id for entry in store.list_logs()] == ["op3", "op2", "op1", "op0"]

    def test_list_filters(self, store: Store) -> None:
        store.save_log(make_log(0, state=State.SUCCESS))
        store.save_log(make_log(1, state=State.FAILURE, server="mail1"))
        store.save_log(make_log(2, state=State.FAILURE, object_keys=("a", "domain:x.example")))
        store.save_log(make_log(3, state=State.SUCCESS, server="mail1"))

        def ops(**kw: object) -> list[str]:
            return [entry.operation_id for entry in store.list_logs(**kw)]  # type: ignore[arg-type]

        assert ops(state=State.FAILURE) == ["op2", "op1"]
        assert ops(server="mail1") == ["op3", "op1"]
        assert ops(object_key="domain:x.example") == ["op2"]
        assert ops(object_key="website:site0.example") == ["op0"]
        assert ops(state=State.SUCCESS, server="mail1") == ["op3"]
        assert ops(state=State.TIMEOUT) == []
        assert ops(limit=2) == ["op3", "op2"]
        assert ops(limit=0) == []

    def test_concurrent_saves(self, store: Store) -> None:
        logs = [make_log(n) for n in range(200)]

        def save(chunk: list[OperationLog]) -> None:
            for log in chunk:
                store.save_log(log)

        threads = [threading.Thread(target=save, args=(logs[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert {entry.id for entry in store.list_logs()} == {log.id for log in logs}


class TestStateContract:
    """Applied and desired snapshots, topology, pruning and server locks."""

    def test_placements_round_trip_replace_and_forget(self, store: Store) -> None:
        a = placement("domain:a.example", "bind9-master", "ns1", data={"name": "a.example"})
        a2 = placement("domain:a.example", "bind9-slave", "ns2", data={"name": "a.example"})
        b = placement("mailbox:x@a.example", "postfix", "mail1", active=False)
        assert store.placements() == [] and store.applied() == {}
        store.record_placements([b, a, a2], contents={"h1": "zone ü ✓\n", "h2": "x"})
        got = store.placements()
        assert [p.key for p in got] == [a.key, a2.key, b.key]
        assert all(p.applied_at is not None and p.applied_at.tzinfo is UTC for p in got)
        assert [attrs.evolve(p, applied_at=None) for p in got] == [a, a2, b]
        assert store.applied() == {a.object_key: a2.snapshot, b.object_key: b.snapshot}
        assert store.placements(servers={"ns2", "mail1"}) == [got[1], got[2]]
        assert store.placements(object_keys={"domain:a.example"}, servers={"ns1"}) == [got[0]]
        # Content is kept for the files placements name (h2 is named by none: not kept).
        assert store.file_contents(["h1", "h2", "nope"]) == {"h1": "zone ü ✓\n"}
        changed = attrs.evolve(a, fingerprint="f2", files=(FileRecord(path="/z", sha256="h2"),))
        store.record_placements(
            [changed], [b.key, PlacementKey("domain:unknown", "x", "y")], contents={"h2": "x"}
        )
        after = store.placements()
        assert [p.key for p in after] == [a.key, a2.key]
        assert attrs.evolve(after[0], applied_at=None) == changed
        assert store.file_contents(["h1", "h2"]) == {"h1": "zone ü ✓\n", "h2": "x"}
        # The content no placement names any more goes; what one still names stays.
        store.record_placements([], [a2.key])
        assert store.file_contents(["h1", "h2"]) == {"h2": "x"}
        store.record_placements([], [a.key])
        assert store.placements() == [] and store.applied() == {}
        assert store.file_contents(["h2"]) == {}

    def test_many_placements_in_one_call(self, store: Store) -> None:
        many = [
            placement(f"domain:d{n}.example", "bind9-master", f"ns{n % 3}") for n in range(1200)
        ]
        store.record_placements(many)
        assert len(store.placements()) == 1200
        assert len(store.placements(servers={"ns1"})) == 400
        store.record_placements([], [p.key for p in many[:700]])
        assert [p.key for p in store.placements()] == sorted(p.key for p in many[700:])

    def test_unfinished_logs_of_a_server_are_marked_interrupted(self, store: Store) -> None:
        running = make_log(1, state=State.STARTED, server="ns1", stderr="half\n")
        queued = make_log(2, state=State.RECEIVED, server="ns1")
        done = make_log(3, state=State.SUCCESS, server="ns1")
        elsewhere = make_log(4, state=State.STARTED, server="ns2")
        store.save_logs([running, queued, done, elsewhere])
        assert store.interrupt_logs(["ns1"]) == 2
        assert store.get_log(running.id).state is State.INTERRUPTED
        assert store.get_log(running.id).stderr.startswith("half\norchestra: interrupted")
        assert store.get_log(running.id).finished_at is not None
        assert store.get_log(queued.id).state is State.INTERRUPTED
        assert store.get_log(done.id).state is State.SUCCESS
        assert store.get_log(elsewhere.id).state is State.STARTED
        assert store.interrupt_logs(["ns1"]) == 0

    def test_desired_snapshots(self, store: Store) -> None:
        from orchestra_core.storage.protocol import ObjectSnapshot

        assert store.desired("domain:a.example") is None
        one = ObjectSnapshot(key="domain:a.example", kind="domain", data={"name": "a.example"})
        store.record_desired([one])
        store.record_desired(
            [ObjectSnapshot(key=one.key, kind="domain", data={"name": "a.example", "ttl": 60})]
        )
        assert store.desired(one.key) == ObjectSnapshot(
            key=one.key, kind="domain", data={"name": "a.example", "ttl": 60}
        )
        assert store.applied() == {}  # desired is not applied

    def test_topology_is_replaced_whole(self, store: Store) -> None:
        from orchestra_core.model.servers import Route, Server

        servers = [
            Server(name="ns1", root="/srv/x", settings={"bind9-master": {"port": 5300}}),
            Server(name="web1", address="192.0.2.1"),
        ]
        routes = [
            Route(
                backend="bind9-master",
                servers=("ns1",),
                match='domain.name.endswith(".x")',
                settings={"ttl": 60},
                name="dns",
            )
        ]
        store.save_topology(servers, routes)
        assert store.servers() == servers and store.routes() == routes
        store.save_topology(servers[1:], [])
        assert store.servers() == servers[1:] and store.routes() == []

    def test_prune_deletes_only_older_logs(self, store: Store) -> None:
        for n in range(5):
            store.save_log(make_log(n))
        assert store.prune_logs(older_than=T0 + timedelta(minutes=2)) == 2
        assert [log.operation_id for log in store.list_logs()] == ["op4", "op3", "op2"]
        assert store.prune_logs(older_than=T0) == 0

    def test_locks_are_exclusive_all_or_none_and_reentrant(self, store: Store) -> None:
        from orchestra_core.storage.protocol import ServerBusy

        store.lock_servers(["ns1", "web1"], "host:1:a")
        store.lock_servers(["ns1"], "host:1:a")  # re-entrant
        with pytest.raises(ServerBusy) as info:
            store.lock_servers(["mail1", "web1"], "host:1:b")
        assert info.value.server == "web1" and info.value.holder == "host:1:a"
        assert "web1 is being applied by host:1:a" in str(info.value)
        store.lock_servers(["mail1"], "host:1:b")  # nothing of the failed call was kept...
        store.unlock_servers(["ns1", "web1"], "host:1:a")
        store.lock_servers(["web1", "ns1"], "host:1:b")  # ...and freed servers can be taken
        store.unlock_servers(["web1", "ns1", "mail1"], "someone-else")  # not theirs: no effect
        with pytest.raises(ServerBusy):
            store.lock_servers(["ns1"], "host:1:c")

    def test_a_waiting_lock_gets_the_server_when_it_is_freed(self, store: Store) -> None:
        store.lock_servers(["ns1"], "host:1:a")
        timer = threading.Timer(0.3, store.unlock_servers, (["ns1"], "host:1:a"))
        timer.start()
        try:
            store.lock_servers(["ns1"], "host:1:b", wait=10)
        finally:
            timer.join()
        from orchestra_core.storage.protocol import ServerBusy

        with pytest.raises(ServerBusy):
            store.lock_servers(["ns1"], "host:1:a")

    def test_locks_of_a_dead_process_on_this_host_are_taken_over(self, store: Store) -> None:
        from orchestra_core.storage.protocol import holder_id

        dead = f"{holder_id().split(':')[0]}:999999999"  # no such pid on this host
        store.lock_servers(["ns1"], dead)
        [taken] = store.lock_servers(["ns1"], holder_id("me"))
        assert (taken.server, taken.holder) == ("ns1", dead)

    def test_a_lock_whose_lease_ran_out_is_taken_over_on_any_host(self, store: Store) -> None:
        from orchestra_core.storage.protocol import ServerBusy

        store.lock_servers(["ns1"], "other-host:42:a", lease=0.2)
        with pytest.raises(ServerBusy):
            store.lock_servers(["ns1"], "host:1:b")
        assert store.renew_locks(["ns1"], "other-host:42:a", lease=0.4) == 1
        time.sleep(0.25)
        with pytest.raises(ServerBusy):  # renewed: still held
            store.lock_servers(["ns1"], "host:1:b")
        time.sleep(0.3)
        [taken] = store.lock_servers(["ns1"], "host:1:b", lease=30)
        assert taken.holder == "other-host:42:a"
        assert store.renew_locks(["ns1"], "other-host:42:a") == 0  # it lost the lock
        [lock] = store.locks()
        assert (lock.server, lock.holder) == ("ns1", "host:1:b")
        assert lock.expires_at > lock.acquired_at

    def test_a_lock_can_be_broken_only_as_it_was_shown(self, store: Store) -> None:
        store.lock_servers(["ns1", "web1"], "other-host:42:a")
        assert [(lock.server, lock.holder) for lock in store.locks()] == [
            ("ns1", "other-host:42:a"),
            ("web1", "other-host:42:a"),
        ]
        assert not store.break_lock("ns1", "someone-else")
        assert store.break_lock("ns1", "other-host:42:a")
        assert [lock.server for lock in store.locks()] == ["web1"]
        store.lock_servers(["ns1"], "host:1:b")

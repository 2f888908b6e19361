"""The store contract: every implementation in ``STORE_FACTORIES`` must pass all of it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from orchestra_core.errors import OrchestraError
from orchestra_core.execution.results import OperationLog, State, StepResult
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

    def test_applied_snapshots_round_trip_replace_and_forget(self, store: Store) -> None:
        from orchestra_core.storage.protocol import ObjectSnapshot

        a = ObjectSnapshot(
            key="domain:a.example",
            kind="domain",
            data={"name": "a.example", "records": [{"type": "TXT", "values": ["ü ✓"]}]},
        )
        b = ObjectSnapshot(
            key="mailbox:x@a.example", kind="mailbox", data={"address": "x@a.example"}, active=False
        )
        assert store.applied() == {}
        store.record_applied([a, b])
        assert store.applied() == {a.key: a, b.key: b}
        changed = ObjectSnapshot(key=a.key, kind="domain", data={"name": "a.example"})
        store.record_applied([changed])
        store.forget_applied([b.key, "domain:unknown.example"])
        assert store.applied() == {a.key: changed}

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
        store.lock_servers(["ns1"], holder_id("me"))

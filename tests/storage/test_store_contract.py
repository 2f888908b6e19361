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

"""What the SQL store adds to the contract: durability, UTC times, rows it leaves behind, WAL,
and several processes on one SQLite file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestra_core.execution.results import OperationLog, State, StepResult
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.state import FileRecord, Placement
from orchestra_core.storage.protocol import ObjectSnapshot, ServerBusy, holder_id
from orchestra_core.storage.schema import (
    FILE_CONTENTS,
    OPERATION_LOG_OBJECTS,
    OPERATION_STEPS,
    PLACEMENT_FILES,
)
from orchestra_core.storage.sql import SQLStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_log(n: int, **kw: object) -> OperationLog:
    fields: dict[str, object] = {
        "operation_id": f"op{n}",
        "server": "web1",
        "backend": "apache",
        "action": "save",
        "object_keys": (f"website:site{n}.example", "domain:example.com"),
        "created_at": T0 + timedelta(minutes=n),
        "steps": [StepResult(index=0, kind="command", description="run", state=State.SUCCESS)],
    }
    fields.update(kw)
    return OperationLog(**fields)  # type: ignore[arg-type]


def count(url: str, table: sa.Table) -> int:
    store = SQLStore(url)
    try:
        with store._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    finally:
        store.close()


def test_everything_survives_reopening(database_url: str) -> None:
    store = SQLStore(database_url)
    log = make_log(1, state=State.FAILURE, stderr="boom\n")
    snapshot = ObjectSnapshot(key="domain:a.example", kind="domain", data={"ttl": 60})
    servers = [Server(name="ns1", settings={"bind9-master": {"port": 5300}})]
    routes = [Route(backend="bind9-master", servers=("ns1",))]
    store.save_log(log)
    placed = Placement(
        object_key=snapshot.key,
        backend="bind9-master",
        server="ns1",
        snapshot=snapshot,
        fingerprint="f",
    )
    store.record_placements([placed])
    store.record_desired([snapshot])
    store.save_topology(servers, routes)
    store.lock_servers(["ns1"], "host:1:a")
    store.close()

    again = SQLStore(database_url)
    try:
        assert again.get_log(log.id) == log
        assert again.applied() == {snapshot.key: snapshot}
        assert again.desired(snapshot.key) == snapshot
        assert again.servers() == servers and again.routes() == routes
        with pytest.raises(ServerBusy) as info:
            again.lock_servers(["ns1"], "host:1:b")
        assert info.value.holder == "host:1:a"
        assert info.value.since.tzinfo is UTC
    finally:
        again.close()


def test_times_come_back_timezone_aware_in_utc(database_url: str) -> None:
    store = SQLStore(database_url)
    try:
        plus_two = timezone(timedelta(hours=2))
        created = datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=plus_two)
        store.save_log(make_log(0, created_at=created, started_at=created))
        got = store.list_logs()[0]
        assert got.created_at == created
        assert got.created_at.tzinfo is UTC
        assert got.created_at.hour == 12 and got.created_at.microsecond == 123456
        assert got.started_at is not None and got.started_at.tzinfo is UTC
        assert got.finished_at is None
    finally:
        store.close()


def test_naive_times_are_refused(tmp_path: Path) -> None:
    store = SQLStore(str(tmp_path / "db.sqlite"))
    try:
        with pytest.raises(ValueError, match="older_than must be timezone-aware"):
            store.prune_logs(older_than=datetime(2026, 1, 1))
        with pytest.raises(sa.exc.StatementError, match="naive datetime 2026-01-01T00:00:00"):
            store.save_log(make_log(0, created_at=datetime(2026, 1, 1)))
        assert store.list_logs() == []
    finally:
        store.close()


def test_replacing_and_pruning_leave_no_rows_behind(database_url: str) -> None:
    store = SQLStore(database_url)
    try:
        logs = [make_log(n) for n in range(4)]
        for log in logs:
            store.save_log(log)
        logs[3].steps.append(StepResult(index=1, kind="reload", description="reload"))
        logs[3].object_keys = ("website:site3.example",)
        store.save_log(logs[3])
        assert count(database_url, OPERATION_STEPS) == 5
        assert count(database_url, OPERATION_LOG_OBJECTS) == 7
        assert [log.id for log in store.list_logs(object_key="domain:example.com")] == [
            logs[2].id,
            logs[1].id,
            logs[0].id,
        ]

        assert store.prune_logs(older_than=T0 + timedelta(minutes=3)) == 3
        assert count(database_url, OPERATION_STEPS) == 2
        assert count(database_url, OPERATION_LOG_OBJECTS) == 1
        assert store.get_log(logs[3].id) == logs[3]
    finally:
        store.close()


def test_forgetting_placements_keeps_desired_and_their_files_go(database_url: str) -> None:
    store = SQLStore(database_url)
    try:
        a = ObjectSnapshot(key="domain:a.example", kind="domain", data={"v": 1}, active=False)
        placed = Placement(
            object_key=a.key,
            backend="bind9-master",
            server="ns1",
            snapshot=a,
            fingerprint="f",
            files=(FileRecord(path="/z", sha256="h"),),
        )
        store.record_placements([placed], contents={"h": "zone"})
        store.record_desired([a])
        assert count(database_url, PLACEMENT_FILES) == 1
        store.record_placements([], [placed.key])
        assert store.applied() == {}
        assert store.desired(a.key) == a
        assert count(database_url, PLACEMENT_FILES) == 0
        assert count(database_url, FILE_CONTENTS) == 0
    finally:
        store.close()


def test_long_names_fit(database_url: str) -> None:
    store = SQLStore(database_url)
    try:
        key = "website:" + "x" * 600 + ".example"
        log = make_log(0, operation_id=f"web1:apache:save:{key}", object_keys=(key,))
        store.save_log(log)
        assert store.list_logs(object_key=key) == [log]
    finally:
        store.close()


def test_racing_threads_lock_all_or_none(database_url: str) -> None:
    store = SQLStore(database_url)
    won: list[str] = []
    lost: list[str] = []
    start = threading.Barrier(8)

    def take(holder: str) -> None:
        start.wait()
        try:
            store.lock_servers(["web1", "ns1", "mail1"], holder)
        except ServerBusy as busy:
            lost.append(busy.holder)
        else:
            won.append(holder)

    threads = [threading.Thread(target=take, args=(f"host:1:{n}",)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and lost == [won[0]] * 7
        store.unlock_servers(["web1", "ns1", "mail1"], won[0])
        store.lock_servers(["mail1"], "host:1:late")
    finally:
        store.close()


def test_an_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "orchestra.sqlite"
    SQLStore(str(path)).close()
    # Byte 18 of the header is the write version: 2 is WAL, 1 the rollback journal.
    assert path.read_bytes()[18:20] == b"\x02\x02"


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from orchestra_core.execution.results import OperationLog
    from orchestra_core.storage.protocol import ServerBusy, holder_id
    from orchestra_core.storage.sql import SQLStore

    path, tag = sys.argv[1], sys.argv[2]
    store = SQLStore(path)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(100):
        store.save_log(OperationLog(
            operation_id=f"{tag}-{n}", server="web1", backend="apache", action="save",
            object_keys=(f"website:{tag}{n}.example",), created_at=t0 + timedelta(seconds=n),
        ))
    try:
        store.lock_servers(["web1", "ns1"], holder_id(tag))
    except ServerBusy as busy:
        print("busy", busy.server, busy.holder, flush=True)
    else:
        print("locked", holder_id(tag), flush=True)
    sys.stdin.read()  # stay alive, and keep the lock, until the parent has both answers
    store.close()
    """
)


def test_two_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    path = str(tmp_path / "orchestra.sqlite")
    SQLStore(path).close()  # created once, so that both children open an existing file
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, path, tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    try:
        answers = [child.stdout.readline().split() for child in children]  # type: ignore[union-attr]
    finally:
        outputs = [child.communicate("") for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs

    winners = [answer for answer in answers if answer[0] == "locked"]
    losers = [answer for answer in answers if answer[0] == "busy"]
    assert len(winners) == 1 and len(losers) == 1, answers
    # The loser names the first server (by name) and the winner as its holder.
    assert losers[0][1:] == ["ns1", winners[0][1]]

    store = SQLStore(path)
    try:
        names = sorted(log.operation_id for log in store.list_logs())
        assert names == sorted(f"{tag}-{n}" for tag in ("a", "b") for n in range(100))
        # Both children have exited: their locks are taken over.
        store.lock_servers(["web1", "ns1"], holder_id("parent"))
    finally:
        store.close()


def test_save_logs_is_all_or_none(database_url: str) -> None:
    store = SQLStore(database_url)
    try:
        kept = make_log(0)
        store.save_log(kept)
        kept.state = State.SUCCESS
        broken = make_log(1)
        step = broken.steps[0]
        broken.steps = [step, StepResult(index=step.index, kind="command", description="twin")]
        with pytest.raises(sa.exc.IntegrityError):  # two steps with one index
            store.save_logs([kept, broken])
        assert [log.state for log in store.list_logs()] == [State.RECEIVED]
    finally:
        store.close()

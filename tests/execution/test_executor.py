"""The executor: operation states, stored logs, callbacks, parallel servers, secrets."""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from pathlib import Path

from orchestra_core.backends.steps import Command, Reload, Step, WriteFile
from orchestra_core.errors import TransportError
from orchestra_core.execution.executor import Executor
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.recording import RecordingTransport
from orchestra_core.execution.results import OperationLog, State, StepResult
from orchestra_core.execution.transport import Batch, BatchResult, Transport
from orchestra_core.model.secret import REDACTED
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import Plan
from orchestra_core.storage.memory import MemoryStore
from tests.execution.helpers import server_plan

WEB = Server(name="web", transport="recording")
MAIL = Server(name="mail", transport="recording")

SITE = (
    WriteFile(description="vhost a", path="/etc/apache2/sites/a.conf", content="<VirtualHost>"),
    Command(description="enable a", script="a2ensite a"),
)
USER = (Command(description="useradd b", script="useradd b"),)
RELOAD = (Reload(description="reload apache2", daemon="apache2", script="apachectl graceful"),)


def plan(*servers: tuple[Server, tuple[tuple[Step, ...], ...]]) -> Plan:
    return Plan(servers=tuple(server_plan(server, *ops) for server, ops in servers))


class SpyStore(MemoryStore):
    """Remembers the state of every save, per log id."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[str, list[State]] = {}

    def save_logs(self, logs: Sequence[OperationLog]) -> None:
        for log in logs:
            self.saved.setdefault(log.id, []).append(log.state)
        super().save_logs(logs)


def states(logs: list[OperationLog]) -> list[State]:
    return [log.state for log in logs]


def test_success_and_stored_life_cycle() -> None:
    store = SpyStore()
    transport = RecordingTransport()
    finished: list[OperationLog] = []
    seen_steps: list[tuple[str, StepResult]] = []

    result = Executor(
        {"recording": transport},
        store,
        on_finished=finished.append,
        on_step=lambda log_id, step: seen_steps.append((log_id, step)),
    ).execute(plan((WEB, (SITE, USER))))

    assert states(result.logs) == [State.SUCCESS, State.SUCCESS]
    assert result.ok
    assert result.counts() == {State.SUCCESS: 2}
    assert [log.operation_id for log in result.logs] == ["op0", "op1"]
    assert len(transport.batches) == 1
    for log in result.logs:
        assert store.saved[log.id] == [State.RECEIVED, State.STARTED, State.SUCCESS]
        assert store.get_log(log.id) == log
        assert log.exit_code == 0
        assert log.started_at is not None
        assert log.finished_at is not None
        assert log.started_at <= log.finished_at
    assert [log.id for log in finished] == [log.id for log in result.logs]
    assert [(log_id, step.index) for log_id, step in seen_steps] == [
        (result.logs[0].id, 0),
        (result.logs[0].id, 1),
        (result.logs[1].id, 2),
    ]
    first = result.logs[0]
    assert [(s.index, s.kind, s.description, s.state) for s in first.steps] == [
        (0, "write", "vhost a", State.SUCCESS),
        (1, "command", "enable a", State.SUCCESS),
    ]
    assert "/etc/apache2/sites/a.conf" in first.script
    assert "useradd b" not in first.script
    assert "#| useradd b" in result.logs[1].script


def test_nothing_when_no_step_changed() -> None:
    transport = RecordingTransport()
    transport.respond(status="unchanged", exit_code=0)
    result = Executor({"recording": transport}, MemoryStore()).execute(plan((WEB, (SITE,))))
    assert states(result.logs) == [State.NOTHING]
    assert result.ok
    assert result.logs[0].exit_code == 0


def test_failure_aborts_the_rest_of_the_server_only() -> None:
    transport = RecordingTransport()
    transport.respond(server="web", description_contains="enable", exit_code=3, stderr="boom\n")

    result = Executor({"recording": transport}, MemoryStore()).execute(
        plan((WEB, ((Command(description="first", script="true"),), SITE, USER)), (MAIL, (USER,)))
    )

    assert states(result.logs) == [State.SUCCESS, State.FAILURE, State.ABORTED, State.SUCCESS]
    assert not result.ok
    assert result.counts() == {State.SUCCESS: 2, State.FAILURE: 1, State.ABORTED: 1}
    failed = result.logs[1]
    assert [s.state for s in failed.steps] == [State.SUCCESS, State.FAILURE]
    assert (failed.exit_code, failed.stderr) == (3, "boom\n")
    assert [s.state for s in result.logs[2].steps] == [State.ABORTED]


def test_timeout() -> None:
    transport = RecordingTransport()
    transport.respond(description_contains="vhost", status="timeout", exit_code=124)

    result = Executor({"recording": transport}, MemoryStore()).execute(plan((WEB, (SITE, USER))))

    assert states(result.logs) == [State.TIMEOUT, State.ABORTED]
    assert [s.state for s in result.logs[0].steps] == [State.TIMEOUT, State.ABORTED]
    assert result.logs[0].exit_code == 124


def test_connection_refused_is_an_error_for_that_server_only() -> None:
    transport = RecordingTransport()
    transport.fail_connect(MAIL)

    result = Executor({"recording": transport}, MemoryStore()).execute(
        plan((WEB, (SITE,)), (MAIL, (USER, RELOAD)))
    )

    assert states(result.logs) == [State.SUCCESS, State.ERROR, State.ERROR]
    assert result.logs[1].stderr == "connection refused"
    assert result.logs[1].exit_code is None
    assert [s.state for s in result.logs[2].steps] == [State.ERROR]


class Exploding:
    name = "exploding"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        raise self.exc

    def close(self) -> None:
        pass


def test_transport_exceptions_never_escape() -> None:
    cases = {
        "transport": TransportError("web", "broken pipe"),
        "os": OSError(113, "No route to host"),
        "bug": RuntimeError("a bug in the transport"),
    }
    for name, exc in cases.items():
        server = Server(name="web", transport=name)
        store = MemoryStore()
        finished: list[OperationLog] = []
        transports: dict[str, Transport] = {name: Exploding(exc)}
        result = Executor(transports, store, on_finished=finished.append).execute(
            plan((server, (SITE, USER)))
        )

        assert states(result.logs) == [State.ERROR, State.ERROR], name
        assert str(exc) in result.logs[0].stderr
        assert result.logs[0].stderr.count(str(exc)) == 1
        assert states(store.list_logs()) == [State.ERROR, State.ERROR]
        assert len(finished) == 2


def test_unknown_transport_is_an_error() -> None:
    result = Executor({"recording": RecordingTransport()}, MemoryStore()).execute(
        plan((Server(name="x", transport="ssh"), (USER,)))
    )
    assert states(result.logs) == [State.ERROR]
    assert result.logs[0].stderr == "\"no transport named 'ssh' (configured: recording)\""


class Gate:
    """A transport whose batches wait until ``parties`` of them run at the same time."""

    name = "gate"

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.inner = RecordingTransport()

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.barrier.wait()
            return self.inner.run(server, batch, timeout=timeout)
        finally:
            with self.lock:
                self.running -= 1

    def close(self) -> None:
        pass


def test_servers_run_in_parallel() -> None:
    servers = [Server(name=f"s{n}", transport="gate") for n in range(3)]
    gate = Gate(3)

    result = Executor({"gate": gate}, MemoryStore(), max_parallel=3).execute(
        plan(*((server, (USER,)) for server in servers))
    )

    assert states(result.logs) == [State.SUCCESS] * 3
    assert gate.most == 3


def test_max_parallel_bounds_concurrency() -> None:
    servers = [Server(name=f"s{n}", transport="gate") for n in range(4)]
    gate = Gate(1)

    result = Executor({"gate": gate}, MemoryStore(), max_parallel=1).execute(
        plan(*((server, (USER,)) for server in servers))
    )

    assert states(result.logs) == [State.SUCCESS] * 4
    assert gate.most == 1


def test_on_finished_once_per_operation_across_servers() -> None:
    finished: list[str] = []
    lock = threading.Lock()

    def remember(log: OperationLog) -> None:
        with lock:
            finished.append(log.id)

    result = Executor(
        {"recording": RecordingTransport()}, MemoryStore(), on_finished=remember
    ).execute(plan((WEB, (SITE, USER, RELOAD)), (MAIL, (USER,)), (Server(name="idle"), ())))

    assert sorted(finished) == sorted(log.id for log in result.logs)
    assert len(finished) == 4


def test_empty_plan() -> None:
    result = Executor({}, MemoryStore()).execute(Plan())
    assert result.logs == []
    assert result.ok
    assert result.counts() == {}


# --- with real bash ------------------------------------------------------------------------------

SECRET = "s3cr3t-Passw0rd-xyz"


def local_server(tmp_path: Path) -> Server:
    return Server(name="box", transport="local", root=str(tmp_path / "root"))


def test_real_batch_states(tmp_path: Path) -> None:
    server = local_server(tmp_path)
    conf = tmp_path / "root" / "app.conf"
    ops = (
        (WriteFile(description="conf", path=str(conf), content="v1\n"),),
        (Command(description="ok", script="echo fine", unless="false"),),
        (Command(description="bad", script="echo sad >&2; exit 4"),),
        (Command(description="never", script="touch never"),),
    )
    executor = Executor({"local": LocalTransport()}, MemoryStore())

    first = executor.execute(plan((server, ops)))
    assert states(first.logs) == [State.SUCCESS, State.SUCCESS, State.FAILURE, State.ABORTED]
    assert (first.logs[1].stdout, first.logs[1].exit_code) == ("fine\n", 0)
    assert (first.logs[2].stderr, first.logs[2].exit_code) == ("sad\n", 4)
    assert first.logs[3].exit_code is None

    second = executor.execute(plan((server, ops[:1])))
    assert states(second.logs) == [State.NOTHING]


def test_real_step_timeout(tmp_path: Path) -> None:
    server = local_server(tmp_path)
    result = Executor({"local": LocalTransport()}, MemoryStore()).execute(
        plan((server, ((Command(description="hang", script="sleep 30", timeout=1),), USER)))
    )
    assert states(result.logs) == [State.TIMEOUT, State.ABORTED]


def test_real_batch_timeout(tmp_path: Path) -> None:
    server = local_server(tmp_path)
    result = Executor({"local": LocalTransport()}, MemoryStore(), batch_timeout=1).execute(
        plan(
            (
                server,
                (
                    (Command(description="quick", script="true"),),
                    (Command(description="hang", script="sleep 30"),),
                    USER,
                ),
            )
        )
    )
    assert states(result.logs) == [State.SUCCESS, State.TIMEOUT, State.ABORTED]


def test_secrets_never_reach_logs_or_store(tmp_path: Path) -> None:
    server = local_server(tmp_path)
    root = tmp_path / "root"
    store = MemoryStore()
    ops = (
        (
            Command(
                description="set password",
                script='read -r pw; echo "got $pw"; echo "stderr $pw" >&2',
                stdin=f"{SECRET}\n",
                sensitive=True,
            ),
        ),
        (WriteFile(description="creds", path=str(root / "creds"), content=SECRET, sensitive=True),),
        (Command(description="leak", script="cat creds; exit 1"),),
    )
    seen: list[str] = []

    result = Executor(
        {"local": LocalTransport()},
        store,
        on_finished=lambda log: seen.append(repr(log)),
        on_step=lambda _id, step: seen.append(repr(step)),
    ).execute(plan((server, ops)))

    assert states(result.logs) == [State.SUCCESS, State.SUCCESS, State.FAILURE]
    assert (root / "creds").read_text() == SECRET
    assert result.logs[0].stdout == f"got {REDACTED}\n"
    assert result.logs[0].stderr == f"stderr {REDACTED}\n"
    assert result.logs[2].stdout == REDACTED
    texts = [repr(log) for log in result.logs] + [repr(log) for log in store.list_logs()] + seen
    encoded = [base64.b64encode(v.encode()).decode() for v in (SECRET, f"{SECRET}\n")]
    for text in texts:
        assert SECRET not in text
        assert not any(e in text for e in encoded)


def test_transports_from_a_function() -> None:
    asked: list[str] = []
    recording = RecordingTransport()

    def transport_for(name: str) -> Transport:
        asked.append(name)
        return recording

    result = Executor(transport_for, MemoryStore()).execute(plan((WEB, (USER,))))

    assert states(result.logs) == [State.SUCCESS]
    assert asked == ["recording"]
    assert len(recording.batches) == 1


def test_waves_run_one_after_the_other() -> None:
    """A later wave starts only when every server of the earlier one has finished."""
    import attrs

    gate = Gate(2)  # the two wave-0 servers must run at the same time to get through
    seen: list[tuple[str, int, int]] = []

    class Probe(RecordingTransport):
        name = "probe"

        def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
            seen.append((server.name, gate.running, len(gate.inner.batches)))
            return super().run(server, batch, timeout=timeout)

    first = [server_plan(Server(name=f"m{n}", transport="gate"), USER) for n in range(2)]
    later = attrs.evolve(server_plan(Server(name="s", transport="probe"), USER), wave=1)
    result = Executor({"gate": gate, "probe": Probe()}, MemoryStore(), max_parallel=3).execute(
        Plan(servers=(later, *first))
    )
    assert states(result.logs) == [State.SUCCESS] * 3
    assert seen == [("s", 0, 2)]  # nothing of wave 0 running, both of its batches done
    assert gate.most == 2


def test_a_batch_takes_the_longest_timeout_its_operations_ask_for() -> None:
    """An operation asks for its route's batch timeout, else the server's, else the
    executor's; the batch gets the longest; ``apply --timeout`` wins; no bound wins too."""
    import attrs

    from orchestra_core.planning.timeouts import Timeouts

    def asking(*asked: float | None) -> list[object]:
        sp = server_plan(Server(name="web1"), *([USER] * len(asked)))
        ops = tuple(
            attrs.evolve(op, batch_timeout=seconds)
            for op, seconds in zip(sp.operations, asked, strict=True)
        )
        sp = attrs.evolve(sp, operations=ops)
        found: list[object] = []
        for executor, timeouts in (
            (Executor({}, MemoryStore(), batch_timeout=600), Timeouts()),
            (Executor({}, MemoryStore(), batch_timeout=600), Timeouts(batch=30)),
            (Executor({}, MemoryStore(), timeout=2), Timeouts(batch=30)),
            (Executor({}, MemoryStore(), batch_timeout=None), Timeouts()),
        ):
            found.append(executor._batch_timeout(sp, timeouts))
        return found

    assert asking(None) == [600, 30, 2, None]
    assert asking(900, None) == [900, 900, 2, None]
    assert asking(5, 10) == [10, 10, 2, 10]
    assert asking(5, None) == [600, 30, 2, None]

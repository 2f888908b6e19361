"""The per-server unit and the executors: run_server is pure (no store, no hook), executors
are chosen by name and only fan jobs out, and the caller stores logs and calls back."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from orchestra_core import Orchestra, Route, Server, ServiceIndex
from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import SystemUser
from orchestra_core.errors import ConfigurationError
from orchestra_core.execution.executor import Executor, FinalLogs
from orchestra_core.execution.executors import (
    BatchExecutor,
    JobDone,
    JobStarted,
    ThreadsExecutor,
    available_executors,
    load_executor,
)
from orchestra_core.execution.recording import RecordingTransport
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.execution.runner import ServerJob, TransportSource, new_log, run_server
from orchestra_core.planning.plan import Plan
from orchestra_core.storage.memory import MemoryStore
from tests.execution.helpers import server_plan

WEB = Server(name="web", transport="recording")
USER = (Command(description="useradd b", script="useradd b"),)
FAIL = (Command(description="fails", script="false"),)


def job(*ops: tuple[Command, ...], server: Server = WEB) -> ServerJob:
    sp = server_plan(server, *ops)
    return ServerJob(plan=sp, logs=tuple(new_log(server, op) for op in sp.operations))


def test_run_server_returns_final_logs_and_changes_nothing_it_was_given() -> None:
    transport = RecordingTransport()
    transport.respond(description_contains="fails", exit_code=1, stderr="no\n")
    given = job(USER, FAIL, USER)
    before = [(entry.id, entry.state, entry.started_at) for entry in given.logs]

    logs = run_server(given, {"recording": transport})

    assert [entry.state for entry in logs] == [State.SUCCESS, State.FAILURE, State.ABORTED]
    assert [entry.id for entry in logs] == [entry.id for entry in given.logs]
    assert [(e.id, e.state, e.started_at) for e in given.logs] == before
    assert all(e.started_at is not None and e.finished_at is not None for e in logs)
    assert logs[1].stderr == "no\n" and logs[1].exit_code == 1
    assert len(transport.batches) == 1


def test_a_started_job_keeps_its_start() -> None:
    started = job(USER).start()
    assert started.started_at is not None
    assert [entry.state for entry in started.logs] == [State.RECEIVED]
    [final] = run_server(started, {"recording": RecordingTransport()})
    assert final.started_at == started.started_at
    assert final.state is State.SUCCESS


def test_run_server_maps_a_missing_transport_onto_the_logs() -> None:
    [entry] = run_server(job(USER), {})
    assert entry.state is State.ERROR
    assert "no transport named 'recording' (configured: none)" in entry.stderr


def test_a_job_has_one_log_per_operation() -> None:
    sp = server_plan(WEB, USER, USER)
    with pytest.raises(ValueError, match="1 logs for 2 operations"):
        ServerJob(plan=sp, logs=(new_log(WEB, sp.operations[0]),))


def test_executors_load_by_name() -> None:
    assert "threads" in available_executors()
    assert isinstance(load_executor("threads"), ThreadsExecutor)
    with pytest.raises(ConfigurationError, match=r"unknown executor 'celery'; installed.*threads"):
        load_executor("celery")
    with pytest.raises(ConfigurationError, match="unknown executor 'nope'"):
        Orchestra(servers=[], routes=[], executor="nope")
    with pytest.raises(ConfigurationError, match="unknown executor 'nope'"):
        Executor({}, MemoryStore(), executor="nope")


class Shipping:
    """An executor like one that ships jobs to workers: it sees only jobs (plain data),
    runs them one by one on "the worker" with its own transports, and reports back."""

    name = "shipping"

    def __init__(self) -> None:
        self.jobs: list[ServerJob] = []
        self.worker_transport = RecordingTransport()

    def run(
        self,
        waves: Sequence[Sequence[ServerJob]],
        transports: TransportSource,
        *,
        max_parallel: int,
        on_started: JobStarted,
        on_done: JobDone,
    ) -> None:
        for wave in waves:
            for one in wave:
                one = one.start()
                self.jobs.append(one)
                on_started(one)
                on_done(one, run_server(one, {"recording": self.worker_transport}))


def test_an_executor_instance_runs_an_apply_and_the_caller_stores() -> None:
    shipping = Shipping()
    assert isinstance(shipping, BatchExecutor)
    store = MemoryStore()
    finished: list[OperationLog] = []
    plan = Plan(
        servers=(
            server_plan(WEB, USER, USER),
            server_plan(Server(name="db", transport="recording"), USER),
        )
    )

    result = Executor({}, store, executor=shipping, on_finished=finished.append).execute(plan)

    assert result.ok and len(result.logs) == 3
    assert [j.server for j in shipping.jobs] == ["web", "db"]
    assert len(shipping.worker_transport.batches) == 2
    assert {e.id: e.state for e in store.list_logs()} == {e.id: State.SUCCESS for e in result.logs}
    assert [e.id for e in finished] == [e.id for e in result.logs]


def test_threads_run_waves_in_order_and_call_back_once_per_job() -> None:
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def started(one: ServerJob) -> None:
        assert one.started_at is not None
        with lock:
            seen.append(("started", one.server))

    def done(one: ServerJob, logs: list[OperationLog]) -> None:
        assert all(entry.state.is_final for entry in logs)
        with lock:
            seen.append(("done", one.server))

    waves = [[job(USER, server=Server(name=f"a{n}", transport="recording")) for n in range(3)]]
    waves.append([job(USER, server=Server(name="b", transport="recording"))])
    ThreadsExecutor().run(
        waves,
        {"recording": RecordingTransport()},
        max_parallel=2,
        on_started=started,
        on_done=done,
    )
    assert len(seen) == 8
    assert seen[-2:] == [("started", "b"), ("done", "b")]


def test_final_logs_keeps_only_final_ones() -> None:
    store = MemoryStore()
    entries = list(job(USER, USER).logs)
    entries[1].state = State.NOTHING
    FinalLogs(store).save_logs(entries)
    assert [e.id for e in store.list_logs()] == [entries[1].id]


def test_orchestra_runs_applies_monitors_and_checks_through_its_executor(tmp_path: Path) -> None:
    used: list[str] = []

    class Counting(ThreadsExecutor):
        def run(self, waves, transports, **kwargs):  # type: ignore[no-untyped-def]
            used.append(",".join(j.plan.operations[0].action for w in waves for j in w))
            super().run(waves, transports, **kwargs)

    (tmp_path / "home/alice").mkdir(parents=True)
    server = Server(name="web1", root=str(tmp_path))
    routes = [Route(backend="dummy-systemuser", servers=("web1",))]
    routes.append(Route(backend="disk-usage", servers=("web1",)))
    engine = Orchestra(servers=[server], routes=routes, executor=Counting())
    try:
        from orchestra_core.planning.changeset import ChangeSet

        alice = SystemUser(account="acme", name="alice")
        changes = ChangeSet()
        changes.save(alice)
        assert engine.apply(engine.plan(changes)).ok
        assert engine.measure(ServiceIndex((), [alice]), monitors=["disk-usage"]).ok
        assert engine.check().clean
    finally:
        engine.close()
    assert used[0].startswith("save") and used[1] == "monitor" and used[2] == "check"


def test_a_job_travels_as_plain_data() -> None:
    """What a Celery executor would send: the job pickled, run on the far side, logs back."""
    import pickle

    sent = job(USER, FAIL).start()
    arrived = pickle.loads(pickle.dumps(sent))
    assert arrived.plan == sent.plan and arrived.started_at == sent.started_at
    transport = RecordingTransport()
    transport.respond(description_contains="fails", exit_code=1)
    logs = pickle.loads(pickle.dumps(run_server(arrived, {"recording": transport})))
    assert [entry.id for entry in logs] == [entry.id for entry in sent.logs]
    assert [entry.state for entry in logs] == [State.SUCCESS, State.FAILURE]


def test_an_executor_that_loses_a_job_is_named() -> None:
    class Lossy(Shipping):
        name = "lossy"

        def run(self, waves, transports, *, max_parallel, on_started, on_done):  # type: ignore[no-untyped-def]
            on_started(waves[0][0].start())

    with pytest.raises(RuntimeError, match=r"executor lossy gave back no logs for server.*web"):
        Executor({}, MemoryStore(), executor=Lossy()).execute(
            Plan(servers=(server_plan(WEB, USER),))
        )

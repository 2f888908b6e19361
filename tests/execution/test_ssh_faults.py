"""SSH faults against real sshd hosts on loopback: a host that freezes mid-batch, a port that
accepts and says nothing, a host that refuses us. Each must cost a bounded time, report states
that are true, and print nothing but orchestra's own words."""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import attrs
import pytest

from orchestra_core import Account, Orchestra, Route
from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import Domain
from orchestra_core.execution.results import State
from orchestra_core.execution.ssh import SSHTransport
from orchestra_core.planning.plan import Plan
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.daemon import descendants
from orchestra_core.testing.sshd import SSHHost

pytestmark = pytest.mark.daemon
T = TypeVar("T")

BATCH_TIMEOUT = 2.0
#: What a frozen host may cost past its batch timeout: "a few seconds" (the transport's grace
#: to kill the batch and read its last records is 5 s).
KILL_GRACE = 5.0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def freeze_sessions(host: SSHHost) -> list[int]:
    """SIGSTOP the host's per-connection sshd processes (not the listener, not the commands
    they run): the connection goes silent while the batch goes on."""
    assert host.process.pid is not None
    frozen = [pid for pid in descendants(host.process.pid) if _comm(pid).startswith("sshd")]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    return frozen


def thaw(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def wait_for(predicate: Callable[[], bool], limit: float = 20.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def in_thread(work: Callable[[], T], limit: float) -> tuple[T, float]:
    """Run ``work`` and fail the test if it has not returned within ``limit`` seconds (on the
    parent commit an apply waits for paramiko's one-hour channel timeout)."""
    box: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as exc:
            failure.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"the apply still runs after {elapsed:.0f}s"
    if failure:
        raise failure[0]
    return box[0], elapsed


def with_first_step(plan: Plan, server: str, step: Command) -> Plan:
    """``plan`` with ``step`` run first on ``server``, in its first operation."""
    servers = []
    for sp in plan.servers:
        if sp.server.name == server:
            first, *rest = sp.operations
            first = attrs.evolve(first, steps=(step, *first.steps))
            sp = attrs.evolve(sp, operations=(first, *rest))
        servers.append(sp)
    return attrs.evolve(plan, servers=tuple(servers))


@pytest.fixture
def two_hosts(ssh_host_factory: Callable[..., list[SSHHost]]) -> Iterator[list[SSHHost]]:
    hosts = ssh_host_factory(2)
    yield hosts


def test_a_host_frozen_mid_batch_costs_its_batch_timeout_and_its_steps_say_unknown(
    two_hosts: list[SSHHost], tmp_path: Path
) -> None:
    frozen_host, fine_host = two_hosts
    # The batch timeout comes from the server's own settings (the other keeps the default).
    frozen = frozen_host.server(
        root=str(tmp_path / "frozen"), settings={"timeouts": {"batch": BATCH_TIMEOUT}}
    )
    fine = fine_host.server(root=str(tmp_path / "fine"))
    store = MemoryStore()
    routes = [Route(backend="dummy-domain", servers=(frozen.name, fine.name))]
    orchestra = Orchestra(servers=[frozen, fine], routes=routes, store=store)
    account, domain = Account(name="acme"), Domain(account="acme", name="a.example")
    marker, trace = tmp_path / "started", tmp_path / "trace"
    first = Command(
        description="mark, wait for the freeze, leave a trace",
        script=f"touch {marker}; sleep 1; echo ran >> {trace}",
    )
    plan = with_first_step(orchestra.plan_inventory([account], [domain]), frozen.name, first)
    stopped: list[int] = []

    def freezer() -> None:
        if wait_for(marker.exists):
            stopped.extend(freeze_sessions(frozen_host))

    threading.Thread(target=freezer, daemon=True).start()
    try:
        result, elapsed = in_thread(lambda: orchestra.apply(plan), BATCH_TIMEOUT + KILL_GRACE + 15)
        assert stopped, "the batch never started"
        # A frozen host costs its batch timeout and the grace to kill, plus a little.
        assert elapsed < BATCH_TIMEOUT + KILL_GRACE + 5, elapsed
        by_server = {log.server: log for log in result.logs if log.action == "save"}
        assert by_server[fine.name].state is State.SUCCESS
        ran = by_server[frozen.name]
        assert ran.state is State.UNKNOWN, (ran.state, ran.stderr)
        # The server's trace shows the steps ran: none of them may read "not run".
        assert wait_for(lambda: trace.exists() and (tmp_path / "frozen").exists(), 10)
        assert [step.state for step in ran.steps] == [State.UNKNOWN] * len(ran.steps)
        assert all(log.state is not State.ABORTED for log in result.logs)
        assert "may or may not have run" in ran.stderr
        # Not recorded as applied there: the next plan saves it again on that server only.
        assert {p.server for p in store.placements()} == {fine.name}
        thaw(stopped)
        again = orchestra.plan_inventory([account], [domain])
        assert {
            sp.server.name for sp in again.servers for op in sp.operations if op.action == "save"
        } == {frozen.name}
        redone = orchestra.apply(again)
        assert redone.ok, [(log.state, log.stderr) for log in redone.logs]
        assert {p.server for p in store.placements()} == {frozen.name, fine.name}
    finally:
        thaw(stopped)
        orchestra.close()


def test_a_timed_out_batch_on_a_live_host_reports_the_steps_that_ran_after_the_limit(
    ssh_host: SSHHost, tmp_path: Path
) -> None:
    """Killed and drained: the account is complete, so the step in flight is ``timeout``, the
    ones that reported say what they did, and only those that never started are ``aborted``."""
    server = ssh_host.server("live", root=str(tmp_path / "root"))
    orchestra = Orchestra(servers=[server], routes=[], store=MemoryStore(), batch_timeout=1.5)
    steps = (
        Command(description="quick", script="true"),
        Command(description="hangs", script="sleep 60"),
        Command(description="never", script="true"),
    )
    from tests.execution.helpers import server_plan

    try:
        result, elapsed = in_thread(
            lambda: orchestra.apply(Plan(servers=(server_plan(server, *[(s,) for s in steps]),))),
            30,
        )
    finally:
        orchestra.close()
    assert elapsed < 1.5 + KILL_GRACE + 3
    assert [log.state for log in result.logs] == [State.SUCCESS, State.TIMEOUT, State.ABORTED]


@pytest.fixture
def silent_port() -> Iterator[tuple[str, int]]:
    """A port that accepts TCP connections and never writes a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


PROBE = """\
import sys, threading, time
from orchestra_core.execution.ssh import SSHTransport
from orchestra_core.model.servers import Server
server = Server(name="mute", address=sys.argv[1], transport="ssh", settings={"ssh": {
    "port": int(sys.argv[2]), "connect_timeout": 1, "connect_retries": 0,
    "known_hosts": sys.argv[3]}})
started = time.monotonic()
probe = SSHTransport().probe(server, [])
took = time.monotonic() - started
# paramiko's thread for the connection must be gone soon after: it waits for the banner too.
deadline = time.monotonic() + 20
while time.monotonic() < deadline and any(
    t.name.startswith("paramiko") or "Transport" in type(t).__name__ for t in threading.enumerate()
):
    time.sleep(0.05)
lingered = time.monotonic() - started
print(repr((probe.reachable, probe.error, round(took, 1), round(lingered, 1))))
"""


def test_a_port_that_sends_no_banner_is_unreachable_in_connect_timeout_without_a_traceback(
    silent_port: tuple[str, int], tmp_path: Path
) -> None:
    address, port = silent_port
    done = subprocess.run(
        [sys.executable, "-c", PROBE, address, str(port), str(tmp_path / "known_hosts")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # no paramiko traceback
    reachable, error, took, lingered = ast.literal_eval(done.stdout)
    assert not reachable
    assert "after 1 attempt:" in error
    assert "SSH handshake did not finish within 1s" in error
    assert "No existing session" not in error
    assert took < 3 and lingered < 4, (took, lingered)


def test_a_refused_host_key_is_reachable_but_not_logged_in(
    ssh_host: SSHHost, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-f", str(other)], check=True)
    wrong = tmp_path / "known_hosts"
    entry = ssh_host.known_hosts.read_text().split()[0]
    key = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    wrong.write_text(f"{entry} {key}\n")
    server = ssh_host.server("liar", settings={"ssh": {"known_hosts": str(wrong)}})
    probe = SSHTransport().probe(server, [])
    assert probe.reachable and not probe.authenticated, probe
    assert "does not match the one on record" in (probe.error or "")


def test_a_host_frozen_before_the_batch_is_reconnected_within_connect_timeout(
    ssh_host: SSHHost, tmp_path: Path
) -> None:
    """A pooled connection whose host stopped answering costs connect_timeout, then a new
    connection runs the batch (nothing was sent on the old one)."""
    server = ssh_host.server(
        "pooled", root=str(tmp_path / "root"), settings={"ssh": {"connect_timeout": 1}}
    )
    transport = SSHTransport()
    from orchestra_core.execution.script import compile_batch
    from tests.execution.helpers import server_plan

    sp = server_plan(server, (Command(description="x", script="true"),))
    try:
        assert [s.status for s in transport.run(server, compile_batch(sp), timeout=30).steps] == [
            "changed"
        ]
        stopped = freeze_sessions(ssh_host)
        try:
            result, elapsed = in_thread(
                lambda: transport.run(server, compile_batch(sp), timeout=30), 30
            )
        finally:
            thaw(stopped)
    finally:
        transport.close()
    assert [s.status for s in result.steps] == ["changed"], result
    assert elapsed < 5, elapsed

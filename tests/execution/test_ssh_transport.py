"""The ssh transport against real sshd hosts on loopback (the ``ssh_hosts`` fixture)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import attrs
import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server
from orchestra_core.backends.steps import Command, WriteFile
from orchestra_core.catalogue import Domain, Mailbox
from orchestra_core.execution.executor import Executor
from orchestra_core.execution.results import State
from orchestra_core.execution.ssh import SSHTransport
from orchestra_core.model.secret import REDACTED
from orchestra_core.planning.plan import Plan
from orchestra_core.storage import open_store
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.sshd import SSHHost
from tests.execution.helpers import server_plan

pytestmark = pytest.mark.daemon


def sandboxed(host: SSHHost, tmp_path: Path) -> Server:
    return host.server(root=str(tmp_path / host.name))


def test_a_plan_goes_to_three_hosts_in_parallel(ssh_hosts: list[SSHHost], tmp_path: Path) -> None:
    servers = [sandboxed(h, tmp_path) for h in ssh_hosts]
    names = tuple(s.name for s in servers)
    orchestra = Orchestra(servers=servers, routes=[Route(backend="dummy-domain", servers=names)])
    try:
        domain = Domain(account="acme", name="a.example")
        result = orchestra.apply(orchestra.plan(ChangeSet().save(domain)))
        assert result.ok, [(log.server, log.state, log.stderr) for log in result.logs]
        assert sorted({log.server for log in result.logs}) == sorted(names)
        for server in servers:
            conf = Path(str(server.root)) / "var/lib/orchestra-dummy/domain/a.example.conf"
            assert "key = domain:a.example" in conf.read_text()
        again = orchestra.apply(orchestra.plan(ChangeSet().save(domain)))
        assert {log.state for log in again.logs} == {State.NOTHING}
    finally:
        orchestra.close()


def test_connections_are_pooled_and_a_dead_one_is_reopened(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    host = ssh_hosts[0]
    server = sandboxed(host, tmp_path)
    transport = SSHTransport()
    sp = server_plan(server, (Command(description="pid", script="echo $PPID"),))
    from orchestra_core.execution.script import compile_batch

    try:
        first = transport.run(server, compile_batch(sp), timeout=30)
        connection = transport._pool[server.name].connection
        second = transport.run(server, compile_batch(sp), timeout=30)
        assert transport._pool[server.name].connection is connection
        assert [s.status for s in first.steps + second.steps] == ["changed", "changed"]
        connection.client.get_transport().close()  # the server side went away
        third = transport.run(server, compile_batch(sp), timeout=30)
        assert [s.status for s in third.steps] == ["changed"]
        assert transport._pool[server.name].connection is not connection
    finally:
        transport.close()


def test_sshd_killed_mid_batch_is_an_error_and_a_retry_succeeds_once_it_is_back(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    host = ssh_hosts[0]
    server = attrs.evolve(
        sandboxed(host, tmp_path),
        settings={"ssh": {**host.server_settings()["ssh"], "connect_retries": 0}},
    )
    store = MemoryStore()
    marker = tmp_path / "started"
    orchestra = Orchestra(
        servers=[server],
        routes=[Route(backend="dummy-domain", servers=(server.name,))],
        store=store,
    )
    slow = Command(description="slow", script=f"touch {marker}; sleep 5")
    plan = Plan(servers=(server_plan(server, (slow,)),))
    killer = threading.Thread(target=lambda: (_wait_for(marker.exists), host.stop()), daemon=True)
    killer.start()
    try:
        result = orchestra.apply(plan)
        killer.join()
        [log] = result.logs
        # The step ran (it made the marker) and its end was never heard of: unknown, not error.
        assert log.state is State.UNKNOWN, (log.state, log.stderr)
        assert "connection" in log.stderr
        down = orchestra.apply(
            orchestra.plan_inventory([Account(name="a")], [Domain(account="a", name="a.example")])
        )
        assert [entry.state for entry in down.logs] == [State.ERROR] * 2
        assert "cannot reach" in down.logs[0].stderr
        host.start()
        retried = orchestra.retry(down.logs[0].id)
        assert retried.ok and retried.logs[0].retry_of == down.logs[0].id
        assert set(store.applied()) == {"domain:a.example"}
    finally:
        orchestra.close()


def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_a_step_past_its_timeout_is_killed_and_the_rest_aborted(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    server = sandboxed(ssh_hosts[1], tmp_path)
    pid_file = tmp_path / "pid"
    sleeper = Command(
        description="sleeper", script=f"echo $$ > {pid_file}; exec sleep 60", timeout=1
    )
    after = Command(description="after", script="true")
    result = Executor({"ssh": SSHTransport()}, MemoryStore()).execute(
        Plan(servers=(server_plan(server, (sleeper,), (after,)),))
    )
    assert [log.state for log in result.logs] == [State.TIMEOUT, State.ABORTED]
    assert not _alive(int(pid_file.read_text()))


def test_a_batch_past_its_timeout_has_its_remote_session_killed(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    server = sandboxed(ssh_hosts[2], tmp_path)
    pid_file = tmp_path / "pid"
    sleeper = Command(description="sleeper", script=f"sleep 60 & echo $! > {pid_file}; wait")
    transport = SSHTransport()
    try:
        result = Executor({"ssh": transport}, MemoryStore(), batch_timeout=1.5).execute(
            Plan(
                servers=(
                    server_plan(server, (sleeper,), (Command(description="x", script="true"),)),
                )
            )
        )
    finally:
        transport.close()
    assert [log.state for log in result.logs] == [State.TIMEOUT, State.ABORTED]
    _wait_for(lambda: not _alive(int(pid_file.read_text())), 10)
    assert not _alive(int(pid_file.read_text()))


def test_a_wrong_host_key_is_refused_with_a_clear_message(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    first, second = ssh_hosts[0], ssh_hosts[1]
    lying = tmp_path / "known_hosts"
    # The first host's address and port, with the second host's key on record.
    entry = first.known_hosts.read_text().split()[0]
    lying.write_text(f"{entry} {second.host_key_public}\n")
    server = first.server(
        settings={"ssh": {**first.server_settings()["ssh"], "known_hosts": str(lying)}}
    )
    result = Executor({"ssh": SSHTransport()}, MemoryStore()).execute(
        Plan(servers=(server_plan(server, (Command(description="x", script="true"),)),))
    )
    [log] = result.logs
    assert log.state is State.ERROR
    assert "does not match the one on record" in log.stderr
    unknown = first.server(
        settings={"ssh": {**first.server_settings()["ssh"], "known_hosts": str(tmp_path / "empty")}}
    )
    probe = SSHTransport().probe(unknown, [])
    assert not probe.ok and "is not in" in (probe.error or "")


def test_a_secret_never_reaches_the_process_list_the_logs_or_the_store(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    secret = "s3cr3t-" + os.urandom(6).hex()
    server = sandboxed(ssh_hosts[0], tmp_path)
    ps_file = tmp_path / "ps.txt"
    # While the batch runs, record every process's argv on the (same) machine.
    digest = hashlib.sha256(secret.encode()).hexdigest()
    spy = Command(
        description="use the secret",
        script=(
            f"ps -eo args > {ps_file}; read -r value; "
            f'[ "$(printf %s "$value" | sha256sum | cut -d" " -f1)" = {digest} ] && echo got it'
        ),
        stdin=secret + "\n",
        sensitive=True,
    )
    kept = WriteFile(
        description="hash", path=str(tmp_path / "box/secret"), content=secret, sensitive=True
    )
    store = open_store(str(tmp_path / "orchestra.sqlite"))
    memory = MemoryStore()
    try:
        for target in (store, memory):
            result = Executor({"ssh": SSHTransport()}, target).execute(
                Plan(servers=(server_plan(server, (spy, kept)),))
            )
            [log] = result.logs
            assert log.state is State.SUCCESS, log.stderr
            assert log.steps[0].stdout == "got it\n"  # the secret reached the command
            assert REDACTED in log.script
            for text in (ps_file.read_text(), log.script, log.stdout, log.stderr, repr(log)):
                assert secret not in text
            stored = target.get_log(log.id)
            assert secret not in repr(stored)
    finally:
        store.close()  # type: ignore[attr-defined]
    assert secret.encode() not in (tmp_path / "orchestra.sqlite").read_bytes()
    assert (tmp_path / "box/secret").read_text() == secret  # it did reach the server, by stdin
    assert secret not in (ssh_hosts[0].dir / "sshd.stderr.log").read_text(errors="replace")


def test_set_password_over_ssh(ssh_hosts: list[SSHHost], tmp_path: Path) -> None:
    server = sandboxed(ssh_hosts[0], tmp_path)
    orchestra = Orchestra(
        servers=[server], routes=[Route(backend="dummy-mailbox", servers=(server.name,))]
    )
    box = Mailbox(account="a", address="x@a.example")
    try:
        result = orchestra.apply(
            orchestra.plan(ChangeSet().save(box).set_password(box, Secret("pw-123456")))
        )
    finally:
        orchestra.close()
    assert result.ok
    assert all("pw-123456" not in log.script + log.stdout + log.stderr for log in result.logs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

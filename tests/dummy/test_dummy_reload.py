"""The dummy daemon's reload with a ``pid_file``: a real process is signalled, and a daemon
that is not there fails the reload (the files of the batch get their previous content back)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record
from orchestra_core.execution.executor import ApplyResult

DOMAIN = Domain(
    account="acme", name="example.com", records=(Record(type="A", values=("192.0.2.1",)),)
)
MOVED = attrs.evolve(DOMAIN, records=(Record(type="A", values=("192.0.2.9",)),))
#: A process that stands for the daemon: it writes its pid file, and a line per SIGHUP.
DAEMON = 'trap "echo hup >>hups" HUP; echo $$ >run/dummy.pid; while :; do sleep 0.05; done'


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


@pytest.fixture
def daemon(root: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The stand-in daemon, running in ``root`` with its pid file in ``root/run``."""
    (root / "run").mkdir()
    process = subprocess.Popen(["bash", "-c", DAEMON], cwd=root, start_new_session=True)
    deadline = time.monotonic() + 10
    while not (root / "run/dummy.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def apply(root: Path, domain: Domain) -> ApplyResult:
    route = Route(backend="dummy-domain", servers=("box",), settings={"pid_file": "/run/dummy.pid"})
    engine = Orchestra(
        servers=[Server(name="box", root=str(root), settings={"state_dir": str(root / "state")})],
        routes=[route],
    )
    try:
        index = ServiceIndex([Account(name="acme")], [domain])
        return engine.apply(engine.plan(ChangeSet().save(domain), index=index))
    finally:
        engine.close()


def conf(root: Path) -> str:
    return (root / "var/lib/orchestra-dummy/domain/example.com.conf").read_text()


def hups(root: Path) -> int:
    try:
        return len((root / "hups").read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_a_reload_signals_the_daemon_of_the_pid_file(
    root: Path, daemon: subprocess.Popen[bytes]
) -> None:
    result = apply(root, DOMAIN)
    assert result.ok, [(log.action, log.state.value, log.stderr) for log in result.logs]
    deadline = time.monotonic() + 10
    while hups(root) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hups(root) == 1
    assert (root / "var/lib/orchestra-dummy/reloads.log").read_text().startswith("reloaded ")


def test_a_daemon_that_is_gone_fails_the_reload_and_the_files_come_back(
    root: Path, daemon: subprocess.Popen[bytes]
) -> None:
    assert apply(root, DOMAIN).ok
    before = conf(root)
    os.killpg(daemon.pid, signal.SIGKILL)
    daemon.wait()
    result = apply(root, MOVED)
    [reload] = [log for log in result.logs if log.action == "reload"]
    assert reload.state.value == "failure"
    assert "No such process" in reload.stderr
    assert conf(root) == before


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "No such file or directory"),
        ("-1\n", "holds no process id of a daemon: -1"),
        ("\n", "holds no process id of a daemon: \n"),
        ("1\n", "holds no process id of a daemon: 1"),
    ],
)
def test_a_pid_file_that_names_no_daemon_fails_the_reload(
    root: Path, content: str | None, says: str
) -> None:
    if content is not None:
        (root / "run").mkdir()
        (root / "run/dummy.pid").write_text(content)
    result = apply(root, DOMAIN)
    [reload] = [log for log in result.logs if log.action == "reload"]
    assert reload.state.value == "failure"
    assert says in reload.stderr
    assert not (root / "var/lib/orchestra-dummy/domain/example.com.conf").exists()
    assert not (root / "var/lib/orchestra-dummy/reloads.log").exists()

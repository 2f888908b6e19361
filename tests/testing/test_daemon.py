"""DaemonProcess against real processes: an HTTP server, a crash, a SIGTERM-ignorer."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from orchestra_core.errors import OrchestraError
from orchestra_core.execution.local import process_alive
from orchestra_core.testing.daemon import (
    DaemonError,
    DaemonFactory,
    DaemonProcess,
    free_port,
    listening_sockets,
    open_sockets,
    port_open,
    write_config,
)

pytestmark = pytest.mark.daemon

PY = sys.executable


def wait_gone(pid: int, limit: float = 10.0) -> bool:
    """Wait for a process we cannot reap (a grandchild) to disappear; True if it did."""
    deadline = time.monotonic() + limit
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def python_daemon(tmp_path: Path, source: str, **kwargs: object) -> DaemonProcess:
    script = write_config(tmp_path, "daemon.py", textwrap.dedent(source))
    return DaemonProcess([PY, "-u", str(script)], cwd=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def kernel_port_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_free_port_is_outside_the_kernels_ephemeral_range_and_never_twice() -> None:
    # The kernel hands ephemeral ports out again (bind to port 0, a client's source port):
    # a stopped daemon's port from that range could be taken at once, even by the client
    # asking whether it is closed (rndc binds port 0, got the control port and connected to
    # itself). free_port never gives one of those.
    low, high = kernel_port_range()
    ports = [free_port() for _ in range(50)] + [free_port(udp=True) for _ in range(10)]
    assert not [port for port in ports if low <= port <= high]
    assert len(set(ports)) == len(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", ports[-1]))


def test_a_port_bound_to_port_zero_can_connect_to_itself_but_not_to_a_free_port() -> None:
    # The cause of the flaky "rndc status exits 0 with no output after stop": with the
    # dialled port in the ephemeral range, a client that binds port 0 first may be given
    # that very port, and a loopback connect to itself succeeds (TCP simultaneous open).
    # With a free_port() port this cannot happen: bind(0) never returns it.
    port = free_port()
    for _ in range(20000):
        with socket.socket() as client:
            client.bind(("127.0.0.1", 0))
            assert client.getsockname()[1] != port


def test_ready_port_counts_only_the_daemons_own_listener(tmp_path: Path) -> None:
    # Another process listening on the port does not make our daemon ready.
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        daemon = python_daemon(tmp_path, "import time; time.sleep(120)", ready_port=port)
        with pytest.raises(DaemonError, match="not ready within"):
            daemon.start(timeout=0.5)
        assert port_open("127.0.0.1", port)  # the port was open all along: not ours


def test_stop_waits_until_no_process_holds_the_daemons_socket(tmp_path: Path) -> None:
    # A child in a session of its own (out of the group that stop signals) inherits the
    # listening socket: the port would stay open after stop. stop kills it and waits.
    port = free_port()
    daemon = python_daemon(
        tmp_path,
        f"""
        import os, pathlib, socket, subprocess, sys, time
        sock = socket.socket()
        sock.bind(("127.0.0.1", {port}))
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            pass_fds=[sock.fileno()], start_new_session=True,
        )
        pathlib.Path("child.pid").write_text(str(child.pid))
        sock.listen()
        time.sleep(120)
        """,
        ready_port=port,
    )
    daemon.start()
    child = int((tmp_path / "child.pid").read_text())
    try:
        listeners = daemon.listeners
        assert set(listeners.values()) == {("tcp", "127.0.0.1", port)}
        assert listening_sockets([child]) == listeners
        assert daemon.listening() == {("tcp", "127.0.0.1", port)}
        daemon.stop(timeout=0.5)
        assert open_sockets(listeners) == set()
        assert not port_open("127.0.0.1", port)
        assert wait_gone(child)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_write_config_creates_folders_and_mode(tmp_path: Path) -> None:
    path = write_config(tmp_path, "etc/named/named.conf", "options {};\n", mode=0o600)
    assert path == tmp_path / "etc" / "named" / "named.conf"
    assert path.read_text() == "options {};\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_http_server_is_ready_answers_and_stops(tmp_path: Path) -> None:
    write_config(tmp_path, "hello.txt", "hello from the daemon\n")
    port = free_port()
    daemon = DaemonProcess(
        [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        ready_port=port,
    )
    assert daemon.pid is None
    assert daemon.start() is daemon
    pid = daemon.pid
    assert isinstance(pid, int)
    assert daemon.running
    assert os.getpgid(pid) == pid  # its own session and process group
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as response:
        assert response.read() == b"hello from the daemon\n"

    assert daemon.stop() == -signal.SIGTERM
    assert not daemon.running
    assert daemon.returncode == -signal.SIGTERM
    assert not process_alive(pid)
    assert not port_open("127.0.0.1", port)
    assert "GET /hello.txt" in daemon.log_tail(5)
    assert daemon.stop() == -signal.SIGTERM  # a second stop is harmless


def test_process_that_exits_early_fails_with_its_stderr(tmp_path: Path) -> None:
    daemon = python_daemon(
        tmp_path,
        """
        import sys
        print("starting up", file=sys.stderr)
        print("named.conf:3: unknown option 'lisen-on'", file=sys.stderr)
        sys.exit(3)
        """,
        ready_port=free_port(),
    )
    with pytest.raises(DaemonError) as info:
        daemon.start()
    err = info.value
    assert isinstance(err, OrchestraError)
    assert err.exit_code == 3
    assert err.argv == daemon.argv
    assert err.stderr_tail == "starting up\nnamed.conf:3: unknown option 'lisen-on'"
    text = str(err)
    assert "exited before it was ready" in text
    assert "(exit code 3)" in text
    assert "unknown option 'lisen-on'" in text
    assert str(tmp_path / "daemon.py") in text
    assert not daemon.running


def test_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    ready_file = tmp_path / "ready"
    daemon = python_daemon(
        tmp_path,
        """
        import pathlib, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pathlib.Path("ready").touch()
        time.sleep(120)
        """,
        ready=ready_file.exists,
    )
    daemon.start()
    pid = daemon.pid
    assert pid is not None
    assert daemon.stop(timeout=0.3) == -signal.SIGKILL
    assert not process_alive(pid)


def test_children_left_in_the_group_are_killed(tmp_path: Path) -> None:
    daemon = python_daemon(
        tmp_path,
        """
        import pathlib, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
        pathlib.Path("child.pid").write_text(str(child.pid))
        time.sleep(120)
        """,
        ready=lambda: (tmp_path / "child.pid").exists(),
    )
    daemon.start()
    child = int((tmp_path / "child.pid").read_text())
    try:
        assert process_alive(child)
        assert daemon.stop() == -signal.SIGTERM  # the leader obeys SIGTERM...
        assert wait_gone(child)  # ...and the child that ignores it is killed with the group
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_not_ready_in_time_is_stopped_and_reported(tmp_path: Path) -> None:
    daemon = python_daemon(
        tmp_path,
        """
        import sys, time
        print("waiting for nothing", file=sys.stderr)
        time.sleep(120)
        """,
        ready=lambda: False,
    )
    with pytest.raises(DaemonError) as info:
        daemon.start(timeout=0.3)
    assert "not ready within 0.3s" in str(info.value)
    assert info.value.exit_code is None
    assert not daemon.running
    assert daemon.returncode == -signal.SIGTERM


def test_program_that_does_not_exist(tmp_path: Path) -> None:
    daemon = DaemonProcess(["/nonexistent/named", "-g"], cwd=tmp_path, ready_port=free_port())
    with pytest.raises(DaemonError, match=r"could not be launched.*/nonexistent/named -g"):
        daemon.start()
    assert daemon.pid is None


def test_log_tail_and_env(tmp_path: Path) -> None:
    daemon = python_daemon(
        tmp_path,
        """
        import os, pathlib, sys, time
        for i in range(1, 51):
            print(i, file=sys.stderr)
        print("greeting", os.environ["ORCHESTRA_TEST_GREETING"])
        sys.stdout.flush()
        pathlib.Path("ready").touch()
        time.sleep(120)
        """,
        env={"ORCHESTRA_TEST_GREETING": "hello"},
        ready=lambda: (tmp_path / "ready").exists(),
        name="chatty",
    )
    with daemon:
        assert daemon.running
        assert daemon.stderr_path == tmp_path / "chatty.stderr.log"
        assert daemon.log_tail(3) == "48\n49\n50"
        assert daemon.log_tail(1, stream="stdout") == "greeting hello"
        assert daemon.log_tail(0) == ""
        with pytest.raises(ValueError):
            daemon.log_tail(stream="stdin")
    assert not daemon.running
    assert daemon.returncode == -signal.SIGTERM


def test_default_cwd_is_a_new_temp_dir() -> None:
    daemon = DaemonProcess([PY, "-c", "pass"])
    assert daemon.cwd.is_dir()
    assert list(daemon.cwd.iterdir()) == []
    assert daemon.cwd.name.startswith("orchestra-python")
    daemon.cwd.rmdir()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not both"):
        DaemonProcess([PY], ready_port=1, ready=lambda: True)
    with pytest.raises(ValueError, match="argv"):
        DaemonProcess([])


def test_factory_makes_daemons_in_own_folders_and_stops_all(tmp_path: Path) -> None:
    made: list[Path] = []

    def make_dir(name: str) -> Path:
        path = tmp_path / f"{name}-{len(made)}"
        path.mkdir()
        made.append(path)
        return path

    factory = DaemonFactory(make_dir)
    ports = [free_port(), free_port()]
    daemons = [
        factory([PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"], ready_port=port)
        for port in ports
    ]
    lazy = factory([PY, "-c", "pass"], name="lazy", start=False)
    assert [d.cwd for d in factory.daemons] == made
    assert made[2].name == "lazy-2"
    assert all(d.running for d in daemons)
    assert lazy.pid is None
    assert all(port_open("127.0.0.1", port) for port in ports)

    factory.stop_all()
    assert not any(d.running for d in daemons)
    assert [d.returncode for d in daemons] == [-signal.SIGTERM, -signal.SIGTERM]
    assert not any(port_open("127.0.0.1", port) for port in ports)

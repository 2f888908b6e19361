"""Start a real daemon for a test, wait until it answers, and stop it by its PID.

Driver test suites (bind9, postfix, apache, mysql...) build their fixtures on
:class:`DaemonProcess`: write a config into a temp dir (:func:`write_config`), pick free
loopback ports (:func:`free_port`), start the daemon in the foreground, and let the helper
wait for it and stop it::

    port = free_port()
    conf = write_config(tmp_path, "named.conf", NAMED_CONF.format(port=port))
    with DaemonProcess(["named", "-g", "-c", str(conf)], cwd=tmp_path, ready_port=port) as named:
        ...  # named answers on 127.0.0.1:port here

Run daemons in the foreground (``named -g``, ``sshd -D``, ``php-fpm -F``, ``postfix
start-fg``, ``mariadbd``): a daemon that forks into a new session escapes the process group
that :meth:`DaemonProcess.stop` signals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from orchestra_core.errors import OrchestraError

__all__ = [
    "DaemonError",
    "DaemonFactory",
    "DaemonProcess",
    "descendants",
    "free_port",
    "port_open",
    "write_config",
]

#: How many stderr lines a :class:`DaemonError` quotes.
TAIL_LINES = 20


class DaemonError(OrchestraError):
    """A test daemon did not come up: it exited early, or was not ready in time.

    Carries the ``argv`` it ran, its ``exit_code`` (None if it was still running and had to be
    stopped) and the last lines of its stderr in ``stderr_tail``.
    """

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str],
        exit_code: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        self.argv: tuple[str, ...] = tuple(argv)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.message = message
        text = f"{message}: {' '.join(self.argv)}"
        if exit_code is not None:
            text += f" (exit code {exit_code})"
        if stderr_tail:
            text += "\n--- last lines of its stderr ---\n" + stderr_tail
        else:
            text += "\n(its stderr is empty)"
        super().__init__(text)


def descendants(root: int) -> set[int]:
    """PIDs of every live process below ``root`` in the process tree (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
        fields = stat.rpartition(")")[2].split()
        if len(fields) < 2 or fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now (the kernel picks it).

    Another process may take it before the daemon binds it; on loopback in a test that is rare.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to ``host:port`` succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def write_config(tmp_dir: Path | str, name: str, text: str, *, mode: int = 0o644) -> Path:
    """Write ``text`` to ``tmp_dir/name`` (creating parent folders) and return its path.

    The text is written as given; dedent it first (``textwrap.dedent``) if it is indented.
    """
    path = Path(tmp_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


class DaemonProcess:
    """One daemon process for a test: started in its own session, logs in its folder.

    ``argv`` is run with ``cwd`` as working directory (a new temp dir when None; it is left in
    place so the logs can be read after a failure). ``env`` is added to the current environment.
    The daemon is ready when a TCP connection to ``host:ready_port`` succeeds, or when
    ``ready()`` returns True; with neither, it is ready as soon as it is launched. Its stdout and
    stderr go to ``NAME.stdout.log`` and ``NAME.stderr.log`` in ``cwd`` (``name`` defaults to
    the basename of ``argv[0]``).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        ready_port: int | None = None,
        ready: Callable[[], bool] | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must name a program")
        if ready_port is not None and ready is not None:
            raise ValueError("give ready_port or ready, not both")
        self.argv: tuple[str, ...] = tuple(str(a) for a in argv)
        self.name = name or Path(self.argv[0]).name
        self.cwd = (
            Path(cwd)
            if cwd is not None
            else Path(tempfile.mkdtemp(prefix=f"orchestra-{self.name}-"))
        )
        self.env: dict[str, str] = dict(env or {})
        self.ready_port = ready_port
        self.ready = ready
        self.host = host
        self.stdout_path = self.cwd / f"{self.name}.stdout.log"
        self.stderr_path = self.cwd / f"{self.name}.stderr.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DaemonProcess {self.name} pid={self.pid} {state}>"

    # -- state -----------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The PID (also the process-group id) once started, else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the started process has not exited."""
        return self._proc is not None and not _exited(self._proc)

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited and been stopped (negative: killed by
        that signal); None while it runs or before :meth:`stop`."""
        return self._proc.returncode if self._proc is not None else None

    def is_ready(self) -> bool:
        """Run the readiness check once (True when there is none)."""
        if self.ready_port is not None:
            return port_open(self.host, self.ready_port)
        if self.ready is not None:
            return bool(self.ready())
        return True

    def log_tail(self, n: int = TAIL_LINES, *, stream: str = "stderr") -> str:
        """The last ``n`` lines of the daemon's ``stderr`` (or ``stdout``) log, as text."""
        if stream not in ("stderr", "stdout"):
            raise ValueError(f"stream is 'stderr' or 'stdout', not {stream!r}")
        path = self.stderr_path if stream == "stderr" else self.stdout_path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return ""
        lines = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:]) if n > 0 else ""

    # -- life ------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> DaemonProcess:
        """Launch the daemon and wait until it is ready; returns ``self``.

        Raises :class:`DaemonError` with the tail of its stderr when it exits before it is
        ready, or when it is not ready within ``timeout`` seconds (it is stopped first).
        """
        if self.running:
            raise DaemonError("daemon is already running", argv=self.argv)
        self.cwd.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DaemonError(f"daemon could not be launched ({exc})", argv=self.argv) from exc
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if _exited(self._proc):
                code = self.stop()
                raise DaemonError(
                    "daemon exited before it was ready",
                    argv=self.argv,
                    exit_code=code,
                    stderr_tail=self.log_tail(),
                )
            try:
                if self.is_ready():
                    return self
            except BaseException:
                self.stop()
                raise
            if time.monotonic() >= deadline:
                self.stop()
                raise DaemonError(
                    f"daemon was not ready within {timeout:g}s",
                    argv=self.argv,
                    stderr_tail=self.log_tail(),
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the daemon: SIGTERM to its process group, SIGKILL after ``timeout`` seconds.

        Whatever else is left in its process group is killed too. Returns its exit code
        (negative: the signal that ended it), or None if it was never started. Safe to call
        twice, and on a process that has already exited.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            # Until the leader is reaped (proc.wait below) its PID, and so the group id, cannot
            # be reused: signalling the group reaches our processes only.
            _signal_group(proc.pid, signal.SIGTERM)
            if not _wait_exited(proc, timeout):
                _signal_group(proc.pid, signal.SIGKILL)
                _wait_exited(proc, None)
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        return proc.returncode

    def __enter__(self) -> DaemonProcess:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the process has exited, without reaping it (its PID stays reserved)."""
    if proc.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _wait_exited(proc: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait (polling, without reaping) until the process exits; False after ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while not _exited(proc):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class DaemonFactory:
    """Makes :class:`DaemonProcess` objects, each in a fresh folder, and stops them all.

    ``make_dir(name)`` returns a new empty folder for a daemon (the pytest fixture passes
    ``tmp_path_factory.mktemp``). Behind the ``daemon_factory`` fixture.
    """

    def __init__(self, make_dir: Callable[[str], Path]) -> None:
        self._make_dir = make_dir
        self.daemons: list[DaemonProcess] = []

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        ready_port: int | None = None,
        ready: Callable[[], bool] | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
        start: bool = True,
        timeout: float = 10.0,
    ) -> DaemonProcess:
        """A daemon running ``argv`` (see :class:`DaemonProcess`), started unless ``start``
        is False; its folder is ``cwd`` or a new one."""
        if not argv:
            raise ValueError("argv must name a program")
        label = name or Path(str(argv[0])).name
        daemon = DaemonProcess(
            argv,
            cwd=cwd if cwd is not None else self._make_dir(label),
            env=env,
            ready_port=ready_port,
            ready=ready,
            host=host,
            name=name,
        )
        self.daemons.append(daemon)
        if start:
            daemon.start(timeout=timeout)
        return daemon

    def stop_all(self, timeout: float = 5.0) -> None:
        """Stop every daemon made here, last made first; the first error is raised at the end."""
        first: BaseException | None = None
        for daemon in reversed(self.daemons):
            try:
                daemon.stop(timeout=timeout)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

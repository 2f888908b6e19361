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
import random
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from orchestra_core.errors import OrchestraError
from orchestra_core.testing.factory import InstanceFactory, MakeDir

__all__ = [
    "DaemonError",
    "DaemonFactory",
    "DaemonProcess",
    "Listener",
    "ProcessKind",
    "descendants",
    "free_port",
    "listening_sockets",
    "open_sockets",
    "port_open",
    "traversable",
    "wait_until",
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


#: Ports below this are left alone by :func:`free_port` (well-known and registered services).
PORT_FLOOR = 10000
#: Ports :func:`free_port` has handed out in this process: it does not hand one out twice
#: (two fixtures asking in a row would otherwise get the same port before either binds it).
_HANDED_OUT: set[int] = set()


def _kernel_port_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (``ip_local_port_range``), where it picks the
    source port of a ``connect()`` and the port of a ``bind()`` to port 0."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _port_candidates() -> range:
    """Ports outside the kernel's ephemeral range: below it when there is room, else above."""
    low, high = _kernel_port_range()
    if low - PORT_FLOOR >= 1000:
        return range(PORT_FLOOR, low)
    if 65535 - high >= 1000:
        return range(high + 1, 65536)
    return range(0)


def _bindable(host: str, port: int, kinds: Sequence[socket.SocketKind]) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in kinds:
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = "127.0.0.1", *, udp: bool = False) -> int:
    """A TCP port on ``host`` (and UDP too with ``udp``) that is free right now, chosen at
    random OUTSIDE the kernel's ephemeral port range.

    A port from the ephemeral range (what binding port 0 gives) is one the kernel hands out
    again as soon as the daemon lets it go: to another process binding port 0, or as the
    source port of a client on this machine. A client that binds port 0 before it connects
    (``rndc`` does) may then get the very port it dials and connect to itself on loopback:
    ``rndc status`` to a stopped named read back its own signed request and exited 0. Ports
    outside that range are never handed out by the kernel, so a stopped daemon's port stays
    free until someone binds it by number. Not handed out twice by one process; another
    process may still take it before the daemon binds it (unlikely: the pick is random).
    """
    kinds = [socket.SOCK_STREAM, socket.SOCK_DGRAM] if udp else [socket.SOCK_STREAM]
    candidates = _port_candidates()
    if len(candidates) > len(_HANDED_OUT) + 100:
        pick = random.SystemRandom()
        for _ in range(200):
            port = pick.choice(candidates)
            if port not in _HANDED_OUT and _bindable(host, port, kinds):
                _HANDED_OUT.add(port)
                return port
    # No room outside the ephemeral range (or all of it handed out): let the kernel pick.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if _bindable(host, port, kinds):
            return port
    raise DaemonError(f"no free port on {host}", argv=["free_port", host])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to ``host:port`` succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


#: What :func:`listening_sockets` reports for one socket: ``("tcp" or "udp", address, port)``.
Listener = tuple[str, str, int]

#: TCP sockets in state LISTEN and UDP sockets bound and unconnected (``/proc/net`` states).
_LISTEN_STATES = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}


def _hex_address(text: str) -> str:
    """``/proc/net`` ``ADDRESS:PORT`` hex address (in host byte order per 32-bit word)."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words)


def _socket_table() -> dict[int, Listener]:
    """Every listening socket of this network namespace, by inode (from ``/proc/net``)."""
    table: dict[int, Listener] = {}
    for name, state in _LISTEN_STATES.items():
        try:
            lines = Path("/proc/net", name).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != state:
                continue
            if name.startswith("udp") and not fields[2].endswith(":0000"):
                continue  # a connected UDP socket is a client, not a listener
            address, _, port = fields[1].partition(":")
            inode = int(fields[9])
            if inode:
                table[inode] = (name.rstrip("6"), _hex_address(address), int(port, 16))
    return table


def _socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open (empty when it is gone)."""
    found: set[int] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def listening_sockets(pids: Iterable[int]) -> dict[int, Listener]:
    """The listening sockets (TCP LISTEN, UDP bound) that the processes ``pids`` hold, by
    inode: what THESE processes listen on, whatever else on the machine uses the same port."""
    held: set[int] = set()
    for pid in pids:
        held |= _socket_inodes(pid)
    return {inode: where for inode, where in _socket_table().items() if inode in held}


def _addresses(host: str) -> set[str]:
    """The IP addresses ``host`` stands for (itself when it is one)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)} | {host}
    except OSError:
        return {host}


def open_sockets(inodes: Iterable[int]) -> set[int]:
    """Which of the listening sockets ``inodes`` (from :attr:`DaemonProcess.listeners`) are
    still open anywhere on the machine: empty once the daemon that had them is stopped."""
    return set(inodes) & set(_socket_table())


def _holders(inodes: set[int]) -> set[int]:
    """PIDs of every process holding one of the sockets ``inodes`` (a full /proc scan)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _socket_inodes(int(entry.name)) & inodes:
            found.add(int(entry.name))
    return found


def traversable(dir: Path) -> None:
    """Let other users pass through ``dir`` and the folders above it (search, not read): a
    daemon's own user (``postfix``, ``www-data``, a CGI user) reaches its folders below a
    pytest temp dir that only root may enter."""
    for folder in (dir, *dir.parents):
        info = folder.stat()
        if not info.st_mode & 0o001 and info.st_uid == os.geteuid():
            folder.chmod((info.st_mode & 0o7777) | 0o011)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms until it is true; ``TimeoutError(what)`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


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
    The daemon is ready when one of ITS processes listens on TCP ``host:ready_port`` (read
    from ``/proc``: another process on that port does not count), or when ``ready()``
    returns True; with neither, it is ready as soon as it is launched. :meth:`stop` returns
    once every socket it listened on is closed. Its stdout and
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
        #: The sockets it listened on when it was ready, by inode: what stop waits for.
        self._listeners: dict[int, Listener] = {}

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

    def processes(self) -> set[int]:
        """PIDs of the daemon and every live process below it (empty when it is not running)."""
        if self._proc is None or not self.running:
            return set()
        return {self._proc.pid} | descendants(self._proc.pid)

    @property
    def listeners(self) -> dict[int, Listener]:
        """The sockets the daemon listened on when it became ready, by inode (a copy): after
        :meth:`stop`, :func:`open_sockets` of them is empty."""
        return dict(self._listeners)

    def listening(self) -> set[Listener]:
        """Where the daemon's own processes listen now: ``("tcp", "127.0.0.1", 5353)``,
        ``("udp", ...)``. Empty once it is stopped. Unlike :func:`port_open` this cannot be
        fooled by another process that took the same port."""
        return set(listening_sockets(self.processes()).values())

    def listens_on(self, port: int, host: str | None = None) -> bool:
        """True when the daemon's processes hold a TCP listening socket on ``port`` of
        ``host`` (default: its ``host``), or of every address."""
        wanted = {*_addresses(host or self.host), "0.0.0.0", "::"}
        return any(
            kind == "tcp" and at == port and address in wanted
            for kind, address, at in self.listening()
        )

    def is_ready(self) -> bool:
        """Run the readiness check once (True when there is none)."""
        if self.ready_port is not None:
            return self.listens_on(self.ready_port)
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
                    self._listeners = listening_sockets(self.processes())
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

        Whatever else is left in its process group is killed too, and so is any process that
        still holds one of its listening sockets (a child that inherited it): it returns once
        no socket the daemon listened on is open. Returns its exit code (negative: the
        signal that ended it), or None if it was never started. Safe to call twice, and on
        a process that has already exited.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            held = {**self._listeners, **listening_sockets(self.processes())}
            # Until the leader is reaped (proc.wait below) its PID, and so the group id, cannot
            # be reused: signalling the group reaches our processes only.
            _signal_group(proc.pid, signal.SIGTERM)
            if not _wait_exited(proc, timeout):
                _signal_group(proc.pid, signal.SIGKILL)
                _wait_exited(proc, None)
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            _wait_closed(set(held), timeout, argv=self.argv)
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


def _wait_closed(inodes: set[int], timeout: float, *, argv: Sequence[str]) -> None:
    """Wait until none of the sockets ``inodes`` is open any more; SIGKILL the processes
    that still hold one after ``timeout`` seconds, and raise DaemonError if that fails."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    killed = False
    while inodes:
        inodes = open_sockets(inodes)
        if not inodes:
            return
        if time.monotonic() >= deadline:
            if killed:
                raise DaemonError(
                    f"the daemon stopped but its sockets {sorted(inodes)} are still open",
                    argv=argv,
                )
            for pid in _holders(inodes):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            killed = True
            deadline = time.monotonic() + KILL_WAIT
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


#: Seconds :func:`_wait_closed` waits after killing what still held a daemon's socket.
KILL_WAIT = 5.0


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ProcessKind:
    """Plain daemon processes as a :class:`~orchestra_core.testing.factory.DaemonKind`:
    ``start(make_dir, argv, ...)`` is a started :class:`DaemonProcess` (see
    :class:`DaemonFactory`), reset starts it again if it stopped, stop stops it."""

    name = "daemon"

    def start(
        self,
        make_dir: MakeDir,
        /,
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
        if not argv:
            raise ValueError("argv must name a program")
        label = name or Path(str(argv[0])).name
        daemon = DaemonProcess(
            argv,
            cwd=cwd if cwd is not None else make_dir(label),
            env=env,
            ready_port=ready_port,
            ready=ready,
            host=host,
            name=name,
        )
        if start:
            daemon.start(timeout=timeout)
        return daemon

    def reset(self, daemon: DaemonProcess, /) -> None:
        """Running again if it stopped (a daemon never started is started)."""
        if not daemon.running:
            daemon.stop()
            daemon.start()

    def stop(self, daemon: DaemonProcess, /) -> None:
        daemon.stop()


class DaemonFactory(InstanceFactory[ProcessKind]):
    """Makes :class:`DaemonProcess` objects, each in a fresh folder, and stops them all: the
    generic :class:`~orchestra_core.testing.factory.InstanceFactory` of :class:`ProcessKind`.

    ``make_dir(name)`` returns a new empty folder for a daemon (the pytest fixture passes
    ``tmp_path_factory.mktemp``). ``factory(argv, ready_port=PORT)`` (or ``ready=``,
    ``cwd=``, ``env=``, ``host=``, ``name=``, ``start=False``, ``timeout=``) is a daemon
    running ``argv`` (see :class:`DaemonProcess`), started unless ``start`` is False, in
    ``cwd`` or a new folder. Behind the ``daemon_factory`` fixture.
    """

    def __init__(self, make_dir: MakeDir) -> None:
        super().__init__(ProcessKind(), make_dir)

    @property
    def daemons(self) -> list[DaemonProcess]:
        """Every daemon made here and not stopped by :meth:`stop_all`, oldest first."""
        return self.instances

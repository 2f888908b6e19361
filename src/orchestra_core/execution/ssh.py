"""The ``ssh`` transport: batches on remote servers over SSH, with fabric and paramiko.

One connection per server is kept in a pool and reused by every batch of the process; an idle
one is closed after ``idle_timeout`` seconds, a dead one is reopened once, transparently. A
batch is one round trip: the remote command is always the same fixed bootstrap (no data, no
secret in any argv), and the script travels on the channel's stdin.

The remote side runs the batch in a session of its own (``setsid``) and first tells its
session id: when the batch times out, a second channel signals every process of that
session (``pkill -s``), TERM then KILL, so nothing the batch started survives it.

Nothing waits on a server without a bound: opening a channel and starting the bootstrap on a
pooled connection take at most ``connect_timeout`` (or the connection is taken for dead and
opened again, nothing having been sent), the batch at most its timeout, and killing a
timed-out batch and reading its last records at most :data:`KILL_GRACE` more. A server that
does not answer in that time (frozen, or behind a network that drops packets) has its
connection closed, and the batch is reported ``cut_off``: its unreported steps may or may not
have run.

A server's ``settings["ssh"]`` (see :class:`SSHSettings`) says how to reach it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import shlex
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import paramiko
from fabric import Connection

from orchestra_core.errors import ConfigurationError
from orchestra_core.execution.script import BOOTSTRAP, parse_output
from orchestra_core.execution.server_settings import POLICIES, SSHSettings, parse_jump, ssh_settings
from orchestra_core.execution.transport import Batch, BatchResult, Probe
from orchestra_core.model.servers import Server

__all__ = ["KILL_GRACE", "POLICIES", "HostRefused", "SSHSettings", "SSHTransport", "ssh_settings"]

log = logging.getLogger(__name__)
# paramiko's transport thread logs its own failures (a banner that never came, a reset) with a
# traceback; with no handler anywhere, Python would print them on stderr. orchestra reports
# those failures itself, in its words; an application that configures logging still sees them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_PID_MARK = "@@ORCHESTRA-SESSION "
#: Tells its session id, then runs the batch from stdin (see script.BOOTSTRAP).
REMOTE = f'echo "{_PID_MARK}$$"; {BOOTSTRAP}'
#: Seconds a timed-out batch is given, past its timeout, to be killed and to send its last
#: records; a server that takes longer is taken for unresponsive.
KILL_GRACE = 5.0
#: Seconds ``servers test`` gives its probe command once logged in.
PROBE_TIMEOUT = 30.0


class HostRefused(ConnectionError):
    """The server answered but the connection was refused: its host key, or the login."""


class _Unreachable(Exception):
    """Connecting failed in a way worth trying again (refused, timed out, reset)."""


@attrs.define
class _Pooled:
    connection: Connection
    settings: SSHSettings
    last_used: float
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class SSHTransport:
    """Runs batches over SSH, one pooled connection per server."""

    name = "ssh"

    def __init__(self) -> None:
        self._pool: dict[str, _Pooled] = {}
        self._lock = threading.Lock()

    # -- connections --------------------------------------------------------------------------

    def _connect(self, server: Server, settings: SSHSettings) -> Connection:
        """Open a connection, trying again with backoff when the host cannot be reached."""
        attempts = settings.connect_retries + 1
        for attempt in range(attempts):
            try:
                return self._open(server, settings)
            except _Unreachable as exc:
                if attempt + 1 == attempts:
                    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
                    raise ConnectionError(
                        f"cannot reach {settings.user}@{server.address}:{settings.port} "
                        f"after {tries}: {exc}"
                    ) from exc
                time.sleep(settings.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, server: Server, settings: SSHSettings) -> Connection:
        limit = settings.connect_timeout
        connect_kwargs: dict[str, Any] = {
            "look_for_keys": False,
            "allow_agent": False,
            # paramiko's own defaults: 15 s for the banner, 30 s for the login, an hour for a
            # channel; connect_timeout bounds every wait of a connection attempt.
            "banner_timeout": limit,
            "auth_timeout": limit,
            "channel_timeout": limit,
        }
        if settings.key_file:
            connect_kwargs["key_filename"] = settings.key_file
        gateway = None
        if settings.jump:
            user, host, port = parse_jump(settings.jump, settings.user)
            gateway = Connection(
                host,
                user=user,
                port=port,
                connect_timeout=limit,
                connect_kwargs=dict(connect_kwargs),
            )
            _pin_host_keys(gateway, settings)
        connection = Connection(
            server.address,
            user=settings.user,
            port=settings.port,
            connect_timeout=limit,
            connect_kwargs=connect_kwargs,
            gateway=gateway,
        )
        _pin_host_keys(connection, settings)
        where = f"{server.address}:{settings.port}"
        try:
            connection.open()
        except paramiko.BadHostKeyException as exc:
            connection.close()
            raise HostRefused(
                f"the host key of {server.name} ({where}) does not match the one on record in "
                f"{settings.known_hosts or '~/.ssh/known_hosts'}: refusing to connect (if the "
                "server was reinstalled, remove its old key)"
            ) from exc
        except paramiko.AuthenticationException as exc:
            connection.close()
            raise HostRefused(
                f"{settings.user}@{where} refused the key "
                f"{settings.key_file or '(none given)'}: {exc}"
            ) from exc
        except paramiko.SSHException as exc:
            handshaken = _handshaken(connection)
            connection.close()
            if "not found in known_hosts" in str(exc):
                raise HostRefused(
                    f"the host key of {server.name} ({where}) is not in "
                    f"{settings.known_hosts or '~/.ssh/known_hosts'}: add it, or set "
                    "host_key_policy: accept-new"
                ) from exc
            if not handshaken:
                # paramiko's words here ("No existing session", "Error reading SSH protocol
                # banner") hide that the server accepted the connection and then said nothing.
                raise _Unreachable(
                    f"the SSH handshake did not finish within {limit:g}s (the port accepts "
                    "connections but sends no SSH banner or key exchange: is it an SSH "
                    "server, and is it answering?)"
                ) from exc
            raise _Unreachable(str(exc)) from exc
        except (OSError, EOFError) as exc:
            connection.close()
            raise _Unreachable(str(exc) or type(exc).__name__) from exc
        if settings.host_key_policy == "accept-new" and settings.known_hosts:
            connection.client.save_host_keys(settings.known_hosts)
        return connection

    def _checkout(self, server: Server) -> _Pooled:
        """The pooled connection of ``server``, opened or reopened as needed."""
        settings = ssh_settings(server)
        self._sweep()
        with self._lock:
            pooled = self._pool.get(server.name)
            if pooled is not None and pooled.settings != settings:
                pooled.connection.close()
                pooled = None
        if pooled is None or not _alive(pooled.connection):
            connection = self._connect(server, settings)
            pooled = _Pooled(connection=connection, settings=settings, last_used=time.monotonic())
            with self._lock:
                old = self._pool.get(server.name)
                self._pool[server.name] = pooled
            if old is not None and old is not pooled:
                old.connection.close()
        pooled.last_used = time.monotonic()
        return pooled

    def _sweep(self) -> None:
        """Close connections idle for longer than their ``idle_timeout``."""
        now = time.monotonic()
        with self._lock:
            idle = [
                name
                for name, p in self._pool.items()
                if now - p.last_used > p.settings.idle_timeout and not p.lock.locked()
            ]
            for name in idle:
                self._pool.pop(name).connection.close()

    def _drop(self, server: str, pooled: _Pooled) -> None:
        """Forget and close a connection found unresponsive (its transport thread ends)."""
        with self._lock:
            if self._pool.get(server) is pooled:
                del self._pool[server]
        _close_quietly(pooled.connection)

    # -- running ------------------------------------------------------------------------------

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        """Run ``batch`` on ``server`` in one round trip; transport failures are reported.

        A pooled connection found dead (or not answering) before anything was sent is
        reopened, once.
        """
        lost = ""
        for _attempt in range(2):
            try:
                pooled = self._checkout(server)
            except (ConnectionError, ConfigurationError) as exc:
                return BatchResult(steps=(), error=str(exc))
            with pooled.lock:
                try:
                    result = self._run(pooled, batch, timeout)
                except _ReconnectOnce as exc:
                    lost = str(exc)
                else:
                    if result.cut_off:
                        self._drop(server.name, pooled)
                    return result
            self._drop(server.name, pooled)
        return BatchResult(steps=(), error=f"connection lost: {lost}")

    def _run(self, pooled: _Pooled, batch: Batch, timeout: float | None) -> BatchResult:
        settings = pooled.settings
        deadline = None if timeout is None else time.monotonic() + timeout
        channel = _start(pooled.connection, _command(settings, REMOTE), settings.connect_timeout)
        # From here on the bootstrap runs: whatever part of the script reaches it may run.
        got = _Collected()
        try:
            channel.settimeout(None if deadline is None else max(deadline - time.monotonic(), 1))
            channel.sendall(batch.script.encode("utf-8"))
            channel.shutdown_write()
            channel.settimeout(None)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            got.lost = f"sending the batch failed: {exc or type(exc).__name__}"
            got.timed_out = deadline is not None and time.monotonic() >= deadline
            if got.timed_out:
                _collect(channel, time.monotonic(), got)  # the session id, to kill it
        if got.lost is None:
            _collect(channel, deadline, got)
        if got.timed_out and not got.ended:
            session = _session_id(got.out.getvalue().decode("utf-8", errors="replace"))
            grace = time.monotonic() + KILL_GRACE
            if session is not None and self._kill(pooled, session, grace):
                got.lost = None
                _collect(channel, grace, got)  # the batch's last records, up to its end
        _close_quietly(channel)
        stdout = got.out.getvalue().decode("utf-8", errors="replace")
        steps = tuple(parse_output(stdout, batch.nonce))
        stderr = got.err.getvalue().decode("utf-8", errors="replace")
        if got.ended:
            return BatchResult(
                steps=steps, exit_code=got.status, stderr=stderr, timed_out=got.timed_out
            )
        if got.timed_out:
            error = (
                f"the batch hit its time limit ({timeout:g}s) and the server did not answer "
                f"within {KILL_GRACE:g}s more"
            )
        else:
            error = f"connection lost during the batch: {got.lost or 'the channel closed'}"
        return BatchResult(
            steps=steps,
            stderr=stderr,
            error=error,
            timed_out=got.timed_out,
            cut_off=True,
        )

    def _kill(self, pooled: _Pooled, session: int, deadline: float) -> bool:
        """TERM, then KILL, every process of the timed-out batch's session; True once they
        are gone, False when that could not be done or confirmed before ``deadline``."""
        script = (
            f"pkill -TERM -s {session}; for i in 1 2 3 4 5 6 7 8 9 10; do "
            f"pgrep -s {session} >/dev/null || exit 0; sleep 0.2; done; pkill -KILL -s {session}"
            f"; sleep 0.1; ! pgrep -s {session} >/dev/null"
        )
        try:
            done = _call(pooled.connection, _command(pooled.settings, script), deadline)
        except _ReconnectOnce as exc:
            done = None
            log.warning("could not kill the timed-out batch (session %s): %s", session, exc)
        return done is not None and done[0] == 0

    def probe(self, server: Server, tools: Sequence[str]) -> Probe:
        """Reach and log in to ``server`` and look for ``tools`` there, in one round trip.

        A server that answers but refuses the connection (its host key, the login) is
        reachable; one that cannot be connected to or never finishes the handshake is not.
        """
        try:
            pooled = self._checkout(server)
        except HostRefused as exc:
            return Probe(reachable=True, error=str(exc))
        except (ConnectionError, ConfigurationError) as exc:
            return Probe(reachable=False, error=str(exc))
        script = 'for t in "$@"; do command -v -- "$t" >/dev/null 2>&1 || echo "$t"; done'
        command = _command(
            pooled.settings,
            f"bash -c {shlex.quote(script)} probe " + " ".join(shlex.quote(t) for t in tools),
        )
        with pooled.lock:
            try:
                done = _call(pooled.connection, command, time.monotonic() + PROBE_TIMEOUT)
            except _ReconnectOnce as exc:
                done = None
                failure = str(exc)
            else:
                failure = f"no answer within {PROBE_TIMEOUT:g}s"
        if done is None:
            self._drop(server.name, pooled)
            return Probe(
                reachable=True, authenticated=True, error=f"could not run the probe: {failure}"
            )
        code, stdout, stderr = done
        if code != 0:
            return Probe(
                reachable=True, authenticated=True, error=f"the probe failed: {stderr.strip()}"
            )
        missing = tuple(line for line in stdout.split() if line)
        return Probe(reachable=True, authenticated=True, missing_tools=missing)

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            pooled, self._pool = list(self._pool.values()), {}
        for entry in pooled:
            _close_quietly(entry.connection)


class _ReconnectOnce(Exception):
    """A pooled connection turned out dead, or did not answer, before anything was sent."""


@attrs.define
class _Collected:
    """What came back on a batch's channel so far."""

    out: io.BytesIO = attrs.field(factory=io.BytesIO)
    err: io.BytesIO = attrs.field(factory=io.BytesIO)
    #: The remote command's exit status, when the server sent one.
    status: int | None = None
    #: The remote command ended and all its output is here (exit status or end of data seen).
    ended: bool = False
    timed_out: bool = False
    #: Why the channel failed, when it did.
    lost: str | None = None


def _command(settings: SSHSettings, script: str) -> str:
    """The remote command: ``script`` in bash, in a session of its own, with sudo if set."""
    inner = f"setsid -w bash -c {shlex.quote(script)}"
    return f"sudo -n {inner}" if settings.sudo else inner


@contextlib.contextmanager
def _watchdog(connection: Connection, seconds: float) -> Iterator[threading.Event]:
    """Close ``connection`` if the block takes longer than ``seconds``: paramiko waits on a
    channel request's reply without a bound; closing the connection ends that wait. The
    event yielded is set when it fired."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        _close_quietly(connection)

    timer = threading.Timer(max(seconds, 0.0), fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _start(connection: Connection, command: str, limit: float) -> paramiko.Channel:
    """A new channel on ``connection`` running ``command``, within ``limit`` seconds; a
    connection that is dead or does not answer in time is a :class:`_ReconnectOnce`."""
    try:
        with _watchdog(connection, limit) as fired:
            transport = connection.client.get_transport()
            if transport is None:
                raise _ReconnectOnce("the connection is closed")
            channel: paramiko.Channel = transport.open_session(timeout=limit)
            try:
                channel.exec_command(command)
            except BaseException:
                _close_quietly(channel)
                raise
    except (paramiko.SSHException, OSError, EOFError, AttributeError) as exc:
        if fired.is_set():
            raise _ReconnectOnce(f"the server did not answer within {limit:g}s") from exc
        raise _ReconnectOnce(str(exc) or type(exc).__name__) from exc
    if fired.is_set():  # pragma: no cover - fired right as the request was answered
        raise _ReconnectOnce(f"the server did not answer within {limit:g}s")
    return channel


def _call(connection: Connection, command: str, deadline: float) -> tuple[int, str, str] | None:
    """Run a short command on its own channel; (exit status, stdout, stderr), or None when
    it did not end before ``deadline``. A dead connection is a :class:`_ReconnectOnce`."""
    channel = _start(connection, command, max(deadline - time.monotonic(), 0.1))
    got = _Collected()
    try:
        channel.shutdown_write()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        got.lost = str(exc)
    else:
        _collect(channel, deadline, got)
    _close_quietly(channel)
    if not got.ended or got.status is None:
        return None
    out = got.out.getvalue().decode("utf-8", errors="replace")
    return got.status, out, got.err.getvalue().decode("utf-8", errors="replace")


def _close_quietly(thing: Connection | paramiko.Channel) -> None:
    try:
        thing.close()
    except Exception as exc:  # closing a broken connection may fail; it is gone either way
        log.debug("closing %r failed: %s", thing, exc)


def _pin_host_keys(connection: Connection, settings: SSHSettings) -> None:
    """Make the connection check host keys as ``settings`` say (fabric's default accepts all)."""
    client = connection.client
    if settings.known_hosts:
        path = Path(settings.known_hosts).expanduser()
        if path.exists():
            client.load_host_keys(str(path))
        elif settings.host_key_policy != "accept-new":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        client._host_keys_filename = str(path)  # where accept-new saves
    else:
        client.load_system_host_keys()
    policy: paramiko.MissingHostKeyPolicy = {
        "strict": paramiko.RejectPolicy(),
        "accept-new": paramiko.AutoAddPolicy(),
        "ignore": paramiko.WarningPolicy(),
    }[settings.host_key_policy]
    client.set_missing_host_key_policy(policy)


def _alive(connection: Connection) -> bool:
    transport = connection.client.get_transport() if connection.is_connected else None
    return bool(transport is not None and transport.is_active())


def _handshaken(connection: Connection) -> bool:
    """True once the SSH key exchange with the server finished."""
    transport = connection.client.get_transport()
    return bool(transport is not None and getattr(transport, "initial_kex_done", False))


def _collect(channel: paramiko.Channel, deadline: float | None, got: _Collected) -> None:
    """Read ``channel`` into ``got`` until the remote command ends, the channel fails, or
    ``deadline`` passes (``got.timed_out``)."""
    try:
        while True:
            busy = False
            while channel.recv_ready():
                got.out.write(channel.recv(1 << 16))
                busy = True
            while channel.recv_stderr_ready():
                got.err.write(channel.recv_stderr(1 << 16))
                busy = True
            drained = not channel.recv_ready() and not channel.recv_stderr_ready()
            # The server's end of data (EOF), not a closed channel: paramiko closes the
            # channels of a connection that dropped, and calls their exit status ready then.
            if drained and channel.eof_received:
                got.ended = True
                # The exit status comes with the end of data; a command killed by a signal
                # sends none (paramiko keeps -1).
                channel.status_event.wait(0.5)
                got.status = None if channel.exit_status == -1 else channel.exit_status
                return
            if channel.closed or not channel.get_transport().is_active():
                got.lost = got.lost or "the connection closed"
                return
            if deadline is not None and time.monotonic() >= deadline:
                got.timed_out = True
                return
            if not busy:
                select.select([channel], [], [], 0.05)
    except (paramiko.SSHException, OSError, EOFError, AttributeError) as exc:
        got.lost = str(exc) or type(exc).__name__


def _session_id(stdout: str) -> int | None:
    for line in stdout.splitlines():
        if line.startswith(_PID_MARK):
            value = line[len(_PID_MARK) :].strip()
            return int(value) if value.isdigit() else None
    return None

"""The ``ssh`` transport: batches on remote servers over SSH, with fabric and paramiko.

One connection per server is kept in a pool and reused by every batch of the process; an idle
one is closed after ``idle_timeout`` seconds, a dead one is reopened once, transparently. A
batch is one round trip: the remote command is always the same fixed bootstrap (no data, no
secret in any argv), and the script travels on the channel's stdin.

The remote side runs the batch in a session of its own (``setsid``) and first tells its
session id: when the batch times out, a second channel signals every process of that
session (``pkill -s``), TERM then KILL, so nothing the batch started survives it.

A server's ``settings["ssh"]`` (see :class:`SSHSettings`) says how to reach it.
"""

from __future__ import annotations

import io
import logging
import select
import shlex
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import paramiko
from fabric import Connection

from orchestra_core.backends.settings import build_settings
from orchestra_core.errors import ConfigurationError
from orchestra_core.execution.script import BOOTSTRAP, parse_output
from orchestra_core.execution.transport import Batch, BatchResult, Probe
from orchestra_core.model.servers import Server

__all__ = ["SSHSettings", "SSHTransport", "ssh_settings"]

log = logging.getLogger(__name__)

_PID_MARK = "@@ORCHESTRA-SESSION "
#: Tells its session id, then runs the batch from stdin (see script.BOOTSTRAP).
REMOTE = f'echo "{_PID_MARK}$$"; {BOOTSTRAP}'
POLICIES = ("strict", "accept-new", "ignore")


@attrs.frozen(kw_only=True)
class SSHSettings:
    """How to reach a server over SSH, from ``Server.settings["ssh"]``.

    ``host_key_policy``: ``strict`` (the default) refuses a host that is not in
    ``known_hosts``; ``accept-new`` adds a host seen for the first time to ``known_hosts``
    (still refusing a changed key); ``ignore`` accepts unknown hosts without recording them.
    A key that differs from the one on record is refused under every policy. ``jump`` is a
    bastion, ``[user@]host[:port]``, reached with the same key. ``sudo`` runs batches with
    ``sudo -n`` (the user needs password-less sudo for ``setsid``, see docs/servers.md).
    """

    user: str = "root"
    port: int = 22
    key_file: str | None = None
    known_hosts: str | None = None
    host_key_policy: str = attrs.field(default="strict", validator=attrs.validators.in_(POLICIES))
    jump: str | None = None
    connect_timeout: float = 10.0
    connect_retries: int = 2
    retry_backoff: float = 0.5
    idle_timeout: float = 300.0
    sudo: bool = False


def ssh_settings(server: Server) -> SSHSettings:
    """The SSH settings of ``server``; bad ones are a :class:`ConfigurationError`."""
    settings: SSHSettings = build_settings(
        SSHSettings, server.settings.get("ssh", {}), where=f"ssh on server {server.name}"
    )
    return settings


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
                    raise ConnectionError(
                        f"cannot reach {settings.user}@{server.address}:{settings.port} "
                        f"after {attempts} attempts: {exc.__cause__ or exc}"
                    ) from exc
                time.sleep(settings.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, server: Server, settings: SSHSettings) -> Connection:
        connect_kwargs: dict[str, Any] = {"look_for_keys": False, "allow_agent": False}
        if settings.key_file:
            connect_kwargs["key_filename"] = settings.key_file
        gateway = None
        if settings.jump:
            user, _, hostport = settings.jump.rpartition("@")
            host, _, port = hostport.partition(":")
            gateway = Connection(
                host,
                user=user or settings.user,
                port=int(port or 22),
                connect_timeout=settings.connect_timeout,
                connect_kwargs=dict(connect_kwargs),
            )
            _pin_host_keys(gateway, settings)
        connection = Connection(
            server.address,
            user=settings.user,
            port=settings.port,
            connect_timeout=settings.connect_timeout,
            connect_kwargs=connect_kwargs,
            gateway=gateway,
        )
        _pin_host_keys(connection, settings)
        try:
            connection.open()
        except paramiko.BadHostKeyException as exc:
            raise ConnectionError(
                f"the host key of {server.name} ({server.address}:{settings.port}) does not "
                f"match the one on record in {settings.known_hosts or '~/.ssh/known_hosts'}: "
                "refusing to connect (if the server was reinstalled, remove its old key)"
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise ConnectionError(
                f"{settings.user}@{server.address}:{settings.port} refused the key "
                f"{settings.key_file or '(none given)'}: {exc}"
            ) from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise ConnectionError(
                    f"the host key of {server.name} ({server.address}:{settings.port}) is "
                    f"not in {settings.known_hosts or '~/.ssh/known_hosts'}: add it, or set "
                    "host_key_policy: accept-new"
                ) from exc
            raise _Unreachable(str(exc)) from exc
        except (OSError, EOFError) as exc:
            raise _Unreachable(str(exc)) from exc
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

    # -- running ------------------------------------------------------------------------------

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        """Run ``batch`` on ``server`` in one round trip; transport failures are reported.

        A pooled connection found dead before anything was sent is reopened, once.
        """
        lost = ""
        for _attempt in range(2):
            try:
                pooled = self._checkout(server)
            except (ConnectionError, ConfigurationError) as exc:
                return BatchResult(steps=(), error=str(exc))
            with pooled.lock:
                try:
                    return self._run(pooled, batch, timeout)
                except _ReconnectOnce as exc:
                    lost = str(exc)
            with self._lock:
                self._pool.pop(server.name, None)
        return BatchResult(steps=(), error=f"connection lost: {lost}")

    def _run(self, pooled: _Pooled, batch: Batch, timeout: float | None) -> BatchResult:
        command = _command(pooled.settings, REMOTE)
        try:
            channel = pooled.connection.client.get_transport().open_session()
        except (paramiko.SSHException, OSError, AttributeError) as exc:
            raise _ReconnectOnce(str(exc)) from exc
        started = False
        try:
            channel.exec_command(command)
            started = True
            channel.sendall(batch.script.encode("utf-8"))
            channel.shutdown_write()
            out, err, code, timed_out = _collect(channel, timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            # Lost mid-batch: what reported stands, the rest is an error (never retried: the
            # script may have run part way).
            return BatchResult(steps=(), error=f"connection lost during the batch: {exc}")
        finally:
            if not started:
                channel.close()
        stdout = out.decode("utf-8", errors="replace")
        session = _session_id(stdout)
        if timed_out:
            self._kill(pooled, session)
        channel.close()
        steps = tuple(parse_output(stdout, batch.nonce))
        error = None
        if code == -1 and not timed_out:
            error = "the connection closed before the batch ended"
        return BatchResult(
            steps=steps,
            exit_code=None if code == -1 else code,
            stderr=err.decode("utf-8", errors="replace"),
            error=error,
            timed_out=timed_out,
        )

    def _kill(self, pooled: _Pooled, session: int | None) -> None:
        """TERM, then KILL, every process of the timed-out batch's session."""
        if session is None:
            return
        script = (
            f"pkill -TERM -s {session}; for i in 1 2 3 4 5 6 7 8 9 10; do "
            f"pgrep -s {session} >/dev/null || exit 0; sleep 0.2; done; pkill -KILL -s {session}"
        )
        try:
            pooled.connection.run(
                _command(pooled.settings, script), hide=True, warn=True, timeout=15
            )
        except Exception as exc:  # the batch already failed; say so, do not raise
            log.warning("could not kill the timed-out batch (session %s): %s", session, exc)

    def probe(self, server: Server, tools: Sequence[str]) -> Probe:
        """Reach and log in to ``server`` and look for ``tools`` there, in one round trip."""
        try:
            pooled = self._checkout(server)
        except (ConnectionError, ConfigurationError) as exc:
            return Probe(reachable=False, error=str(exc))
        script = 'for t in "$@"; do command -v -- "$t" >/dev/null 2>&1 || echo "$t"; done'
        command = _command(
            pooled.settings,
            f"bash -c {shlex.quote(script)} probe " + " ".join(shlex.quote(t) for t in tools),
        )
        with pooled.lock:
            try:
                result = pooled.connection.run(command, hide=True, warn=True, timeout=30)
            except Exception as exc:
                return Probe(reachable=True, error=f"could not run the probe: {exc}")
        if result.exited != 0:
            return Probe(reachable=True, error=f"the probe failed: {result.stderr.strip()}")
        missing = tuple(line for line in result.stdout.split() if line)
        return Probe(reachable=True, authenticated=True, missing_tools=missing)

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            pooled, self._pool = list(self._pool.values()), {}
        for entry in pooled:
            entry.connection.close()


class _ReconnectOnce(Exception):
    """A pooled connection turned out dead before anything was sent."""


def _command(settings: SSHSettings, script: str) -> str:
    """The remote command: ``script`` in bash, in a session of its own, with sudo if set."""
    inner = f"setsid -w bash -c {shlex.quote(script)}"
    return f"sudo -n {inner}" if settings.sudo else inner


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


def _collect(channel: paramiko.Channel, timeout: float | None) -> tuple[bytes, bytes, int, bool]:
    """stdout, stderr, exit status (-1 when unknown) and whether ``timeout`` ran out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    out, err = io.BytesIO(), io.BytesIO()
    while True:
        got = False
        while channel.recv_ready():
            out.write(channel.recv(1 << 16))
            got = True
        while channel.recv_stderr_ready():
            err.write(channel.recv_stderr(1 << 16))
            got = True
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        ):
            break
        if channel.closed or not channel.get_transport().is_active():
            return out.getvalue(), err.getvalue(), -1, False
        if deadline is not None and time.monotonic() >= deadline:
            return out.getvalue(), err.getvalue(), -1, True
        if not got:
            select.select([channel], [], [], 0.05)
    return out.getvalue(), err.getvalue(), channel.recv_exit_status(), False


def _session_id(stdout: str) -> int | None:
    for line in stdout.splitlines():
        if line.startswith(_PID_MARK):
            value = line[len(_PID_MARK) :].strip()
            return int(value) if value.isdigit() else None
    return None

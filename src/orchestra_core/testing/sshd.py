"""Real SSH test hosts on loopback: one OpenSSH ``sshd`` per 127.0.0.x address.

:func:`start_ssh_hosts` makes one client key pair, then for each host a host key, an
``sshd_config`` and an ``authorized_keys`` file in a folder of its own, checks the config with
``sshd -t`` and runs ``sshd -D -e`` through :class:`~orchestra_core.testing.daemon.DaemonProcess`
on a free port of its address. The :class:`SSHHost` it returns knows how to reach the host with
the ``ssh`` client (:meth:`SSHHost.ssh_args`, :meth:`SSHHost.run`) and gives the
:class:`~orchestra_core.model.Server` that the ssh transport drives (:meth:`SSHHost.server`).

Nothing outside the host's folder is read or written, except ``/run/sshd`` (sshd's
privilege-separation folder, made when missing): root's own ``~/.ssh`` is never touched.
The ``ssh_hosts`` and ``ssh_host_factory`` fixtures of the orchestra pytest plugin are built
on :class:`SSHHostFactory`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from orchestra_core.execution.local import process_alive
from orchestra_core.testing.daemon import DaemonError, DaemonProcess, descendants, free_port
from orchestra_core.testing.factory import InstanceFactory, MakeDir

if TYPE_CHECKING:
    from orchestra_core.model import Server

__all__ = [
    "SSHD",
    "SSHHost",
    "SSHHostFactory",
    "SSHHostKind",
    "known_hosts_name",
    "start_ssh_hosts",
]

#: The sshd binary; it must be an absolute path (sshd re-executes itself per connection).
SSHD = "/usr/sbin/sshd"
#: sshd's privilege-separation folder; it refuses to start as root without it.
PRIVSEP_DIR = Path("/run/sshd")
#: Seconds an ``ssh`` client waits for the TCP connection in :meth:`SSHHost.run`.
CONNECT_TIMEOUT = 10

SSHD_CONFIG = """\
# Written by orchestra_core.testing.sshd for one test host; everything lives in {dir}.
ListenAddress {address}
Port {port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The keys live in a temp dir that sshd's ownership checks would refuse.
StrictModes no
# No AcceptEnv line: the client's SendEnv (LANG, LC_*) is ignored.
MaxStartups 100
MaxSessions 100
PrintMotd no
PrintLastLog no
UseDNS no
Subsystem sftp internal-sftp
LogLevel VERBOSE
{extra}"""

#: Makes the login shell skip ~/.bashrc: bash reads it for a command run by sshd only when
#: its shell level is 1, and it counts this SHLVL up to 2. Root's .bashrc here runs pyenv.
SKIP_BASHRC = "SetEnv SHLVL=1\n"
#: OpenSSH 9.8 and later slow down sources whose connections fail; tests do that on purpose.
NO_PENALTIES = "PerSourcePenalties no\n"


@attrs.frozen(eq=False)
class SSHHost:
    """One running sshd started by :func:`start_ssh_hosts`, and how to reach it as ``user``.

    It listens on ``address`` (127.0.0.x) and ``port``. Its folder ``dir`` holds the host key,
    ``sshd_config``, ``authorized_keys``, the pid file and sshd's logs (``sshd.stderr.log``).
    ``key_file`` is the client's private key (shared by the hosts of one call) and
    ``known_hosts`` a file that trusts this host's key, ``host_key_public`` (``ssh-ed25519
    AAAA...``), only.
    """

    name: str
    address: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    host_key_public: str
    dir: Path
    process: DaemonProcess

    @property
    def config(self) -> Path:
        """The host's ``sshd_config``."""
        return self.dir / "sshd_config"

    @property
    def pid_file(self) -> Path:
        """The pid file sshd writes when it starts and removes when it stops cleanly."""
        return self.dir / "sshd.pid"

    @property
    def running(self) -> bool:
        """True while the listening sshd runs."""
        return self.process.running

    def ssh_args(self) -> list[str]:
        """An ``ssh`` argv up to and including ``user@address``: append the command.

        Reads no ssh config file (``-F none``), offers only ``key_file``, trusts only
        ``known_hosts`` and never prompts.
        """
        return [
            "ssh",
            "-F",
            "none",
            "-i",
            str(self.key_file),
            "-p",
            str(self.port),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"ConnectTimeout={CONNECT_TIMEOUT}",
            f"{self.user}@{self.address}",
        ]

    def run(
        self, command: str, *, input: str | None = None, timeout: float | None = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the host with the ``ssh`` client; never raises on its exit code.

        ``returncode`` is the command's, or 255 when ssh itself failed (refused connection,
        unknown host key); stdout and stderr are captured as text.
        """
        return subprocess.run(
            [*self.ssh_args(), command],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def stop(self) -> int | None:
        """Stop sshd and every session it started: open connections drop, new ones are refused.

        The listener is frozen first so that it accepts nothing while its sessions (which run
        in sessions of their own, out of its process group) are found and killed. Returns
        sshd's exit code, or None if it was never started. Safe to call twice.
        """
        pid = self.process.pid
        if pid is not None and self.process.running:
            _kill_sessions(pid)
        return self.process.stop()

    def reset(self) -> SSHHost:
        """Make the host as a test expects to find it: running (started again if a test
        stopped it), with no session left from an earlier test. Returns ``self``."""
        pid = self.process.pid
        if pid is not None and self.process.running:
            _kill_sessions(pid, stop_listener=False)
        else:
            self.start()
        return self

    def start(self, timeout: float = 10.0) -> SSHHost:
        """Start sshd again after :meth:`stop`, with the same config, keys and port.

        Raises :class:`~orchestra_core.testing.daemon.DaemonError` if it does not come up (for
        example when something else took the port meanwhile). Returns ``self``.
        """
        _ensure_privsep_dir()
        self.process.start(timeout=timeout)
        return self

    def server_settings(self) -> dict[str, Any]:
        """The ``Server.settings`` block the ssh transport reads: ``{"ssh": {...}}``."""
        return {
            "ssh": {
                "user": self.user,
                "port": self.port,
                "key_file": str(self.key_file),
                "known_hosts": str(self.known_hosts),
            }
        }

    def server(self, name: str | None = None, **fields: Any) -> Server:
        """A :class:`~orchestra_core.model.Server` reaching this host over ``ssh``.

        ``name`` defaults to the host's. Other ``fields`` go to the Server; a ``settings``
        field is merged over :meth:`server_settings` (its ``ssh`` block key by key).
        """
        from orchestra_core.model import Server

        settings = self.server_settings()
        for key, value in dict(fields.pop("settings", None) or {}).items():
            if key == "ssh" and isinstance(value, dict):
                settings["ssh"] = {**settings["ssh"], **value}
            else:
                settings[key] = value
        fields.setdefault("address", self.address)
        return Server(
            name=name or self.name,
            transport="ssh",
            settings=settings,
            **fields,
        )


def start_ssh_hosts(
    dir: Path | str,
    count: int,
    *,
    first: int = 2,
    read_bashrc: bool = False,
    timeout: float = 10.0,
) -> list[SSHHost]:
    """Start ``count`` sshd hosts on 127.0.0.``first`` onwards, all in folders under ``dir``.

    One client key pair (``dir/client_key``) logs in to every host as the current user; each
    host gets its own ed25519 host key and folder (``dir/hostN`` for 127.0.0.N) and listens on
    a free port of its address. With ``read_bashrc`` False (the default) the user's login
    shell skips ``~/.bashrc`` (see :data:`SKIP_BASHRC`). Raises
    :class:`~orchestra_core.testing.daemon.DaemonError` when a config is refused by ``sshd
    -t`` or a host does not come up; the hosts already started are stopped first.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    if first < 1 or first + count - 1 > 254:
        raise ValueError(
            f"127.0.0.{first} to 127.0.0.{first + count - 1} is not within 127.0.0.1-254"
        )
    if not os.access(SSHD, os.X_OK):
        raise DaemonError(
            "sshd is not installed: install openssh-server (scripts/install-system-packages)",
            argv=[SSHD],
        )
    base = Path(dir)
    base.mkdir(parents=True, exist_ok=True)
    _ensure_privsep_dir()
    key_file = base / "client_key"
    _keygen(key_file, comment="orchestra-test-client")
    client_public = _public_key(key_file)
    user = pwd.getpwuid(os.geteuid()).pw_name
    extra = ("" if read_bashrc else SKIP_BASHRC) + (NO_PENALTIES if _has_penalties() else "")

    hosts: list[SSHHost] = []
    try:
        for octet in range(first, first + count):
            host = _prepare_host(
                base / f"host{octet}",
                name=f"host{octet}",
                address=f"127.0.0.{octet}",
                user=user,
                key_file=key_file,
                client_public=client_public,
                extra=extra,
            )
            hosts.append(host)
            host.start(timeout=timeout)
    except BaseException:
        for host in reversed(hosts):
            with contextlib.suppress(Exception):
                host.stop()
        raise
    return hosts


class SSHHostKind:
    """sshd test hosts as a :class:`~orchestra_core.testing.factory.DaemonKind`: one
    instance is the list of hosts of one call, sharing a client key.

    ``start(make_dir, count=1, *, first=None, read_bashrc=False)`` starts ``count`` hosts
    (see :func:`start_ssh_hosts`) on the next 127.0.0.x addresses this kind has not given
    out yet, from ``first_address`` on, or from ``first`` when it is given. Reset kills every
    session (or starts a stopped host again); stop stops the hosts and their sessions.
    """

    name = "ssh"

    def __init__(self, *, first_address: int = 2) -> None:
        self.next_address = first_address

    def start(
        self,
        make_dir: MakeDir,
        /,
        count: int = 1,
        *,
        first: int | None = None,
        read_bashrc: bool = False,
        timeout: float = 10.0,
    ) -> list[SSHHost]:
        octet = self.next_address if first is None else first
        hosts = start_ssh_hosts(
            make_dir("ssh"), count, first=octet, read_bashrc=read_bashrc, timeout=timeout
        )
        if first is None:
            self.next_address = octet + count
        return hosts

    def reset(self, hosts: list[SSHHost], /) -> None:
        for host in hosts:
            host.reset()

    def stop(self, hosts: list[SSHHost], /) -> None:
        first: BaseException | None = None
        for host in reversed(hosts):
            try:
                host.stop()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first


class SSHHostFactory(InstanceFactory[SSHHostKind]):
    """Starts SSH hosts, each call in a new folder from ``make_dir(name)``, and stops them:
    the generic :class:`~orchestra_core.testing.factory.InstanceFactory` of
    :class:`SSHHostKind`.

    ``factory(count=1, read_bashrc=False)`` is a list of ``count`` started :class:`SSHHost`
    (see :func:`start_ssh_hosts`). Each call takes the next unused 127.0.0.x addresses,
    from ``first`` on, so the hosts of one factory never share an address. Behind the
    ``ssh_host_factory`` fixture.
    """

    def __init__(self, make_dir: MakeDir, *, first: int = 2) -> None:
        super().__init__(SSHHostKind(first_address=first), make_dir)

    @property
    def hosts(self) -> list[SSHHost]:
        """Every host started here and not stopped by :meth:`stop_all`, oldest first."""
        return [host for hosts in self.instances for host in hosts]


# -- building a host ---------------------------------------------------------------------------


def _prepare_host(
    dir: Path,
    *,
    name: str,
    address: str,
    user: str,
    key_file: Path,
    client_public: str,
    extra: str,
) -> SSHHost:
    """Write one host's keys and config into ``dir`` and check the config; start nothing."""
    dir.mkdir(parents=True, exist_ok=True)
    host_key = dir / "ssh_host_ed25519_key"
    _keygen(host_key, comment=name)
    host_public = _public_key(host_key)
    authorized_keys = dir / "authorized_keys"
    authorized_keys.write_text(client_public + "\n", encoding="utf-8")
    authorized_keys.chmod(0o600)
    port = free_port(address)
    known_hosts = dir / "known_hosts"
    known_hosts.write_text(f"{known_hosts_name(address, port)} {host_public}\n", encoding="utf-8")
    config = dir / "sshd_config"
    config.write_text(
        SSHD_CONFIG.format(
            dir=dir,
            address=address,
            port=port,
            host_key=host_key,
            pid_file=dir / "sshd.pid",
            authorized_keys=authorized_keys,
            extra=extra,
        ),
        encoding="utf-8",
    )
    check = [SSHD, "-t", "-f", str(config)]
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DaemonError(
            f"sshd refused the config {config}",
            argv=check,
            exit_code=result.returncode,
            stderr_tail=(result.stderr + result.stdout).strip(),
        )
    process = DaemonProcess(
        [SSHD, "-D", "-e", "-f", str(config)],
        cwd=dir,
        ready_port=port,
        host=address,
        name="sshd",
    )
    return SSHHost(
        name=name,
        address=address,
        port=port,
        user=user,
        key_file=key_file,
        known_hosts=known_hosts,
        host_key_public=host_public,
        dir=dir,
        process=process,
    )


def known_hosts_name(address: str, port: int) -> str:
    """How a known_hosts line names ``address:port``: ``[address]:port``, or bare on port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def _keygen(path: Path, *, comment: str) -> None:
    """Make an ed25519 key pair without passphrase at ``path`` and ``path.pub``."""
    argv = ["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-C", comment, "-f", str(path)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise DaemonError(f"ssh-keygen could not be run ({exc})", argv=argv) from exc
    if result.returncode != 0:
        raise DaemonError(
            "ssh-keygen failed",
            argv=argv,
            exit_code=result.returncode,
            stderr_tail=(result.stderr + result.stdout).strip(),
        )


def _public_key(private_key: Path) -> str:
    """``TYPE BASE64`` of the public key beside ``private_key``, without its comment."""
    fields = private_key.with_name(private_key.name + ".pub").read_text(encoding="utf-8").split()
    return f"{fields[0]} {fields[1]}"


def _ensure_privsep_dir() -> None:
    """Make ``/run/sshd`` when missing (as the packaging would at boot); sshd needs it as root."""
    if not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


@functools.cache
def _has_penalties() -> bool:
    """True when this sshd (OpenSSH 9.8 or later) knows ``PerSourcePenalties``."""
    result = subprocess.run([SSHD, "-V"], capture_output=True, text=True, check=False)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stderr + result.stdout)
    return found is not None and (int(found[1]), int(found[2])) >= (9, 8)


# -- stopping sessions -----------------------------------------------------------------------------


#: Seconds :func:`_kill_sessions` waits for the killed sessions to be gone.
KILL_WAIT = 5.0


def _kill_sessions(listener: int, *, stop_listener: bool = True) -> None:
    """SIGKILL every process descended from the sshd ``listener``, which is frozen (SIGSTOP)
    meanwhile so that it starts no new session, then continued: with ``stop_listener``, with
    SIGTERM pending so that it exits before accepting again."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(listener, signal.SIGSTOP)
    frozen: set[int] = set()
    # Freeze top-down until nothing new appears: a frozen process forks no more, and a live
    # parent keeps its children findable (a killed one would hand them to init).
    while True:
        new = descendants(listener) - frozen
        if not new:
            break
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        frozen |= new
    for pid in frozen:
        _signal(pid, signal.SIGKILL)
    if stop_listener:
        _signal(listener, signal.SIGTERM)
    _signal(listener, signal.SIGCONT)
    # SIGKILL is delivered at once but a busy machine takes a moment to tear a process down:
    # wait (bounded) so that "stopped" means gone.
    deadline = time.monotonic() + KILL_WAIT
    while any(process_alive(pid) for pid in frozen) and time.monotonic() < deadline:
        time.sleep(0.01)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)

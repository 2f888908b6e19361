"""Real named instances for tests: one per temp dir, on free loopback ports.

:func:`start_named` writes a ``named.conf`` (rndc key and control channel, a log file, and an
orchestra-owned include file that starts empty), checks it with ``named-checkconf``, runs
``named`` in the foreground through :class:`~orchestra_core.testing.daemon.DaemonProcess` and
returns once ``rndc status`` answers. The :class:`NamedInstance` it returns queries the server
with dnspython and gives the settings the bind9 backends take to drive it.

:class:`NamedKind` describes named to orchestra's generic test-daemon factory
(:class:`~orchestra_core.testing.factory.InstanceFactory`): how to start one, what a reset is
(:meth:`NamedInstance.reset`: running, reloaded with no zone and empty folders) and how to
stop it. This module is also the pytest plugin ``orchestra_bind9`` (``pytest11`` entry point):
it offers the ``named_master`` and ``named_slave`` fixtures (the session's two instances,
reset for each test) and ``named_factory`` (private ones, stopped after the test). It imports
orchestra and dnspython inside functions only, so that loading the plugin costs nothing.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    import dns.message

    from orchestra_core.testing.daemon import DaemonProcess
    from orchestra_core.testing.factory import InstanceFactory, MakeDir, SharedDaemons

    #: What ``named_factory`` is: orchestra's generic factory, of :class:`NamedKind`.
    NamedFactory = InstanceFactory["NamedKind"]

__all__ = [
    "NamedFactory",
    "NamedInstance",
    "NamedKind",
    "named_factory",
    "named_master",
    "named_slave",
    "start_named",
]

#: Loopback address every test named listens on (peers differ by port).
ADDRESS = "127.0.0.1"
#: Seconds a DNS query waits for an answer.
QUERY_TIMEOUT = 2.0
#: Name of the rndc key in ``named.conf`` and ``rndc.conf``.
RNDC_KEY = "orchestra-test"

NAMED_CONF = """\
options {{
    directory "{dir}";
    listen-on port {port} {{ {address}; }};
    listen-on-v6 {{ none; }};
    pid-file "{dir}/named.pid";
    session-keyfile "{dir}/session.key";
    managed-keys-directory "{dir}";
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify explicit;
    notify-delay 0;
{options}}};

key "{key_name}" {{
    algorithm hmac-sha256;
    secret "{secret}";
}};

controls {{
    inet {address} port {control_port} allow {{ {address}; }} keys {{ "{key_name}"; }};
}};

logging {{
    channel test_log {{
        file "{log}";
        severity info;
        print-time yes;
        print-category yes;
        print-severity yes;
    }};
    category default {{ test_log; }};
    category general {{ test_log; }};
    category xfer-in {{ test_log; }};
    category xfer-out {{ test_log; }};
    category notify {{ test_log; }};
}};

include "{include}";
"""

RNDC_CONF = """\
key "{key_name}" {{
    algorithm hmac-sha256;
    secret "{secret}";
}};

options {{
    default-key "{key_name}";
    default-server {address};
    default-port {control_port};
}};
"""


@attrs.frozen(eq=False)
class NamedInstance:
    """A running named started by :func:`start_named`, and how to talk to it.

    Everything lives in ``dir``: ``conf`` (named.conf), ``rndc_conf``, ``include_file``
    (orchestra's include, empty at start), ``zone_dir``, ``slave_dir``, ``conf_dir`` and
    ``log`` (named's log, severity info, with times). It answers DNS on ``127.0.0.1:port``
    (UDP and TCP) and rndc on ``127.0.0.1:control_port``. Unlike a stock named it sends
    notifies at once (``notify-delay 0``), so tests of zone transfers need not wait 5 s.
    """

    name: str
    dir: Path
    port: int
    control_port: int
    conf: Path
    rndc_conf: Path
    include_file: Path
    zone_dir: Path
    slave_dir: Path
    conf_dir: Path
    log: Path
    process: DaemonProcess
    #: Mutable bookkeeping of a frozen record: where the log of this test starts, and how
    #: many zones named serves by itself (built-in ones), as counted right after start.
    _marks: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)

    def __repr__(self) -> str:
        return f"<NamedInstance {self.name} port={self.port} dir={self.dir}>"

    # -- control ----------------------------------------------------------------------------------

    def rndc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``rndc -c RNDC_CONF ARGS``; with ``check`` a non-zero exit raises
        :class:`subprocess.CalledProcessError` (its output is in the exception)."""
        return subprocess.run(
            ["rndc", "-c", str(self.rndc_conf), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )

    def settings(self, **overrides: object) -> dict[str, object]:
        """The settings the bind9 backends take to manage this instance, with ``overrides``."""
        settings: dict[str, object] = {
            "zone_dir": str(self.zone_dir),
            "slave_dir": str(self.slave_dir),
            "conf_dir": str(self.conf_dir),
            "include_file": str(self.include_file),
            "rndc": ["rndc", "-c", str(self.rndc_conf)],
            "port": self.port,
            "address": ADDRESS,
        }
        settings.update(overrides)
        return settings

    def rndc_out_of_reach(self, how: str = "key") -> list[str]:
        """An rndc command (for the ``rndc`` setting) that cannot reach this named while it
        runs, as an operator's broken rndc would: ``"key"`` signs with a key named does not
        know (named closes the connection: "connection to remote host closed"), ``"port"``
        asks a loopback port where nothing listens ("connection refused"). Its config file
        is written into ``dir``."""
        from orchestra_core.testing.daemon import free_port, write_config

        if how == "key":
            secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            port = self.control_port
        elif how == "port":
            secret = _secret_of(self.rndc_conf)
            port = free_port(ADDRESS)
            while port in (self.port, self.control_port):
                port = free_port(ADDRESS)
        else:
            raise ValueError(f"rndc is put out of reach by 'key' or 'port', not {how!r}")
        fields = {"key_name": RNDC_KEY, "secret": secret, "address": ADDRESS}
        text = RNDC_CONF.format(control_port=port, **fields)
        conf = write_config(self.dir, f"rndc-wrong-{how}.conf", text, mode=0o600)
        return ["rndc", "-c", str(conf)]

    def stop(self) -> int | None:
        """Stop named (SIGTERM, SIGKILL after 5 s) and wait until none of its sockets is
        open; its exit code, None if never started."""
        return self.process.stop()

    def restart(self, timeout: float = 10.0) -> None:
        """Start named again (stopping it first if it runs), on the same config, ports and
        files; returns once rndc answers. It loads every zone from its file, as at boot."""
        self.process.stop()
        self.process.start(timeout=timeout)

    def zone_count(self) -> int:
        """How many zones named serves now, its built-in ones included (``rndc status``)."""
        found = re.search(r"number of zones: (\d+)", self.rndc("status").stdout)
        if found is None:
            raise ValueError(f"rndc status of {self.name} gives no number of zones")
        return int(found[1])

    def reset(self, timeout: float = 10.0) -> NamedInstance:
        """Make the instance as a test expects to find it, and return it: running (started
        again if a test stopped it), reloaded with an empty include file so that it serves
        no zone of an earlier test, ``zone_dir``, ``slave_dir`` and ``conf_dir`` empty, and
        :meth:`log_text` starting with this reload. The session's ``named_master`` and
        ``named_slave`` are reset before each test."""
        if not self.process.running:
            self.restart(timeout=timeout)
        # The test's log starts with this reconfig (it ends with "running", as a start does).
        self._marks["log_start"] = self._log_size()
        self.include_file.write_text("", encoding="utf-8")
        self.rndc("reconfig")
        builtin = self._marks.get("builtin_zones")
        if builtin is not None and not self.wait_for(lambda: self.zone_count() <= builtin, timeout):
            raise AssertionError(f"named {self.name} still serves zones after reconfig")
        # After the reconfig: a zone still served could write its file again.
        for folder in (self.zone_dir, self.slave_dir, self.conf_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def _log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self) -> str:
        """named's log since it was started or last :meth:`reset` ("" before it wrote any)."""
        try:
            with self.log.open("rb") as log:
                log.seek(self._marks.get("log_start", 0))
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- queries ----------------------------------------------------------------------------------

    def query(self, name: str, rdtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
        """Ask this named for ``name``/``rdtype`` over UDP (or TCP); the whole response.

        Raises ``dns.exception.Timeout`` when there is no answer within 2 seconds.
        """
        import dns.message
        import dns.query

        request = dns.message.make_query(name, rdtype)
        if tcp:
            return dns.query.tcp(request, ADDRESS, timeout=QUERY_TIMEOUT, port=self.port)
        return dns.query.udp(request, ADDRESS, timeout=QUERY_TIMEOUT, port=self.port)

    def answers(self, name: str, rdtype: str = "A") -> list[str]:
        """The answer's records of ``name``/``rdtype`` as rdata text, sorted ([] if none)."""
        import dns.name
        import dns.rdataclass
        import dns.rdatatype

        response = self.query(name, rdtype)
        rrset = response.get_rrset(
            response.answer,
            dns.name.from_text(name),
            dns.rdataclass.IN,
            dns.rdatatype.from_text(rdtype),
        )
        return sorted(rdata.to_text() for rdata in rrset) if rrset is not None else []

    def rcode(self, name: str, rdtype: str = "A") -> str:
        """The response code for ``name``/``rdtype``: "NOERROR", "NXDOMAIN", "REFUSED"..."""
        import dns.rcode

        return dns.rcode.to_text(self.query(name, rdtype).rcode())

    def serial(self, zone: str) -> int | None:
        """The SOA serial this named serves for ``zone``; None while it does not serve it
        authoritatively (unknown zone, slave not transferred yet)."""
        import dns.flags
        import dns.rcode

        response = self.query(zone, "SOA")
        if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
            return None
        for rrset in response.answer:
            for rdata in rrset:
                serial = getattr(rdata, "serial", None)
                if isinstance(serial, int):
                    return serial
        return None

    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Call ``predicate`` until it returns True (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def start_named(
    dir: Path, *, name: str = "named", options: str = "", timeout: float = 10.0
) -> NamedInstance:
    """Configure and start a named in ``dir`` (created if missing); returns once rndc answers.

    ``options`` is added to the ``options`` block as it is (``"ixfr-from-differences yes;"``).

    Raises :class:`~orchestra_core.testing.daemon.DaemonError` when ``named-checkconf``
    rejects the generated config, or named exits or does not answer ``rndc status`` within
    ``timeout`` seconds (the error quotes the end of named's log).
    """
    from orchestra_core.testing.daemon import DaemonError, DaemonProcess, free_port, write_config

    dir = Path(dir).resolve()
    zone_dir, slave_dir, conf_dir = dir / "zones", dir / "slaves", dir / "conf"
    for folder in (dir, zone_dir, slave_dir, conf_dir):
        folder.mkdir(parents=True, exist_ok=True)
    include_file = write_config(dir, "named.conf.orchestra", "")
    log = dir / "named.log"
    port = _free_dns_port()
    control_port = free_port(ADDRESS)
    while control_port == port:
        control_port = free_port(ADDRESS)
    fields = {
        "dir": dir,
        "address": ADDRESS,
        "port": port,
        "control_port": control_port,
        "key_name": RNDC_KEY,
        "secret": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
        "log": log,
        "include": include_file,
        "options": "".join(
            f"    {line.strip()}\n" for line in options.splitlines() if line.strip()
        ),
    }
    conf = write_config(dir, "named.conf", NAMED_CONF.format(**fields), mode=0o600)
    rndc_conf = write_config(dir, "rndc.conf", RNDC_CONF.format(**fields), mode=0o600)
    check = subprocess.run(
        ["named-checkconf", str(conf)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise DaemonError(
            "named-checkconf rejects the generated config",
            argv=check.args,
            exit_code=check.returncode,
            stderr_tail=(check.stdout + check.stderr).strip(),
        )

    def rndc_answers() -> bool:
        status = subprocess.run(
            ["rndc", "-c", str(rndc_conf), "status"],
            capture_output=True,
            check=False,
            timeout=10,
        )
        return status.returncode == 0

    # -f, not -g: -g sends everything to stderr and ignores the logging statement. -L gets the
    # lines named logs before it has read its config into the same file.
    process = DaemonProcess(
        ["named", "-f", "-L", str(log), "-c", str(conf)],
        cwd=dir,
        ready=rndc_answers,
        name=name,
    )
    instance = NamedInstance(
        name=name,
        dir=dir,
        port=port,
        control_port=control_port,
        conf=conf,
        rndc_conf=rndc_conf,
        include_file=include_file,
        zone_dir=zone_dir,
        slave_dir=slave_dir,
        conf_dir=conf_dir,
        log=log,
        process=process,
    )
    try:
        process.start(timeout=timeout)
    except DaemonError as exc:
        tail = "\n".join(instance.log_text().splitlines()[-20:]) or exc.stderr_tail
        raise DaemonError(
            f"named {name} did not come up ({exc.message})",
            argv=exc.argv,
            exit_code=exc.exit_code,
            stderr_tail=tail,
        ) from exc
    instance._marks["builtin_zones"] = instance.zone_count()
    return instance


def _secret_of(rndc_conf: Path) -> str:
    """The key secret of an rndc.conf written by :func:`start_named`."""
    match = re.search(r'secret "([^"]*)"', rndc_conf.read_text())
    if match is None:
        raise ValueError(f"{rndc_conf} holds no key secret")
    return match[1]


def _free_dns_port() -> int:
    """A loopback port free for both TCP and UDP right now (DNS listens on both)."""
    from orchestra_core.testing.daemon import free_port

    return free_port(ADDRESS, udp=True)


class NamedKind:
    """named as a :class:`~orchestra_core.testing.factory.DaemonKind`: what orchestra's
    generic factory needs to start, reset and stop test instances.

    ``start(make_dir, name="named", *, options="", timeout=10.0)`` is :func:`start_named` in
    a new folder ``named-NAME``; reset is :meth:`NamedInstance.reset`; stop
    :meth:`NamedInstance.stop`.
    """

    name = "named"

    def start(
        self, make_dir: MakeDir, /, name: str = "named", *, options: str = "", timeout: float = 10.0
    ) -> NamedInstance:
        return start_named(make_dir(f"named-{name}"), name=name, options=options, timeout=timeout)

    def reset(self, instance: NamedInstance, /) -> None:
        instance.reset()

    def stop(self, instance: NamedInstance, /) -> None:
        instance.stop()


if not TYPE_CHECKING:  # mypy reads NamedFactory above, and checks every other name

    def __getattr__(name: str) -> Any:
        # NamedFactory is orchestra's generic factory: imported on first use, so that
        # loading this plugin imports nothing of orchestra.
        if name == "NamedFactory":
            from orchestra_core.testing.factory import InstanceFactory

            return InstanceFactory
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- pytest fixtures -------------------------------------------------------------------------------


@pytest.fixture
def named_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamedFactory]:
    """A callable that starts real named instances (function scope): orchestra's
    :class:`~orchestra_core.testing.factory.InstanceFactory` of :class:`NamedKind`.

    ``named_factory("name")`` returns a started :class:`NamedInstance` in a new temp dir, on
    its own free ports (``options="ixfr-from-differences yes;"`` adds to its options block);
    every instance it started is stopped at the end of the test, whether it passed or not.
    Override it with a ``named_factory`` fixture of your own in ``conftest.py``.
    """
    from orchestra_core.testing.factory import InstanceFactory

    with InstanceFactory(NamedKind(), tmp_path_factory) as factory:
        yield factory


@pytest.fixture
def named_master(shared_daemons: SharedDaemons) -> NamedInstance:
    """The session's named for master zones (function scope), reset for this test: running,
    serving no zone, its include file and folders empty, its log starting now (see
    :meth:`NamedInstance.reset`). Started on first use by orchestra's ``shared_daemons``,
    stopped at the end of the session.

    Write zone stanzas into its ``include_file`` (or let the bind9 backends do so with
    ``named_master.settings()``) and run ``rndc reconfig``. Override it with a
    ``named_master`` fixture in ``conftest.py``.
    """
    return shared_daemons.instance(NamedKind(), "master", "master")


@pytest.fixture
def named_slave(shared_daemons: SharedDaemons) -> NamedInstance:
    """The session's second named, for slave zones (function scope), on ports of its own;
    reset for this test like ``named_master``. Point its zones at ``127.0.0.1 port
    named_master.port``. Override it with a ``named_slave`` fixture in ``conftest.py``.
    """
    return shared_daemons.instance(NamedKind(), "slave", "slave")

"""Monitors run for real: one batch per server through the local transport (and over SSH),
their output parsed into samples and kept; a failing monitor costs only its own samples."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from orchestra_core import Orchestra, Route, Server, ServiceIndex
from orchestra_core.backends.steps import Command, Step
from orchestra_core.catalogue import Database, SystemUser, Website
from orchestra_core.execution.readonly import guard, unguard
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.hookspecs import hookimpl
from orchestra_core.model.service import Service
from orchestra_core.registry import Registry
from orchestra_core.resources import Monitor, Period, Sample, fold
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.sshd import SSHHost

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ALICE = SystemUser(account="acme", name="alice", home="/srv/homes/alice")
BOB = SystemUser(account="acme", name="bob")
CAROL = SystemUser(account="acme", name="carol")  # no home on the server


class Broken(Monitor):
    """Fails on purpose, on the same server as the others."""

    name: ClassVar[str] = "broken"
    service_type: ClassVar[type[Service]] = SystemUser
    unit: ClassVar[str] = "things"

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        return [Command(description="fail", script="echo half; echo 'no such thing' >&2; exit 3")]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        raise AssertionError("a failed monitor is not parsed")


class DirectoryProbe(Monitor):
    """Follows dummy-database: proves it gets that backend's settings where it is routed."""

    name: ClassVar[str] = "directory-probe"
    service_type: ClassVar[type[Service]] = Database
    unit: ClassVar[str] = "characters"
    backend: ClassVar[str | None] = "dummy-database"

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        return [Command(description="echo", script=f"echo {len(settings.directory)}")]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        return [
            Sample(
                monitor=self.name,
                object_key=obj.key,
                value=float(output.strip()),
                measured_at=measured_at,
                idempotency_key=f"{self.name}:{obj.key}",
            )
            for obj in objects
        ]


class TestPlugin:
    @hookimpl
    def orchestra_monitors(self) -> list[type[Monitor]]:
        return [Broken, DirectoryProbe]


def registry() -> Registry:
    return Registry.load(extra={"test-monitors": TestPlugin()})


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root / "srv/homes/alice/a.txt", 1000)
    write(root / "srv/homes/alice/sub/b.bin", 234)
    write(root / "home/bob/c", 5000)
    return root


@pytest.fixture
def orchestra(root: Path) -> Iterator[Orchestra]:
    routes = [
        Route(backend="disk-usage", servers=("web1",), settings={"apparent_size": True}),
        Route(backend="broken", servers=("web1",)),
    ]
    engine = Orchestra(
        servers=[Server(name="web1", root=str(root))], routes=routes, registry=registry()
    )
    yield engine
    engine.close()


def apparent(folder: Path) -> float:
    """What ``du --apparent-size`` counts: the size of every file and folder in it."""
    return float(sum(p.lstat().st_size for p in [folder, *folder.rglob("*")]))


def test_disk_usage_measures_each_home_in_one_batch(orchestra: Orchestra, root: Path) -> None:
    result = orchestra.measure(
        ServiceIndex((), [ALICE, BOB, CAROL]), monitors=["disk-usage"], at=AT
    )
    assert result.ok, result.failures
    assert {(s.object_key, s.value) for s in result.samples} == {
        ("systemuser:alice", apparent(root / "srv/homes/alice")),
        ("systemuser:bob", apparent(root / "home/bob")),
    }
    assert apparent(root / "home/bob") >= 5000
    assert all(s.measured_at == AT for s in result.samples)
    assert all(s.idempotency_key.startswith("web1/disk-usage:") for s in result.samples)
    assert result.ingested is not None and result.ingested.added == 2
    again = orchestra.measure(ServiceIndex((), [ALICE, BOB, CAROL]), monitors=["disk-usage"], at=AT)
    assert again.ingested is not None and again.ingested.unchanged == 2
    [(key, _, elements)] = list(
        orchestra.store.usage.iter_series(
            ["disk-usage"], AT, AT + timedelta(1), object_keys=["systemuser:bob"]
        )
    )
    assert key == "systemuser:bob"
    assert fold(elements, AT, AT + timedelta(hours=1)).last == apparent(root / "home/bob")


def test_a_failing_monitor_costs_only_its_own_samples(orchestra: Orchestra) -> None:
    result = orchestra.measure(ServiceIndex((), [ALICE]), at=AT)
    assert [s.object_key for s in result.samples] == ["systemuser:alice"]
    [failure] = result.failures
    assert (failure.monitor, failure.server) == ("broken", "web1")
    assert "exit status 3" in failure.message and "no such thing" in failure.message
    assert str(failure).startswith("monitor broken on server web1: ")


def test_a_monitor_follows_its_backends_routes_and_settings(root: Path) -> None:
    routes = [
        Route(backend="dummy-database", servers=("db1",), settings={"directory": "/srv/x"}),
        Route(backend="dummy-database", servers=("db2",), match="obj.name == 'other'"),
    ]
    servers = [Server(name="db1", root=str(root)), Server(name="db2", root=str(root))]
    engine = Orchestra(servers=servers, routes=routes, registry=registry())
    try:
        shop, other = Database(account="acme", name="shop"), Database(account="acme", name="other")
        result = engine.measure(ServiceIndex((), [shop, other]), monitors=["directory-probe"])
    finally:
        engine.close()
    got = sorted((s.idempotency_key.split("/")[0], s.object_key, s.value) for s in result.samples)
    assert got == [
        ("db1", "database:mysql/other", 6.0),
        ("db1", "database:mysql/shop", 6.0),
        ("db2", "database:mysql/other", float(len("/var/lib/orchestra-dummy"))),
    ]


def test_an_unknown_monitor_is_named(orchestra: Orchestra) -> None:
    with pytest.raises(Exception, match=r"unknown monitors \['nope'\]"):
        orchestra.measure(ServiceIndex(), monitors=["nope"])


VHOST_LOG = """\
shop.example.com:443 192.0.2.1 - - [30/Nov/2026:10:05:00 +0000] "GET / HTTP/1.1" 200 1000 "-" "curl/8"
www.shop.example.com:443 192.0.2.1 - - [30/Nov/2026:10:59:59 +0000] "GET /a HTTP/1.1" 200 500 "-" "Mozilla/5.0 (X11; Linux)"
shop.example.com:80 192.0.2.9 - - [30/Nov/2026:11:00:00 +0000] "GET / HTTP/1.1" 301 20 "-" "-"
blog.example.org:443 192.0.2.7 - - [30/Nov/2026:12:30:00 +0100] "GET / HTTP/1.1" 200 7 "-" "-"
other.example.net:443 192.0.2.7 - - [30/Nov/2026:10:30:00 +0000] "GET / HTTP/1.1" 200 99999 "-" "-"
broken line without quotes
blog.example.org:443 192.0.2.7 - - [30/Nov/2026:11:40:00 +0000] "GET / HTTP/1.1" 304 - "-" "-"
"""  # noqa: E501


@pytest.fixture
def sites() -> list[Website]:
    return [
        Website(account="acme", name="shop", domains=("shop.example.com", "www.shop.example.com")),
        Website(account="acme", name="blog", domains=("blog.example.org",)),
    ]


def traffic_engine(root: Path, server: Server | None = None) -> Orchestra:
    log = "/var/log/apache2/other_vhosts_access.log"
    server = server or Server(name="web1", root=str(root))
    route = Route(
        backend="web-traffic", servers=(server.name,), settings={"logs": [log, log + ".1"]}
    )
    return Orchestra(servers=[server], routes=[route], store=MemoryStore())


def test_web_traffic_counts_each_site_and_hour_once(root: Path, sites: list[Website]) -> None:
    log = root / "var/log/apache2/other_vhosts_access.log"
    log.parent.mkdir(parents=True)
    log.write_text(VHOST_LOG)
    engine = traffic_engine(root)
    try:
        first = engine.measure(ServiceIndex((), sites), at=AT)
        assert first.ok, first.failures
        got = {(s.object_key, s.measured_at.hour, s.value) for s in first.samples}
        assert got == {
            ("website:acme/shop", 10, 1500.0),
            ("website:acme/shop", 11, 20.0),
            ("website:acme/blog", 11, 7.0),  # 12:30 +0100 is 11:30 UTC
        }
        again = engine.measure(ServiceIndex((), sites), at=AT + timedelta(minutes=5))
        assert again.ingested is not None
        assert (again.ingested.added, again.ingested.unchanged) == (0, 3)
        # The hour goes on: the next run reads it whole again and replaces its sample.
        with log.open("a") as f:
            f.write(
                "shop.example.com:443 192.0.2.1 - - [30/Nov/2026:11:30:00 +0000] "
                '"GET /b HTTP/1.1" 200 80 "-" "-"\n'
            )
        later = engine.measure(ServiceIndex((), sites), at=AT + timedelta(minutes=10))
        assert later.ingested is not None and later.ingested.replaced == 1
        month = Period.month(2026, 11)
        [(_, _, elements)] = list(
            engine.store.usage.iter_series(
                ["web-traffic"], month.start, month.end, object_keys=["website:acme/shop"]
            )
        )
        assert fold(elements, month.start, month.end).total == 1600.0
    finally:
        engine.close()


def test_web_traffic_without_logs_is_no_traffic(root: Path, sites: list[Website]) -> None:
    engine = traffic_engine(root)
    try:
        result = engine.measure(ServiceIndex((), sites), at=AT)
    finally:
        engine.close()
    assert result.ok and result.samples == ()


@pytest.mark.daemon
def test_monitors_run_over_ssh(root: Path, sites: list[Website], ssh_host: SSHHost) -> None:
    log = root / "var/log/apache2/other_vhosts_access.log"
    log.parent.mkdir(parents=True)
    log.write_text(VHOST_LOG)
    engine = traffic_engine(root, ssh_host.server("web1", root=str(root)))
    try:
        result = engine.measure(ServiceIndex((), sites), at=AT)
    finally:
        engine.close()
    assert result.ok, result.failures
    assert sum(s.value for s in result.samples) == 1527.0


def test_guarded_output_keeps_what_the_step_printed() -> None:
    step = guard(Command(description="x", script="printf 'a\\tb\\n'"))
    assert "@@ORCHESTRA-MONITOR-STATUS" in step.script
    assert unguard("a\tb\n\n@@ORCHESTRA-MONITOR-STATUS 0\n") == (0, "a\tb\n")
    assert unguard("tail\n@@ORCHESTRA-MONITOR-STATUS 2\n") == (2, "tail")
    assert unguard("no status") == (None, "no status")
    with pytest.raises(Exception, match="read-only batch takes Command steps"):
        guard(Command(description="x", script="x", stdin="secret"))


def test_web_disk_usage_measures_each_web_root(root: Path, sites: list[Website]) -> None:
    write(root / "srv/www/acme/shop/index.php", 700)
    route = Route(
        backend="web-disk-usage",
        servers=("web1",),
        settings={"root": "/srv/www/{account}/{name}", "apparent_size": True},
    )
    engine = Orchestra(servers=[Server(name="web1", root=str(root))], routes=[route])
    try:
        result = engine.measure(ServiceIndex((), sites), at=AT)
    finally:
        engine.close()
    assert result.ok, result.failures
    assert [(s.object_key, s.value) for s in result.samples] == [
        ("website:acme/shop", apparent(root / "srv/www/acme/shop"))
    ]  # the blog has no web root there: no sample


def test_a_web_root_may_name_only_account_and_name(root: Path, sites: list[Website]) -> None:
    route = Route(backend="web-disk-usage", servers=("web1",), settings={"root": "/www/{user}"})
    engine = Orchestra(servers=[Server(name="web1", root=str(root))], routes=[route])
    try:
        with pytest.raises(Exception, match=r"monitor web-disk-usage on server web1.*\{account\}"):
            engine.measure(ServiceIndex((), sites), at=AT)
    finally:
        engine.close()


class Secretive(Monitor):
    """A monitor whose output cannot be parsed."""

    name: ClassVar[str] = "secretive"
    service_type: ClassVar[type[Service]] = SystemUser
    unit: ClassVar[str] = "things"

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        return [Command(description="read", script="echo 7")]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        raise ValueError("cannot read " + output.strip())


def test_each_monitor_run_leaves_its_final_log(orchestra: Orchestra) -> None:
    saved: list[tuple[str, State]] = []
    store = orchestra.store
    keep = store.save_logs

    def spy(logs: Sequence[OperationLog]) -> None:
        saved.extend((entry.backend, entry.state) for entry in logs)
        keep(logs)

    store.save_logs = spy  # type: ignore[method-assign]
    result = orchestra.measure(ServiceIndex((), [ALICE, BOB]), at=AT)
    assert len(result.failures) == 1

    logs = {entry.backend: entry for entry in store.list_logs()}
    assert sorted(logs) == ["broken", "disk-usage"]
    # Only final logs: a read-only run holds no lock, so it leaves nothing "started".
    assert sorted(saved) == [("broken", State.FAILURE), ("disk-usage", State.NOTHING)]
    measured = logs["disk-usage"]
    assert (measured.action, measured.server) == ("monitor", "web1")
    assert measured.object_keys == ("systemuser:alice", "systemuser:bob")
    assert [s.state for s in measured.steps] == [State.NOTHING]
    assert "ORCHESTRA-MONITOR-STATUS" not in measured.stdout
    assert measured.started_at is not None and measured.finished_at is not None
    broken = logs["broken"]
    assert (broken.state, broken.exit_code) == (State.FAILURE, 3)
    assert broken.steps[0].state is State.FAILURE and broken.steps[0].exit_code == 3
    assert broken.stdout == "half\n" and "no such thing" in broken.stderr
    assert "exit 3" in broken.script
    assert store.list_logs(object_key="systemuser:bob")


def test_a_monitor_log_says_when_its_output_could_not_be_read(root: Path) -> None:
    class Plugin:
        @hookimpl
        def orchestra_monitors(self) -> list[type[Monitor]]:
            return [Secretive]

    engine = Orchestra(
        servers=[Server(name="web1", root=str(root))],
        routes=[Route(backend="secretive", servers=("web1",))],
        registry=Registry.load(extra={"secretive": Plugin()}),
    )
    try:
        result = engine.measure(ServiceIndex((), [ALICE]), at=AT)
        [entry] = engine.store.list_logs()
    finally:
        engine.close()
    [failure] = result.failures
    assert "could not parse its output: ValueError: cannot read 7" in failure.message
    assert entry.state is State.ERROR
    assert failure.message in entry.stderr
    assert entry.stdout.strip() == "7"

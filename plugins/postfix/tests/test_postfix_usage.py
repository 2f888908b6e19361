"""Mailbox usage measured, kept and billed: the disk of each mailbox's home and the mail
delivered to it, through the engine as an operator's cron run does it (``orchestra
monitor``: measure, then evaluate), where the ``postfix-mailbox`` backend sends mailboxes.

Without a daemon: homes and Postfix logs written under a sandbox root, read by the monitors'
scripts through the local transport. With the daemons (``daemon``): mail sent to the real
Postfix of the ``mail_server`` fixture, delivered by Dovecot's LMTP into the Maildirs, the
instance running in a zone that is not UTC, so that its log's local times are turned into UTC
for real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
from orchestra_postfix.monitor import (
    MAILBOX_DISK,
    MAILBOX_MESSAGES,
    MAILBOX_STORAGE,
    MAILBOX_TRAFFIC,
    MAILBOX_TRAFFIC_BILLED,
    METRICS,
    MONITORS,
    RESOURCES,
    MailboxDisk,
    MailMessages,
    MailTraffic,
)
from orchestra_postfix.settings import PostfixSettings

from orchestra_core import Orchestra, Route, Server, ServiceIndex, ValidationError
from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import Mailbox
from orchestra_core.hookspecs import hookimpl
from orchestra_core.registry import Registry
from orchestra_core.resources import Period, fold
from orchestra_core.resources.measure import Measurer
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.sshd import SSHHost

GIB = 2**30
BOB = Mailbox(account="acme", address="bob@example.com")
ANN = Mailbox(account="acme", address="ann@example.com")
NEW = Mailbox(account="acme", address="new@example.org")  # no home yet
MAILBOXES = [BOB, ANN, NEW]
AT = datetime(2026, 12, 3, 11, 30, tzinfo=UTC)
MONITOR_NAMES = [m.name for m in MONITORS]


class MonitorsPlugin:
    """The monitors, resources and metrics, for a registry whose postfix plugin does not
    return them yet."""

    @hookimpl
    def orchestra_monitors(self) -> list[type]:
        return list(MONITORS)

    @hookimpl
    def orchestra_resources(self) -> list[object]:
        return list(RESOURCES)

    @hookimpl
    def orchestra_billing_metrics(self) -> list[object]:
        return list(METRICS)


def registry() -> Registry:
    """The installed plugins, with this module's monitors however plugin.py stands."""
    loaded = Registry.load()
    if MailboxDisk.name in loaded.monitors:
        return loaded
    return Registry.load(extra={"postfix-monitors": MonitorsPlugin()})


# -- the resources, their metrics and the routing (no daemon) ------------------------------------


def test_the_plugin_registers_the_monitors_resources_and_metrics() -> None:
    loaded = Registry.load()
    for monitor in MONITORS:
        assert loaded.monitors[monitor.name] is monitor
        assert monitor.backend == "postfix-mailbox"
        assert monitor.settings_class is PostfixSettings
    for resource in RESOURCES:
        assert loaded.resources[resource.name] == resource
    for metric in METRICS:
        assert loaded.billing_metrics[metric.code] == metric


def test_the_resources_and_metrics() -> None:
    assert (MAILBOX_DISK.name, MAILBOX_DISK.service_kind, MAILBOX_DISK.monitors) == (
        "mailbox-disk",
        "mailbox",
        ("postfix-mailbox-disk",),
    )
    assert (MAILBOX_DISK.aggregation, MAILBOX_DISK.unit, MAILBOX_DISK.window) == (
        "last",
        "GiB",
        "1d",
    )
    assert MAILBOX_DISK.scale == 1 / GIB
    assert (MAILBOX_TRAFFIC.monitors, MAILBOX_TRAFFIC.aggregation, MAILBOX_TRAFFIC.unit) == (
        ("postfix-mail-traffic",),
        "sum",
        "GiB",
    )
    assert (MAILBOX_TRAFFIC.window, MAILBOX_TRAFFIC.scale) == ("month", 1 / GIB)
    assert (MAILBOX_MESSAGES.monitors, MAILBOX_MESSAGES.unit, MAILBOX_MESSAGES.scale) == (
        ("postfix-mail-messages",),
        "messages",
        1.0,
    )
    assert (MAILBOX_STORAGE.code, MAILBOX_STORAGE.resource, MAILBOX_STORAGE.unit) == (
        "mailbox_gib_month",
        "mailbox-disk",
        "GiB-month",
    )
    assert MAILBOX_STORAGE.aggregation == "average"
    assert (MAILBOX_TRAFFIC_BILLED.code, MAILBOX_TRAFFIC_BILLED.resource) == (
        "mailbox_traffic_gib",
        "mailbox-traffic",
    )
    assert MAILBOX_TRAFFIC_BILLED.aggregation is None  # the resource's: sum
    assert (MailboxDisk.unit, MailTraffic.unit, MailMessages.unit) == ("bytes", "bytes", "messages")


def test_allocations_out_of_bounds_are_refused() -> None:
    engine = Orchestra(servers=[], routes=[], registry=registry(), store=MemoryStore())
    try:
        engine.allocate(BOB.key, MAILBOX_DISK.name, 0.5)
        engine.allocate(BOB.key, MAILBOX_DISK.name, 1024)
        for wrong in (-1, 2048, 5 * GIB):  # 2 GiB given in MiB, or in bytes
            with pytest.raises(ValidationError, match=r"allocations\[mailbox-disk\]"):
                engine.allocate(BOB.key, MAILBOX_DISK.name, wrong)
        with pytest.raises(ValidationError, match=r"allocations\[mailbox-traffic\]"):
            engine.allocate(BOB.key, MAILBOX_TRAFFIC.name, -1)
    finally:
        engine.close()


def test_the_monitors_go_where_the_mailbox_backend_sends_mailboxes() -> None:
    servers = [
        Server(name="mx1", transport="recording"),
        Server(
            name="mx2",
            transport="recording",
            settings={"postfix": {"mail_base": "/srv/vmail", "maillog": ["/var/log/postfix.log"]}},
        ),
    ]
    routes = [
        Route(backend="postfix-mailbox", servers=("mx2",), settings={"timezone": "Europe/Madrid"})
    ]
    engine = Orchestra(servers=servers, routes=routes, registry=registry(), store=MemoryStore())
    try:
        measurer = Measurer(
            engine.registry.monitors,
            {name: info.cls for name, info in engine.registry.backends.items()},
            engine.servers,
            engine.planner.router,
            engine.transport,
        )
        planned = measurer.plan(ServiceIndex((), [BOB, ANN]), MONITOR_NAMES)
    finally:
        engine.close()
    assert [(run.monitor.name, run.server.name) for run in planned] == [
        ("postfix-mailbox-disk", "mx2"),
        ("postfix-mail-traffic", "mx2"),
        ("postfix-mail-messages", "mx2"),
    ]
    for run in planned:
        assert run.objects == (BOB, ANN)
        assert run.settings == PostfixSettings(
            mail_base="/srv/vmail", maillog=("/var/log/postfix.log",), timezone="Europe/Madrid"
        )
    disk, traffic, _ = (run.steps[0] for run in planned)
    assert isinstance(disk, Command) and isinstance(traffic, Command)
    assert "/srv/vmail/example.com/bob" in disk.script
    assert "/var/log/postfix.log" in traffic.script and "zone=Europe/Madrid" in traffic.script


# -- measuring under a sandbox root (no daemon) ---------------------------------------------------

LOG = "/var/log/mail.log"
#: The zone of the sandbox's log: +05:30 all year (a log read as UTC would put every line in
#: the wrong hour).
KOLKATA = ZoneInfo("Asia/Kolkata")
#: When the sandbox's messages were delivered: two hours and one hour ago (the log has no
#: year: the server's clock tells it, so the times are the real clock's).
T1 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
T2 = T1 + timedelta(hours=1)


def hour(at: datetime) -> datetime:
    """The UTC hour ``at`` is counted in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def stamp(at: datetime, zone: ZoneInfo = KOLKATA) -> bytes:
    """``at`` as syslog writes it in ``zone``: ``Mmm dd HH:MM:SS``, no year, no zone."""
    return at.astimezone(zone).strftime("%b %e %H:%M:%S").encode()


def delivered(at: datetime, qid: str, size: int, *recipients: bytes) -> bytes:
    """qmgr's line for a message and Dovecot LMTP's deliveries of it."""
    lines = [
        stamp(at)
        + b" mx postfix/qmgr[9]: "
        + qid.encode()
        + b": from=<a@example.net>, size="
        + str(size).encode()
        + b", nrcpt="
        + str(len(recipients)).encode()
        + b" (queue active)\n"
    ]
    for recipient in recipients:
        lines.append(
            stamp(at) + b" mx postfix/lmtp[8]: " + qid.encode() + b": to=<" + recipient + b">, "
            b"relay=mx[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
            b"status=sent (250 2.0.0 Saved)\n"
        )
    return b"".join(lines)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def allocated(folder: Path) -> float:
    """What ``du -s -B1`` counts: the blocks of every file and folder in it."""
    return float(sum(p.lstat().st_blocks * 512 for p in [folder, *folder.rglob("*")]))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A server's sandbox: bob's and ann's homes, and Postfix's log (in Kolkata's time): a
    message of 1200 bytes to bob and ann (through an alias) at T1, one of 300 to bob at T2."""
    root = tmp_path / "root"
    write(root / "var/vmail/example.com/bob/Maildir/cur/1.mx:2,S", b"x" * 10_000)
    write(root / "var/vmail/example.com/bob/Maildir/new/2.mx", b"y" * 70_000)
    write(root / "var/vmail/example.com/bob/dovecot.index.log", b"z" * 3_000)
    write(root / "var/vmail/example.com/ann/Maildir/cur/.keep", b"")
    log = delivered(T1, "4AB1C2D3E4", 1200, b"bob@example.com")
    log += (
        delivered(T1, "4AB1C2D3E4", 1200, b"ann@example.com")
        .split(b"\n", 1)[1]
        .replace(b"to=<ann@example.com>, ", b"to=<ann@example.com>, orig_to=<all@example.com>, ")
    )
    log += delivered(T2, "5BC2D3E4F5", 300, b"bob@example.com")
    write(root / LOG.lstrip("/"), log)
    return root


def sandbox_engine(root: Path, server: Server | None = None) -> Orchestra:
    """An engine whose mailboxes live on one server (the sandbox, or ``server``), Postfix's
    log in Kolkata's time."""
    server = server or Server(name="mx1", root=str(root))
    server = attrs.evolve(
        server, settings={**server.settings, "postfix": {"timezone": "Asia/Kolkata"}}
    )
    route = Route(backend="postfix-mailbox", servers=(server.name,))
    return Orchestra(servers=[server], routes=[route], registry=registry(), store=MemoryStore())


def test_the_disk_of_each_home_that_exists(root: Path) -> None:
    engine = sandbox_engine(root)
    try:
        result = engine.measure(
            ServiceIndex((), MAILBOXES), monitors=["postfix-mailbox-disk"], at=AT
        )
    finally:
        engine.close()
    assert result.ok, result.failures
    bob = allocated(root / "var/vmail/example.com/bob")
    assert bob >= 83_000
    assert {(s.object_key, s.value) for s in result.samples} == {
        (BOB.key, bob),
        (ANN.key, allocated(root / "var/vmail/example.com/ann")),
    }  # new@example.org has no home: no sample
    assert {s.idempotency_key for s in result.samples} == {
        f"mx1/postfix-mailbox-disk:{key}:{AT.isoformat()}" for key in (BOB.key, ANN.key)
    }


def test_traffic_per_mailbox_and_utc_hour_counted_once(root: Path) -> None:
    engine = sandbox_engine(root)
    index = ServiceIndex((), MAILBOXES)
    names = ["postfix-mail-traffic", "postfix-mail-messages"]
    try:
        first = engine.measure(index, monitors=names, at=AT)
        assert first.ok, first.failures
        got = {(s.monitor, s.object_key, s.measured_at, s.value) for s in first.samples}
        # mail.log.1 is missing, so the log began in mail.log: its first hour is whole.
        assert got == {
            ("postfix-mail-traffic", BOB.key, hour(T1), 1200),
            ("postfix-mail-traffic", ANN.key, hour(T1), 1200),
            ("postfix-mail-traffic", BOB.key, hour(T2), 300),
            ("postfix-mail-messages", BOB.key, hour(T1), 1),
            ("postfix-mail-messages", ANN.key, hour(T1), 1),
            ("postfix-mail-messages", BOB.key, hour(T2), 1),
        }
        keys = {s.idempotency_key for s in first.samples}
        assert f"mx1/postfix-mail-traffic:{BOB.key}:{hour(T2):%Y-%m-%dT%H}" in keys
        again = engine.measure(index, monitors=names, at=AT + timedelta(minutes=5))
        assert again.ingested is not None
        assert (again.ingested.added, again.ingested.unchanged) == (0, 6)
        # The hour goes on: the next run reads it whole again and replaces its samples.
        with (root / LOG.lstrip("/")).open("ab") as log:
            log.write(delivered(T2, "6CD3E4F5A6", 50, b"bob@example.com"))
        later = engine.measure(index, monitors=names, at=AT + timedelta(minutes=10))
        assert later.ingested is not None
        assert (later.ingested.added, later.ingested.replaced) == (0, 2)
        window = Period(hour(T1) - timedelta(days=1), hour(T2) + timedelta(days=1))
        [(_, _, elements)] = list(
            engine.store.usage.iter_series(
                ["postfix-mail-traffic"], window.start, window.end, object_keys=[BOB.key]
            )
        )
        assert fold(elements, window.start, window.end).total == 1550
    finally:
        engine.close()


def test_no_logs_is_no_traffic(root: Path) -> None:
    (root / LOG.lstrip("/")).unlink()
    engine = sandbox_engine(root)
    try:
        result = engine.measure(
            ServiceIndex((), MAILBOXES), monitors=["postfix-mail-traffic"], at=AT
        )
    finally:
        engine.close()
    assert result.ok and result.samples == ()


def test_log_paths_that_are_not_files_are_skipped(root: Path) -> None:
    log = root / LOG.lstrip("/")
    log.unlink()
    log.mkdir()  # not a file: skipped, as a missing one
    (root / "var/log/mail.log.1").symlink_to("/nonexistent")  # dangling: skipped too
    engine = sandbox_engine(root)
    try:
        result = engine.measure(ServiceIndex((), MAILBOXES), monitors=MONITOR_NAMES, at=AT)
    finally:
        engine.close()
    assert result.ok, result.failures
    assert {s.monitor for s in result.samples} == {"postfix-mailbox-disk"}


@pytest.mark.daemon
def test_the_monitors_run_over_ssh(root: Path, ssh_host: SSHHost) -> None:
    engine = sandbox_engine(root, ssh_host.server("mx1", root=str(root)))
    try:
        result = engine.measure(ServiceIndex((), MAILBOXES), monitors=MONITOR_NAMES, at=AT)
    finally:
        engine.close()
    assert result.ok, result.failures
    by_monitor: dict[str, float] = {}
    for sample in result.samples:
        by_monitor[sample.monitor] = by_monitor.get(sample.monitor, 0) + sample.value
    assert by_monitor["postfix-mail-traffic"] == 2700
    assert by_monitor["postfix-mail-messages"] == 3
    assert by_monitor["postfix-mailbox-disk"] == allocated(
        root / "var/vmail/example.com/bob"
    ) + allocated(root / "var/vmail/example.com/ann")


def test_storage_and_traffic_are_billed(root: Path) -> None:
    engine = sandbox_engine(root)
    index = ServiceIndex((), [BOB])
    period = Period(hour(T1) - timedelta(days=1), hour(T2) + timedelta(days=1))
    engine.store.usage.object_started(BOB.key, "mailbox", "acme", period.start)
    home = root / "var/vmail/example.com/bob"
    try:
        small = allocated(home)
        assert engine.measure(index, monitors=["postfix-mailbox-disk"], at=period.start).ok
        write(home / "Maildir/cur/3.mx:2,", b"w" * 500_000)
        big = allocated(home)
        half = period.start + (period.end - period.start) / 2
        assert engine.measure(index, monitors=MONITOR_NAMES, at=half).ok
        records = {r.metric: r for r in engine.bill(period) if r.object_key == BOB.key}
    finally:
        engine.close()
    storage = records["mailbox_gib_month"]
    assert storage.unit == "GiB-month" and storage.account == "acme"
    assert storage.quantity == pytest.approx((small + big) / 2 / GIB, rel=1e-9)
    traffic = records["mailbox_traffic_gib"]
    assert traffic.unit == "GiB"
    assert traffic.quantity == pytest.approx(1500 / GIB, rel=1e-12)
    assert traffic.idempotency_key == (
        f"mailbox_traffic_gib:{BOB.key}:{period.start:%Y-%m-%dT%H:%M:%SZ}"
    )

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

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
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
from orchestra_postfix.testing import MailServer

from orchestra_core import Account, Orchestra, Route, Server, ServiceIndex, ValidationError
from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import MailAddress, Mailbox
from orchestra_core.hookspecs import hookimpl
from orchestra_core.registry import Registry
from orchestra_core.resources import Period, fold
from orchestra_core.resources.measure import Measurer
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.driving import with_state_dir
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


# -- against the real Postfix and Dovecot (daemon) -------------------------------------------------

SENDER = "sender@outside.test"
INFO = Mailbox(account="acme", address="info@acme.example")
SALES = Mailbox(account="acme", address="sales@acme.example")
ORDERS = MailAddress(
    account="acme", address="orders@acme.example", mailboxes=(INFO.address, SALES.address)
)
MAIL_BACKENDS = ("postfix-mailbox", "postfix-address")
#: The zone of the instance's clock: +05:30, so that a log read as UTC, or at a whole-hour
#: offset, puts every delivery in another hour.
ZONE = "Asia/Kolkata"
_LMTP_SENT = re.compile(
    r"postfix/lmtp\[[0-9]+\]: ([0-9A-Za-z]+): to=<([^>]+)>, .*status=sent ", re.ASCII
)
_QMGR_SIZE = re.compile(r"postfix/qmgr\[[0-9]+\]: ([0-9A-Za-z]+): from=<.*>, size=([0-9]+),")


def mail_message(subject: str, size: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["Subject"] = subject
    msg.set_content("x" * size)
    return msg


@attrs.define
class MailOperator:
    """An engine over a memory store driving one real mail server, and what the log says."""

    engine: Orchestra
    mail: MailServer

    def apply(self, objects: list[Any]) -> None:
        """``orchestra apply`` of ``objects`` (which also starts their lifetimes)."""
        plan = self.engine.plan_inventory([Account(name="acme")], objects)
        result = self.engine.apply(plan)
        assert result.ok, [(log.operation_id, log.stderr[-2000:]) for log in result.logs]

    def delivered(self, count: int, timeout: float = 15.0) -> list[tuple[str, str]]:
        """The (queue id, recipient) of LMTP's ``status=sent`` lines, once there are
        ``count``: postlogd writes the log a little after Dovecot stores the mail."""
        deadline = time.monotonic() + timeout
        while True:
            sent = _LMTP_SENT.findall(self.mail.log_text())
            if len(sent) >= count or time.monotonic() > deadline:
                assert len(sent) >= count, self.mail.log_text()[-3000:]
                return sent
            time.sleep(0.05)

    def sizes(self) -> dict[str, int]:
        """Each message's ``size=`` as qmgr logged it, by queue id."""
        return {qid: int(size) for qid, size in _QMGR_SIZE.findall(self.mail.log_text())}


@pytest.fixture
def mail_operator(mail_server_factory: Any) -> Iterator[MailOperator]:
    """A private Postfix and Dovecot whose clock is Kolkata's, with INFO, SALES and ORDERS
    (to both) applied through the postfix backends."""
    mail: MailServer = mail_server_factory("mxk", timezone=ZONE)
    assert mail.timezone == ZONE
    # The current log and the one rotated before it (not there yet): as Debian's logrotate
    # names them. A list whose oldest file is there leaves that file's first hour out.
    log = str(mail.postfix_log)
    server = with_state_dir(
        Server(name="mx1", settings={"postfix": mail.settings(maillog=[log, log + ".1"])}),
        mail.dir / "orchestra-state",
    )
    engine = Orchestra(
        servers=[server],
        routes=[Route(backend=backend, servers=("mx1",)) for backend in MAIL_BACKENDS],
        registry=registry(),
        store=MemoryStore(),
    )
    made = MailOperator(engine=engine, mail=mail)
    try:
        made.apply([INFO, SALES, ORDERS])
        yield made
    finally:
        engine.close()


def hour_of(before: float, after: float) -> set[datetime]:
    """The UTC hours a delivery between the times ``before`` and ``after`` may be counted in."""
    return {hour(datetime.fromtimestamp(t, UTC)) for t in (before, after)}


@pytest.mark.daemon
def test_mail_delivered_is_counted_per_mailbox_and_utc_hour(mail_operator: MailOperator) -> None:
    engine, mail = mail_operator.engine, mail_operator.mail
    before = time.time()
    assert mail.send(SENDER, [ORDERS.address], mail_message("order", 40_000)) == {}
    assert mail.send(SENDER, [INFO.address], mail_message("hello", 3_000)) == {}
    mail.wait_for_messages(INFO.address, 2)
    mail.wait_for_messages(SALES.address, 1)
    sent = mail_operator.delivered(3)
    after = time.time()
    # The log's times are Kolkata's: the hour it shows is not UTC's.
    stamped = mail.log_text().splitlines()[-1][:15]
    local = datetime.fromtimestamp(after, ZoneInfo(ZONE))
    assert stamped[7:9] in {f"{h:02d}" for h in (local.hour, (local.hour - 1) % 24)}
    assert local.utcoffset() == timedelta(hours=5, minutes=30)

    sizes = mail_operator.sizes()
    expected = {
        INFO.key: sum(sizes[qid] for qid, to in sent if to == INFO.address),
        SALES.key: sum(sizes[qid] for qid, to in sent if to == SALES.address),
    }
    # Independently of the log: near what Dovecot stored (Postfix counts the message as
    # queued; Dovecot adds Return-Path and Delivered-To, and stores lines as it reads them).
    stored = {
        INFO.key: sum(len(m) for m in mail.messages(INFO.address)),
        SALES.key: sum(len(m) for m in mail.messages(SALES.address)),
    }
    assert expected[INFO.key] == pytest.approx(stored[INFO.key], rel=0.02)
    assert expected[SALES.key] == pytest.approx(stored[SALES.key], rel=0.02)
    assert expected[INFO.key] > 43_000 and expected[SALES.key] > 40_000

    measured = engine.measure(at=AT)  # the cron's run: every monitor, the applied objects
    assert measured.ok, measured.failures
    traffic = [s for s in measured.samples if s.monitor == "postfix-mail-traffic"]
    hours = hour_of(before, after)
    assert {s.measured_at for s in traffic} <= hours
    totals: dict[str, float] = {}
    for sample in traffic:
        totals[sample.object_key] = totals.get(sample.object_key, 0) + sample.value
        assert sample.idempotency_key == (
            f"mx1/postfix-mail-traffic:{sample.object_key}:{sample.measured_at:%Y-%m-%dT%H}"
        )
    assert totals == expected
    messages = {
        key: sum(
            s.value
            for s in measured.samples
            if s.monitor == "postfix-mail-messages" and s.object_key == key
        )
        for key in (INFO.key, SALES.key)
    }
    assert messages == {INFO.key: 2, SALES.key: 1}

    # The disk of each home, as du counts it on the server.
    disk = {s.object_key: s.value for s in measured.samples if s.monitor == "postfix-mailbox-disk"}
    assert disk == {
        INFO.key: allocated(mail.maildir(INFO.address).parent),
        SALES.key: allocated(mail.maildir(SALES.address).parent),
    }
    assert disk[INFO.key] > stored[INFO.key]

    # Run again: nothing new. Another message: its hour's sample is replaced, not added.
    counters = ["postfix-mail-traffic", "postfix-mail-messages"]
    again = engine.measure(at=AT + timedelta(minutes=5), monitors=counters)
    assert again.ingested is not None
    assert (again.ingested.added, again.ingested.replaced) == (0, 0)
    assert mail.send(SENDER, [INFO.address], mail_message("more", 1_000)) == {}
    mail.wait_for_messages(INFO.address, 3)
    sent = mail_operator.delivered(4)
    later = engine.measure(at=AT + timedelta(minutes=10), monitors=["postfix-mail-traffic"])
    assert later.ok, later.failures
    window = Period(min(hours) - timedelta(days=1), max(hours) + timedelta(days=2))
    [(_, _, elements)] = list(
        engine.store.usage.iter_series(
            ["postfix-mail-traffic"], window.start, window.end, object_keys=[INFO.key]
        )
    )
    sizes = mail_operator.sizes()
    assert fold(elements, window.start, window.end).total == sum(
        sizes[qid] for qid, to in sent if to == INFO.address
    )
    # Billed by its sum, in GiB, over the mailbox's lifetime. The core folds a counter from
    # the lifetime's start, and a sample is stamped with its hour's start: the hour the mailbox
    # was created in (this test's) is not billed (reported to the core).
    (life,) = [
        life
        for life in engine.store.usage.lifetimes(window.start, window.end)
        if life.object_key == INFO.key
    ]
    billable = [
        s
        for run in (measured, later)
        for s in run.samples
        if s.monitor == "postfix-mail-traffic"
        and s.object_key == INFO.key
        and s.measured_at >= life.started_at
    ]
    latest = {s.idempotency_key: s.value for s in billable}
    records = {(r.metric, r.object_key): r for r in engine.bill(window)}
    record = records[("mailbox_traffic_gib", INFO.key)]
    assert (record.unit, record.account) == ("GiB", "acme")
    assert record.quantity == pytest.approx(sum(latest.values()) / GIB, rel=1e-12)


@pytest.mark.daemon
def test_a_mailbox_over_its_disk_allocation_refuses_mail_until_it_recovers(
    mail_operator: MailOperator,
) -> None:
    engine, mail = mail_operator.engine, mail_operator.mail
    assert mail.send(SENDER, [INFO.address], mail_message("big", 200_000)) == {}
    mail.wait_for_messages(INFO.address, 1)
    now = datetime.now(UTC)
    assert engine.measure(at=now, monitors=["postfix-mailbox-disk"]).ok
    engine.allocate(INFO.key, MAILBOX_DISK.name, 100 / 2**20)  # 100 KiB
    engine.allocate(SALES.key, MAILBOX_DISK.name, 100 / 2**20)
    crossed = engine.evaluate(at=now)
    assert [(e.kind, e.object_key) for e in crossed.events] == [("exceeded", INFO.key)]
    assert crossed.applied is not None and crossed.applied.ok
    # The backend made the allocation the mailbox's quota: Dovecot's quota-status refuses
    # new mail at RCPT; the other mailbox takes mail.
    assert mail.rcpt(SENDER, INFO.address, size=100)[0] == 552
    assert mail.rcpt(SENDER, SALES.address, size=100)[0] == 250
    # More allocation: the next run recovers, and mail is taken again.
    engine.allocate(INFO.key, MAILBOX_DISK.name, 1)
    later = now + timedelta(minutes=1)
    assert engine.measure(at=later, monitors=["postfix-mailbox-disk"]).ok
    recovered = engine.evaluate(at=later)
    assert [(e.kind, e.object_key) for e in recovered.events] == [("recovered", INFO.key)]
    assert recovered.applied is not None and recovered.applied.ok
    assert mail.rcpt(SENDER, INFO.address, size=100)[0] == 250

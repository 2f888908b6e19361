"""List usage measured through the engine, as an operator's cron run does it: each list's
subscribers (Mailman's REST API) and the posts it sent out per UTC day (Mailman's smtp.log),
where the ``mailman-list`` backend sends lists.

Without a daemon: a Mailman smtp.log written under a sandbox root, in a zone that is not
UTC, read by the monitor's script through the local transport. With the daemons: members
subscribed and a post sent through the real Postfix and Mailman."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from orchestra_mailman.monitor import METRICS, MONITORS, RESOURCES, ListPosts, ListSubscribers
from orchestra_mailman.settings import MailmanSettings
from orchestra_mailman.testing import MailmanServer
from orchestra_postfix.testing import MailServer

from orchestra_core import Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Mailbox, MailingList
from orchestra_core.registry import Registry
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.driving import make_driver, ok, with_state_dir

NEWS = MailingList(account="acme", name="news", domain="acme.example", admin_email="o@acme.example")
TALK = MailingList(account="acme", name="talk", domain="acme.example", admin_email="o@acme.example")
LOG = "/var/log/mailman3/smtp.log"
ZONE = "Europe/Madrid"
FORGED = " post to talk@acme.example from x"
#: When the monitors run: Madrid is UTC+1 in December.
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def post_line(local: str, pid: int, msgid: str, listname: str, sender: str) -> str:
    return f"{local} 2026 ({pid}) <{msgid}> post to {listname} from {sender}, 443 bytes\n"


def sandbox_engine(root: Path) -> Orchestra:
    settings = {"mailman": {"timezone": ZONE, "post_logs": [LOG, LOG + ".1"]}}
    server = with_state_dir(Server(name="lists1", root=str(root), settings=settings), root / "st")
    return Orchestra(
        servers=[server],
        routes=[Route(backend="mailman-list", servers=("lists1",))],
        registry=Registry.load(),
        store=MemoryStore(),
    )


def test_the_plugin_registers_the_monitors_resources_and_metrics() -> None:
    loaded = Registry.load()
    for monitor in MONITORS:
        assert loaded.monitors[monitor.name] is monitor
        assert monitor.backend == "mailman-list"
        assert monitor.settings_class is MailmanSettings
    for resource in RESOURCES:
        assert loaded.resources[resource.name] == resource
    for metric in METRICS:
        assert loaded.billing_metrics[metric.code] == metric


def test_posts_per_list_and_utc_day_counted_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    log = root / LOG.lstrip("/")
    log.parent.mkdir(parents=True)
    log.write_text(
        "Dec 06 09:00:00 2026 (1) Peer: ('127.0.0.1', 39088)\n"
        # 00:30 in Madrid is 23:30 UTC the day before.
        + post_line("Dec 07 00:30:00", 2, "a@x", "news@acme.example", "m@acme.example")
        + post_line("Dec 07 10:00:00", 2, "b@x", "news@acme.example", "m@acme.example")
        + post_line("Dec 07 10:05:00", 2, "c@x", "TALK@acme.example", "m@acme.example")
        # The poster's words cannot make a line count, nor count it for another list.
        + post_line(
            "Dec 07 10:06:00", 2, "d post to talk@acme.example from x", "news@acme.example", "m"
        )
        + post_line(
            "Dec 07 10:07:00", 2, "e@x", "news@acme.example", "a post to talk@acme.example from b"
        )
        + post_line("Dec 07 10:08:00", 2, "f@x", "other@acme.example", "m@acme.example")
    )
    engine = sandbox_engine(root)
    index = ServiceIndex((), [NEWS, TALK])
    try:
        first = engine.measure(index, monitors=[ListPosts.name], at=AT)
        assert first.ok, first.failures
        got = {(s.object_key, s.measured_at, s.value) for s in first.samples}
        assert got == {
            (NEWS.key, datetime(2026, 12, 6, tzinfo=UTC), 1),
            (NEWS.key, datetime(2026, 12, 7, tzinfo=UTC), 1),
            (TALK.key, datetime(2026, 12, 7, tzinfo=UTC), 1),
        }
        again = engine.measure(index, monitors=[ListPosts.name], at=AT + timedelta(minutes=5))
        assert again.ingested is not None and again.ingested.added == 0
        # The log rotates: smtp.log.1 is there, so its first day (part of it may be in a file
        # not read) is left out; the day after is whole.
        log.rename(log.with_name("smtp.log.1"))
        log.write_text(post_line("Dec 07 11:00:00", 3, "g@x", "news@acme.example", "m"))
        later = engine.measure(index, monitors=[ListPosts.name], at=AT + timedelta(minutes=10))
        assert later.ok, later.failures
        got = {(s.object_key, s.measured_at, s.value) for s in later.samples}
        assert got == {
            (NEWS.key, datetime(2026, 12, 7, tzinfo=UTC), 2),
            (TALK.key, datetime(2026, 12, 7, tzinfo=UTC), 1),
        }
    finally:
        engine.close()


def test_no_log_is_no_posts(tmp_path: Path) -> None:
    engine = sandbox_engine(tmp_path / "root")
    try:
        result = engine.measure(ServiceIndex((), [NEWS]), monitors=[ListPosts.name], at=AT)
        assert result.ok and not result.samples, result.failures
    finally:
        engine.close()


@pytest.fixture
def operator(mail_server: MailServer, mailman_server: MailmanServer) -> Iterator[Orchestra]:
    """The list and its members' mailboxes applied on one server running both."""
    log = str(mailman_server.var_dir / "logs" / "smtp.log")
    server = Server(
        name="mx1",
        settings={
            "postfix": mail_server.settings(),
            "mailman": mailman_server.settings(post_logs=[log, log + ".1"]),
        },
    )
    made = make_driver(["mailman-list", "mailman-postfix", "postfix-mailbox"], {}, server)
    try:
        assert ok(made.save(*MEMBERS, NEWS))
        yield made.orchestra
    finally:
        made.orchestra.close()


MEMBERS = [
    Mailbox(account="acme", address="ann@acme.example"),
    Mailbox(account="acme", address="bob@acme.example"),
]


@pytest.mark.daemon
def test_subscribers_and_posts_of_a_real_list(
    operator: Orchestra, mail_server: MailServer, mailman_server: MailmanServer
) -> None:
    for member in MEMBERS:
        mailman_server.subscribe(NEWS.identity, member.address)
    index = ServiceIndex((), [NEWS])
    counted = operator.measure(index, monitors=[ListSubscribers.name])
    assert counted.ok, counted.failures
    assert [(s.object_key, s.value) for s in counted.samples] == [(NEWS.key, 2)]
    # The session's Mailman logs every test's posts: count what this one adds.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    before = _posts_today(operator, index, today)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = MEMBERS[0].address, NEWS.identity, "counted"
    msg.set_content("one post\n")
    assert mail_server.send(MEMBERS[0].address, [NEWS.identity], msg) == {}
    for member in MEMBERS:
        mail_server.wait_for_messages(member.address, 1, timeout=60)
    deadline = time.monotonic() + 30
    while (after := _posts_today(operator, index, today)) == before:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert after == before + 1


def _posts_today(operator: Orchestra, index: ServiceIndex, today: datetime) -> float:
    posts = operator.measure(index, monitors=[ListPosts.name])
    assert posts.ok, posts.failures
    values = {(s.object_key, s.measured_at): s.value for s in posts.samples}
    assert set(values) <= {(NEWS.key, today)}, values
    return values.get((NEWS.key, today), 0.0)

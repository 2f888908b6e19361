"""Mailing lists against a real Mailman beside a real Postfix, as their members meet them:
mail posted with smtplib to Postfix, which hands the list's addresses to Mailman over LMTP;
Mailman sends the post back through Postfix into the members' Maildirs.

One server, ``mx1``, runs both: ``mailman-list`` (Mailman's REST API), ``mailman-postfix``
(the list's addresses in Postfix's tables) and ``postfix-mailbox`` (the members'
mailboxes), as a host runs lists beside its mail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import attrs
import pytest
from orchestra_mailman.backends import list_addresses
from orchestra_mailman.testing import MailmanServer
from orchestra_postfix.testing import MailServer

from orchestra_core.catalogue import Mailbox, MailingList
from orchestra_core.model.servers import Server
from orchestra_core.testing.driving import Driver, make_driver, ok, states

pytestmark = pytest.mark.daemon

BACKENDS = ["mailman-list", "mailman-postfix", "postfix-mailbox"]
#: The list's domain is also a mailbox domain of the same server.
NEWS = MailingList(
    account="acme",
    name="news",
    domain="acme.example",
    admin_email="owner@acme.example",
    description="News of ACME",
)
MEMBER = Mailbox(account="acme", address="member@acme.example")
OWNER = Mailbox(account="acme", address="owner@acme.example")


def post(subject: str, sender: str = MEMBER.address) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = NEWS.identity
    msg["Subject"] = subject
    msg.set_content("hello list\n")
    return msg


def subjects(messages: list[bytes]) -> list[str]:
    found = []
    for raw in messages:
        for line in raw.decode(errors="replace").splitlines():
            if line.startswith("Subject:"):
                found.append(line.removeprefix("Subject:").strip())
                break
    return found


@pytest.fixture
def driver(mail_server: MailServer, mailman_server: MailmanServer) -> Iterator[Driver]:
    server = Server(
        name="mx1",
        settings={"postfix": mail_server.settings(), "mailman": mailman_server.settings()},
    )
    made = make_driver(BACKENDS, {}, server)
    try:
        yield made
    finally:
        made.orchestra.close()


def test_a_post_reaches_a_member_and_request_answers(
    driver: Driver, mail_server: MailServer, mailman_server: MailmanServer
) -> None:
    assert ok(driver.save(MEMBER, OWNER, NEWS))
    assert mailman_server.lists() == [NEWS.identity]
    mailman_server.subscribe(NEWS.identity, MEMBER.address)
    # Every address of the list is a recipient Postfix takes, for a domain that also has
    # mailboxes on this server.
    for address in list_addresses(NEWS):
        assert mail_server.rcpt("sender@outside.test", address)[0] == 250, address
    assert mail_server.send(MEMBER.address, [NEWS.identity], post("first post")) == {}
    [got] = mail_server.wait_for_messages(MEMBER.address, 1, timeout=60)
    assert subjects([got]) == ["[News] first post"]
    assert b"List-Id: News of ACME <news.acme.example>" in got
    # The -request address answers: Mailman's reply to "help" lands in the member's box.
    help_request = EmailMessage()
    help_request["From"] = MEMBER.address
    help_request["To"] = f"news-request@{NEWS.domain}"
    help_request["Subject"] = "help"
    help_request.set_content("help\n")
    assert mail_server.send(MEMBER.address, [f"news-request@{NEWS.domain}"], help_request) == {}
    replies = mail_server.wait_for_messages(MEMBER.address, 2, timeout=60)
    assert any(b"help" in reply.lower() and b"first post" not in reply for reply in replies)


def test_suspended_posts_are_held_then_released(
    driver: Driver, mail_server: MailServer, mailman_server: MailmanServer
) -> None:
    assert ok(driver.save(MEMBER, OWNER, NEWS))
    mailman_server.subscribe(NEWS.identity, MEMBER.address)
    driver.suspend(True)
    assert ok(driver.save(NEWS))
    assert mail_server.send(MEMBER.address, [NEWS.identity], post("while suspended")) == {}
    held = _wait_held(mailman_server, 1)
    assert [entry["subject"] for entry in held] == ["while suspended"]
    time.sleep(2)
    # Mailman tells the poster the post awaits the moderator; the post itself is not sent.
    delivered = subjects(mail_server.messages(MEMBER.address))
    assert "[News] while suspended" not in delivered, delivered
    driver.suspend(False)
    assert ok(driver.save(NEWS))
    # Resumed: the held post waits for the owner, who releases it; new posts flow again.
    assert [entry["subject"] for entry in mailman_server.held(NEWS.identity)] == ["while suspended"]
    status, body = mailman_server.rest(
        "POST", f"lists/{NEWS.identity}/held/{held[0]['request_id']}", {"action": "accept"}
    )
    assert status == 204, body
    assert mail_server.send(MEMBER.address, [NEWS.identity], post("after resume")) == {}
    got = _wait_subjects(mail_server, {"[News] after resume", "[News] while suspended"})
    assert {"[News] after resume", "[News] while suspended"} <= got, got


def test_a_new_owner_or_description_changes_only_that(
    driver: Driver, mailman_server: MailmanServer
) -> None:
    assert ok(driver.save(NEWS))
    before = mailman_server.rest("GET", f"lists/{NEWS.identity}/config")[1]
    renamed = attrs.evolve(NEWS, description="Only the news", admin_email="boss@acme.example")
    result = driver.save(renamed)
    assert ok(result).count("success") == 1, states(result)
    [log] = [log for log in result.logs if log.state.value == "success"]
    assert log.backend == "mailman-list"
    after = mailman_server.rest("GET", f"lists/{NEWS.identity}/config")[1]
    differs = {k for k in before if before[k] != after[k]} - {"http_etag"}
    assert differs == {"description"}, differs
    _, owners = mailman_server.rest("GET", f"lists/{NEWS.identity}/roster/owner")
    assert [e["email"] for e in owners["entries"]] == ["boss@acme.example"]


def test_a_deleted_list_is_refused_at_rcpt(
    driver: Driver, mail_server: MailServer, mailman_server: MailmanServer
) -> None:
    assert ok(driver.save(MEMBER, NEWS))
    assert ok(driver.delete(NEWS))
    assert mailman_server.lists() == []
    for address in list_addresses(NEWS):
        code, _ = mail_server.rcpt("sender@outside.test", address)
        assert code >= 500, (address, code)
    # The domain's mailboxes still take mail.
    assert mail_server.rcpt("sender@outside.test", MEMBER.address)[0] == 250


def test_a_list_whose_postfix_refuses_its_tables_leaves_them_as_they_were(
    mail_server: MailServer, mailman_server: MailmanServer
) -> None:
    """``postfix check`` refuses the configuration: the list's addresses fail with its words
    and every table keeps what it had; with Postfix stopped the reload fails and the tables
    get their previous content back. Mailman's part is its own placement, applied."""
    for config_dir in (mail_server.broken_config_dir(), mail_server.stopped_config_dir()):
        before = mail_server.owned_files()
        server = Server(
            name="mx1",
            settings={
                "postfix": mail_server.settings(config_dir=str(config_dir)),
                "mailman": mailman_server.settings(),
            },
        )
        made = make_driver(["mailman-list", "mailman-postfix"], {}, server)
        try:
            result = made.save(NEWS)
        finally:
            made.orchestra.close()
        failed = [log for log in result.logs if not log.state.is_ok]
        assert {log.backend for log in failed} == {"mailman-postfix"}, [
            (log.backend, log.state.value, log.stderr[-300:]) for log in result.logs
        ]
        assert any((log.stdout + log.stderr).strip() for log in failed)
        assert mail_server.owned_files() == before, config_dir
        assert mail_server.rcpt("sender@outside.test", NEWS.identity)[0] >= 500
        mailman_server.reset()


def _wait_held(mailman: MailmanServer, count: int, timeout: float = 60) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        held = mailman.held(NEWS.identity)
        if len(held) >= count or time.monotonic() > deadline:
            return held
        time.sleep(0.2)


def _wait_subjects(mail: MailServer, wanted: set[str], timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = set(subjects(mail.messages(MEMBER.address)))
        if wanted <= found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.parametrize("archive_on_delete", ["keep", "trash"])
def test_a_deleted_list_keeps_its_archive_or_moves_it_to_the_trash(
    mail_server: MailServer, mailman_server: MailmanServer, tmp_path: Path, archive_on_delete: str
) -> None:
    trash = tmp_path / "trash"
    settings = mailman_server.settings(
        archive_on_delete=archive_on_delete,
        archive_dir=str(mailman_server.archive_dir),
        trash_dir=str(trash),
    )
    server = Server(name="mx1", settings={"postfix": mail_server.settings(), "mailman": settings})
    made = make_driver(BACKENDS, {}, server)
    try:
        assert ok(made.save(MEMBER, NEWS))
        mailman_server.subscribe(NEWS.identity, MEMBER.address)
        assert mail_server.send(MEMBER.address, [NEWS.identity], post("archived")) == {}
        mail_server.wait_for_messages(MEMBER.address, 1, timeout=60)
        archive = mailman_server.archive_dir / NEWS.identity
        assert _archived(archive), f"no archive in {archive}"
        assert ok(made.delete(NEWS))
    finally:
        made.orchestra.close()
    assert mailman_server.lists() == []
    if archive_on_delete == "keep":
        assert _archived(archive, timeout=0)
        assert not trash.exists()
    else:
        assert not archive.exists()
        [day] = trash.iterdir()
        assert _archived(day / NEWS.identity, timeout=0)


def _archived(maildir: Path, timeout: float = 30) -> bool:
    """True once the Maildir ``maildir`` holds a message with the post."""
    deadline = time.monotonic() + timeout
    while True:
        found = [*maildir.glob("new/*"), *maildir.glob("cur/*")]
        if any(b"archived" in path.read_bytes() for path in found):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)

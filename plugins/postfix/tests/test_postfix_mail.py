"""The postfix backends against real Postfix and Dovecot (``mail_server``: one instance per
session, reset before each test), tested as a customer meets them: mail sent with smtplib,
read with imaplib."""

from __future__ import annotations

import contextlib
import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import attrs
import pytest
from orchestra_postfix.testing import MailServer, SMTPSink

from orchestra_core import Account, ChangeSet
from orchestra_core.catalogue import MailAddress, Mailbox
from orchestra_core.model.servers import Route, Server
from orchestra_core.testing.driving import Driver, changed, make_driver, ok, states

pytestmark = pytest.mark.daemon

PASSWORD = "correct horse battery staple"
SENDER = "sender@outside.test"
INFO = Mailbox(account="acme", address="info@acme.example", quota=5_000_000)
SALES = Mailbox(account="acme", address="sales@acme.example")
BACKENDS = ["postfix-mailbox", "postfix-address"]


def message(subject: str, body: str = "hello\n", size: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["Subject"] = subject
    msg.set_content(body + "x" * size)
    return msg


@contextlib.contextmanager
def driving(mail_server: MailServer, **settings: object) -> Iterator[Driver]:
    """The postfix backends routed to ``mail_server``, with ``settings`` over its own."""
    made = make_driver(
        BACKENDS, {}, Server(name="mx1", settings={"postfix": mail_server.settings(**settings)})
    )
    try:
        yield made
    finally:
        made.orchestra.close()


@pytest.fixture
def driver(mail_server: MailServer) -> Iterator[Driver]:
    with driving(mail_server) as made:
        yield made


def test_a_mailbox_receives_mail_and_logs_in_with_its_password(
    driver: Driver, mail_server: MailServer
) -> None:
    assert ok(driver.save(INFO, password=(INFO, PASSWORD)))
    assert mail_server.send(SENDER, [INFO.address], message("first")) == {}
    [got] = mail_server.wait_for_messages(INFO.address, 1)
    assert b"Subject: first" in got
    fetched = mail_server.imap_messages(INFO.address, PASSWORD)
    assert [b"Subject: first" in m for m in fetched] == [True]
    with pytest.raises(Exception):  # noqa: B017 - imaplib's error type is the instance's
        mail_server.imap_login(INFO.address, PASSWORD + "x")
    # Only a hash is on the server, made by doveadm pw.
    stored = (mail_server.dovecot_dir / "passwords" / INFO.address).read_text()
    assert stored.startswith(f"{INFO.address}:{{SHA512-CRYPT}}$6$") and PASSWORD not in stored
    # A second apply changes nothing.
    result = driver.save(INFO)
    assert result.logs and set(states(result)) == {"nothing"}, changed(result)


def test_argon2id_hashes_log_in_too(mail_server: MailServer) -> None:
    with driving(mail_server, password_scheme="ARGON2ID") as made:
        assert ok(made.save(INFO, password=(INFO, PASSWORD)))
    stored = (mail_server.dovecot_dir / "passwords" / INFO.address).read_text()
    assert "{ARGON2ID}$argon2id$" in stored
    mail_server.imap_login(INFO.address, PASSWORD).logout()


def test_an_address_delivers_to_its_mailboxes_and_forwards(
    driver: Driver, mail_server: MailServer, smtp_sink: SMTPSink
) -> None:
    orders = MailAddress(
        account="acme",
        address="orders@acme.example",
        mailboxes=(INFO.address, SALES.address),
        forwards=("boss@outside.test",),
    )
    assert ok(driver.save(INFO, SALES, orders))
    assert mail_server.send(SENDER, [orders.address], message("order 1")) == {}
    assert b"order 1" in mail_server.wait_for_messages(INFO.address, 1)[0]
    assert b"order 1" in mail_server.wait_for_messages(SALES.address, 1)[0]
    [forwarded] = smtp_sink.wait_for(1)
    assert forwarded.rcpt_tos == ["boss@outside.test"]
    assert b"order 1" in forwarded.content


def test_a_catch_all_catches_and_leaves_mailboxes_their_mail(
    driver: Driver, mail_server: MailServer
) -> None:
    catch_all = MailAddress(account="acme", address="@acme.example", mailboxes=(SALES.address,))
    assert ok(driver.save(INFO, SALES, catch_all))
    assert mail_server.send(SENDER, ["whoever@acme.example"], message("stray")) == {}
    assert mail_server.send(SENDER, [INFO.address], message("for info")) == {}
    assert b"stray" in mail_server.wait_for_messages(SALES.address, 1)[0]
    [got] = mail_server.wait_for_messages(INFO.address, 1)
    assert b"for info" in got
    assert len(mail_server.messages(SALES.address)) == 1


def test_an_unknown_recipient_is_refused_at_rcpt(driver: Driver, mail_server: MailServer) -> None:
    assert ok(driver.save(INFO))
    code, text = mail_server.rcpt(SENDER, "nobody@acme.example")
    assert code == 550 and "User unknown" in text
    # A domain nothing of which is here is not ours: relaying is refused.
    code, text = mail_server.rcpt(SENDER, "info@elsewhere.example")
    assert code >= 500 and "Relay access denied" in text


def test_over_quota_the_sender_is_refused(driver: Driver, mail_server: MailServer) -> None:
    import smtplib

    small = attrs.evolve(INFO, quota=40_000)
    assert ok(driver.save(small))
    assert mail_server.send(SENDER, [INFO.address], message("first", size=25_000)) == {}
    mail_server.wait_for_messages(INFO.address, 1)
    # The next one would not fit: refused at RCPT (smtplib says its SIZE), nothing queued.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mail_server.send(SENDER, [INFO.address], message("second", size=25_000))
    code, text = refused.value.recipients[INFO.address]
    assert code == 552 and b"Mailbox is full" in text, (code, text)
    assert mail_server.queue() == []
    assert len(mail_server.messages(INFO.address)) == 1
    # Raising the quota takes it back.
    assert ok(driver.save(attrs.evolve(INFO, quota=5_000_000)))
    assert mail_server.send(SENDER, [INFO.address], message("second", size=25_000)) == {}
    assert len(mail_server.wait_for_messages(INFO.address, 2)) == 2


def test_suspend_refuses_logins_keeps_mail_and_resume_gives_it(
    driver: Driver, mail_server: MailServer
) -> None:
    assert ok(driver.save(INFO, password=(INFO, PASSWORD)))
    driver.suspend(True)
    assert ok(driver.save(INFO))
    with pytest.raises(Exception):  # noqa: B017
        mail_server.imap_login(INFO.address, PASSWORD)
    assert mail_server.send(SENDER, [INFO.address], message("while away")) == {}
    assert b"while away" in mail_server.wait_for_messages(INFO.address, 1)[0]
    driver.suspend(False)
    assert ok(driver.save(INFO))
    fetched = mail_server.imap_messages(INFO.address, PASSWORD)
    assert any(b"while away" in m for m in fetched)


def test_suspended_mailboxes_may_defer_instead(mail_server: MailServer) -> None:
    with driving(mail_server, suspended_mail="defer") as made:
        assert ok(made.save(INFO))
        made.suspend(True)
        assert ok(made.save(INFO))
        code, text = mail_server.rcpt(SENDER, INFO.address)
        assert code == 450 and "temporarily unavailable" in text
        made.suspend(False)
        assert ok(made.save(INFO))
        assert mail_server.rcpt(SENDER, INFO.address)[0] == 250


def test_delete_refuses_new_mail_and_keeps_the_maildir_in_the_trash(
    driver: Driver, mail_server: MailServer
) -> None:
    assert ok(driver.save(INFO, SALES))
    assert mail_server.send(SENDER, [INFO.address], message("keep me")) == {}
    mail_server.wait_for_messages(INFO.address, 1)
    assert ok(driver.delete(INFO))
    assert mail_server.rcpt(SENDER, INFO.address)[0] == 550
    day = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    trashed = mail_server.trash_dir / day / INFO.address
    kept = [p.read_bytes() for p in (trashed / "Maildir").glob("*/*") if p.is_file()]
    assert any(b"keep me" in m for m in kept)
    assert not Path(mail_server.settings()["mail_base"], "acme.example", "info").exists()
    assert mail_server.rcpt(SENDER, SALES.address)[0] == 250  # the domain stays with sales
    assert ok(driver.delete(SALES))
    code, text = mail_server.rcpt(SENDER, SALES.address)
    assert code >= 500 and "Relay access denied" in text  # not a domain of the server any more


def test_a_refused_configuration_leaves_the_live_maps_with_postfixs_words(
    driver: Driver, mail_server: MailServer
) -> None:
    assert ok(driver.save(INFO))
    live = {p.name: p.read_bytes() for p in mail_server.maps_dir.iterdir() if p.is_file()}
    with driving(mail_server, config_dir=str(mail_server.broken_config_dir())) as made:
        result = made.save(INFO, SALES)
    assert not result.ok
    said = "\n".join(log.stderr for log in result.logs)
    assert "postfix: fatal:" in said and "mail_owner" in said, said
    assert {p.name: p.read_bytes() for p in mail_server.maps_dir.iterdir() if p.is_file()} == live
    assert mail_server.rcpt(SENDER, SALES.address)[0] == 550


def test_a_failed_reload_puts_the_previous_maps_back(
    driver: Driver, mail_server: MailServer
) -> None:
    assert ok(driver.save(INFO))
    live = (mail_server.maps_dir / "virtual_mailboxes").read_bytes()
    with driving(mail_server, config_dir=str(mail_server.stopped_config_dir())) as made:
        result = made.save(INFO, SALES)
    assert not result.ok
    assert (mail_server.maps_dir / "virtual_mailboxes").read_bytes() == live


def test_hostile_addresses_are_refused_and_the_longest_is_delivered_exactly(
    driver: Driver, mail_server: MailServer
) -> None:
    domain = ".".join(["d" * 60, "e" * 60, "f" * 60]) + ".exampl"
    longest = Mailbox(account="acme", address="l" * 64 + "@" + domain)
    assert len(longest.address) == 254
    assert ok(driver.save(longest))
    assert mail_server.send(SENDER, [longest.address], message("long")) == {}
    assert b"long" in mail_server.wait_for_messages(longest.address, 1)[0]
    for bad in ('"a b"@acme.example', "$(id)@acme.example", "a\n@acme.example", "ü@acme.example"):
        with pytest.raises(Exception, match="address"):
            driver.save(Mailbox(account="acme", address=bad))


def test_a_mailbox_over_its_allocation_refuses_mail_until_it_recovers(
    driver: Driver, mail_server: MailServer
) -> None:
    assert ok(driver.save(INFO))
    over = driver.orchestra.plan(
        ChangeSet().save(INFO),
        index=driver.index(),
        exceeded={INFO.key: frozenset({"mailbox-disk"})},
    )
    assert driver.orchestra.apply(over).ok
    assert mail_server.rcpt(SENDER, INFO.address, size=100)[0] == 552
    # The customer still logs in (and may delete mail); recovered, the quota is back.
    assert ok(driver.save(attrs.evolve(INFO, quota=5_000_001)))
    assert mail_server.rcpt(SENDER, INFO.address, size=100)[0] == 250


def test_a_backup_mx_relays_the_domain_to_the_primary(
    mail_server: MailServer, mail_secondary: MailServer
) -> None:
    from orchestra_core import Orchestra
    from orchestra_core.model.index import ServiceIndex

    primary = Server(
        name="mx1", address=mail_server.address, settings={"postfix": mail_server.settings()}
    )
    backup = Server(
        name="mx2", address=mail_secondary.address, settings={"postfix": mail_secondary.settings()}
    )
    routes = [
        Route(backend="postfix-mailbox", servers=("mx1",)),
        Route(backend="postfix-relay-mailbox", servers=("mx2",)),
    ]
    engine = Orchestra(servers=[primary, backup], routes=routes)
    try:
        index = ServiceIndex([Account(name="acme")], [INFO])
        assert engine.apply(engine.plan(ChangeSet().save(INFO), index=index)).ok
        assert mail_secondary.rcpt(SENDER, "nobody@acme.example")[0] == 550
        assert mail_secondary.send(SENDER, [INFO.address], message("via backup")) == {}
        got = mail_server.wait_for_messages(INFO.address, 1, timeout=30)[0]
        assert b"via backup" in got and b"mx2.test" in got  # relayed by the backup
    finally:
        engine.close()


def test_the_example_inventory_applies_and_reapplies(
    mail_server: MailServer, tmp_path: Path
) -> None:
    import yaml

    example = Path(__file__).resolve().parents[3] / "examples" / "mail.yaml"
    inventory = yaml.safe_load(example.read_text())
    inventory["servers"] = [
        {
            "name": "mx1",
            "address": mail_server.address,
            "settings": {"postfix": mail_server.settings()},
        },
        {
            "name": "mx2",
            "address": mail_server.address,
            "settings": {"postfix": mail_server.settings()},
        },
    ]
    inventory["routes"] = [r for r in inventory["routes"] if "relay" not in r["backend"]]
    path = tmp_path / "mail.yaml"
    path.write_text(yaml.safe_dump(inventory))
    orchestra = str(Path(sys.executable).with_name("orchestra"))

    def apply() -> list[str]:
        done = subprocess.run(
            [orchestra, "apply", str(path), "--yes", "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return sorted(log["state"] for log in json.loads(done.stdout))

    assert "success" in apply()
    assert mail_server.send(SENDER, ["anything@acme.example"], message("caught")) == {}
    assert b"caught" in mail_server.wait_for_messages("info@acme.example", 1)[0]
    assert apply() == []

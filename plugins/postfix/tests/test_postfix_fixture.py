"""The mail-server fixtures themselves: a pair starts and stops leaving nothing behind, a
reset brings it back to its start, the sink receives what Postfix relays."""

from __future__ import annotations

import time

import pytest
from orchestra_postfix.testing import TABLES, MailServer, MailServerFactory, SMTPSink

pytestmark = pytest.mark.daemon


def test_a_pair_starts_answers_and_stops_without_leftovers(
    mail_server_factory: MailServerFactory,
) -> None:
    mail = mail_server_factory("mx9", timezone="Europe/Madrid")
    pids = mail.postfix.processes() | mail.dovecot.processes()
    assert pids
    code, text = mail.rcpt("a@outside.test", "x@acme.example")
    assert code == 554 and "Relay access denied" in text  # no domain is ours yet
    for table in TABLES:
        assert (mail.maps_dir / f"{table}.db").exists()
    assert mail.settings()["timezone"] == "Europe/Madrid"
    mail.stop()
    deadline = time.monotonic() + 10
    while (alive := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive == [], [_describe(p) for p in alive]


def _running(pid: int) -> bool:
    """True when ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmd:
            words = cmd.read().split(b"\0")
        return f"{pid}: {b' '.join(words).decode()}"
    except FileNotFoundError:
        return f"{pid}: gone"


def test_reset_brings_the_shared_pair_back_to_its_start(mail_server: MailServer) -> None:
    (mail_server.maps_dir / "parts").mkdir()
    (mail_server.maps_dir / "virtual_domains").write_text("acme.example OK\n")
    (mail_server.mail_base / "acme.example").mkdir()
    (mail_server.trash_dir / "2026-12-03").mkdir()
    started = time.monotonic()
    mail_server.reset()
    assert time.monotonic() - started < 5
    assert not (mail_server.maps_dir / "parts").exists()
    assert (mail_server.maps_dir / "virtual_domains").read_text() == ""
    assert list(mail_server.mail_base.iterdir()) == []
    assert list(mail_server.trash_dir.iterdir()) == []
    # The logs start at the reset: nothing of before it (the reloads it ran may be there).
    assert "starting the Postfix mail system" not in mail_server.log_text()


def test_mail_for_outside_reaches_the_sink(mail_server: MailServer, smtp_sink: SMTPSink) -> None:
    """Written by hand: a domain whose only address forwards outside."""
    (mail_server.maps_dir / "virtual_domains").write_text("acme.example OK\n")
    (mail_server.maps_dir / "virtual_aliases").write_text("fw@acme.example boss@outside.test\n")
    for table in ("virtual_domains", "virtual_aliases"):
        import subprocess

        subprocess.run(
            ["postmap", "-c", str(mail_server.config_dir), f"hash:{mail_server.maps_dir / table}"],
            check=True,
        )
    assert (
        mail_server.send("a@outside.test", ["fw@acme.example"], b"Subject: hi\r\n\r\nyo\r\n") == {}
    )
    [got] = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ["boss@outside.test"] and b"yo" in got.content


def test_the_queue_empties_once_the_sink_has_the_mail(
    mail_server: MailServer, smtp_sink: SMTPSink
) -> None:
    """Relayed mail leaves the queue; ``wait_queue_empty`` sees it go."""
    import subprocess

    (mail_server.maps_dir / "virtual_domains").write_text("acme.example OK\n")
    (mail_server.maps_dir / "virtual_aliases").write_text("q@acme.example q@outside.test\n")
    for table in ("virtual_domains", "virtual_aliases"):
        subprocess.run(
            ["postmap", "-c", str(mail_server.config_dir), f"hash:{mail_server.maps_dir / table}"],
            check=True,
        )
    assert mail_server.send("a@outside.test", ["q@acme.example"], b"Subject: q\r\n\r\nq\r\n") == {}
    smtp_sink.wait_for(1)
    mail_server.wait_queue_empty(10)
    assert mail_server.queue() == []

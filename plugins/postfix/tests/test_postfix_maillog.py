"""Postfix's log read for deliveries (orchestra_postfix.maillog, and the traffic monitors'
parse and script), with crafted logs: local times across Europe/Madrid's changes of offset
and a year's end, zones given only as an offset, RFC 3339 lines, aliases, a message to two
mailboxes, and hostile text in the lines. No daemon: the script runs in bash over files
written here, with each awk installed (gawk, mawk)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from orchestra_postfix import maillog
from orchestra_postfix.maillog import LocalClock, ServerClock, read, zone_from
from orchestra_postfix.monitor import MailMessages, MailTraffic
from orchestra_postfix.settings import PostfixSettings

from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import Mailbox
from orchestra_core.model.servers import Server
from orchestra_core.testing.hostile import hostile_values

MADRID = ZoneInfo("Europe/Madrid")
BOB = Mailbox(account="acme", address="bob@example.com")
ANN = Mailbox(account="acme", address="ann@example.com")
MAILBOXES = [BOB, ANN]
RECIPIENTS = {"bob@example.com", "ann@example.com"}
#: The server's now in most tests.
NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def z(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """A UTC time."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# -- crafted log lines ---------------------------------------------------------------------------


def qmgr(when: str, qid: str, size: int, sender: str = "alice@example.org") -> str:
    """qmgr's line of a message entering the active queue."""
    return (
        f"{when} mx postfix/qmgr[310]: {qid}: from=<{sender}>, size={size}, nrcpt=1 (queue active)"
    )


def sent(
    when: str,
    qid: str,
    to: str,
    *,
    orig_to: str | None = None,
    agent: str = "lmtp",
    status: str = "sent",
    reply: str = "250 2.0.0 <x> Saved",
    program: str = "postfix",
) -> str:
    """A delivery agent's line for one recipient."""
    orig = f"orig_to=<{orig_to}>, " if orig_to is not None else ""
    relay = {"lmtp": "mx.example.com[private/dovecot-lmtp]", "virtual": "virtual"}.get(agent, agent)
    return (
        f"{when} mx {program}/{agent}[4711]: {qid}: to=<{to}>, {orig}relay={relay}, delay=0.12, "
        f"delays=0.05/0.01/0.02/0.04, dsn=2.0.0, status={status} ({reply})"
    )


def output(
    *files: Sequence[str],
    zone: str = "Europe/Madrid",
    offset: str = "+0100",
    now: datetime = NOW,
    oldest: bool = False,
) -> str:
    """What the monitor's script prints for log files (oldest first) whose lines all matter."""
    head = [f"zone\t{zone}", f"offset\t{offset}", f"now\t{int(now.timestamp())}"]
    head.append(f"oldest\t{int(oldest)}")
    body: list[str] = []
    for lines in files:
        body.append("file")
        body += [f"line\t{line}" for line in lines]
    return "\n".join(head + body) + "\n"


def times(text: str) -> list[datetime]:
    """The UTC times of the deliveries ``text`` shows, in order."""
    return [d.at for d in read(text, RECIPIENTS).deliveries]


# -- local times ---------------------------------------------------------------------------------


def test_the_repeated_hour_of_a_fall_back_is_read_in_the_order_of_the_lines() -> None:
    # 2026-10-25, Europe/Madrid: 03:00 CEST (+02:00) becomes 02:00 CET (+01:00).
    log = [
        sent("Oct 25 01:30:00", "A1", "bob@example.com"),  # CEST
        sent("Oct 25 02:30:00", "A2", "bob@example.com"),  # first 02:30, CEST
        sent("Oct 25 02:59:30", "A3", "bob@example.com"),
        sent("Oct 25 02:00:10", "A4", "bob@example.com"),  # the clock went back: CET
        sent("Oct 25 02:29:59", "A5", "bob@example.com"),  # before the first 02:30, but CET
        sent("Oct 25 02:30:00", "A6", "bob@example.com"),  # the second 02:30
        sent("Oct 25 03:15:00", "A7", "bob@example.com"),
    ]
    assert times(output(log)) == [
        z(2026, 10, 24, 23, 30),
        z(2026, 10, 25, 0, 30),
        z(2026, 10, 25, 0, 59, 30),
        z(2026, 10, 25, 1, 0, 10),
        z(2026, 10, 25, 1, 29, 59),
        z(2026, 10, 25, 1, 30),
        z(2026, 10, 25, 2, 15),
    ]


def test_the_times_of_lines_left_out_tell_which_pass_of_the_repeated_hour() -> None:
    # bob's deliveries at 02:10 and 02:40 local with nothing of his between: the script's
    # time lines (one per ten minutes of log) show that the clock went back meanwhile.
    text = output([sent("Oct 25 02:10:00", "B1", "bob@example.com")])
    text += "time\tOct 25 02:50:00\ntime\tOct 25 02:00:02\n"
    text += f"line\t{sent('Oct 25 02:40:00', 'B2', 'bob@example.com')}\n"
    assert times(text) == [z(2026, 10, 25, 0, 10), z(2026, 10, 25, 1, 40)]
    # Without them the order alone cannot tell: the first 02:40 keeps the log in order.
    alone = output(
        [
            sent("Oct 25 02:10:00", "B1", "bob@example.com"),
            sent("Oct 25 02:40:00", "B2", "bob@example.com"),
        ]
    )
    assert times(alone) == [z(2026, 10, 25, 0, 10), z(2026, 10, 25, 0, 40)]


def test_lines_a_little_out_of_order_stay_in_the_first_pass() -> None:
    log = [
        sent("Oct 25 02:10:05", "C1", "bob@example.com"),
        sent("Oct 25 02:10:03", "C2", "bob@example.com"),  # written 2 s late by another process
    ]
    assert times(output(log)) == [z(2026, 10, 25, 0, 10, 5), z(2026, 10, 25, 0, 10, 3)]


def test_a_server_still_in_the_first_pass_puts_no_line_in_the_second() -> None:
    # The server's now is 02:20 CEST: a line at 02:10 cannot be the later 02:10 (CET).
    clock = LocalClock(MADRID, z(2026, 10, 25, 0, 20))
    clock.last = z(2026, 10, 25, 2, 0)  # even after a line far in the future
    assert clock.read("Oct 25 02:10:00 mx") == (z(2026, 10, 25, 0, 10), 15)


def test_spring_forward_and_its_gap() -> None:
    # 2026-03-29, Europe/Madrid: 02:00 CET (+01:00) becomes 03:00 CEST (+02:00).
    log = [
        sent("Mar 29 01:59:00", "D1", "bob@example.com"),
        sent("Mar 29 03:00:05", "D2", "bob@example.com"),
        sent("Mar 29 02:30:00", "D3", "bob@example.com"),  # no such time: as 03:30 CEST
        sent("Mar 29 04:00:00", "D4", "bob@example.com"),
    ]
    assert times(output(log, now=z(2026, 4, 1, 0, 0), offset="+0200")) == [
        z(2026, 3, 29, 0, 59),
        z(2026, 3, 29, 1, 0, 5),
        z(2026, 3, 29, 1, 30),
        z(2026, 3, 29, 2, 0),
    ]


def test_the_year_is_the_servers_unless_that_is_after_now() -> None:
    # New Year's night in Madrid (+01:00): now is 00:30 UTC on 1 January 2027.
    log = [
        sent("Dec 31 23:50:00", "E1", "bob@example.com"),
        sent("Jan  1 00:10:00", "E2", "bob@example.com"),
        sent("Jan  1 01:20:00", "E3", "bob@example.com"),
    ]
    assert times(output(log, now=z(2027, 1, 1, 0, 30))) == [
        z(2026, 12, 31, 22, 50),
        z(2026, 12, 31, 23, 10),
        z(2027, 1, 1, 0, 20),
    ]
    # In December the same December line is this year's; a January one is this year's too.
    assert times(output(log[:1], now=z(2026, 12, 31, 23, 0))) == [z(2026, 12, 31, 22, 50)]
    # A 29 February read in a common year is the last leap year's, never an error.
    leap = [sent("Feb 29 12:00:00", "E4", "bob@example.com")]
    assert times(output(leap, now=z(2029, 1, 10, 0, 0))) == [z(2028, 2, 29, 11, 0)]
    assert times(output(leap, now=z(2030, 3, 1, 0, 0))) == []  # 2029 was no leap year


def test_a_zone_given_only_as_an_offset_is_read_at_that_offset() -> None:
    log = [sent("Dec  3 10:00:00", "F1", "bob@example.com")]
    assert times(output(log, zone="", offset="+0530")) == [z(2026, 12, 3, 4, 30)]
    # A name this host does not know, or a POSIX TZ string: the offset the server printed.
    assert times(output(log, zone="Mars/Olympus_Mons", offset="-0300")) == [z(2026, 12, 3, 13, 0)]
    posix = "CET-1CEST,M3.5.0,M10.5.0/3"
    assert times(output(log, zone=posix, offset="+0100")) == [z(2026, 12, 3, 9, 0)]
    assert ServerClock(zone="", offset=timedelta(hours=-3), now=z(2026, 1, 1)).tzinfo() == (
        timezone(timedelta(hours=-3))
    )
    for wrong in ("", "+99", "+2500", "garbage"):
        with pytest.raises(ValueError, match="unknown here and it printed no offset"):
            read(output(log, zone="", offset=wrong), RECIPIENTS)


def test_zone_names_as_tz_and_zoneinfo_links_give_them() -> None:
    for name in (
        "Europe/Madrid",
        ":Europe/Madrid",
        "/usr/share/zoneinfo/Europe/Madrid",
        "../usr/share/zoneinfo/Europe/Madrid",
        "posix/Europe/Madrid",
        " Europe/Madrid\n",
    ):
        assert zone_from(name) == MADRID, name
    for name in ("", "Nowhere/Town", "/etc/passwd", "../../etc/passwd", "Europe/../../x"):
        assert zone_from(name) is None, name


def test_days_as_syslog_and_as_postlogd_write_them() -> None:
    # syslog pads the day with a space; Postfix's own maillog_file (msg_logger.c: strftime
    # "%b %d %H:%M:%S ") with a zero.
    log = [
        sent("Dec  3 10:00:00", "S1", "bob@example.com"),
        sent("Dec 03 10:00:01", "S2", "bob@example.com"),
        sent("Dec 3 10:00:02", "S3", "bob@example.com"),
    ]
    assert times(output(log)) == [
        z(2026, 12, 3, 9, 0, 0),
        z(2026, 12, 3, 9, 0, 1),
        z(2026, 12, 3, 9, 0, 2),
    ]


def test_rfc3339_lines_carry_their_offset() -> None:
    log = [
        sent("2026-12-03T11:02:06.123456+01:00", "G1", "bob@example.com"),
        sent("2026-12-03T10:02:07Z", "G2", "bob@example.com"),
        sent("2026-10-25T02:30:00.123456789+01:00", "G3", "bob@example.com"),  # the second 02:30
        sent("2026-10-25T02:30:00-00:00", "G4", "bob@example.com"),
        sent("2026-13-03T10:02:07Z", "G5", "bob@example.com"),  # no 13th month: left out
    ]
    # The zone printed does not matter: the lines say theirs.
    assert times(output(log, zone="America/New_York", offset="-0500")) == [
        z(2026, 12, 3, 10, 2, 6, 123456),
        z(2026, 12, 3, 10, 2, 7),
        z(2026, 10, 25, 1, 30, 0, 123456),
        z(2026, 10, 25, 2, 30),
    ]


def test_output_without_the_servers_clock_is_an_error() -> None:
    with pytest.raises(ValueError, match="no 'now' line"):
        read("oldest\t0\nfile\n", RECIPIENTS)
    with pytest.raises(ValueError, match="no 'now' line"):
        read("zone\tUTC\nnow\t$(date)\n", RECIPIENTS)


# -- deliveries ----------------------------------------------------------------------------------


def deliveries(text: str) -> list[tuple[str, str, int | None]]:
    return [(d.queue_id, d.recipient, d.size) for d in read(text, RECIPIENTS).deliveries]


def test_sizes_come_from_the_queue_manager_and_aliases_count_for_the_mailbox() -> None:
    log = [
        qmgr("Dec  3 10:00:00", "4F2A81C0A5B", 2048),
        sent("Dec  3 10:00:01", "4F2A81C0A5B", "bob@example.com", orig_to="sales@example.com"),
        sent("Dec  3 10:00:01", "4F2A81C0A5B", "ann@example.com", orig_to="sales@example.com"),
        qmgr("Dec  3 10:01:00", "4dLq1t2Xq3z9lpJ", 777),  # a long queue id
        sent("Dec  3 10:01:01", "4dLq1t2Xq3z9lpJ", "ann@example.com", agent="virtual"),
        qmgr("Dec  3 10:02:00", "C3", 100),
        sent(
            "Dec  3 10:02:01", "C3", "bob@example.com", agent="pipe", reply="delivered via dovecot"
        ),
        sent("Dec  3 10:03:00", "NOQMGR", "bob@example.com"),  # its qmgr line was not read
    ]
    assert deliveries(output(log)) == [
        ("4F2A81C0A5B", "bob@example.com", 2048),
        ("4F2A81C0A5B", "ann@example.com", 2048),
        ("4dLq1t2Xq3z9lpJ", "ann@example.com", 777),
        ("C3", "bob@example.com", 100),
        ("NOQMGR", "bob@example.com", None),
    ]


def test_only_sent_deliveries_by_local_agents_to_the_mailboxes_count() -> None:
    log = [
        qmgr("Dec  3 10:00:00", "AAAAA1", 500),
        sent("Dec  3 10:00:01", "AAAAA1", "carol@example.com"),  # not a mailbox asked about
        sent("Dec  3 10:00:01", "AAAAA1", "bob@example.com", status="deferred", reply="452 full"),
        sent("Dec  3 10:00:01", "AAAAA1", "bob@example.com", status="bounced"),
        sent("Dec  3 10:00:01", "AAAAA1", "bob@example.com", agent="smtp"),  # relayed away
        sent("Dec  3 10:00:01", "AAAAA1", "bob@example.com", agent="discard"),
        sent("Dec  3 10:00:01", "AAAAA1", "bob@example.com", agent="smtpd"),
        "Dec  3 10:00:01 mx dovecot: lmtp(bob@example.com)<7><x>: AAAAA1: to=<bob@example.com>, "
        "relay=x, delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (saved)",  # not Postfix's
        sent("Dec  3 10:00:01", "AAAAA1", "bob@example.com.evil.org"),
        sent("Dec  3 10:00:01", "AAAAA1", "xbob@example.com"),
        "Dec  3 10:00:01 mx postfix/lmtp[1]: AAAAA1: to=<bob@example.com>, status=sent (short)",
        sent("Dec  3 10:00:02", "AAAAA1", "BOB@Example.COM", program="postfix-in"),  # counts
        sent("Dec  3 10:00:03", "AAAAA1", "bob@example.com", program="postfix/submission"),
    ]
    assert deliveries(output(log)) == [
        ("AAAAA1", "bob@example.com", 500),
        ("AAAAA1", "bob@example.com", 500),
    ]


HOSTILE_SENDERS = [
    '"bob@example.com>, size=99999999, nrcpt=1 (queue active)"@evil.org',
    "$(rm -rf /)@evil.org",
    "`reboot`@evil.org",
    "';DROP TABLE x;--@evil.org",
    "x" * 100_000 + "@evil.org",
]


@pytest.mark.parametrize(
    "sender", HOSTILE_SENDERS, ids=["quotes", "subshell", "backticks", "sql", "long"]
)
def test_a_hostile_sender_cannot_change_a_size(sender: str) -> None:
    log = [
        qmgr("Dec  3 10:00:00", "H1", 321, sender=sender),
        sent("Dec  3 10:00:01", "H1", "bob@example.com"),
    ]
    assert deliveries(output(log)) == [("H1", "bob@example.com", 321)]


def test_forged_fields_in_orig_to_or_the_reply_never_make_a_line_count() -> None:
    forged = "relay=x, delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent"
    log = [
        qmgr("Dec  3 10:00:00", "J1", 10),
        # A catch-all alias takes any local part: the sender chose orig_to.
        sent(
            "Dec  3 10:00:01",
            "J1",
            "bob@example.com",
            orig_to=f'"a, {forged} (x"@example.com',
            status="bounced",
        ),
        sent(
            "Dec  3 10:00:02", "J1", "bob@example.com", status="deferred", reply=f"x, {forged} (y"
        ),
        sent("Dec  3 10:00:03", "J1", "bob@example.com", orig_to=f'"{forged}"@example.com'),
        sent("Dec  3 10:00:04", "J1", '"bob@example.com"'),
        sent("Dec  3 10:00:05", "J1", "bob@example.com>, to=<ann@example.com"),
        sent("Dec  3 10:00:06", "J1", "$(touch /tmp/pwned)bob@example.com"),
        sent("Dec  3 10:00:07", "J1", "\u212aate@example.com"),  # KELVIN SIGN lowers to k
    ]
    # The forged 'sent' in orig_to of a bounce, and in the reply of a deferral: not counted.
    # A real 'sent' with a forged one as well: every status says sent, so it counts.
    assert deliveries(output(log)) == [("J1", "bob@example.com", 10)]
    assert read(output(log), {"kate@example.com"}).deliveries == []


def test_replacement_characters_and_very_long_lines_are_read_as_text() -> None:
    log = [
        "Dec  3 10:00:00 mx postfix/qmgr[1]: \ufffd\ufffd: from=<\ufffd>, size=1, nrcpt=1 "
        "(queue active)",
        qmgr("Dec  3 10:00:00", "K1", 64, sender="\ufffd\ufffd@evil.org"),
        sent("Dec  3 10:00:01", "K1", "bob@example.com", reply="\ufffd" * 10 + "y" * 1_000_000),
        "Dec  3 10:00:02 mx " + "postfix/" * 50_000 + "lmtp[1]: K1: to=<bob@example.com>, x",
        "\ufffd" * 500_000,
        "Dec  3 10:00:03 " + "x" * 2_000_000,
    ]
    assert deliveries(output(log)) == [("K1", "bob@example.com", 64)]


def test_garbage_in_place_of_times_is_left_out() -> None:
    text = output(
        [
            sent("Foo  3 10:00:00", "L1", "bob@example.com"),
            sent("Dec 32 10:00:00", "L2", "bob@example.com"),
            sent("Dec  3 25:00:00", "L3", "bob@example.com"),
            sent("Dec \u0663 10:00:00", "L4", "bob@example.com"),  # an Arabic-Indic digit
            sent("Dec  3 10:00:60", "L5", "bob@example.com"),  # a leap second: 59
        ]
    )
    text += "time\tnonsense\nsomething\telse\nline\n\n"
    assert [(d.queue_id, d.at) for d in read(text, RECIPIENTS).deliveries] == [
        ("L5", z(2026, 12, 3, 9, 0, 59))
    ]


# -- the monitors' samples -----------------------------------------------------------------------


def test_samples_per_mailbox_and_utc_hour_keyed_by_the_hour() -> None:
    log = [
        qmgr("Oct 25 02:10:00", "M1", 1000),
        sent("Oct 25 02:10:01", "M1", "bob@example.com"),
        sent("Oct 25 02:10:01", "M1", "ann@example.com"),  # one message, two mailboxes
        qmgr("Oct 25 02:55:00", "M2", 300),
        sent("Oct 25 02:55:01", "M2", "bob@example.com"),
        qmgr("Oct 25 02:05:00", "M3", 20),  # the second 02:05 (CET)
        sent("Oct 25 02:05:01", "M3", "bob@example.com"),
        sent("Oct 25 02:06:01", "M3", "bob@example.com"),  # delivered again: a second copy
    ]
    text = output(log, now=z(2026, 10, 26, 0, 0))
    at = z(2026, 10, 27)  # any time: counters are stamped with their hours
    traffic = MailTraffic().parse(text, MAILBOXES, at)
    assert [(s.object_key, s.measured_at, s.value, s.idempotency_key) for s in traffic] == [
        (ANN.key, z(2026, 10, 25, 0), 1000, f"postfix-mail-traffic:{ANN.key}:2026-10-25T00"),
        (BOB.key, z(2026, 10, 25, 0), 1300, f"postfix-mail-traffic:{BOB.key}:2026-10-25T00"),
        (BOB.key, z(2026, 10, 25, 1), 40, f"postfix-mail-traffic:{BOB.key}:2026-10-25T01"),
    ]
    messages = MailMessages().parse(text, MAILBOXES, at)
    assert [(s.object_key, s.measured_at, s.value, s.idempotency_key) for s in messages] == [
        (ANN.key, z(2026, 10, 25, 0), 1, f"postfix-mail-messages:{ANN.key}:2026-10-25T00"),
        (BOB.key, z(2026, 10, 25, 0), 2, f"postfix-mail-messages:{BOB.key}:2026-10-25T00"),
        (BOB.key, z(2026, 10, 25, 1), 2, f"postfix-mail-messages:{BOB.key}:2026-10-25T01"),
    ]
    # Read again, later, with more lines: the same keys, whole hours.
    more = output(
        [*log, qmgr("Oct 25 02:30:00", "M4", 5), sent("Oct 25 02:30:01", "M4", "ann@example.com")]
    )
    again = {s.idempotency_key: s.value for s in MailTraffic().parse(more, MAILBOXES, at)}
    assert again == {
        f"postfix-mail-traffic:{ANN.key}:2026-10-25T00": 1000,
        f"postfix-mail-traffic:{BOB.key}:2026-10-25T00": 1300,
        f"postfix-mail-traffic:{BOB.key}:2026-10-25T01": 40,
        f"postfix-mail-traffic:{ANN.key}:2026-10-25T01": 5,
    }
    # Mailboxes not asked about give nothing; none asked about, nothing.
    assert {s.object_key for s in MailTraffic().parse(text, [ANN], at)} == {ANN.key}
    assert MailTraffic().parse(text, [], at) == []


def test_the_first_hour_of_the_oldest_file_is_left_out_when_older_files_were_not_read() -> None:
    older = [qmgr("Dec  3 09:40:00", "N1", 10), sent("Dec  3 09:40:01", "N1", "bob@example.com")]
    newer = [qmgr("Dec  3 10:40:00", "N2", 20), sent("Dec  3 10:40:01", "N2", "bob@example.com")]
    # The oldest file listed is there: its first hour may have begun in mail.log.2.gz.
    cut = MailTraffic().parse(output(older, newer, oldest=True), [BOB], z(2026, 12, 3, 11))
    assert [(s.measured_at, s.value) for s in cut] == [(z(2026, 12, 3, 9), 20)]
    assert read(output(older, newer, oldest=True), RECIPIENTS).incomplete_until == z(2026, 12, 3, 8)
    # It is not (logging began in the files read): every hour is whole.
    whole = MailTraffic().parse(output(older, newer), [BOB], z(2026, 12, 3, 11))
    assert [(s.measured_at, s.value) for s in whole] == [
        (z(2026, 12, 3, 8), 10),
        (z(2026, 12, 3, 9), 20),
    ]


# -- the script ----------------------------------------------------------------------------------

AWKS = [name for name in ("gawk", "mawk") if shutil.which(name)]


def run_script(
    tmp_path: Path,
    awk: str,
    logs: dict[str, bytes | None],
    *,
    mailboxes: Sequence[Mailbox] = MAILBOXES,
    root: str | None = None,
    env: dict[str, str] | None = None,
    now: datetime | None = NOW,
    **settings: object,
) -> str:
    """Render the traffic monitor's script for log files (by name under tmp_path, newest
    first; None: missing) and run it in bash with ``awk`` first in PATH; its output."""
    base = Path(root) if root else tmp_path
    for name, data in logs.items():
        if data is not None:
            (base / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (base / name.lstrip("/")).write_bytes(data)
    maillog_paths = tuple(name if root else str(tmp_path / name) for name in logs)
    server = (
        Server(name="mx", transport="local", root=root)
        if root
        else Server(name="mx", transport="local")
    )
    (step,) = MailTraffic().render(
        mailboxes,
        server,
        PostfixSettings(maillog=maillog_paths, **settings),  # type: ignore[arg-type]
    )
    assert isinstance(step, Command)
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    link = bindir / "awk"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(shutil.which(awk) or awk)
    environment = {"PATH": f"{bindir}:/usr/bin:/bin", **(env or {})}
    done = subprocess.run(
        ["bash", "-c", "set -u\n" + step.script],
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    out = done.stdout.decode("utf-8", errors="replace")  # as the transports decode it
    if now is not None:  # the server's clock, as of when the crafted logs were written
        out = re.sub(r"(?m)^now\t[0-9]+$", f"now\t{int(now.timestamp())}", out, count=1)
    return out


def lines(*text: str) -> bytes:
    return "".join(line + "\n" for line in text).encode()


@pytest.mark.parametrize("awk", AWKS)
def test_the_script_prints_what_matters_oldest_file_first(tmp_path: Path, awk: str) -> None:
    current = lines(
        "Oct 25 02:05:00 mx postfix/smtpd[9]: connect from unknown[192.0.2.1]",
        qmgr("Oct 25 02:05:00", "P2", 500),
        sent("Oct 25 02:05:01", "P2", "Bob@Example.com", agent="virtual"),
        qmgr("Oct 25 02:06:00", "P3", 999),
        sent("Oct 25 02:06:01", "P3", "carol@example.com"),
        "Oct 25 03:10:00 mx postfix/anvil[9]: statistics",
    )
    rotated = lines(
        "Oct 25 02:49:00 mx postfix/pickup[9]: P1: uid=0 from=<root>",
        qmgr("Oct 25 02:50:00", "P1", 1000),
        sent("Oct 25 02:50:01", "P1", "bob@example.com"),
        sent("Oct 25 02:50:02", "P1", "ann@example.com", orig_to="info@example.com"),
        "Oct 25 02:51:00 mx postfix/qmgr[10]: P1: removed",
        "Oct 25 02:59:00 mx dovecot: lmtp(bob@example.com): saved mail to INBOX",
    )
    out = run_script(
        tmp_path, awk, {"mail.log": current, "mail.log.1": rotated}, timezone="Europe/Madrid"
    )
    head, _, body = out.partition("oldest\t")
    assert head.startswith("zone\tEurope/Madrid\noffset\t+0")
    assert body.splitlines() == [
        "1",
        "file",
        "time\tOct 25 02:49:00",
        "time\tOct 25 02:50:00",
        f"line\t{qmgr('Oct 25 02:50:00', 'P1', 1000)}",
        f"line\t{sent('Oct 25 02:50:01', 'P1', 'bob@example.com')}",
        f"line\t{sent('Oct 25 02:50:02', 'P1', 'ann@example.com', orig_to='info@example.com')}",
        "file",
        "time\tOct 25 02:05:00",
        f"line\t{qmgr('Oct 25 02:05:00', 'P2', 500)}",
        f"line\t{sent('Oct 25 02:05:01', 'P2', 'Bob@Example.com', agent='virtual')}",
        "time\tOct 25 03:10:00",
    ]
    # The rotated file's first hour (00:xx UTC) may be partial: left out. P2 is the second
    # 02:05 (CET): 01:05 UTC.
    samples = MailTraffic().parse(out, MAILBOXES, z(2026, 12, 1))
    assert [(s.object_key, s.measured_at, s.value) for s in samples] == [
        (BOB.key, z(2026, 10, 25, 1), 500)
    ]


@pytest.mark.parametrize("awk", AWKS)
def test_the_script_skips_missing_files_and_hostile_bytes(tmp_path: Path, awk: str) -> None:
    hostile = b"".join(
        [
            qmgr("Dec  3 10:00:00", "Q1", 4096, sender='"\'$(id)`id`"@evil.org').encode(),
            b"\n",
            b"Dec  3 10:00:00 mx postfix/qmgr[1]: Q9: from=<\xff\xfe\x80@evil.org>, size=7, "
            b"nrcpt=1 (queue active)\n",
            sent("Dec  3 10:00:01", "Q9", "bob@example.com", reply="\udcff").encode(
                errors="surrogateescape"
            ),
            b"\n",
            b"Dec  3 10:00:02 mx "
            + b"\xff" * 300_000
            + b" status=sent ]: Q1: to=<bob@example.com>, \n",
            sent("Dec  3 10:00:03", "Q1", "bob@example.com", reply="x" * 500_000).encode(),
            b"\n",
            b"\x00\x01\x02 binary garbage\n",
            sent("Dec  3 10:00:04", "Q1", "$(touch /tmp/pwned)@example.com").encode(),
            b"\n",
            sent("Dec  3 10:00:05", "Q1", "ann@example.com").encode(),  # no newline at the end
        ]
    )
    out = run_script(
        tmp_path,
        awk,
        {"mail.log": hostile, "mail.log.1": None},  # the rotated one is missing
        timezone="UTC",
    )
    assert "oldest\t0\n" in out
    reading = read(out, RECIPIENTS)
    assert [(d.queue_id, d.recipient, d.size) for d in reading.deliveries] == [
        ("Q9", "bob@example.com", 7),
        ("Q1", "bob@example.com", 4096),
        ("Q1", "ann@example.com", 4096),
    ]
    assert not Path("/tmp/pwned").exists()
    samples = MailMessages().parse(out, MAILBOXES, z(2026, 12, 3, 11))
    assert {(s.object_key, s.value) for s in samples} == {(BOB.key, 2), (ANN.key, 1)}


@pytest.mark.parametrize("awk", AWKS)
def test_the_script_without_logs_prints_only_the_clock(tmp_path: Path, awk: str) -> None:
    out = run_script(
        tmp_path, awk, {"mail.log": None, "mail.log.1": None}, now=None, timezone="Asia/Kolkata"
    )
    assert out.splitlines()[0::3] == ["zone\tAsia/Kolkata", "oldest\t0"]
    assert out.splitlines()[1] == "offset\t+0530"
    now = int(out.splitlines()[2].partition("\t")[2])
    assert abs(now - datetime.now(UTC).timestamp()) < 60
    assert MailTraffic().parse(out, MAILBOXES, z(2026, 12, 3)) == []


def test_the_script_asks_the_server_for_its_zone(tmp_path: Path) -> None:
    awk = AWKS[0]
    out = run_script(tmp_path, awk, {"mail.log": None}, env={"TZ": ":America/New_York"})
    assert out.startswith("zone\t:America/New_York\noffset\t-0")
    assert zone_from(":America/New_York") == ZoneInfo("America/New_York")
    # Without TZ: /etc/timezone, else /etc/localtime's target (whatever this host has).
    plain = run_script(tmp_path, awk, {"mail.log": None}).splitlines()
    expected = ""
    if os.path.isfile("/etc/timezone"):
        expected = Path("/etc/timezone").read_text().splitlines()[0]
    elif os.path.islink("/etc/localtime"):
        expected = os.readlink("/etc/localtime").partition("/zoneinfo/")[2]
    assert plain[0] == f"zone\t{expected}"


@pytest.mark.parametrize("awk", AWKS)
def test_the_script_reads_logs_under_the_sandbox_root(tmp_path: Path, awk: str) -> None:
    root = tmp_path / "root"
    log = lines(qmgr("Dec  3 10:00:00", "R1", 12), sent("Dec  3 10:00:01", "R1", "ann@example.com"))
    out = run_script(
        tmp_path, awk, {"/var/log/mail.log": log}, root=str(root), timezone="Europe/Madrid"
    )
    assert [d.queue_id for d in read(out, RECIPIENTS).deliveries] == ["R1"]


def test_nothing_to_read_for_no_mailboxes() -> None:
    server = Server(name="mx", transport="local")
    assert MailTraffic().render([], server, PostfixSettings()) == []
    assert maillog.AGENTS == ("lmtp", "virtual", "pipe", "local")


def test_the_hostile_corpus_in_log_lines_counts_nothing_more(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    values = [entry.value for entry in hostile_values(str(canary))]
    log: list[str] = []
    for i, hostile in enumerate(values):
        qid = f"HC{i:04d}"
        log += [
            qmgr("Dec  3 10:00:00", qid, 100 + i, sender=hostile),
            sent("Dec  3 10:00:01", qid, "bob@example.com", orig_to=hostile, reply=hostile),
            sent("Dec  3 10:00:01", qid, hostile + "@example.com", reply=hostile),
            sent("Dec  3 10:00:01", qid, "carol@example.com", orig_to="bob@example.com"),
        ]
    data = "".join(line + "\n" for line in log).encode("utf-8", errors="surrogateescape")
    out = run_script(tmp_path, AWKS[0], {"mail.log": data}, timezone="Europe/Madrid")
    assert not canary.exists()
    found = read(out, RECIPIENTS).deliveries
    # Each message once, for bob, with its own size: except where the value itself breaks the
    # line (a newline: the rest is another line, without a time) or forges a status.
    counted = {d.queue_id: d.size for d in found}
    assert all(d.recipient == "bob@example.com" for d in found)
    assert len(found) == len(counted)
    for i, hostile in enumerate(values):
        qid = f"HC{i:04d}"
        if "\n" in hostile or "\r" in hostile or "\0" in hostile:
            continue
        assert counted.get(qid) == 100 + i, hostile


#: Lines as Postfix 3.7's maillog_file wrote them (TZ=Asia/Kolkata, virtual delivery): a
#: message to an alias of two mailboxes and one to both, deferred (the Maildirs were not
#: writable), queued again and delivered.
POSTFIX_37 = """\
Dec 03 17:27:08 mx postfix/smtpd[23839]: B792320C17B: client=localhost[127.0.0.1]
Dec 03 17:27:08 mx postfix/qmgr[23744]: B792320C17B: from=<s@outside.test>, size=5617, nrcpt=2 (queue active)
Dec 03 17:27:08 mx postfix/qmgr[23744]: B979520C17C: from=<s@outside.test>, size=729, nrcpt=2 (queue active)
Dec 03 17:27:08 mx postfix/smtpd[23839]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <carol@example.com>: Recipient address rejected: User unknown in virtual mailbox table; from=<s@outside.test> to=<carol@example.com> proto=ESMTP helo=<[127.0.0.1]>
Dec 03 17:27:08 mx postfix/virtual[23843]: B792320C17B: to=<ann@example.com>, orig_to=<all@example.com>, relay=virtual, delay=0.04, delays=0.02/0.01/0/0.01, dsn=4.2.0, status=deferred (maildir delivery failed: create maildir file /x/1796299028.P23843.vm: Permission denied)
Dec 03 17:27:08 mx postfix/virtual[23843]: B979520C17C: to=<bob@example.com>, relay=virtual, delay=0.03, delays=0/0.02/0/0, dsn=4.2.0, status=deferred (maildir delivery failed: Permission denied)
Dec 03 17:27:16 mx postfix/qmgr[23744]: B792320C17B: from=<s@outside.test>, size=5617, nrcpt=2 (queue active)
Dec 03 17:27:16 mx postfix/qmgr[23744]: B979520C17C: from=<s@outside.test>, size=729, nrcpt=2 (queue active)
Dec 03 17:27:16 mx postfix/virtual[23844]: B979520C17C: to=<ann@example.com>, relay=virtual, delay=7.7, delays=7.7/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Dec 03 17:27:16 mx postfix/virtual[23843]: B792320C17B: to=<ann@example.com>, orig_to=<all@example.com>, relay=virtual, delay=7.7, delays=7.7/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Dec 03 17:27:16 mx postfix/virtual[23843]: B792320C17B: to=<bob@example.com>, orig_to=<all@example.com>, relay=virtual, delay=7.7, delays=7.7/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Dec 03 17:27:16 mx postfix/virtual[23844]: B979520C17C: to=<bob@example.com>, relay=virtual, delay=7.7, delays=7.7/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)
Dec 03 17:27:16 mx postfix/qmgr[23744]: B979520C17C: removed
Dec 03 17:27:16 mx postfix/qmgr[23744]: B792320C17B: removed
"""  # noqa: E501


@pytest.mark.parametrize("awk", AWKS)
def test_a_log_as_postfix_wrote_it(tmp_path: Path, awk: str) -> None:
    out = run_script(
        tmp_path,
        awk,
        {"mail.log": POSTFIX_37.encode(), "mail.log.1": None},
        timezone="Asia/Kolkata",
    )
    at = z(2026, 12, 3, 11, 57, 16)  # 17:27:16 in Kolkata (+05:30)
    assert [(d.queue_id, d.recipient, d.size, d.at) for d in read(out, RECIPIENTS).deliveries] == [
        ("B979520C17C", "ann@example.com", 729, at),
        ("B792320C17B", "ann@example.com", 5617, at),
        ("B792320C17B", "bob@example.com", 5617, at),
        ("B979520C17C", "bob@example.com", 729, at),
    ]
    traffic = MailTraffic().parse(out, MAILBOXES, at)
    assert {(s.object_key, s.measured_at, s.value) for s in traffic} == {
        (BOB.key, z(2026, 12, 3, 11), 6346),
        (ANN.key, z(2026, 12, 3, 11), 6346),
    }

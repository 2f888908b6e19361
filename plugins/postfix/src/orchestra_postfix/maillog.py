"""Postfix's mail log read for deliveries to mailboxes, with its times turned into UTC.

No orchestra import: :func:`read` takes what the traffic monitor's script
(``templates/monitor-traffic.sh.j2``) prints and gives the deliveries it shows. Every line of
that output starts with a tag and a tab:

``zone NAME``
    the zone the log's times are in, as the server names it (``settings.timezone``, else
    ``$TZ``, else ``/etc/timezone``, else the target of ``/etc/localtime`` under
    ``/usr/share/zoneinfo/``); empty when it has none;
``offset +HHMM``
    ``date +%z`` in that zone, now;
``now EPOCH``
    ``date -u +%s``: the server's clock, which tells the year of the log's times;
``oldest 0|1``
    1 when the oldest log file listed exists: lines older than its first one may be in files
    that were not read (``mail.log.2.gz``), so the first hour it shows may be incomplete;
``file``
    a log file begins (the files come oldest first);
``time PREFIX``
    the start of a log line that was left out, printed whenever the time changes by the ten
    minutes (and at the start of each file), so that the order of times is known between the
    lines that are printed;
``line TEXT``
    a whole log line that may be a delivery to one of the mailboxes, or the ``qmgr`` line
    giving the size of its message.

Times. Postfix's own log (``maillog_file``, written by ``postlogd``) and classic syslog write
``Mmm dd HH:MM:SS host program[pid]: ...``: the server's local time, no zone, no year. These
are read in the zone the script printed (:mod:`zoneinfo`), the year being the server's current
one unless that makes the time later than the server's now (then it is the year before: a
``Dec 31`` line read on the 1st of January). A time in the hour a fall-back change repeats is
taken as its first occurrence unless an earlier line was already later than that (by more
than :data:`SKEW`): the log is in the order it was written, so once the clock has gone back,
the repeated times are the second ones. A time in the hour a spring-forward change skips
cannot be written by a clock that follows the zone; it is read as if that clock had not moved
yet (with the offset before the change: ``02:30`` is ``03:30`` after it), as java.time and
:mod:`zoneinfo` do. If the orchestra host does not know the zone's name (no such zone in its
tz database, or a POSIX ``TZ`` string such as ``CET-1CEST,M3.5.0,M10.5.0/3``), the times are
read at the fixed offset the server printed: right for the lines since the server's last
change of offset, an hour off before it.

RFC 3339 lines (``2026-12-03T11:02:06.123456+01:00 host program[pid]: ...``, rsyslog's
default on Debian 12) carry their offset and are exact.

Deliveries. A delivery is a line of a local delivery agent (:data:`AGENTS`: ``lmtp``,
``virtual``, ``pipe``, ``local``, under any ``syslog_name``) ``QUEUEID: to=<ADDRESS>, ...,
status=sent (...)``; its size is the ``size=`` of the last ``qmgr`` line ``QUEUEID:
from=<...>, size=N, nrcpt=M (queue active)`` read before it (None when it was not read). The
address is ``to=`` (the mailbox), not ``orig_to=`` (the alias it was sent to). ``smtp``
relays mail away (a backup MX to the primary, a forward to another host) and ``discard`` and
``error`` store nothing: they are not deliveries to a mailbox here.

Hostile text. Senders choose addresses (``from=``, and ``orig_to=`` through a catch-all
alias) and remote servers the reply text after ``status=``; none of it can make a line count:
``to=`` must be exactly a mailbox's address (plain ASCII, compared in lower case), the size is
the one at the end of the ``qmgr`` line (after the sender), and a delivery counts only when
every ``relay=..., delay=..., delays=..., dsn=..., status=WORD`` sequence on its line says
``sent`` (a forged one inside ``orig_to`` or the reply text makes the line ambiguous, and an
ambiguous line is not counted). What the log itself is worth is the syslog's: a local user who
can write to it (``logger -t postfix/lmtp``) can forge lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

__all__ = [
    "AGENTS",
    "SKEW",
    "Delivery",
    "LocalClock",
    "Reading",
    "ServerClock",
    "read",
    "scan",
    "zone_from",
]

#: The delivery agents whose ``status=sent`` lines are deliveries to a mailbox.
AGENTS = ("lmtp", "virtual", "pipe", "local")
#: How far apart two lines' times may be and still be taken as in order (log lines of
#: different processes may be written a little out of order).
SKEW = timedelta(seconds=60)
#: How far after the server's now a log time may be and still be of the current year.
YEAR_SLACK = timedelta(days=1)

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CLASSIC = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ 0-9]?[0-9]) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?= |$)",
    re.ASCII,
)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|z|[+-][0-9]{2}:[0-9]{2})(?= |$)",
    re.ASCII,
)
#: After the time: the host, then the program under its syslog_name (``postfix/``,
#: ``postfix-in/``, ``postfix/submission/``...).
_PROGRAM = r" [^ ]+ (?:[A-Za-z0-9._-]+/)+"
_QUEUE_ID = r"([0-9A-Za-z]{1,32})"
_QMGR = re.compile(
    _PROGRAM
    + r"qmgr\[[0-9]+\]: "
    + _QUEUE_ID
    + r": from=<.*>, size=([0-9]{1,15}), nrcpt=[0-9]{1,9} \(queue active\)\Z",
    re.ASCII,
)
_DELIVERY = re.compile(
    _PROGRAM
    + r"(?:"
    + "|".join(AGENTS)
    + r")\[[0-9]+\]: "
    + _QUEUE_ID
    + r": to=<([^<>\s]{1,254})>, (?=orig_to=<|relay=)",
    re.ASCII,
)
_STATUS = re.compile(
    r"(?:^|, )relay=[^\s,]+, (?:conn_use=[0-9]+, )?delay=[0-9.]+, delays=[0-9./]+, "
    r"dsn=[0-9]\.[0-9]{1,3}\.[0-9]{1,3}, status=([A-Za-z]+)",
    re.ASCII,
)
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})", re.ASCII)


@attrs.frozen(kw_only=True)
class Delivery:
    """One message delivered to one mailbox: when (UTC), its queue id, the mailbox's address
    (lower case) and the message's bytes (None when its ``qmgr`` line was not read)."""

    at: datetime
    queue_id: str
    recipient: str
    size: int | None


@attrs.frozen(kw_only=True)
class ServerClock:
    """What the server said of its clock: its zone's name (empty for none), the offset it
    is at now, and now (UTC)."""

    zone: str
    offset: timedelta | None
    now: datetime

    def tzinfo(self) -> tzinfo:
        """The zone of the log's times: the named one if the orchestra host knows it, else
        the fixed offset the server printed.

        Raises ValueError when there is neither."""
        found = zone_from(self.zone)
        if found is not None:
            return found
        if self.offset is None:
            raise ValueError(
                f"the server's time zone {self.zone!r} is unknown here and it printed no offset"
            )
        return timezone(self.offset)


def zone_from(name: str) -> ZoneInfo | None:
    """The zone ``name`` names (``Europe/Madrid``; ``:Europe/Madrid`` as ``TZ`` may say; a
    path under a ``zoneinfo`` folder, ``posix/`` or not), or None when it names none known."""
    name = name.strip().lstrip(":")
    if "/zoneinfo/" in name:
        name = name.rpartition("/zoneinfo/")[2]
    if name.startswith(("posix/", "right/")):
        name = name.partition("/")[2]
    if not name or name.startswith("/") or ".." in name.split("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class LocalClock:
    """Turns the log's times into UTC, line after line in the log's order (see the module's
    docs): local times in ``zone``, the year from ``now`` (UTC), the repeated hour of a
    fall-back change by the order of the lines."""

    def __init__(self, zone: tzinfo, now: datetime) -> None:
        self.zone = zone
        self.now = now.astimezone(UTC)
        self.local_now = self.now.astimezone(zone).replace(tzinfo=None)
        #: The latest time read so far.
        self.last: datetime | None = None

    def read(self, text: str) -> tuple[datetime, int] | None:
        """The UTC time a log line starts with and where its time ends, or None when it
        starts with no time this reads."""
        classic = _CLASSIC.match(text)
        if classic is not None:
            month, day, hour, minute, second = classic.groups()
            naive = self._dated(
                _MONTHS[month], int(day), int(hour), int(minute), min(int(second), 59)
            )
            if naive is None:
                return None
            return self._seen(self._resolve(naive)), classic.end()
        exact = _RFC3339.match(text)
        if exact is not None:
            at = _rfc3339(exact)
            if at is None:
                return None
            return self._seen(at), exact.end()
        return None

    def _dated(self, month: int, day: int, hour: int, minute: int, second: int) -> datetime | None:
        """The local time of a line without a year: in the server's current year, or the
        year before if that would be after now."""
        year = self.local_now.year
        for candidate in (year, year - 1):
            try:
                naive = datetime(candidate, month, day, hour, minute, second)
            except ValueError:  # 29 February of a common year, 24:00...
                continue
            if candidate == year and naive > self.local_now + YEAR_SLACK:
                continue
            return naive
        return None

    def _resolve(self, naive: datetime) -> datetime:
        first = naive.replace(tzinfo=self.zone).astimezone(UTC)
        second = naive.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first >= second:  # unique, or in the gap of a spring-forward change
            return first
        # The repeated hour of a fall-back change: the earliest time not after now that keeps
        # the log in order (not before the latest line read); else the latest not after now.
        high = self.now + SKEW
        possible = [at for at in (first, second) if at <= high] or [first]
        low = None if self.last is None else self.last - SKEW
        fitting = [at for at in possible if low is None or at >= low]
        return fitting[0] if fitting else possible[-1]

    def _seen(self, at: datetime) -> datetime:
        if self.last is None or at > self.last:
            self.last = at
        return at


def _rfc3339(found: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    if offset in ("Z", "z"):
        zone: tzinfo = UTC
    else:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            return None
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        at = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),
            micro,
            tzinfo=zone,
        )
    except ValueError:
        return None
    return at.astimezone(UTC)


@attrs.define(kw_only=True)
class Reading:
    """What one run of the script showed: the deliveries to the mailboxes asked about, in the
    log's order, and the hour (UTC) before which, and in which, counts may be incomplete (the
    first hour of the oldest file, when older files exist that were not read), or None."""

    clock: ServerClock
    deliveries: list[Delivery] = attrs.field(factory=list)
    incomplete_until: datetime | None = None


def _offset(text: str) -> timedelta | None:
    found = _OFFSET.fullmatch(text.strip())
    if found is None:
        return None
    sign, hours, minutes = found.groups()
    if int(hours) > 23 or int(minutes) > 59:
        return None
    value = timedelta(hours=int(hours), minutes=int(minutes))
    return -value if sign == "-" else value


def _header(lines: Iterable[str]) -> ServerClock:
    values: dict[str, str] = {}
    for line in lines:
        tag, _, value = line.partition("\t")
        if tag in ("zone", "offset", "now") and tag not in values:
            values[tag] = value
    now = values.get("now", "").strip()
    if not now.isascii() or not now.isdigit():
        raise ValueError("the script printed no 'now' line: the server's clock is unknown")
    return ServerClock(
        zone=values.get("zone", "").strip(),
        offset=_offset(values.get("offset", "")),
        now=datetime.fromtimestamp(int(now), UTC),
    )


def _ascii_lower(text: str) -> str | None:
    return text.lower() if text.isascii() else None


def read(output: str, recipients: Collection[str]) -> Reading:
    """The deliveries to ``recipients`` (addresses, in lower case) that the script's output
    shows, with their times in UTC (see the module's docs).

    Raises ValueError when the output does not say the server's clock (no ``now`` line, or
    an unknown zone without an offset): nothing can be counted then.
    """
    sizes: dict[str, int] = {}
    deliveries: list[Delivery] = []
    clock, first = scan(output, lambda rest, at: _line(rest, at, recipients, sizes, deliveries))
    reading = Reading(clock=clock, deliveries=deliveries)
    if first is not None:
        reading.incomplete_until = first.replace(minute=0, second=0, microsecond=0)
    return reading


def scan(
    output: str, on_line: Callable[[str, datetime], None]
) -> tuple[ServerClock, datetime | None]:
    """Read the output of a log monitor's script (the head ``log-files.sh.j2`` prints, then
    ``file``, ``time`` and ``line`` lines): ``on_line(REST, AT)`` for each ``line`` whose
    time this reads, REST being the line after its time and AT that time in UTC, in the
    log's order. Returns the server's clock and, when older log files exist than those read,
    the time of the first line of the oldest file read (before it, and in its hour or day,
    counts may be incomplete), else None.

    Raises ValueError when the output does not say the server's clock."""
    lines = output.splitlines()
    clock = _header(lines)
    local = LocalClock(clock.tzinfo(), clock.now)
    oldest_exists = False
    files = 0
    first: datetime | None = None
    for line in lines:
        tag, _, text = line.partition("\t")
        if tag == "oldest":
            oldest_exists = text.strip() == "1"
        elif tag == "file":
            files += 1
        elif tag in ("time", "line"):
            timed = local.read(text)
            if timed is None:
                continue
            at, end = timed
            if files == 1 and first is None:
                first = at
            if tag == "line":
                on_line(text[end:], at)
    return clock, first if oldest_exists else None


def _line(
    rest: str,
    at: datetime,
    recipients: Collection[str],
    sizes: dict[str, int],
    deliveries: list[Delivery],
) -> None:
    """One log line after its time: a ``qmgr`` size, or a delivery to one of ``recipients``."""
    queued = _QMGR.match(rest)
    if queued is not None:
        sizes[queued.group(1)] = int(queued.group(2))
        return
    delivered = _DELIVERY.match(rest)
    if delivered is None:
        return
    queue_id, address = delivered.group(1), _ascii_lower(delivered.group(2))
    if address is None or address not in recipients:
        return
    statuses = _STATUS.findall(rest, delivered.end() - 2)
    if not statuses or any(status != "sent" for status in statuses):
        return
    deliveries.append(
        Delivery(at=at, queue_id=queue_id, recipient=address, size=sizes.get(queue_id))
    )

"""What mailboxes use: the monitors, the resources they feed and the billing metrics.

Every monitor here follows the ``postfix-mailbox`` backend: each mailbox is measured on the
servers that backend's routes send it to, with that backend's settings there
(:class:`~orchestra_postfix.settings.PostfixSettings`: ``mail_base``, ``maillog``,
``timezone``), in one step per server for all the mailboxes it holds; a route naming a
monitor itself routes it instead, with the ``postfix`` settings block of the server.

``postfix-mailbox-disk`` (:class:`MailboxDisk`, a gauge)
    bytes of each mailbox's home (``MAIL_BASE/DOMAIN/LOCAL``: the Maildir, Dovecot's indexes
    and the Sieve scripts), feeding the resource ``mailbox-disk`` (GiB, the last value of the
    day against the allocation; the backend turns an allocation into the mailbox's Dovecot
    quota), billed by its time-weighted average: ``mailbox_gib_month`` (GiB-months).
``postfix-mail-traffic`` (:class:`MailTraffic`, a counter)
    bytes of the messages delivered to each mailbox per hour, from Postfix's log, feeding
    ``mailbox-traffic`` (GiB this month), billed by its sum: ``mailbox_traffic_gib`` (GiB).
``postfix-mail-messages`` (:class:`MailMessages`, a counter)
    the messages delivered to each mailbox per hour, from the same lines, feeding
    ``mailbox-messages`` (messages this month: an allocation caps what a mailbox receives).

The counters read the log files whole on every run and sum them per mailbox and UTC hour, so
each hour's sample is complete as far as the logs go; each is keyed by the mailbox and the
hour, and the store replaces it when a later run reads the hour again (as the core's
``web-traffic`` does): repeating a run, or overlapping the last one, never counts a message
twice. Keep the logs of at least the last two hours (``maillog`` lists the current file and
the one rotated before it, newest first). How the log's lines and local times are read is in
:mod:`orchestra_postfix.maillog`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from orchestra_core.driver import (
    Aggregation,
    BillingMetric,
    Command,
    Mailbox,
    Monitor,
    ResourceDefinition,
    Sample,
    Server,
    Service,
    Step,
    server_path,
)
from orchestra_postfix import maillog
from orchestra_postfix.maillog import Delivery
from orchestra_postfix.settings import PostfixSettings

__all__ = [
    "MAILBOX_DISK",
    "MAILBOX_MESSAGES",
    "MAILBOX_STORAGE",
    "MAILBOX_TRAFFIC",
    "MAILBOX_TRAFFIC_BILLED",
    "METRICS",
    "MONITORS",
    "RESOURCES",
    "MailDeliveries",
    "MailMessages",
    "MailTraffic",
    "MailboxDisk",
]

#: The backend the monitors follow (where mailboxes live, with its settings there).
BACKEND = "postfix-mailbox"
#: The server settings block the postfix backends share, read when a route names a monitor.
SECTION = "postfix"


class MailboxDisk(Monitor[Mailbox, PostfixSettings]):
    """Bytes each mailbox's home takes on disk (``du``: blocks allocated, so Dovecot's index
    and cache files and the file system's rounding count, as they cost), measured where the
    ``postfix-mailbox`` backend puts the mailbox. A home absent from the server (a mailbox
    not delivered to yet, or not created there) gives no sample.

    Dovecot's quota counts the messages' own sizes: the home is a little larger than what
    the quota sees.
    """

    name: ClassVar[str] = "postfix-mailbox-disk"
    service_type: ClassVar[type[Service]] = Mailbox
    unit: ClassVar[str] = "bytes"
    backend: ClassVar[str | None] = BACKEND
    settings_class: ClassVar[type[Any]] = PostfixSettings
    settings_section: ClassVar[str | None] = SECTION
    tools: ClassVar[tuple[str, ...]] = ("du",)

    def render(
        self, objects: Sequence[Mailbox], server: Server, settings: PostfixSettings
    ) -> Sequence[Step]:
        """One read-only step: ``du`` of every home (under the server's sandbox root), one
        ``INDEX<TAB>BYTES`` line per home that exists."""
        paths = [
            (i, server_path(server, settings.home(obj.address)))
            for i, obj in enumerate(objects)
            if isinstance(obj, Mailbox)
        ]
        if not paths:
            return []
        script = self.templates.shell("monitor-disk.sh.j2", paths=paths)
        return [Command(description=f"measure {len(paths)} mailbox homes", script=script)]

    def parse(self, output: str, objects: Sequence[Mailbox], measured_at: datetime) -> list[Sample]:
        """A sample per ``INDEX<TAB>BYTES`` line, for the mailbox at that index."""
        return self.indexed_gauges(output, objects, measured_at)


class MailDeliveries(Monitor[Mailbox, PostfixSettings]):
    """Deliveries to each mailbox per UTC hour from Postfix's log: a counter (see the
    module's docs); subclasses say what a delivery adds (:meth:`amount`).

    The log's local times are read in the zone the server names (``timezone``, else its
    ``TZ``, ``/etc/timezone`` or ``/etc/localtime``), across changes of offset; a zone this
    host's tz database does not know is read at the fixed offset the server is at now
    (``date +%z``), an hour off for lines before its last change of offset. See
    :mod:`orchestra_postfix.maillog`.
    """

    service_type: ClassVar[type[Service]] = Mailbox
    backend: ClassVar[str | None] = BACKEND
    settings_class: ClassVar[type[Any]] = PostfixSettings
    settings_section: ClassVar[str | None] = SECTION
    tools: ClassVar[tuple[str, ...]] = ("awk", "date", "readlink")

    def amount(self, delivery: Delivery) -> float:
        """What one delivery adds to its hour."""
        raise NotImplementedError

    def render(
        self, objects: Sequence[Mailbox], server: Server, settings: PostfixSettings
    ) -> Sequence[Step]:
        """One read-only step: the server's zone, offset and clock, then the lines of the log
        files (``maillog``, under the server's sandbox root) that matter to these mailboxes
        (see :mod:`orchestra_postfix.maillog`)."""
        addresses = sorted({obj.address.lower() for obj in objects if isinstance(obj, Mailbox)})
        if not addresses:
            return []
        script = self.templates.shell(
            "monitor-traffic.sh.j2",
            zone=settings.timezone or "",
            logs=[server_path(server, log) for log in settings.maillog],
            addresses=addresses,
        )
        return [
            Command(
                description=f"read mail deliveries to {len(addresses)} mailboxes", script=script
            )
        ]

    def parse(self, output: str, objects: Sequence[Mailbox], measured_at: datetime) -> list[Sample]:
        """A sample per mailbox and UTC hour with deliveries, stamped with the hour's start
        and keyed by it. The first hour of the oldest log file is left out when that file is
        the last one listed (older lines are in files not read: that hour was counted whole
        by the runs before the logs rotated).

        Raises ValueError when the output does not say the server's clock."""
        keys = {obj.address.lower(): obj.key for obj in objects if isinstance(obj, Mailbox)}
        reading = maillog.read(output, keys)
        cut = reading.incomplete_until
        totals: dict[tuple[str, datetime], float] = {}
        for delivery in reading.deliveries:
            hour = delivery.at.replace(minute=0, second=0, microsecond=0)
            if cut is not None and hour <= cut:
                continue
            key = (keys[delivery.recipient], hour)
            totals[key] = totals.get(key, 0.0) + self.amount(delivery)
        return self.hourly(totals)


class MailTraffic(MailDeliveries):
    """Bytes delivered to each mailbox per hour: each message's ``size=`` (as Postfix queued
    it, headers included) once for every mailbox it was delivered to; a message whose
    ``qmgr`` line was not read (before the oldest log file) adds nothing."""

    name: ClassVar[str] = "postfix-mail-traffic"
    unit: ClassVar[str] = "bytes"

    def amount(self, delivery: Delivery) -> float:
        """The message's size (0 when unknown)."""
        return float(delivery.size or 0)


class MailMessages(MailDeliveries):
    """Messages delivered to each mailbox per hour (a message to two mailboxes counts once
    for each)."""

    name: ClassVar[str] = "postfix-mail-messages"
    unit: ClassVar[str] = "messages"

    def amount(self, delivery: Delivery) -> float:
        """One."""
        return 1.0


#: A mailbox's home on disk (GiB), checked daily against its allocation, which the
#: ``postfix-mailbox`` backend enforces as the mailbox's Dovecot quota. The bounds refuse an
#: allocation given in the wrong unit: above 1024 GiB it was meant in MiB or in bytes.
MAILBOX_DISK = ResourceDefinition(
    name="mailbox-disk",
    service_kind=Mailbox.kind,
    monitors=(MailboxDisk.name,),
    aggregation=Aggregation.LAST,
    unit="GiB",
    scale=1 / 2**30,
    verbose_name="Disk used by the mailbox (mail and indexes)",
    window="1d",
    min_allocation=0,
    max_allocation=1024,
)

#: Bytes delivered to a mailbox so far this month (GiB).
MAILBOX_TRAFFIC = ResourceDefinition(
    name="mailbox-traffic",
    service_kind=Mailbox.kind,
    monitors=(MailTraffic.name,),
    aggregation=Aggregation.SUM,
    unit="GiB",
    scale=1 / 2**30,
    verbose_name="Mail delivered to the mailbox this month",
    window="month",
    min_allocation=0,
)

#: Messages delivered to a mailbox so far this month.
MAILBOX_MESSAGES = ResourceDefinition(
    name="mailbox-messages",
    service_kind=Mailbox.kind,
    monitors=(MailMessages.name,),
    aggregation=Aggregation.SUM,
    unit="messages",
    verbose_name="Messages delivered to the mailbox this month",
    window="month",
    min_allocation=0,
)

#: Mailbox storage billed by its time-weighted average over the period: GiB-months.
MAILBOX_STORAGE = BillingMetric(
    code="mailbox_gib_month",
    resource=MAILBOX_DISK.name,
    unit="GiB-month",
    aggregation=Aggregation.AVERAGE,
    description="Mailbox storage (mail and indexes), averaged over the period",
)

#: Mail delivered to mailboxes, billed by its sum over the period (GiB).
MAILBOX_TRAFFIC_BILLED = BillingMetric(
    code="mailbox_traffic_gib",
    resource=MAILBOX_TRAFFIC.name,
    unit="GiB",
    description="Bytes of mail delivered to mailboxes",
)

#: What plugin.py returns from ``orchestra_monitors``, ``orchestra_resources`` and
#: ``orchestra_billing_metrics``.
MONITORS: tuple[type[Monitor[Any, Any]], ...] = (MailboxDisk, MailTraffic, MailMessages)
RESOURCES: tuple[ResourceDefinition, ...] = (MAILBOX_DISK, MAILBOX_TRAFFIC, MAILBOX_MESSAGES)
METRICS: tuple[BillingMetric, ...] = (MAILBOX_STORAGE, MAILBOX_TRAFFIC_BILLED)

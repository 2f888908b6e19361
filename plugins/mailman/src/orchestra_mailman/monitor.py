"""What mailing lists use: the monitors, the resources they feed and the billing metrics.

Both monitors follow the ``mailman-list`` backend: each list is measured on the servers that
backend's routes send it to, with its ``mailman`` settings there, in one step per server for
all the lists it holds.

``mailman-list-subscribers`` (:class:`ListSubscribers`, a gauge)
    each list's members (Mailman's ``member_count``, read over its REST API as the backend
    reads it), feeding ``list-subscribers`` (the last value of the day against the
    allocation), billed by its time-weighted average: ``mailinglist_subscribers``.
``mailman-list-posts`` (:class:`ListPosts`, a counter)
    the posts each list sent out per UTC day, from the ``post to LIST from SENDER, N bytes``
    line Mailman's outgoing runner writes to ``smtp.log`` for every post it delivers (a held
    post counts when it is released, a discarded one never), feeding ``list-posts`` (posts
    this month), billed by its sum: ``mailinglist_posts``.

The posts counter reads the log files whole on every run and sums them per list and UTC day,
keyed by the day, so a later run that reads the day again replaces its sample: repeating a
run never counts a post twice. When an older log file exists than those listed, the first
day of the oldest file read is left out (part of it is in the file not read; the runs
before the rotation counted it whole). The log's local times are read in the server's zone
as the postfix monitors read Postfix's (:mod:`orchestra_postfix.maillog`).

Hostile text. The message id and the sender on a ``post to`` line are the poster's words:
a line counts only when `` post to `` appears on it once, followed by one of the lists'
addresses (compared in lower case) and `` from ``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

from orchestra_postfix import maillog

from orchestra_core.driver import (
    Aggregation,
    BillingMetric,
    Command,
    MailingList,
    Monitor,
    ResourceDefinition,
    Sample,
    Server,
    Service,
    Step,
    Templates,
    server_path,
)
from orchestra_mailman.backends import rest_script
from orchestra_mailman.settings import MailmanSettings

__all__ = [
    "LIST_POSTS",
    "LIST_POSTS_BILLED",
    "LIST_SUBSCRIBERS",
    "LIST_SUBSCRIBERS_BILLED",
    "METRICS",
    "MONITORS",
    "RESOURCES",
    "ListPosts",
    "ListSubscribers",
    "posts_by_day",
]

#: The backend the monitors follow (where lists live, with its settings there).
BACKEND = "mailman-list"
#: The server settings block the mailman backends share.
SECTION = "mailman"
_POST = " post to "


class ListSubscribers(Monitor[MailingList, MailmanSettings]):
    """Members of each list, read over Mailman's REST API where the ``mailman-list``
    backend puts the list. A list Mailman does not have gives no sample."""

    name: ClassVar[str] = "mailman-list-subscribers"
    service_type: ClassVar[type[Service]] = MailingList
    unit: ClassVar[str] = "subscribers"
    backend: ClassVar[str | None] = BACKEND
    settings_class: ClassVar[type[Any]] = MailmanSettings
    settings_section: ClassVar[str | None] = SECTION
    tools: ClassVar[tuple[str, ...]] = ("python3",)

    def render(
        self, objects: Sequence[MailingList], server: Server, settings: MailmanSettings
    ) -> Sequence[Step]:
        """One read-only step: the REST program's ``members`` verb for every list, one
        ``INDEX<TAB>MEMBERS`` line per list Mailman has."""
        lists = [obj.identity for obj in objects if isinstance(obj, MailingList)]
        if not lists:
            return []
        script = rest_script(server, settings, "members", lists=lists)
        return [Command(description=f"count the members of {len(lists)} lists", script=script)]

    def parse(
        self, output: str, objects: Sequence[MailingList], measured_at: datetime
    ) -> list[Sample]:
        """A sample per ``INDEX<TAB>MEMBERS`` line, for the list at that index."""
        return self.indexed_gauges(output, objects, measured_at)


class ListPosts(Monitor[MailingList, MailmanSettings]):
    """Posts each list sent out per UTC day, from Mailman's ``smtp.log`` (see the module's
    docs)."""

    name: ClassVar[str] = "mailman-list-posts"
    service_type: ClassVar[type[Service]] = MailingList
    unit: ClassVar[str] = "posts"
    backend: ClassVar[str | None] = BACKEND
    settings_class: ClassVar[type[Any]] = MailmanSettings
    settings_section: ClassVar[str | None] = SECTION
    tools: ClassVar[tuple[str, ...]] = ("awk", "date", "readlink")

    def render(
        self, objects: Sequence[MailingList], server: Server, settings: MailmanSettings
    ) -> Sequence[Step]:
        """One read-only step: the server's zone, offset and clock, then the ``post to``
        lines of the lists from the log files (under the server's sandbox root)."""
        lists = sorted({obj.identity.lower() for obj in objects if isinstance(obj, MailingList)})
        if not lists:
            return []
        head = Templates.for_package("orchestra_postfix").shell(
            "log-files.sh.j2",
            zone=settings.timezone or "",
            logs=[server_path(server, log) for log in settings.post_logs],
        )
        lines = self.templates.shell("monitor-posts.sh.j2", lists=lists)
        return [Command(description=f"read the posts of {len(lists)} lists", script=head + lines)]

    def parse(
        self, output: str, objects: Sequence[MailingList], measured_at: datetime
    ) -> list[Sample]:
        """A sample per list and UTC day with posts, stamped with the day's start and keyed
        by it.

        Raises ValueError when the output does not say the server's clock."""
        keys = {obj.identity.lower(): obj.key for obj in objects if isinstance(obj, MailingList)}
        totals: dict[tuple[str, datetime], float] = {}
        for (address, day), count in posts_by_day(output, keys).items():
            totals[(keys[address], day)] = float(count)
        return self.daily(totals)


def posts_by_day(output: str, lists: Collection[str]) -> dict[tuple[str, datetime], int]:
    """Posts per list (lower case) and UTC day's start in the posts script's output, the
    first day of the oldest file left out when older files exist (see the module's docs)."""
    wanted = set(lists)
    seen: list[tuple[str, datetime]] = []

    def on_line(rest: str, at: datetime) -> None:
        # After the time: " YYYY (PID) MESSAGE-ID post to LIST from SENDER, N bytes".
        if rest.count(_POST) != 1:
            return
        address = rest.partition(_POST)[2].partition(" from ")[0]
        if address.isascii() and address.lower() in wanted:
            seen.append((address.lower(), at))

    _, first = maillog.scan(output, on_line)
    cut = first.replace(hour=0, minute=0, second=0, microsecond=0) if first else None
    counts: dict[tuple[str, datetime], int] = {}
    for address, at in seen:
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        if cut is not None and day <= cut:
            continue
        counts[(address, day)] = counts.get((address, day), 0) + 1
    return counts


#: Members of a list (the last value of the day): an allocation caps what the plan sells.
LIST_SUBSCRIBERS = ResourceDefinition(
    name="list-subscribers",
    service_kind=MailingList.kind,
    monitors=(ListSubscribers.name,),
    aggregation=Aggregation.LAST,
    unit="subscribers",
    verbose_name="Members of the mailing list",
    window="1d",
    min_allocation=0,
)

#: Posts a list sent out so far this month.
LIST_POSTS = ResourceDefinition(
    name="list-posts",
    service_kind=MailingList.kind,
    monitors=(ListPosts.name,),
    aggregation=Aggregation.SUM,
    unit="posts",
    verbose_name="Posts the mailing list sent out this month",
    window="month",
    min_allocation=0,
)

#: Subscribers billed by their time-weighted average over the period.
LIST_SUBSCRIBERS_BILLED = BillingMetric(
    code="mailinglist_subscribers",
    resource=LIST_SUBSCRIBERS.name,
    unit="subscribers",
    aggregation=Aggregation.AVERAGE,
    description="Members of mailing lists, averaged over the period",
)

#: Posts sent out, billed by their sum over the period.
LIST_POSTS_BILLED = BillingMetric(
    code="mailinglist_posts",
    resource=LIST_POSTS.name,
    unit="posts",
    description="Posts mailing lists sent out",
)

#: What plugin.py returns from ``orchestra_monitors``, ``orchestra_resources`` and
#: ``orchestra_billing_metrics``.
MONITORS: tuple[type[Monitor[Any, Any]], ...] = (ListSubscribers, ListPosts)
RESOURCES: tuple[ResourceDefinition, ...] = (LIST_SUBSCRIBERS, LIST_POSTS)
METRICS: tuple[BillingMetric, ...] = (LIST_SUBSCRIBERS_BILLED, LIST_POSTS_BILLED)

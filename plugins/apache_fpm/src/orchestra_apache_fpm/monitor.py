"""What websites and web apps use: the monitors, the resources they feed, the billing metrics.

Each monitor follows a backend: a website is measured on the servers ``apache-website``'s
routes send it to, a web app where ``apache-webapp``'s send it, with that backend's settings
there (:class:`~orchestra_apache_fpm.settings.ApacheFpmSettings`), in one step per server.

``apache-web-traffic`` (:class:`SiteTraffic`, a counter)
    bytes sent (``%O``: headers and body, as they cost) per website and hour, from the
    ``access_log`` every site writes (and the ones rotated before it), feeding
    ``site-traffic`` (GiB this month), billed by its sum: ``site_traffic_gib``.
``apache-web-requests`` (:class:`SiteRequests`, a counter)
    requests per website and hour from the same lines, feeding ``site-requests``.
``apache-webapp-disk`` (:class:`WebAppDisk`, a gauge)
    bytes of each web app's code and tmp folders, feeding ``webapp-disk`` (GiB, the last
    value of the day), billed by its time-weighted average: ``webapp_gib_month``.

The log lines carry their zone (``%t`` is ``[10/Oct/2026:13:55:36 +0200]``): each hour is
turned into UTC from its own offset, so a change of offset inside the window is read right.
A line counts for the website whose ``ServerName`` (its first domain that is not a wildcard)
is its ``%v``. The counters read the logs whole on every run and key each sample by the
site and the UTC hour, so a run repeated, or overlapping the last one, never counts a request
twice; keep the logs of at least the last two hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from orchestra_apache_fpm.names import server_name
from orchestra_apache_fpm.settings import ApacheFpmSettings
from orchestra_core.driver import (
    Aggregation,
    BillingMetric,
    Command,
    Monitor,
    ResourceDefinition,
    Sample,
    Server,
    Service,
    Step,
    WebApp,
    Website,
    server_path,
)

__all__ = ["METRICS", "MONITORS", "RESOURCES", "SiteRequests", "SiteTraffic", "WebAppDisk"]

SECTION = "apache_fpm"
GIB = 1 / 2**30


class _SiteLog(Monitor[Website, ApacheFpmSettings]):
    """Per website and UTC hour, from the access logs: subclasses say which column counts."""

    service_type: ClassVar[type[Service]] = Website
    backend: ClassVar[str | None] = "apache-website"
    settings_class: ClassVar[type[Any]] = ApacheFpmSettings
    settings_section: ClassVar[str | None] = SECTION
    tools: ClassVar[tuple[str, ...]] = ("awk",)
    #: The column of the script's output: 2 bytes, 3 requests.
    column: ClassVar[int]

    def render(
        self, objects: Sequence[Website], server: Server, settings: ApacheFpmSettings
    ) -> Sequence[Step]:
        """One read-only step summing the logs per virtual host and hour."""
        if not any(isinstance(obj, Website) for obj in objects):
            return []
        logs = [
            server_path(server, p) for p in (settings.access_log, *settings.access_logs_rotated)
        ]
        script = self.templates.shell("monitor-traffic.sh.j2", logs=logs)
        return [Command(description="sum web traffic per site and hour", script=script)]

    def parse(self, output: str, objects: Sequence[Website], measured_at: datetime) -> list[Sample]:
        """A sample per website and UTC hour with requests, keyed by the hour."""
        owner = {
            server_name(site.account, site.name, site.domains).lower(): site.key
            for site in objects
            if isinstance(site, Website)
        }
        totals: dict[tuple[str, datetime], float] = {}
        for line in output.splitlines():
            parts = line.split("\t")
            if len(parts) != 4 or parts[0] not in owner or not parts[self.column].isdigit():
                continue
            try:
                hour = datetime.strptime(parts[1], "%d/%b/%Y:%H %z").astimezone(UTC)
            except ValueError:
                continue
            key = (owner[parts[0]], hour)
            totals[key] = totals.get(key, 0.0) + float(parts[self.column])
        return self.hourly(totals)


class SiteTraffic(_SiteLog):
    """Bytes each website sent per hour (``%O``)."""

    name: ClassVar[str] = "apache-web-traffic"
    unit: ClassVar[str] = "bytes"
    column: ClassVar[int] = 2


class SiteRequests(_SiteLog):
    """Requests each website answered per hour."""

    name: ClassVar[str] = "apache-web-requests"
    unit: ClassVar[str] = "requests"
    column: ClassVar[int] = 3


class WebAppDisk(Monitor[WebApp, ApacheFpmSettings]):
    """Bytes each web app's code and tmp folders take on disk (``du``), in its system user's
    home as the server has it (``getent``). An app whose user is absent gives no sample."""

    name: ClassVar[str] = "apache-webapp-disk"
    service_type: ClassVar[type[Service]] = WebApp
    unit: ClassVar[str] = "bytes"
    backend: ClassVar[str | None] = "apache-webapp"
    settings_class: ClassVar[type[Any]] = ApacheFpmSettings
    settings_section: ClassVar[str | None] = SECTION
    tools: ClassVar[tuple[str, ...]] = ("du", "getent")

    def render(
        self, objects: Sequence[WebApp], server: Server, settings: ApacheFpmSettings
    ) -> Sequence[Step]:
        """One read-only step: ``INDEX<TAB>BYTES`` per app whose user exists."""
        apps = [
            (i, obj.system_user, obj.name)
            for i, obj in enumerate(objects)
            if isinstance(obj, WebApp)
        ]
        if not apps:
            return []
        script = self.templates.shell("monitor-disk.sh.j2", apps=apps)
        return [Command(description=f"measure {len(apps)} web apps", script=script)]

    def parse(self, output: str, objects: Sequence[WebApp], measured_at: datetime) -> list[Sample]:
        """A sample per ``INDEX<TAB>BYTES`` line, for the app at that index."""
        return self.indexed_gauges(output, objects, measured_at)


#: A web app's folders on disk (GiB), checked daily against its allocation.
WEBAPP_DISK = ResourceDefinition(
    name="webapp-disk",
    service_kind=WebApp.kind,
    monitors=(WebAppDisk.name,),
    aggregation=Aggregation.LAST,
    unit="GiB",
    scale=GIB,
    verbose_name="Disk used by the web app (code and temporary files)",
    window="1d",
    min_allocation=0,
)
#: A website's traffic this month (GiB), and its requests.
SITE_TRAFFIC = ResourceDefinition(
    name="site-traffic",
    service_kind=Website.kind,
    monitors=(SiteTraffic.name,),
    aggregation=Aggregation.SUM,
    unit="GiB",
    scale=GIB,
    verbose_name="Web traffic sent this month",
    window="month",
    min_allocation=0,
)
SITE_REQUESTS = ResourceDefinition(
    name="site-requests",
    service_kind=Website.kind,
    monitors=(SiteRequests.name,),
    aggregation=Aggregation.SUM,
    unit="requests",
    verbose_name="Requests answered this month",
    window="month",
    min_allocation=0,
)
WEBAPP_STORAGE = BillingMetric(
    code="webapp_gib_month",
    resource=WEBAPP_DISK.name,
    unit="GiB-month",
    aggregation=Aggregation.AVERAGE,
    description="Web app storage (code and temporary files), averaged over the period",
)
SITE_TRAFFIC_BILLED = BillingMetric(
    code="site_traffic_gib",
    resource=SITE_TRAFFIC.name,
    unit="GiB",
    description="Bytes the websites sent",
)

MONITORS: tuple[type[Monitor[Any, Any]], ...] = (SiteTraffic, SiteRequests, WebAppDisk)
RESOURCES: tuple[ResourceDefinition, ...] = (WEBAPP_DISK, SITE_TRAFFIC, SITE_REQUESTS)
METRICS: tuple[BillingMetric, ...] = (WEBAPP_STORAGE, SITE_TRAFFIC_BILLED)

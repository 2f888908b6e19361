"""Web traffic from access logs: a counter, one sample per website and hour.

The logs (Apache's ``vhost_combined`` format, as Debian's ``other_vhosts_access.log``) are read
whole on every run and summed per virtual host and hour, so each hour's sample is complete as
far as the logs go; it is keyed by the website and the hour, and the store replaces it when a
later run reads the hour again. Repeating a run, or overlapping the last one, never counts a
byte twice; keep the logs of at least the last two hours (``logs`` lists the current file and
the one rotated before it). A website's traffic is the sum over its domains.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs

from orchestra_core.backends.base import server_path
from orchestra_core.backends.steps import Command, Step
from orchestra_core.catalogue import Website
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.resources.definitions import Monitor, Sample

__all__ = ["TrafficSettings", "WebTraffic"]


@attrs.frozen(kw_only=True)
class TrafficSettings:
    """Which access logs to read, newest first."""

    logs: tuple[str, ...] = (
        "/var/log/apache2/other_vhosts_access.log",
        "/var/log/apache2/other_vhosts_access.log.1",
    )


class WebTraffic(Monitor):
    """Bytes sent per website and hour (``%O``), from access logs."""

    name: ClassVar[str] = "web-traffic"
    service_type: ClassVar[type[Service]] = Website
    unit: ClassVar[str] = "bytes"
    settings_class: ClassVar[type[Any]] = TrafficSettings
    tools: ClassVar[tuple[str, ...]] = ("awk",)

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        """One step summing every log per virtual host and hour."""
        if not any(isinstance(obj, Website) for obj in objects):
            return []
        logs = [server_path(server, log) for log in settings.logs]
        script = self.templates.shell("web-traffic.sh.j2", logs=logs)
        return [Command(description="sum web traffic per site and hour", script=script)]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        """A sample per website and hour with traffic: bytes of all its domains."""
        owner = {
            domain.lower(): site
            for site in objects
            if isinstance(site, Website)
            for domain in site.domains
        }
        totals: dict[tuple[str, datetime], float] = {}
        for line in output.splitlines():
            parts = line.split("\t")
            if len(parts) != 3 or parts[0] not in owner or not parts[2].isdigit():
                continue
            try:
                hour = datetime.strptime(parts[1], "%d/%b/%Y:%H %z").astimezone(UTC)
            except ValueError:
                continue
            key = (owner[parts[0]].key, hour)
            totals[key] = totals.get(key, 0.0) + float(parts[2])
        return self.hourly(totals)

"""Disk usage of system users' homes (``du``): a gauge, measured where the home lives.

The monitor is routed by routes that name it (``disk-usage``): homes are where the operator
says they are. A user's home is its ``home`` field, or ``HOME_BASE/NAME``; a home that does not
exist on the server gives no sample. Bytes allocated on disk by default, or the files' apparent
size with ``apparent_size``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs

from orchestra_core.backends.base import server_path
from orchestra_core.catalogue import SystemUser
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.planning.steps import Command, Step
from orchestra_core.resources.definitions import Monitor, Sample

__all__ = ["DiskSettings", "DiskUsage"]


@attrs.frozen(kw_only=True)
class DiskSettings:
    """Where homes are when a user does not say, and how to count."""

    home_base: str = "/home"
    apparent_size: bool = False


class DiskUsage(Monitor):
    """Bytes used by each system user's home."""

    name: ClassVar[str] = "disk-usage"
    service_type: ClassVar[type[Service]] = SystemUser
    unit: ClassVar[str] = "bytes"
    settings_class: ClassVar[type[Any]] = DiskSettings
    tools: ClassVar[tuple[str, ...]] = ("du",)

    def home(self, user: SystemUser, settings: DiskSettings) -> str:
        """The user's home: its own, or under ``home_base``."""
        return user.home or posixpath.join(settings.home_base, user.name)

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        """One step: ``du`` of every home, one line each."""
        users = [obj for obj in objects if isinstance(obj, SystemUser)]
        if not users:
            return []
        paths = [server_path(server, self.home(user, settings)) for user in users]
        script = self.templates.shell(
            "disk-usage.sh.j2", paths=paths, apparent=settings.apparent_size
        )
        return [Command(description=f"measure {len(users)} homes", script=script)]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        """A sample per ``INDEX<TAB>BYTES`` line, for the user at that index."""
        users = [obj for obj in objects if isinstance(obj, SystemUser)]
        stamp = measured_at.isoformat()
        samples = []
        for line in output.splitlines():
            index, _, size = line.partition("\t")
            if not index.isdigit() or int(index) >= len(users) or not size.isdigit():
                continue
            key = users[int(index)].key
            samples.append(
                Sample(
                    monitor=self.name,
                    object_key=key,
                    value=float(size),
                    measured_at=measured_at,
                    idempotency_key=f"{self.name}:{key}:{stamp}",
                )
            )
        return samples

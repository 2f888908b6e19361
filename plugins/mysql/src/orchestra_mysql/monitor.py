"""Disk usage of MySQL databases: one query per server for every database it holds.

The resources issue wires monitors into ``orchestra monitor``; until then the monitor is used
as any embedding application would: render its step, run it through a transport, parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestra_core.backends.settings import build_settings
from orchestra_core.catalogue import Database
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.planning.steps import Command, Step
from orchestra_core.rendering import Templates
from orchestra_core.resources.definitions import Monitor, Sample
from orchestra_mysql import sql
from orchestra_mysql.settings import MySQLSettings

__all__ = ["MySQLDatabaseSize"]


class MySQLDatabaseSize(Monitor):
    """Bytes of data and indexes of each database (``information_schema.TABLES``), 0 for a
    database without tables; a database absent from the server gives no sample."""

    name = "mysql-database-size"
    service_type = Database
    unit = "bytes"

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        """One read-only step printing ``NAME<TAB>BYTES`` per database found; ``settings`` are
        :class:`MySQLSettings` or a mapping of them."""
        names = [obj.name for obj in objects if isinstance(obj, Database)]
        if not names:
            return []
        wanted = ", ".join(sql.literal(name) for name in names)
        query = (
            "SELECT s.SCHEMA_NAME, IFNULL(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) "
            "FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t "
            "ON t.TABLE_SCHEMA = s.SCHEMA_NAME "
            f"WHERE s.SCHEMA_NAME IN ({wanted}) GROUP BY s.SCHEMA_NAME"
        )
        if not isinstance(settings, MySQLSettings):
            settings = build_settings(MySQLSettings, settings, where=f"monitor {self.name}")
        script = Templates.for_package("orchestra_mysql").shell(
            "size.sh.j2", **settings.shell_values(), query=query
        )
        return [Command(description=f"measure {len(names)} database sizes", script=script)]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        """A sample per ``NAME<TAB>BYTES`` line whose name is one of ``objects``."""
        keys = {obj.name: obj.key for obj in objects if isinstance(obj, Database)}
        stamp = measured_at.isoformat()
        samples = []
        for line in output.splitlines():
            name, _, size = line.partition("\t")
            if name not in keys or not size.strip().isdigit():
                continue
            key = keys[name]
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

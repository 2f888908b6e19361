"""The size of MySQL databases: the monitor, the resource it feeds and the billing metric.

``mysql-database-size`` follows the ``mysql-database`` backend: each database is measured on
the servers that backend's routes send it to, with that backend's settings there (its client
and admin login), in one query per server for every database it holds. The resource of the
same name is checked against each database's allocation (in GiB) once a day; crossing it makes
every user of the database lose what :data:`~orchestra_mysql.settings.OVER_QUOTA_REVOKE` names
there (see :class:`~orchestra_mysql.backends.MySQLUser`). Storage is billed by its
time-weighted average: GiB-months.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from orchestra_core.driver import (
    Aggregation,
    BillingMetric,
    Command,
    Database,
    Monitor,
    ResourceDefinition,
    Sample,
    Server,
    Service,
    Step,
)
from orchestra_mysql import sql
from orchestra_mysql.settings import MySQLSettings

__all__ = ["DATABASE_SIZE", "DATABASE_STORAGE", "MySQLDatabaseSize"]


class MySQLDatabaseSize(Monitor[Database, MySQLSettings]):
    """Bytes of data and indexes of each database (``information_schema.TABLES``), 0 for a
    database without tables; a database absent from the server gives no sample.

    These are the server's table statistics: InnoDB refreshes them in the background once a
    tenth of a table's rows changed (within about ten seconds), or at ``ANALYZE TABLE``. Free
    space inside a table's file (``DATA_FREE``, what a ``DELETE`` leaves until the table is
    rebuilt) is not counted: it is not the customer's data.
    """

    name: ClassVar[str] = "mysql-database-size"
    service_type: ClassVar[type[Service]] = Database
    unit: ClassVar[str] = "bytes"
    backend: ClassVar[str | None] = "mysql-database"
    #: Also what a route naming the monitor itself gives (instead of following the backend's).
    settings_class: ClassVar[type[Any]] = MySQLSettings
    tools: ClassVar[tuple[str, ...]] = ("mysql",)

    def render(
        self, objects: Sequence[Database], server: Server, settings: MySQLSettings
    ) -> Sequence[Step]:
        """One read-only step printing ``NAME<TAB>BYTES`` per database found, with the
        settings of the ``mysql-database`` backend on that server (or the monitor's own)."""
        names = [obj.name for obj in objects]
        if not names:
            return []
        wanted = ", ".join(sql.literal(name) for name in names)
        query = (
            "SELECT s.SCHEMA_NAME, IFNULL(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) "
            "FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t "
            "ON t.TABLE_SCHEMA = s.SCHEMA_NAME "
            f"WHERE s.SCHEMA_NAME IN ({wanted}) GROUP BY s.SCHEMA_NAME"
        )
        if settings.flavor == "mysql":
            # MySQL 8 caches these statistics for a day by default (information_schema_stats_
            # expiry): read them fresh, as MariaDB always does.
            query = "SET SESSION information_schema_stats_expiry = 0; " + query
        script = self.templates.shell("size.sh.j2", **settings.shell_values(), query=query)
        return [Command(description=f"measure {len(names)} database sizes", script=script)]

    def parse(
        self, output: str, objects: Sequence[Database], measured_at: datetime
    ) -> list[Sample]:
        """A sample per ``NAME<TAB>BYTES`` line whose name is one of ``objects``."""
        keys = {obj.name: obj.key for obj in objects}
        samples = []
        for line in output.splitlines():
            name, _, size = line.partition("\t")
            if name in keys and size.strip().isdigit():
                samples.append(self.gauge(keys[name], float(size), measured_at))
        return samples


#: A database's size (data and indexes, GiB), checked daily against its allocation. The
#: bounds refuse an allocation given in the wrong unit: above 1024 GiB it was meant in MiB or
#: in bytes (a database of a hosting account is not a terabyte).
DATABASE_SIZE = ResourceDefinition(
    name="mysql-database-size",
    service_kind=Database.kind,
    monitors=(MySQLDatabaseSize.name,),
    aggregation=Aggregation.LAST,
    unit="GiB",
    scale=1 / 2**30,
    verbose_name="Size of the MySQL database (data and indexes)",
    window="1d",
    min_allocation=0,
    max_allocation=1024,
)

#: Database storage billed by its time-weighted average over the period: GiB-months.
DATABASE_STORAGE = BillingMetric(
    code="mysql_database_gib_month",
    resource=DATABASE_SIZE.name,
    unit="GiB-month",
    aggregation=Aggregation.AVERAGE,
    description="MySQL database storage (data and indexes), averaged over the period",
)

"""The ``mysql`` driver's plugin: two backends, the database size monitor, its resource and
its billing metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.driver import Backend, BillingMetric, Monitor, ResourceDefinition, hookimpl
from orchestra_mysql.backends import MySQLDatabase, MySQLUser
from orchestra_mysql.monitor import DATABASE_SIZE, DATABASE_STORAGE, MySQLDatabaseSize


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``mysql-database`` for ``database`` objects, ``mysql-user`` for ``databaseuser``."""
    return [MySQLDatabase, MySQLUser]


@hookimpl
def orchestra_monitors() -> Sequence[type[Monitor[Any, Any]]]:
    """``mysql-database-size``: bytes per database, where ``mysql-database`` sends it."""
    return [MySQLDatabaseSize]


@hookimpl
def orchestra_resources() -> Sequence[ResourceDefinition]:
    """``mysql-database-size``: GiB per database, checked daily against its allocation."""
    return [DATABASE_SIZE]


@hookimpl
def orchestra_billing_metrics() -> Sequence[BillingMetric]:
    """``mysql_database_gib_month``: storage by its time-weighted average (GiB-months)."""
    return [DATABASE_STORAGE]

"""The ``mysql`` driver's plugin: two backends and the database size monitor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.backends import Backend
from orchestra_core.hookspecs import hookimpl
from orchestra_core.resources.definitions import Monitor
from orchestra_mysql.backends import MySQLDatabase, MySQLUser
from orchestra_mysql.monitor import MySQLDatabaseSize


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``mysql-database`` for ``database`` objects, ``mysql-user`` for ``databaseuser``."""
    return [MySQLDatabase, MySQLUser]


@hookimpl
def orchestra_monitors() -> Sequence[type[Monitor]]:
    """``mysql-database-size``: bytes per database."""
    return [MySQLDatabaseSize]

"""orchestra-mysql: databases, users, grants and passwords on MySQL and MariaDB servers."""

from __future__ import annotations

from orchestra_mysql.settings import MySQLSettings

__all__ = ["MySQLSettings"]

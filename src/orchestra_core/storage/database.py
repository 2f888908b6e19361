"""Which database a ``--db`` value names, how to connect to it, and what a failure means.

A value is ``memory`` (the memory store), a path (an SQLite file), ``sqlite:///PATH`` or
``postgresql://USER@HOST:PORT/DB`` (run through psycopg 3). With no value, ``ORCHESTRA_DB``
is used, and without it the SQLite file ``orchestra.sqlite`` in the current directory.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from orchestra_core.errors import OrchestraError

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "Database",
    "StoreError",
    "connect_error",
    "create_engine",
    "resolve",
]

#: The environment variable that names the database when no ``--db`` is given.
ENV_VAR = "ORCHESTRA_DB"
#: The SQLite file used when neither ``--db`` nor ``ORCHESTRA_DB`` names one.
DEFAULT_PATH = "orchestra.sqlite"
#: Seconds an SQLite writer waits for another process's write to finish.
SQLITE_BUSY_TIMEOUT = 30.0
#: Seconds to wait for a PostgreSQL server to answer before giving up.
POSTGRES_CONNECT_TIMEOUT = 10

#: The execution option that makes an SQLite transaction take the write lock at BEGIN.
WRITE_OPTION = "orchestra_write"

_MEMORY = ("memory", "memory:")
_POSTGRES_SCHEMES = ("postgresql", "postgres")


class StoreError(OrchestraError):
    """A database cannot be used as an orchestra store: says which one, why and what to do."""

    def __init__(self, message: str, *, database: str) -> None:
        self.database = database
        super().__init__(message)


@attrs.frozen
class Database:
    """A database to connect to: its SQLAlchemy ``url`` and the ``label`` messages show (what
    the user gave, password hidden)."""

    url: sa.URL
    label: str

    @property
    def is_sqlite(self) -> bool:
        """True for SQLite, file or memory."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_sqlite_file(self) -> bool:
        """True for an SQLite file (not ``sqlite://``, which lives in memory)."""
        return self.is_sqlite and self.url.database not in (None, "", ":memory:")


def resolve(url: str | None) -> Database | None:
    """The database ``url`` names, or None for the memory store.

    ``None`` or ``""`` falls back to ``$ORCHESTRA_DB``, then to ``orchestra.sqlite`` in the
    current directory. Raises :class:`StoreError` for a URL that is neither SQLite nor
    PostgreSQL.
    """
    if not url:
        url = os.environ.get(ENV_VAR) or DEFAULT_PATH
    if url in _MEMORY:
        return None
    if "://" not in url:
        path = Path(url).expanduser().absolute()
        return Database(sa.URL.create("sqlite", database=str(path)), url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"{url!r} is not a database URL: {exc}", database=url) from None
    label = parsed.render_as_string(hide_password=True)
    backend, _, driver = parsed.drivername.partition("+")
    if backend in _POSTGRES_SCHEMES:
        return Database(parsed.set(drivername=f"postgresql+{driver or 'psycopg'}"), label)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database).expanduser().absolute()
            parsed = parsed.set(database=str(path))
        return Database(parsed, label)
    raise StoreError(
        f"{label}: orchestra keeps its store in SQLite or PostgreSQL; give a path, "
        "sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE or memory",
        database=label,
    )


def create_engine(db: Database) -> sa.Engine:
    """An engine for ``db``, safe to share between threads; connects lazily."""
    if db.is_sqlite:
        return _sqlite_engine(db)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in db.url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT
    return sa.create_engine(db.url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_engine(db: Database) -> sa.Engine:
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT}
    if db.is_sqlite_file:
        # The default pool for files: a few connections reused across threads.
        engine = sa.create_engine(db.url, connect_args=connect_args)
    else:
        # One in-memory database is one connection: share it.
        engine = sa.create_engine(db.url, connect_args=connect_args, poolclass=StaticPool)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3 would start transactions only before DML; SQLAlchemy's "begin" event does it.
    # Nothing here writes to the file: a foreign file must stay as it is.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    # A writer takes the write lock at BEGIN: two deferred transactions that both read and
    # then write would fail with "database is locked" instead of waiting (busy timeout).
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def connect_error(db: Database, exc: sa.exc.DBAPIError) -> StoreError:
    """A :class:`StoreError` that says what a driver error on ``db`` means and what to do."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if db.is_sqlite:
        if isinstance(exc.orig, sqlite3.DatabaseError) and "not a database" in detail:
            return StoreError(
                f"{db.label} is not an orchestra database ({detail}): the file is not SQLite; "
                f"give --db (or {ENV_VAR}) an orchestra database or a path for a new one",
                database=db.label,
            )
        if "unable to open" in detail:
            return StoreError(
                f"cannot open the SQLite database {db.label} ({detail}): check that its folder "
                "exists and that this user may write there",
                database=db.label,
            )
        if "locked" in detail:
            return StoreError(
                f"the SQLite database {db.label} stayed locked by another process for "
                f"{SQLITE_BUSY_TIMEOUT:g} s ({detail}): retry when it has finished",
                database=db.label,
            )
        return StoreError(f"SQLite database {db.label}: {detail}", database=db.label)
    host = db.url.host or "localhost"
    port = db.url.port or 5432
    if isinstance(exc, sa.exc.OperationalError):
        return StoreError(
            f"cannot use PostgreSQL at {host}:{port} (database {db.url.database}, user "
            f"{db.url.username or 'default'}): {detail}; check that the server runs and "
            f"accepts TCP connections on {host}:{port}, and the user, password and database "
            f"in {db.label}",
            database=db.label,
        )
    return StoreError(f"PostgreSQL database {db.label}: {detail}", database=db.label)

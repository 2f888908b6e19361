"""Schema revisions of the SQL store: what a database is at, and upgrading it (Alembic).

The migrations ship inside the package (``storage/migrations``); no ``alembic.ini`` is used.
An empty database is created on first open; an older one is only upgraded when asked
(``orchestra db upgrade``), since other orchestras may still be using it.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import attrs
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from orchestra_core.storage.database import (
    WRITE_OPTION,
    Database,
    StoreError,
    connect_error,
    create_engine,
    resolve,
)
from orchestra_core.storage.schema import METADATA

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head_revision",
    "prepare",
    "upgrade",
]

#: The Alembic script folder that ships in the package.
MIGRATIONS = Path(__file__).with_name("migrations")

VERSION_TABLE = "alembic_version"
_OURS = frozenset(METADATA.tables) | {VERSION_TABLE}
# Any number; PostgreSQL serialises concurrent first opens (schema creation) on it.
_PG_LOCK_KEY = 0x0C4E57


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations, running on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this orchestra's code needs."""
    head = _scripts().get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


class Status(enum.Enum):
    """What a database holds, as far as orchestra is concerned."""

    EMPTY = "empty"
    CURRENT = "current"
    OLDER = "older"
    NEWER = "newer"
    FOREIGN = "foreign"


@attrs.frozen
class Found:
    """What :func:`_inspect` found: the status, the revision, and the tables."""

    status: Status
    revision: str | None
    tables: frozenset[str]


def _inspect(conn: sa.Connection) -> Found:
    """Read (never write) what ``conn``'s database holds."""
    tables = frozenset(sa.inspect(conn).get_table_names())
    if not tables:
        return Found(Status.EMPTY, None, tables)
    if VERSION_TABLE not in tables:
        return Found(Status.FOREIGN, None, tables)
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision == head_revision():
        return Found(Status.CURRENT, revision, tables)
    known = {script.revision for script in _scripts().walk_revisions()}
    if revision in known or (revision is None and tables <= _OURS):
        return Found(Status.OLDER, revision, tables)
    if revision is not None and "operation_logs" in tables:
        return Found(Status.NEWER, revision, tables)
    return Found(Status.FOREIGN, revision, tables)


def _refuse(db: Database, found: Found) -> StoreError:
    """The error for a database that orchestra may not use as it is."""
    head = head_revision()
    arg = shlex.quote(db.label)
    if found.status is Status.OLDER:
        return StoreError(
            f"the database at {db.label} is at schema revision {found.revision or 'base'}, "
            f"this orchestra needs {head}: run `orchestra --db {arg} db upgrade`",
            database=db.label,
        )
    if found.status is Status.NEWER:
        return StoreError(
            f"the database at {db.label} was upgraded by a newer orchestra (schema revision "
            f"{found.revision}, this orchestra knows up to {head}): use that orchestra, or "
            "upgrade this one",
            database=db.label,
        )
    assert found.status is Status.FOREIGN
    names = ", ".join(sorted(found.tables)[:5]) + (", ..." if len(found.tables) > 5 else "")
    return StoreError(
        f"{db.label} is not an orchestra database (it holds other tables: {names}): give "
        "--db (or ORCHESTRA_DB) an orchestra database, or an empty one",
        database=db.label,
    )


@contextmanager
def _connected(engine: sa.Engine, db: Database) -> Iterator[sa.Connection]:
    """A connection to ``db``; driver errors become :class:`StoreError`."""
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        raise connect_error(db, exc) from exc


@contextmanager
def _writing(conn: sa.Connection) -> Iterator[None]:
    """A transaction that alone may change the schema (SQLite write lock, PostgreSQL advisory
    lock), committed when the block ends without error."""
    if conn.in_transaction():
        conn.rollback()
    conn.execution_options(**{WRITE_OPTION: True})
    try:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            yield
    finally:
        conn.execution_options(**{WRITE_OPTION: False})


def _use_wal(conn: sa.Connection, db: Database) -> None:
    # Readers then never block the writer, nor it them. The mode sticks to the file; it is
    # set only on a file known to be orchestra's.
    if db.is_sqlite_file:
        if conn.in_transaction():
            conn.rollback()
        # Outside any transaction (SQLAlchemy would BEGIN first): on the driver's connection.
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA journal_mode = WAL")


def prepare(engine: sa.Engine, db: Database) -> None:
    """Make ``db`` ready for the store: create the schema in an empty database; refuse, with
    a :class:`StoreError` that says what to do, one that is older, newer or not orchestra's."""
    with _connected(engine, db) as conn:
        found = _inspect(conn)
        if found.status is Status.EMPTY:
            with _writing(conn):
                found = _inspect(conn)  # another process may have just created it
                if found.status is Status.EMPTY:
                    command.upgrade(alembic_config(conn), "head")
                    found = _inspect(conn)
        if found.status is not Status.CURRENT:
            raise _refuse(db, found)
        _use_wal(conn, db)


def _sql_database(url: str | None) -> Database:
    db = resolve(url)
    if db is None:
        raise StoreError(
            "the memory store has no schema: give --db (or ORCHESTRA_DB) a path or a database URL",
            database="memory",
        )
    return db


def upgrade(url: str | None = None) -> tuple[str | None, str]:
    """Upgrade the database ``url`` names (see :func:`~orchestra_core.storage.open_store`) to
    the revision this orchestra needs; the revisions before and after (``None``: empty).

    Refuses a database that is not orchestra's or that a newer orchestra upgraded.
    """
    db = _sql_database(url)
    engine = create_engine(db)
    try:
        with _connected(engine, db) as conn:
            with _writing(conn):
                found = _inspect(conn)
                if found.status in (Status.FOREIGN, Status.NEWER):
                    raise _refuse(db, found)
                if found.status is not Status.CURRENT:
                    command.upgrade(alembic_config(conn), "head")
            _use_wal(conn, db)
        return found.revision, head_revision()
    finally:
        engine.dispose()


def current_revision(url: str | None = None) -> str | None:
    """The schema revision of the database ``url`` names; None when it is empty (or at base).

    Raises :class:`StoreError` when it is not an orchestra database.
    """
    db = _sql_database(url)
    engine = create_engine(db)
    try:
        with _connected(engine, db) as conn:
            found = _inspect(conn)
        if found.status is Status.FOREIGN:
            raise _refuse(db, found)
        return found.revision
    finally:
        engine.dispose()

"""What the SQL store's parts share (:class:`~orchestra_core.storage.sql.SQLStore` and its
``usage``, :class:`~orchestra_core.storage.usage_sql.SQLUsageStore`): connections that turn a
database that went away into a :class:`~orchestra_core.storage.database.StoreError`, the
dialect's INSERT, keys in chunks, and one upsert."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from orchestra_core.storage.database import WRITE_OPTION, Database, connect_error

__all__ = ["KEYS_PER_QUERY", "ROWS_PER_BATCH", "SQLPart", "chunks", "dialect_insert", "upsert"]

#: Keys per ``IN (...)``: well under SQLite's limit on bound parameters (999 before 3.32).
KEYS_PER_QUERY = 500
#: Rows per executemany batch.
ROWS_PER_BATCH = 5000

_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = KEYS_PER_QUERY) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(conn: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what to do on conflict (both dialects spell it alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _array_of(column: sa.Column[Any]) -> postgresql.ARRAY[Any]:
    """The PostgreSQL array type of ``column``'s values (names without their collation)."""
    if isinstance(column.type, sa.String):
        return postgresql.ARRAY(sa.String())
    return postgresql.ARRAY(column.type)


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    where: sa.ColumnElement[bool] | None = None,
    update: bool = True,
    arrays: bool = False,
) -> None:
    """Insert ``rows`` (dicts with the same columns), or where ``keys`` exist already update
    the other columns they give (only where ``where`` holds; columns they do not give keep
    their values), or leave them (``update`` false). Rows are written in the order given.

    With ``arrays``, PostgreSQL gets each column as one array, unnested: one statement per
    batch of thousands of rows (psycopg's executemany would send a statement per row).
    SQLite's executemany runs in C, one prepared statement for every row.
    """
    if not rows:
        return
    names = list(rows[0])
    unnest = arrays and conn.dialect.name == "postgresql"
    insert = dialect_insert(conn, table)
    if unnest:
        insert = postgresql.insert(table).from_select(
            names,
            sa.select(
                *(
                    sa.func.unnest(sa.bindparam(name, type_=_array_of(table.c[name]))).label(name)
                    for name in names
                )
            ),
        )
    statement: sa.Executable
    if update:
        statement = insert.on_conflict_do_update(
            index_elements=keys,
            set_={name: insert.excluded[name] for name in names if name not in keys},
            where=where,
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=keys)
    for chunk in chunks(rows, ROWS_PER_BATCH):
        if unnest:
            conn.execute(statement, {name: [row[name] for row in chunk] for name in names})
        else:
            conn.execute(statement, list(chunk))


class SQLPart:
    """A part of the SQL store on ``engine``: its connections. Thread-safe (each call takes
    a pooled connection)."""

    def __init__(self, engine: sa.Engine, db: Database) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._db = db

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """A connection to read with."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise connect_error(self._db, exc) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[sa.Connection]:
        """One read transaction: one snapshot of the database for every query in it
        (``REPEATABLE READ`` on PostgreSQL)."""
        try:
            with self._engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except sa.exc.OperationalError as exc:
            raise connect_error(self._db, exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction (on SQLite, the writer's lock taken at BEGIN)."""
        try:
            with self._writer.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise connect_error(self._db, exc) from exc

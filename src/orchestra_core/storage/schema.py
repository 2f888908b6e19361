"""The tables of the SQL store (SQLAlchemy Core). Migrations create them; this module says
what the newest migration must produce, and a test checks that the two agree.

Change a table here and add a migration in ``storage/migrations/versions`` in the same commit.
Names and keys have no length limit (PostgreSQL would enforce one that SQLite ignores).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "METADATA",
    "OBJECT_STATE",
    "OPERATION_LOGS",
    "OPERATION_LOG_OBJECTS",
    "OPERATION_STEPS",
    "ROUTES",
    "SERVERS",
    "SERVER_LOCKS",
    "UTCDateTime",
]

#: Constraint and index names are derived, so that migrations and this module name them alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

METADATA = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime in and out.

    PostgreSQL keeps the zone (``timestamp with time zone``); SQLite keeps naive text, so the
    value is stored as naive UTC and given back with ``tzinfo=UTC``. Naive input is refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given: orchestra stores UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> sa.JSON:
    # Python None is SQL NULL, not the JSON text 'null'.
    return sa.JSON(none_as_null=True)


OPERATION_LOGS = sa.Table(
    "operation_logs",
    METADATA,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("operation_id", sa.String(), nullable=False),
    sa.Column("server", sa.String(), nullable=False, index=True),
    sa.Column("backend", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    # In order, as the log has them; operation_log_objects indexes them for look-ups.
    sa.Column("object_keys", _json(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("script", sa.Text(), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("stdout", sa.Text(), nullable=False),
    sa.Column("stderr", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("retry_of", sa.String(), nullable=True),
)

OPERATION_STEPS = sa.Table(
    "operation_steps",
    METADATA,
    sa.Column(
        "log_id",
        sa.String(),
        sa.ForeignKey("operation_logs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("index", sa.Integer(), primary_key=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("stdout", sa.Text(), nullable=False),
    sa.Column("stderr", sa.Text(), nullable=False),
    sa.Column("duration", sa.Float(), nullable=True),
)

OPERATION_LOG_OBJECTS = sa.Table(
    "operation_log_objects",
    METADATA,
    sa.Column(
        "log_id",
        sa.String(),
        sa.ForeignKey("operation_logs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("object_key", sa.String(), primary_key=True, index=True),
)

OBJECT_STATE = sa.Table(
    "object_state",
    METADATA,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("kind", sa.String(), nullable=False),
    # A snapshot is present when its ``*_at`` is set; the three columns change together.
    sa.Column("applied", _json(), nullable=True),
    sa.Column("applied_active", sa.Boolean(), nullable=True),
    sa.Column("applied_at", UTCDateTime(), nullable=True),
    sa.Column("desired", _json(), nullable=True),
    sa.Column("desired_active", sa.Boolean(), nullable=True),
    sa.Column("desired_at", UTCDateTime(), nullable=True),
)

SERVERS = sa.Table(
    "servers",
    METADATA,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("address", sa.String(), nullable=False),
    sa.Column("transport", sa.String(), nullable=False),
    sa.Column("root", sa.Text(), nullable=True),
    sa.Column("settings", _json(), nullable=False),
)

ROUTES = sa.Table(
    "routes",
    METADATA,
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(), nullable=True),
    sa.Column("backend", sa.String(), nullable=False),
    sa.Column("servers", _json(), nullable=False),
    sa.Column("match", sa.Text(), nullable=False),
    sa.Column("settings", _json(), nullable=False),
)

SERVER_LOCKS = sa.Table(
    "server_locks",
    METADATA,
    sa.Column("server", sa.String(), primary_key=True),
    sa.Column("holder", sa.String(), nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
)

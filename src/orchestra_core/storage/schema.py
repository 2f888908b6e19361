"""The tables of the SQL store (SQLAlchemy Core). Migrations create them; this module says
what the newest migration must produce, and a test checks that the two agree.

Change a table here and add a migration in ``storage/migrations/versions`` in the same commit.
Names and keys have no length limit (PostgreSQL would enforce one that SQLite ignores).

The ``usage_*`` tables keep what :class:`~orchestra_core.storage.usage.UsageStore` promises:
their names and keys compare byte by byte (:func:`name_type`), so that the database orders
them as Python orders ``str``; their quantities are double precision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "FILE_CONTENTS",
    "METADATA",
    "OBJECT_STATE",
    "OPERATION_LOGS",
    "OPERATION_LOG_OBJECTS",
    "OPERATION_STEPS",
    "PLACEMENTS",
    "PLACEMENT_FILES",
    "ROUTES",
    "SERVERS",
    "SERVER_LOCKS",
    "USAGE_ALLOCATIONS",
    "USAGE_DAY_SUMMARIES",
    "USAGE_HORIZON",
    "USAGE_LIFETIMES",
    "USAGE_RECORDS",
    "USAGE_RESOURCE_STATES",
    "USAGE_SAMPLES",
    "USAGE_SERIES",
    "UTCDateTime",
    "name_type",
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


def name_type() -> sa.types.TypeEngine[str]:
    """A name or key ordered by code point, as Python sorts ``str``: the ``C`` collation on
    PostgreSQL (whose default collation may follow a language), SQLite's ``BINARY`` default
    elsewhere. Its indexes then serve ``ORDER BY`` in that order too."""
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


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

# What was last asked of each object (what a retry applies again). What is applied is in
# ``placements``.
OBJECT_STATE = sa.Table(
    "object_state",
    METADATA,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("kind", sa.String(), nullable=False),
    # A snapshot is present when its ``*_at`` is set; the three columns change together.
    sa.Column("desired", _json(), nullable=True),
    sa.Column("desired_active", sa.Boolean(), nullable=True),
    sa.Column("desired_at", UTCDateTime(), nullable=True),
)

# One row per object applied by a backend on a server (model.state.Placement).
PLACEMENTS = sa.Table(
    "placements",
    METADATA,
    sa.Column("object_key", name_type(), primary_key=True),
    sa.Column("backend", name_type(), primary_key=True),
    sa.Column("server", name_type(), primary_key=True, index=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("snapshot", _json(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("fingerprint", sa.String(), nullable=False),
    sa.Column("settings", _json(), nullable=False),
    sa.Column("host", _json(), nullable=False),
    sa.Column("observed", _json(), nullable=False),
    sa.Column("applied_at", UTCDateTime(), nullable=False),
)

# The files each placement wrote, in the order it wrote them; ``sha256`` is NULL for a
# sensitive file (nothing of it is kept).
PLACEMENT_FILES = sa.Table(
    "placement_files",
    METADATA,
    sa.Column("object_key", name_type(), primary_key=True),
    sa.Column("backend", name_type(), primary_key=True),
    sa.Column("server", name_type(), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True, index=True),
    sa.Column("mode", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(
        ["object_key", "backend", "server"],
        ["placements.object_key", "placements.backend", "placements.server"],
        ondelete="CASCADE",
    ),
)

# The content of applied files, by hash: what plans diff against and ``check`` compares with.
FILE_CONTENTS = sa.Table(
    "file_contents",
    METADATA,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("content", sa.Text(), nullable=False),
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
    # The lease: the lock is dead after this unless its holder renews it.
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)


# -- usage ------------------------------------------------------------------------------------

USAGE_SAMPLES = sa.Table(
    "usage_samples",
    METADATA,
    sa.Column("idempotency_key", name_type(), primary_key=True),
    sa.Column("object_key", name_type(), nullable=False),
    sa.Column("monitor", name_type(), nullable=False),
    sa.Column("measured_at", UTCDateTime(), nullable=False),
    sa.Column("value", sa.Double(), nullable=False),
    # Series in the order they are read. Ties (samples of one series at one instant) are rare
    # and sorted by key as they come: the key in the index too would make it twice the size,
    # and every ingestion slower.
    sa.Index("ix_usage_samples_series", "object_key", "monitor", "measured_at"),
)

# Every series that ever had a sample, so that the value holding when a window opens is one
# index look-up per series rather than a scan of everything before the window. Series are
# never removed: compaction keeps their days as summaries.
USAGE_SERIES = sa.Table(
    "usage_series",
    METADATA,
    sa.Column("object_key", name_type(), primary_key=True),
    sa.Column("monitor", name_type(), primary_key=True),
)

USAGE_DAY_SUMMARIES = sa.Table(
    "usage_day_summaries",
    METADATA,
    sa.Column("object_key", name_type(), primary_key=True),
    sa.Column("monitor", name_type(), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True, index=True),
    sa.Column("first_at", UTCDateTime(), nullable=False),
    sa.Column("last_at", UTCDateTime(), nullable=False),
    sa.Column("last_value", sa.Double(), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("total", sa.Double(), nullable=False),
    sa.Column("maximum", sa.Double(), nullable=False),
    sa.Column("integral", sa.Double(), nullable=False),
)

# One row (id 1), made by the migration: NULL until the first compaction. Ingestion reads it
# under a shared lock and compaction updates it under an exclusive one (PostgreSQL), so that
# no sample lands in a day while that day is being folded.
USAGE_HORIZON = sa.Table(
    "usage_horizon",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("horizon", UTCDateTime(), nullable=True),
)

USAGE_LIFETIMES = sa.Table(
    "usage_lifetimes",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("object_key", name_type(), nullable=False),
    sa.Column("kind", name_type(), nullable=False),
    sa.Column("account", name_type(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Index("ix_usage_lifetimes_object_key_started_at", "object_key", "started_at"),
    # At most one open lifetime per object, whatever races.
    sa.Index(
        "uq_usage_lifetimes_open",
        "object_key",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
)

USAGE_ALLOCATIONS = sa.Table(
    "usage_allocations",
    METADATA,
    sa.Column("object_key", name_type(), primary_key=True),
    sa.Column("resource", name_type(), primary_key=True),
    sa.Column("value", sa.Double(), nullable=False),
)

USAGE_RESOURCE_STATES = sa.Table(
    "usage_resource_states",
    METADATA,
    sa.Column("object_key", name_type(), primary_key=True),
    sa.Column("resource", name_type(), primary_key=True),
    sa.Column("exceeded", sa.Boolean(), nullable=False),
    sa.Column("usage", sa.Double(), nullable=True),
    sa.Column("allocation", sa.Double(), nullable=True),
    sa.Column("since", UTCDateTime(), nullable=False),
    sa.Column("evaluated_at", UTCDateTime(), nullable=False),
)

USAGE_RECORDS = sa.Table(
    "usage_records",
    METADATA,
    sa.Column("idempotency_key", name_type(), primary_key=True),
    sa.Column("account", name_type(), nullable=False),
    sa.Column("object_key", name_type(), nullable=False),
    sa.Column("metric", name_type(), nullable=False),
    sa.Column("period_start", UTCDateTime(), nullable=False, index=True),
    sa.Column("period_end", UTCDateTime(), nullable=False),
    sa.Column("used_from", UTCDateTime(), nullable=False),
    sa.Column("used_until", UTCDateTime(), nullable=False),
    sa.Column("quantity", sa.Double(), nullable=False),
    sa.Column("unit", sa.String(), nullable=False),
)

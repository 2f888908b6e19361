"""Usage: samples by idempotency key with their series, day summaries and the compaction
horizon, lifetimes, allocations, resource states and usage records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _name(name: str, *, primary_key: bool = False) -> sa.Column[str]:
    # Ordered by code point on PostgreSQL too, as Python orders str (SQLite's default).
    kind = sa.String().with_variant(sa.String(collation="C"), "postgresql")
    return sa.Column(name, kind, nullable=False, primary_key=primary_key)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _number(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "usage_samples",
        _name("idempotency_key"),
        _name("object_key"),
        _name("monitor"),
        _time("measured_at"),
        _number("value"),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_usage_samples"),
    )
    op.create_index(
        "ix_usage_samples_series", "usage_samples", ["object_key", "monitor", "measured_at"]
    )

    op.create_table(
        "usage_series",
        _name("object_key"),
        _name("monitor"),
        sa.PrimaryKeyConstraint("object_key", "monitor", name="pk_usage_series"),
    )

    op.create_table(
        "usage_day_summaries",
        _name("object_key"),
        _name("monitor"),
        sa.Column("day", sa.Date(), nullable=False),
        _time("first_at"),
        _time("last_at"),
        _number("last_value"),
        sa.Column("count", sa.Integer(), nullable=False),
        _number("total"),
        _number("maximum"),
        _number("integral"),
        sa.PrimaryKeyConstraint("object_key", "monitor", "day", name="pk_usage_day_summaries"),
    )
    op.create_index("ix_usage_day_summaries_day", "usage_day_summaries", ["day"])

    horizon = op.create_table(
        "usage_horizon",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        _time("horizon", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_usage_horizon"),
    )
    op.bulk_insert(horizon, [{"id": 1, "horizon": None}])

    op.create_table(
        "usage_lifetimes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _name("object_key"),
        _name("kind"),
        _name("account"),
        _time("started_at"),
        _time("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_usage_lifetimes"),
    )
    op.create_index(
        "ix_usage_lifetimes_object_key_started_at", "usage_lifetimes", ["object_key", "started_at"]
    )
    op.create_index(
        "uq_usage_lifetimes_open",
        "usage_lifetimes",
        ["object_key"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )

    op.create_table(
        "usage_allocations",
        _name("object_key"),
        _name("resource"),
        _number("value"),
        sa.PrimaryKeyConstraint("object_key", "resource", name="pk_usage_allocations"),
    )

    op.create_table(
        "usage_resource_states",
        _name("object_key"),
        _name("resource"),
        sa.Column("exceeded", sa.Boolean(), nullable=False),
        _number("usage", nullable=True),
        _number("allocation", nullable=True),
        _time("since"),
        _time("evaluated_at"),
        sa.PrimaryKeyConstraint("object_key", "resource", name="pk_usage_resource_states"),
    )

    op.create_table(
        "usage_records",
        _name("idempotency_key"),
        _name("account"),
        _name("object_key"),
        _name("metric"),
        _time("period_start"),
        _time("period_end"),
        _time("used_from"),
        _time("used_until"),
        _number("quantity"),
        sa.Column("unit", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_usage_records"),
    )
    op.create_index("ix_usage_records_period_start", "usage_records", ["period_start"])


def downgrade() -> None:
    op.drop_index("ix_usage_records_period_start", table_name="usage_records")
    op.drop_table("usage_records")
    op.drop_table("usage_resource_states")
    op.drop_table("usage_allocations")
    op.drop_index("uq_usage_lifetimes_open", table_name="usage_lifetimes")
    op.drop_index("ix_usage_lifetimes_object_key_started_at", table_name="usage_lifetimes")
    op.drop_table("usage_lifetimes")
    op.drop_table("usage_horizon")
    op.drop_index("ix_usage_day_summaries_day", table_name="usage_day_summaries")
    op.drop_table("usage_day_summaries")
    op.drop_table("usage_series")
    op.drop_index("ix_usage_samples_series", table_name="usage_samples")
    op.drop_table("usage_samples")

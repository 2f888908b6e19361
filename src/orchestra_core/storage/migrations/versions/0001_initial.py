"""The first schema: operation logs with their steps and objects, object state, topology and
server locks.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "operation_logs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("operation_id", sa.String(), nullable=False),
        sa.Column("server", sa.String(), nullable=False),
        sa.Column("backend", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("object_keys", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        _time("created_at", nullable=False),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        sa.Column("retry_of", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operation_logs"),
    )
    op.create_index("ix_operation_logs_created_at", "operation_logs", ["created_at"])
    op.create_index("ix_operation_logs_server", "operation_logs", ["server"])
    op.create_index("ix_operation_logs_state", "operation_logs", ["state"])

    op.create_table(
        "operation_steps",
        sa.Column("log_id", sa.String(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["operation_logs.id"],
            name="fk_operation_steps_log_id_operation_logs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("log_id", "index", name="pk_operation_steps"),
    )

    op.create_table(
        "operation_log_objects",
        sa.Column("log_id", sa.String(), nullable=False),
        sa.Column("object_key", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["operation_logs.id"],
            name="fk_operation_log_objects_log_id_operation_logs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("log_id", "object_key", name="pk_operation_log_objects"),
    )
    op.create_index("ix_operation_log_objects_object_key", "operation_log_objects", ["object_key"])

    op.create_table(
        "object_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("applied", sa.JSON(), nullable=True),
        sa.Column("applied_active", sa.Boolean(), nullable=True),
        _time("applied_at", nullable=True),
        sa.Column("desired", sa.JSON(), nullable=True),
        sa.Column("desired_active", sa.Boolean(), nullable=True),
        _time("desired_at", nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_object_state"),
    )

    op.create_table(
        "servers",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("transport", sa.String(), nullable=False),
        sa.Column("root", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_servers"),
    )

    op.create_table(
        "routes",
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("backend", sa.String(), nullable=False),
        sa.Column("servers", sa.JSON(), nullable=False),
        sa.Column("match", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_routes"),
    )

    op.create_table(
        "server_locks",
        sa.Column("server", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        _time("acquired_at", nullable=False),
        sa.PrimaryKeyConstraint("server", name="pk_server_locks"),
    )


def downgrade() -> None:
    op.drop_table("server_locks")
    op.drop_table("routes")
    op.drop_table("servers")
    op.drop_table("object_state")
    op.drop_index("ix_operation_log_objects_object_key", table_name="operation_log_objects")
    op.drop_table("operation_log_objects")
    op.drop_table("operation_steps")
    op.drop_index("ix_operation_logs_state", table_name="operation_logs")
    op.drop_index("ix_operation_logs_server", table_name="operation_logs")
    op.drop_index("ix_operation_logs_created_at", table_name="operation_logs")
    op.drop_table("operation_logs")

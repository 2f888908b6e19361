"""Placements: the applied state per (object, backend, server), the files they wrote and
their content by hash; leases on server locks.

The applied snapshots of ``object_state`` become placements computed from the stored topology
(the servers and routes of the latest apply), with the installed plugins: each applied object
gets a placement wherever the stored routes send it today, with the fingerprint this release
computes, so that a plan right after the upgrade has nothing to do. An object they send
nowhere was never on a server (the previous release recorded unrouted objects as applied) and
is dropped. Placements made here know no files yet: their first apply diffs against nothing
and overwrites without a drift check. A kind or a backend no installed plugin provides stops
the upgrade (nothing is changed): install the plugin, then upgrade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _name(name: str) -> sa.Column[str]:
    # Ordered by code point on PostgreSQL too, as Python orders str (SQLite's default).
    kind = sa.String().with_variant(sa.String(collation="C"), "postgresql")
    return sa.Column(name, kind, nullable=False)


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "placements",
        _name("object_key"),
        _name("backend"),
        _name("server"),
        sa.Column("kind", sa.String(), nullable=False),
        _json("snapshot"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        _json("settings"),
        _json("host"),
        _json("observed"),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("object_key", "backend", "server", name="pk_placements"),
    )
    op.create_index("ix_placements_server", "placements", ["server"])
    op.create_table(
        "placement_files",
        _name("object_key"),
        _name("backend"),
        _name("server"),
        sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "object_key", "backend", "server", "position", name="pk_placement_files"
        ),
        sa.ForeignKeyConstraint(
            ["object_key", "backend", "server"],
            ["placements.object_key", "placements.backend", "placements.server"],
            name="fk_placement_files_object_key_placements",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_placement_files_sha256", "placement_files", ["sha256"])
    op.create_table(
        "file_contents",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_file_contents"),
    )

    conn = op.get_bind()
    _convert_state(conn)

    # A lock of the previous release has no lease: it is dead once upgraded (no apply of that
    # release can be running while its database is upgraded).
    with op.batch_alter_table("server_locks") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    conn.execute(sa.text("UPDATE server_locks SET expires_at = acquired_at"))
    with op.batch_alter_table("server_locks") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)

    conn.execute(sa.text("DELETE FROM object_state WHERE desired_at IS NULL"))
    with op.batch_alter_table("object_state") as batch:
        batch.drop_column("applied")
        batch.drop_column("applied_active")
        batch.drop_column("applied_at")


def _convert_state(conn: sa.Connection) -> None:
    """object_state.applied -> placements, through the stored topology and the plugins."""
    from orchestra_core.model.servers import Route, Server
    from orchestra_core.model.state import ObjectSnapshot
    from orchestra_core.planning.incremental import world_from_snapshots
    from orchestra_core.planning.placements import settings_data
    from orchestra_core.planning.planner import Planner
    from orchestra_core.registry import Registry

    meta = sa.MetaData()
    state = sa.Table("object_state", meta, autoload_with=conn)
    rows = conn.execute(
        sa.select(state.c.key, state.c.kind, state.c.applied, state.c.applied_active).where(
            state.c.applied_at.is_not(None)
        )
    ).all()
    if not rows:
        return
    snapshots = {
        row.key: ObjectSnapshot(
            key=row.key, kind=row.kind, data=dict(row.applied), active=bool(row.applied_active)
        )
        for row in rows
    }
    servers_table = sa.Table("servers", meta, autoload_with=conn)
    routes_table = sa.Table("routes", meta, autoload_with=conn)
    servers = [
        Server(
            name=r.name,
            address=r.address,
            transport=r.transport,
            root=r.root,
            settings=dict(r.settings or {}),
        )
        for r in conn.execute(sa.select(servers_table).order_by(servers_table.c.position))
    ]
    routes = [
        Route(
            backend=r.backend,
            servers=tuple(r.servers),
            match=r.match,
            settings=dict(r.settings or {}),
            name=r.name,
        )
        for r in conn.execute(sa.select(routes_table).order_by(routes_table.c.position))
    ]
    registry = Registry.load()
    states = sa.Table("usage_resource_states", meta, autoload_with=conn)
    over: dict[str, set[str]] = {}
    for r in conn.execute(sa.select(states.c.object_key, states.c.resource, states.c.exceeded)):
        if r.exceeded:
            over.setdefault(r.object_key, set()).add(r.resource)
    planner = Planner(
        {name: info.cls for name, info in registry.backends.items()},
        servers,
        routes,
        monitors=registry.monitors,
        versions={name: info.plugin.version or "" for name, info in registry.backends.items()},
    )
    index = world_from_snapshots(snapshots.values(), registry.service_types)
    wanted, _unrouted = planner.wanted(
        index, exceeded={key: frozenset(names) for key, names in over.items()}
    )
    now = datetime.now(UTC)
    placements = sa.Table("placements", meta, autoload_with=conn)
    rows_out = [
        {
            "object_key": want.obj.key,
            "backend": want.backend,
            "server": want.server.name,
            "kind": want.snapshot.kind,
            "snapshot": snapshots[want.obj.key].data,
            "active": snapshots[want.obj.key].active,
            "fingerprint": want.fingerprint,
            "settings": settings_data(want.settings),
            "host": {
                "name": want.server.name,
                "address": want.server.address,
                "transport": want.server.transport,
                "root": want.server.root,
                "settings": dict(want.server.settings),
            },
            "observed": {},
            "applied_at": now if conn.dialect.name != "sqlite" else now.replace(tzinfo=None),
        }
        for want in wanted.values()
    ]
    if rows_out:
        conn.execute(sa.insert(placements), rows_out)


def downgrade() -> None:
    """Back to one applied snapshot per object (the newest placement's); files, contents,
    fingerprints and leases are lost."""
    with op.batch_alter_table("object_state") as batch:
        batch.add_column(sa.Column("applied", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("applied_active", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    meta = sa.MetaData()
    placements = sa.Table("placements", meta, autoload_with=conn)
    state = sa.Table("object_state", meta, autoload_with=conn)
    newest: dict[str, Any] = {}
    for row in conn.execute(sa.select(placements).order_by(placements.c.applied_at)):
        newest[row.object_key] = row
    for key, row in newest.items():
        values = {
            "applied": row.snapshot,
            "applied_active": row.active,
            "applied_at": row.applied_at,
        }
        updated = conn.execute(sa.update(state).where(state.c.key == key).values(**values))
        if not updated.rowcount:
            conn.execute(sa.insert(state).values(key=key, kind=row.kind, **values))
    with op.batch_alter_table("server_locks") as batch:
        batch.drop_column("expires_at")
    op.drop_table("file_contents")
    op.drop_index("ix_placement_files_sha256", table_name="placement_files")
    op.drop_table("placement_files")
    op.drop_index("ix_placements_server", table_name="placements")
    op.drop_table("placements")

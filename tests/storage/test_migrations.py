"""Migrations: they produce exactly the tables of ``storage/schema.py``, an empty database is
created on open, and an older or newer one is refused with what to do."""

from __future__ import annotations

import shlex
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from orchestra_core.resources.definitions import Sample
from orchestra_core.storage import (
    SQLStore,
    StoreError,
    current_revision,
    head_revision,
    open_store,
    upgrade,
)
from orchestra_core.storage.database import create_engine, resolve
from orchestra_core.storage.migrate import MIGRATIONS, alembic_config
from orchestra_core.storage.schema import METADATA, OPERATION_LOGS

DATA = Path(__file__).with_name("data")


def engine_for(url: str) -> sa.Engine:
    db = resolve(url)
    assert db is not None
    return create_engine(db)


def tables(url: str) -> set[str]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def label(url: str) -> str:
    db = resolve(url)
    assert db is not None
    return db.label


def at_base(url: str) -> None:
    """Leave ``url`` as an orchestra from before the first migration would: stamped, empty."""
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "base")
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_table_metadata(database_url: str) -> None:
    assert upgrade(database_url) == (None, head_revision())
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, METADATA) == []
            assert set(sa.inspect(conn).get_table_names()) == set(METADATA.tables) | {
                "alembic_version"
            }
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_the_migrated_names_have_the_collation_of_the_metadata(postgres_url: str) -> None:
    """Alembic compares types but not collations: names that must sort by code point (the
    usage tables', COLLATE "C" on PostgreSQL) are checked here. (SQLite compares strings by
    code point unless told otherwise.)"""
    upgrade(postgres_url)
    engine = engine_for(postgres_url)
    try:
        wanted = {
            (table.name, column.name)
            for table in METADATA.tables.values()
            for column in table.columns
            if getattr(column.type.dialect_impl(engine.dialect), "collation", None) == "C"
        }
        with engine.connect() as conn:
            found = {
                (row.table_name, row.column_name)
                for row in conn.execute(
                    sa.text(
                        "SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND collation_name = 'C'"
                    )
                )
            }
    finally:
        engine.dispose()
    assert ("usage_samples", "object_key") in wanted
    assert found == wanted


def test_a_database_at_0001_is_upgraded_keeping_what_it_holds(database_url: str) -> None:
    engine = engine_for(database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
        with engine.begin() as conn:
            conn.execute(
                sa.insert(OPERATION_LOGS),
                {
                    "id": "log-1",
                    "operation_id": "op-1",
                    "server": "web1",
                    "backend": "apache",
                    "action": "save",
                    "object_keys": ["website:a.example"],
                    "state": "success",
                    "script": "true",
                    "stdout": "",
                    "stderr": "",
                    "created_at": datetime(2026, 11, 1, tzinfo=UTC),
                },
            )
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="is at schema revision 0001"):
        SQLStore(database_url)

    assert upgrade(database_url) == ("0001", head_revision())
    store = SQLStore(database_url)
    try:
        assert store.get_log("log-1").object_keys == ("website:a.example",)
        assert store.usage.horizon() is None
        at = datetime(2026, 11, 2, tzinfo=UTC)
        sample = Sample(
            monitor="size", object_key="database:a", value=1.0, measured_at=at, idempotency_key="k"
        )
        assert store.usage.add_samples([sample]).added == 1
        assert store.usage.compact(at) == 0 and store.usage.horizon() == at
    finally:
        store.close()


def test_every_migration_goes_down_and_up_again(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
    finally:
        engine.dispose()
    assert tables(database_url) == {"alembic_version"}
    assert upgrade(database_url) == (None, head_revision())


def test_upgrade_is_a_no_op_at_head(database_url: str) -> None:
    head = head_revision()
    assert current_revision(database_url) is None
    assert upgrade(database_url) == (None, head)
    assert upgrade(database_url) == (head, head)
    assert current_revision(database_url) == head


def test_an_empty_database_is_created_on_open(database_url: str) -> None:
    store = open_store(database_url)
    assert isinstance(store, SQLStore)
    try:
        assert store.list_logs() == []
    finally:
        store.close()
    assert current_revision(database_url) == head_revision()


def test_an_older_schema_is_refused_until_upgraded(database_url: str) -> None:
    at_base(database_url)
    with pytest.raises(StoreError) as info:
        open_store(database_url)
    given = label(database_url)
    assert str(info.value) == (
        f"the database at {given} is at schema revision base, this orchestra needs "
        f"{head_revision()}: run `orchestra --db {shlex.quote(given)} db upgrade`"
    )
    assert info.value.database == label(database_url)
    assert tables(database_url) == {"alembic_version"}  # not migrated behind the user's back

    assert upgrade(database_url) == (None, head_revision())
    store = SQLStore(database_url)
    try:
        assert store.applied() == {}
    finally:
        store.close()


def test_a_schema_from_a_newer_orchestra_is_refused(database_url: str) -> None:
    upgrade(database_url)
    engine = engine_for(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()

    message = (
        f"the database at {label(database_url)} was upgraded by a newer orchestra (schema "
        f"revision 9999_future, this orchestra knows up to {head_revision()}): use that "
        "orchestra, or upgrade this one"
    )
    with pytest.raises(StoreError) as info:
        SQLStore(database_url)
    assert str(info.value) == message
    with pytest.raises(StoreError) as info:
        upgrade(database_url)
    assert str(info.value) == message
    assert current_revision(database_url) == "9999_future"


def test_the_migrations_ship_in_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert sorted(path.name for path in (MIGRATIONS / "versions").glob("*.py")) == [
        "0001_initial.py",
        "0002_usage.py",
        "0003_placements.py",
    ]


def test_a_store_written_by_the_previous_release_becomes_placements(tmp_path: Path) -> None:
    """``data/store-0002-ea75f2f.sqlite`` was written by orchestra at commit ea75f2f (schema
    0002): ``orchestra apply`` of ``data/store-0002-ea75f2f.yaml``, which also has a
    PostgreSQL database that no route sends anywhere (that release recorded it as applied)."""
    from orchestra_core.engine import Orchestra
    from orchestra_core.inventory import load_inventory
    from orchestra_core.registry import Registry

    db = tmp_path / "store.sqlite"
    shutil.copy(DATA / "store-0002-ea75f2f.sqlite", db)
    with pytest.raises(StoreError, match="at schema revision 0002, this orchestra needs"):
        open_store(str(db))
    assert upgrade(str(db)) == ("0002", head_revision())
    store = open_store(str(db))
    try:
        placed = {(p.object_key, p.backend, p.server) for p in store.placements()}
        assert ("domain:acme.example", "dummy-domain", "ns1") in placed
        assert ("databaseuser:mysql/globex", "dummy-databaseuser", "db1") in placed
        assert len(placed) == 11
        # Routed nowhere under the stored routes: it never was on a server.
        assert "database:postgresql/globex_pg" not in store.applied()
        assert len(store.list_logs()) == 15  # the logs are kept
        registry = Registry.load()
        inventory = load_inventory(
            DATA / "store-0002-ea75f2f.yaml",
            service_types=registry.by_plural(),
            backends=registry.routable(),
            base_dir=tmp_path,
        )
        # The stored topology (its sandbox roots are where that release applied them).
        engine = Orchestra(
            servers=store.servers(), routes=store.routes(), registry=registry, store=store
        )
        plan = engine.plan_inventory(inventory.accounts, inventory.services)
        assert plan.is_empty and not plan.has_state_changes, plan.render_text()
        assert plan.unrouted == ("database:postgresql/globex_pg",)
        assert plan.summary is not None and plan.summary.unchanged == 11
        assert plan.summary.unrouted == 1
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()

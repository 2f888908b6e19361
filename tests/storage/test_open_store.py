"""Which store a ``--db`` value opens, and the errors for databases orchestra cannot use."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from orchestra_core.errors import OrchestraError
from orchestra_core.storage import (
    MemoryStore,
    SQLStore,
    StoreError,
    current_revision,
    open_store,
    upgrade,
)
from orchestra_core.storage.database import resolve


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in an empty folder, without ORCHESTRA_DB."""
    monkeypatch.delenv("ORCHESTRA_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("url", [None, ""])
def test_no_url_is_orchestra_sqlite_here(no_env: Path, url: str | None) -> None:
    store = open_store(url)
    assert isinstance(store, SQLStore)
    try:
        assert store.database == "orchestra.sqlite"
        assert (no_env / "orchestra.sqlite").is_file()
    finally:
        store.close()


def test_orchestra_db_names_the_database_when_no_url_is_given(
    no_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRA_DB", "state/db.sqlite")
    (no_env / "state").mkdir()
    store = open_store(None)
    assert isinstance(store, SQLStore)
    try:
        assert (no_env / "state" / "db.sqlite").is_file()
        assert not (no_env / "orchestra.sqlite").exists()
    finally:
        store.close()
    monkeypatch.setenv("ORCHESTRA_DB", "memory")
    assert isinstance(open_store(None), MemoryStore)


@pytest.mark.parametrize("url", ["memory", "memory:"])
def test_memory(no_env: Path, url: str) -> None:
    assert isinstance(open_store(url), MemoryStore)
    assert list(no_env.iterdir()) == []


def test_paths_and_sqlite_urls_are_absolute_sqlite_files(no_env: Path) -> None:
    for given in ("rel.sqlite", "sqlite:///rel.sqlite", str(no_env / "rel.sqlite")):
        db = resolve(given)
        assert db is not None
        assert db.url.drivername == "sqlite"
        assert db.url.database == str(no_env / "rel.sqlite")
        assert db.label == given


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://orc:secret@db.example:5433/orchestra", "postgresql+psycopg"),
        ("postgres://orc:secret@db.example:5433/orchestra", "postgresql+psycopg"),
        ("postgresql+psycopg2://orc:secret@db.example:5433/orchestra", "postgresql+psycopg2"),
    ],
)
def test_postgresql_urls_use_psycopg_and_hide_the_password(given: str, driver: str) -> None:
    db = resolve(given)
    assert db is not None
    assert db.url.drivername == driver
    assert db.url.password == "secret"
    assert "secret" not in db.label and db.label.endswith("orc:***@db.example:5433/orchestra")


def test_other_databases_are_refused() -> None:
    with pytest.raises(StoreError) as info:
        open_store("mysql://root@127.0.0.1/test")
    assert str(info.value) == (
        "mysql://root@127.0.0.1/test: orchestra keeps its store in SQLite or PostgreSQL; give "
        "a path, sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE or memory"
    )
    assert isinstance(info.value, OrchestraError)


def test_sqlstore_refuses_memory() -> None:
    with pytest.raises(
        StoreError, match="'memory' names the memory store, which keeps nothing in a database"
    ):
        SQLStore("memory")


def unchanged_after_every_way_in(path: Path) -> StoreError:
    """Open, upgrade and read the revision of ``path``: each must raise the same
    :class:`StoreError` and leave the folder byte for byte as it was."""
    before = {entry.name: entry.read_bytes() for entry in path.parent.iterdir()}
    messages = set()
    for attempt in (open_store, SQLStore, upgrade, current_revision):
        with pytest.raises(StoreError) as info:
            attempt(str(path))
        messages.add(str(info.value))
        assert info.value.database == str(path)
        assert {entry.name: entry.read_bytes() for entry in path.parent.iterdir()} == before
    assert len(messages) == 1, messages
    return info.value


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list: milk, eggs\n" * 200)
    error = unchanged_after_every_way_in(path)
    assert str(error) == (
        f"{path} is not an orchestra database (file is not a database): the file is not "
        "SQLite; give --db (or ORCHESTRA_DB) an orchestra database or a path for a new one"
    )


def test_an_sqlite_database_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    error = unchanged_after_every_way_in(path)
    assert str(error) == (
        f"{path} is not an orchestra database (it holds other tables: customers): give "
        "--db (or ORCHESTRA_DB) an orchestra database, or an empty one"
    )


def test_an_sqlite_database_with_another_applications_alembic(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    error = unchanged_after_every_way_in(path)
    assert "is not an orchestra database (it holds other tables: alembic_version, invoices)" in (
        str(error)
    )


def test_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "orchestra.sqlite"
    with pytest.raises(StoreError) as info:
        open_store(str(path))
    assert str(info.value).startswith(f"cannot open the SQLite database {path} (unable to open")
    assert "check that its folder exists" in str(info.value)
    assert not path.parent.exists()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_an_unreachable_postgresql() -> None:
    port = closed_port()
    url = f"postgresql://orc:secret@127.0.0.1:{port}/orchestra"
    for attempt in (open_store, upgrade, current_revision):
        with pytest.raises(StoreError) as info:
            attempt(url)
        message = str(info.value)
        assert message.startswith(
            f"cannot use PostgreSQL at 127.0.0.1:{port} (database orchestra, user orc): "
        )
        assert message.endswith(
            f"check that the server runs and accepts TCP connections on 127.0.0.1:{port}, "
            f"and the user, password and database in postgresql://orc:***@127.0.0.1:{port}"
            "/orchestra"
        )
        assert "secret" not in message

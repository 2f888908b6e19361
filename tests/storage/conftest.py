"""Store factories for the contract suite: add a store here and it runs every contract test.

PostgreSQL: the server at ``$ORCHESTRA_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each test gets a schema of its own, dropped
afterwards. Without a reachable server the PostgreSQL cases are skipped, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestra_core.storage.database import resolve
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import Store
from orchestra_core.storage.sql import SQLStore

POSTGRES_ENV = "ORCHESTRA_TEST_POSTGRES"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

#: Makes a fresh, empty store for one test; cleans up through the request's finalizers.
StoreFactory = Callable[[pytest.FixtureRequest], Store]


def _memory(request: pytest.FixtureRequest) -> Store:
    return MemoryStore()


def _sql(request: pytest.FixtureRequest, url: str) -> Store:
    store = SQLStore(url)
    request.addfinalizer(store.close)
    return store


def _sqlite(request: pytest.FixtureRequest) -> Store:
    path: Path = request.getfixturevalue("tmp_path")
    return _sql(request, str(path / "orchestra.sqlite"))


def _postgresql(request: pytest.FixtureRequest) -> Store:
    return _sql(request, request.getfixturevalue("postgres_url"))


#: name -> factory. Those that need a server are in SERVER_BACKED and marked with its name.
STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}
SERVER_BACKED = frozenset({"postgresql"})


def _params(names: list[str]) -> list[object]:
    return [
        pytest.param(name, marks=getattr(pytest.mark, name)) if name in SERVER_BACKED else name
        for name in names
    ]


@pytest.fixture(params=_params(sorted(STORE_FACTORIES)))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh, empty store of each implementation in turn."""
    yield STORE_FACTORIES[request.param](request)


@pytest.fixture(params=_params(["sqlite", "postgresql"]))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of a fresh, empty database: an SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orchestra.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[tuple[str, sa.Engine]]:
    """The test PostgreSQL server's URL and an autocommit engine on it; skips (fails under
    CI=true) when it cannot be reached."""
    url = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES
    db = resolve(url)
    assert db is not None and not db.is_sqlite, f"{POSTGRES_ENV}={url} is not PostgreSQL"
    engine = sa.create_engine(
        db.url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        reason = (
            f"no PostgreSQL at {db.label} ({str(exc.orig).strip().splitlines()[0]}); "
            f"set {POSTGRES_ENV} to the URL of a server where this user may create schemas"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the PostgreSQL store tests: {reason}")
        pytest.skip(reason)
    yield url, engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: tuple[str, sa.Engine]) -> Iterator[str]:
    """The URL of a new, empty schema on the test server (first in its search_path)."""
    base, admin = postgres_admin
    schema = f"orchestra_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')

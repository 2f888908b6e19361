"""Store factories for the contract suite: add a store here and it runs every contract test.

PostgreSQL: the ``postgres_url`` fixture of orchestra's pytest plugin (the server at
``$ORCHESTRA_TEST_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/test``); each test
gets a schema of its own, dropped afterwards. Without a reachable server the PostgreSQL cases
are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import Store
from orchestra_core.storage.sql import SQLStore

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

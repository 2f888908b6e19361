"""Store factories for the contract suite: add a store here and it runs every contract test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import Store

#: name -> factory; the SQLAlchemy stores join here (a server-backed one marked as such).
STORE_FACTORIES: dict[str, Callable[[], Store]] = {
    "memory": MemoryStore,
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh, empty store of each implementation in turn."""
    yield STORE_FACTORIES[request.param]()

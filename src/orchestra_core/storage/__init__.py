"""Stores: where operation logs, the applied state of objects, the topology of the last apply
and server locks are kept.

:func:`open_store` picks one from a ``--db`` value: ``memory``, a path or ``sqlite:///PATH``
(SQLite), ``postgresql://...``; with none, ``$ORCHESTRA_DB``, else ``orchestra.sqlite`` in the
current directory. :func:`upgrade` brings an older SQL database to this orchestra's schema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import (
    LockStore,
    LogStore,
    NotFound,
    ObjectSnapshot,
    ServerBusy,
    StateStore,
    Store,
    holder_id,
    holder_is_gone,
)
from orchestra_core.storage.usage import UsageStore

if TYPE_CHECKING:
    from orchestra_core.storage.database import DEFAULT_PATH, ENV_VAR
    from orchestra_core.storage.sql import (
        SQLStore,
        StoreError,
        current_revision,
        head_revision,
        open_store,
        upgrade,
    )

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "LockStore",
    "LogStore",
    "MemoryStore",
    "NotFound",
    "ObjectSnapshot",
    "SQLStore",
    "ServerBusy",
    "StateStore",
    "Store",
    "StoreError",
    "UsageStore",
    "current_revision",
    "head_revision",
    "holder_id",
    "holder_is_gone",
    "open_store",
    "upgrade",
]

# SQLAlchemy and Alembic take a few tenths of a second to import: only on first use.
_LAZY = {
    "DEFAULT_PATH": "orchestra_core.storage.database",
    "ENV_VAR": "orchestra_core.storage.database",
    "SQLStore": "orchestra_core.storage.sql",
    "StoreError": "orchestra_core.storage.sql",
    "current_revision": "orchestra_core.storage.sql",
    "head_revision": "orchestra_core.storage.sql",
    "open_store": "orchestra_core.storage.sql",
    "upgrade": "orchestra_core.storage.sql",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

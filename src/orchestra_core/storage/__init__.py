"""Stores: where operation logs (and later servers, routes, applied state) are kept."""

from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import NotFound, Store

__all__ = ["MemoryStore", "NotFound", "Store"]

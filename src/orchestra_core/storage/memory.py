"""A store in a dict: for tests, scripts and one-shot runs (nothing survives the process)."""

from __future__ import annotations

import copy
import threading

from orchestra_core.execution.results import OperationLog, State
from orchestra_core.storage.protocol import NotFound

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps copies of operation logs under a lock; returned logs are copies too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, OperationLog] = {}
        # Insertion order breaks ties between logs created in the same microsecond.
        self._order: dict[str, int] = {}
        self._counter = 0

    def save_log(self, log: OperationLog) -> None:
        """Insert or replace ``log`` by its id (a copy is stored)."""
        stored = copy.deepcopy(log)
        with self._lock:
            if log.id not in self._order:
                self._counter += 1
                self._order[log.id] = self._counter
            self._logs[log.id] = stored

    def get_log(self, id: str) -> OperationLog:
        """A copy of the log with this id; :class:`NotFound` when there is none."""
        with self._lock:
            try:
                stored = self._logs[id]
            except KeyError:
                raise NotFound(id) from None
            return copy.deepcopy(stored)

    def list_logs(
        self,
        *,
        state: State | None = None,
        server: str | None = None,
        object_key: str | None = None,
        limit: int | None = None,
    ) -> list[OperationLog]:
        """Copies of the matching logs, newest first."""
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        with self._lock:
            found = [
                log
                for log in self._logs.values()
                if (state is None or log.state == state)
                and (server is None or log.server == server)
                and (object_key is None or object_key in log.object_keys)
            ]
            found.sort(key=lambda log: (log.created_at, self._order[log.id]), reverse=True)
            if limit is not None:
                found = found[:limit]
            return [copy.deepcopy(log) for log in found]

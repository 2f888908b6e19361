"""A store in a dict: for tests, scripts and one-shot runs (nothing survives the process)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from datetime import datetime

import attrs

from orchestra_core.execution.results import OperationLog, State, utcnow
from orchestra_core.model.servers import Route, Server
from orchestra_core.storage.protocol import NotFound, ObjectSnapshot, ServerBusy, holder_is_gone
from orchestra_core.storage.usage import UsageStore
from orchestra_core.storage.usage_memory import MemoryUsageStore

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps copies of everything under a lock; what it returns are copies too."""

    def __init__(self) -> None:
        #: Samples, lifetimes, allocations, resource states and usage records.
        self.usage: UsageStore = MemoryUsageStore()
        self._lock = threading.Lock()
        self._applied: dict[str, ObjectSnapshot] = {}
        self._desired: dict[str, ObjectSnapshot] = {}
        self._servers: list[Server] = []
        self._routes: list[Route] = []
        self._held: dict[str, tuple[str, datetime]] = {}
        self._logs: dict[str, OperationLog] = {}
        # Insertion order breaks ties between logs created in the same microsecond.
        self._order: dict[str, int] = {}
        self._counter = 0

    def save_log(self, log: OperationLog) -> None:
        """Insert or replace ``log`` by its id (a copy is stored)."""
        self.save_logs([log])

    def save_logs(self, logs: Sequence[OperationLog]) -> None:
        """Insert or replace each of ``logs`` by its id (copies are stored)."""
        stored = [_copy_log(log) for log in logs]
        with self._lock:
            for log in stored:
                if log.id not in self._order:
                    self._counter += 1
                    self._order[log.id] = self._counter
                self._logs[log.id] = log

    def get_log(self, id: str) -> OperationLog:
        """A copy of the log with this id; :class:`NotFound` when there is none."""
        with self._lock:
            try:
                stored = self._logs[id]
            except KeyError:
                raise NotFound(id) from None
            return _copy_log(stored)

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
            return [_copy_log(log) for log in found]

    def prune_logs(self, *, older_than: datetime) -> int:
        """Delete the logs created before ``older_than``."""
        with self._lock:
            old = [id for id, log in self._logs.items() if log.created_at < older_than]
            for id in old:
                del self._logs[id]
                del self._order[id]
            return len(old)

    def applied(self) -> dict[str, ObjectSnapshot]:
        """Copies of the applied snapshots, by key."""
        with self._lock:
            return copy.deepcopy(self._applied)

    def record_applied(self, snapshots: Sequence[ObjectSnapshot]) -> None:
        """Remember these snapshots as applied."""
        with self._lock:
            for snapshot in snapshots:
                self._applied[snapshot.key] = copy.deepcopy(snapshot)

    def forget_applied(self, keys: Sequence[str]) -> None:
        """Forget the applied snapshots of these keys."""
        with self._lock:
            for key in keys:
                self._applied.pop(key, None)

    def record_desired(self, snapshots: Sequence[ObjectSnapshot]) -> None:
        """Remember what was last asked of these objects."""
        with self._lock:
            for snapshot in snapshots:
                self._desired[snapshot.key] = copy.deepcopy(snapshot)

    def desired(self, key: str) -> ObjectSnapshot | None:
        """What was last asked of this object, or None."""
        with self._lock:
            return copy.deepcopy(self._desired.get(key))

    def save_topology(self, servers: Sequence[Server], routes: Sequence[Route]) -> None:
        """Replace the stored servers and routes."""
        with self._lock:
            self._servers = list(servers)
            self._routes = list(routes)

    def servers(self) -> list[Server]:
        """The stored servers."""
        with self._lock:
            return list(self._servers)

    def routes(self) -> list[Route]:
        """The stored routes."""
        with self._lock:
            return list(self._routes)

    def lock_servers(self, names: Sequence[str], holder: str, *, wait: float = 0.0) -> None:
        """Take every server of ``names`` for ``holder``, all or none, waiting up to ``wait``."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                busy = [
                    (name, self._held[name])
                    for name in sorted(set(names))
                    if name in self._held
                    and self._held[name][0] != holder
                    and not holder_is_gone(self._held[name][0])
                ]
                if not busy:
                    now = utcnow()
                    for name in names:
                        self._held[name] = (holder, now)
                    return
            if time.monotonic() >= deadline:
                name, (other, since) = busy[0]
                raise ServerBusy(name, other, since)
            time.sleep(0.05)

    def unlock_servers(self, names: Sequence[str], holder: str) -> None:
        """Give back the servers ``holder`` holds."""
        with self._lock:
            for name in names:
                if name in self._held and self._held[name][0] == holder:
                    del self._held[name]


def _copy_log(log: OperationLog) -> OperationLog:
    """A copy sharing nothing mutable with ``log`` (its steps are its only mutable parts; a
    tenth of what ``copy.deepcopy`` costs)."""
    return attrs.evolve(log, steps=[attrs.evolve(step) for step in log.steps])

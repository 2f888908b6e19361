"""A store in a dict: for tests, scripts and one-shot runs (nothing survives the process)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from orchestra_core.execution.results import OperationLog, State, utcnow
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.state import ObjectSnapshot, Placement, PlacementKey
from orchestra_core.storage.protocol import (
    DEFAULT_LEASE,
    INTERRUPTED_NOTE,
    NotFound,
    ServerBusy,
    ServerLock,
    newest_snapshots,
)
from orchestra_core.storage.usage import UsageStore
from orchestra_core.storage.usage_memory import MemoryUsageStore

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps copies of everything under a lock; what it returns are copies too, but for
    placements and their snapshots: those are frozen records, copied once when recorded and
    then shared by every read (copying each of them on every plan made a one-object change
    among thousands cost what the thousands did). Do not change the dicts inside them."""

    def __init__(self) -> None:
        #: Samples, lifetimes, allocations, resource states and usage records.
        self.usage: UsageStore = MemoryUsageStore()
        self._lock = threading.Lock()
        self._placements: dict[PlacementKey, Placement] = {}
        self._contents: dict[str, str] = {}
        self._desired: dict[str, ObjectSnapshot] = {}
        self._servers: list[Server] = []
        self._routes: list[Route] = []
        self._held: dict[str, ServerLock] = {}
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

    def interrupt_logs(self, servers: Sequence[str]) -> int:
        """Mark these servers' unfinished logs ``interrupted``."""
        wanted = set(servers)
        now = utcnow()
        with self._lock:
            found = [
                log
                for log in self._logs.values()
                if log.server in wanted and not log.state.is_final
            ]
            for log in found:
                log.state = State.INTERRUPTED
                log.finished_at = now
                log.stderr += INTERRUPTED_NOTE
            return len(found)

    def placements(
        self,
        *,
        servers: Collection[str] | None = None,
        object_keys: Collection[str] | None = None,
    ) -> list[Placement]:
        """The applied placements, in key order (shared, not copied: see the class)."""
        with self._lock:
            return [
                p
                for key, p in sorted(self._placements.items())
                if (servers is None or key.server in servers)
                and (object_keys is None or key.object_key in object_keys)
            ]

    def record_placements(
        self,
        recorded: Sequence[Placement],
        forgotten: Sequence[PlacementKey] = (),
        *,
        contents: Mapping[str, str] | None = None,
    ) -> None:
        """Record, forget and keep contents, all at once."""
        now = utcnow()
        stamped = [attrs.evolve(copy.deepcopy(p), applied_at=now) for p in recorded]
        with self._lock:
            for key in forgotten:
                self._placements.pop(PlacementKey(*key), None)
            for placement in stamped:
                self._placements[placement.key] = placement
            named = {f.sha256 for p in self._placements.values() for f in p.files if f.sha256}
            for digest, content in (contents or {}).items():
                if digest in named:
                    self._contents[digest] = content
            for digest in [d for d in self._contents if d not in named]:
                del self._contents[digest]

    def file_contents(self, hashes: Iterable[str]) -> dict[str, str]:
        """The kept contents of these hashes."""
        with self._lock:
            return {h: self._contents[h] for h in hashes if h in self._contents}

    def applied(self) -> dict[str, ObjectSnapshot]:
        """The newest snapshot of every placed object (shared, not copied: see the class)."""
        with self._lock:
            return newest_snapshots(self._placements.values())

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

    def lock_servers(
        self,
        names: Sequence[str],
        holder: str,
        *,
        wait: float = 0.0,
        lease: float = DEFAULT_LEASE,
    ) -> list[ServerLock]:
        """Take every server of ``names`` for ``holder``, all or none, waiting up to ``wait``;
        the dead locks taken over are returned."""
        deadline = time.monotonic() + wait
        wanted = sorted(set(names))
        while True:
            with self._lock:
                now = utcnow()
                held = [self._held[name] for name in wanted if name in self._held]
                busy = [lock for lock in held if lock.holder != holder and not lock.is_dead(now)]
                if not busy:
                    until = now + timedelta(seconds=lease)
                    for name in wanted:
                        old = self._held.get(name)
                        since = old.acquired_at if old and old.holder == holder else now
                        self._held[name] = ServerLock(
                            server=name, holder=holder, acquired_at=since, expires_at=until
                        )
                    return [lock for lock in held if lock.holder != holder]
            if time.monotonic() >= deadline:
                first = busy[0]
                raise ServerBusy(first.server, first.holder, first.acquired_at)
            time.sleep(0.05)

    def renew_locks(
        self, names: Sequence[str], holder: str, *, lease: float = DEFAULT_LEASE
    ) -> int:
        """Extend ``holder``'s locks on ``names``."""
        with self._lock:
            until = utcnow() + timedelta(seconds=lease)
            mine = [n for n in set(names) if n in self._held and self._held[n].holder == holder]
            for name in mine:
                self._held[name] = attrs.evolve(self._held[name], expires_at=until)
            return len(mine)

    def unlock_servers(self, names: Sequence[str], holder: str) -> None:
        """Give back the servers ``holder`` holds."""
        with self._lock:
            for name in names:
                if name in self._held and self._held[name].holder == holder:
                    del self._held[name]

    def locks(self) -> list[ServerLock]:
        """Every lock held now."""
        with self._lock:
            return [self._held[name] for name in sorted(self._held)]

    def break_lock(self, server: str, holder: str) -> bool:
        """Remove ``server``'s lock if ``holder`` still holds it."""
        with self._lock:
            if server in self._held and self._held[server].holder == holder:
                del self._held[server]
                return True
            return False


def _copy_log(log: OperationLog) -> OperationLog:
    """A copy sharing nothing mutable with ``log`` (its steps are its only mutable parts; a
    tenth of what ``copy.deepcopy`` costs)."""
    return attrs.evolve(log, steps=[attrs.evolve(step) for step in log.steps])

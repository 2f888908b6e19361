"""The store interface, in parts: operation logs (:class:`LogStore`), the applied placements
of every object with the content of the files they wrote and the servers and routes of the
last apply (:class:`StateStore`), the leased locks that keep two applies off the same server
(:class:`LockStore`), and usage (``store.usage``, a
:class:`~orchestra_core.storage.usage.UsageStore`). :class:`Store` is their union, what the
memory and SQL stores implement; each consumer asks only for its part, and the packages below
storage declare what they need themselves (execution's
:class:`~orchestra_core.execution.executor.LogSink` and
:class:`~orchestra_core.execution.outcome.OutcomeStore`, resources'
:class:`~orchestra_core.resources.usage.UsageReader` and ``UsageWriter``, billing's
:class:`~orchestra_core.billing.records.RecordStore`), which every store meets structurally.

Every implementation (memory, SQLAlchemy on SQLite or PostgreSQL) passes the same contract
suite in ``tests/storage``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from orchestra_core.errors import OrchestraError
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.state import ObjectSnapshot, Placement, PlacementKey
from orchestra_core.storage.usage import UsageStore

__all__ = [
    "DEFAULT_LEASE",
    "INTERRUPTED_NOTE",
    "LockStore",
    "LogStore",
    "NotFound",
    "ObjectSnapshot",
    "ServerBusy",
    "ServerLock",
    "StateStore",
    "Store",
    "holder_id",
    "holder_is_gone",
    "newest_snapshots",
]

#: Seconds a server lock lasts unless its holder renews it (an apply renews it while it runs).
DEFAULT_LEASE = 120.0

#: What the stderr of a log that never finished says once a later apply found it.
INTERRUPTED_NOTE = (
    "orchestra: interrupted: the apply that ran this operation ended before it finished "
    "(killed, or its store went away); what it did on the server is unknown: plan again\n"
)


def holder_id(tag: str = "") -> str:
    """Who takes a lock: ``HOST:PID`` (plus ``:TAG`` to tell threads or applies apart)."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{tag}" if tag else base


def holder_is_gone(holder: str) -> bool:
    """True when ``holder`` names a process on this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@attrs.frozen(kw_only=True)
class ServerLock:
    """Who holds a server, since when, and until when unless renewed."""

    server: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def is_dead(self, now: datetime) -> bool:
        """True when the lease ran out, or the holder is a process of this host that is gone."""
        return self.expires_at <= now or holder_is_gone(self.holder)


def newest_snapshots(placements: Iterable[Placement]) -> dict[str, ObjectSnapshot]:
    """By object key, the snapshot of its most recently applied placement."""
    best: dict[str, Placement] = {}
    for placement in placements:
        old = best.get(placement.object_key)
        if old is None or _when(placement) >= _when(old):
            best[placement.object_key] = placement
    return {key: p.snapshot for key, p in best.items()}


def _when(placement: Placement) -> float:
    return placement.applied_at.timestamp() if placement.applied_at is not None else 0.0


class ServerBusy(OrchestraError):
    """Another apply holds a server of this plan; says which, who and since when."""

    def __init__(self, server: str, holder: str, since: datetime) -> None:
        self.server = server
        self.holder = holder
        self.since = since
        super().__init__(
            f"server {server} is being applied by {holder} since {since:%Y-%m-%d %H:%M:%S} UTC; "
            "wait for it to finish, or retry later"
        )


class NotFound(OrchestraError, KeyError):
    """The store holds nothing under this id; ``kind`` says what was looked up."""

    def __init__(self, id: str, *, kind: str = "operation log") -> None:
        self.id = id
        self.kind = kind
        super().__init__(f"no {kind} with id {id!r} in the store")

    def __str__(self) -> str:
        # KeyError would show the repr of the message; show the message itself.
        return str(self.args[0])


@runtime_checkable
class LogStore(Protocol):
    """Keeps operation logs. Safe to call from several threads."""

    def save_log(self, log: OperationLog) -> None:
        """Insert ``log``, or replace the stored log with the same ``id``."""
        ...

    def save_logs(self, logs: Sequence[OperationLog]) -> None:
        """:meth:`save_log` for each of ``logs``, all or none (one transaction): what the
        executor calls, once for a plan's new logs and once per server batch before and
        after it runs."""
        ...

    def get_log(self, id: str) -> OperationLog:
        """The log with this ``id``; :class:`NotFound` when there is none."""
        ...

    def list_logs(
        self,
        *,
        state: State | None = None,
        server: str | None = None,
        object_key: str | None = None,
        limit: int | None = None,
    ) -> list[OperationLog]:
        """Logs matching every given filter, newest (``created_at``) first, at most ``limit``."""
        ...

    def prune_logs(self, *, older_than: datetime) -> int:
        """Delete the logs created before ``older_than``; how many went."""
        ...

    def interrupt_logs(self, servers: Sequence[str]) -> int:
        """Mark the logs of these servers still ``received`` or ``started`` as
        ``interrupted`` (finished now, :data:`INTERRUPTED_NOTE` added to their stderr); how
        many. Called by an apply once it holds the servers' locks: a log is only written under
        its server's lock, so such a log belongs to an apply that is gone (a read-only run,
        which takes no lock, stores only final logs)."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """Keeps the applied state of objects and the topology of the last apply. Safe to call
    from several threads."""

    def placements(
        self,
        *,
        servers: Collection[str] | None = None,
        object_keys: Collection[str] | None = None,
    ) -> list[Placement]:
        """The applied placements (on these servers, of these objects, when given), in
        (object key, backend, server) order."""
        ...

    def record_placements(
        self,
        recorded: Sequence[Placement],
        forgotten: Sequence[PlacementKey] = (),
        *,
        contents: Mapping[str, str] | None = None,
    ) -> None:
        """In one transaction: insert or replace ``recorded`` (stamped applied now), forget
        ``forgotten`` (unknown ones are fine), and keep of ``contents`` (file content by its
        SHA-256) what the files of ``recorded`` name; content no placement names any more
        goes."""
        ...

    def file_contents(self, hashes: Iterable[str]) -> dict[str, str]:
        """The kept content of the files with these hashes (those it has)."""
        ...

    def applied(self) -> dict[str, ObjectSnapshot]:
        """By key, the snapshot of every object that has a placement (its newest one)."""
        ...

    def record_desired(self, snapshots: Sequence[ObjectSnapshot]) -> None:
        """Remember what was last asked of these objects (what a retry re-applies)."""
        ...

    def desired(self, key: str) -> ObjectSnapshot | None:
        """What was last asked of this object, or None."""
        ...

    # -- topology ---------------------------------------------------------------------------

    def save_topology(self, servers: Sequence[Server], routes: Sequence[Route]) -> None:
        """Replace the stored servers and routes with these (those of the latest apply)."""
        ...

    def servers(self) -> list[Server]:
        """The stored servers, in the order they were saved."""
        ...

    def routes(self) -> list[Route]:
        """The stored routes, in the order they were saved."""
        ...


@runtime_checkable
class LockStore(Protocol):
    """Keeps the leased locks that keep two applies off one server. Safe to call from
    several threads."""

    def lock_servers(
        self,
        names: Sequence[str],
        holder: str,
        *,
        wait: float = 0.0,
        lease: float = DEFAULT_LEASE,
    ) -> list[ServerLock]:
        """Take every server of ``names`` for ``holder`` for ``lease`` seconds, all or none.

        Waits up to ``wait`` seconds for servers another holder has, then raises
        :class:`ServerBusy` naming the first one still held. A holder's lock on a server is
        re-entrant (and renewed). A lock whose lease ran out, or whose holder is a process of
        this host that is gone, is taken over: the locks taken over are returned.
        """
        ...

    def renew_locks(
        self, names: Sequence[str], holder: str, *, lease: float = DEFAULT_LEASE
    ) -> int:
        """Extend ``holder``'s locks on ``names`` to ``lease`` seconds from now; how many it
        still held (fewer: another holder took one over after its lease ran out)."""
        ...

    def unlock_servers(self, names: Sequence[str], holder: str) -> None:
        """Give back the servers of ``names`` that ``holder`` holds."""
        ...

    def locks(self) -> list[ServerLock]:
        """Every lock held now (expired ones included), by server name."""
        ...

    def break_lock(self, server: str, holder: str) -> bool:
        """Remove the lock on ``server`` if ``holder`` (as :meth:`locks` showed it) still
        holds it: what ``orchestra unlock`` does. False when it did not."""
        ...


@runtime_checkable
class Store(LogStore, StateStore, LockStore, Protocol):
    """Every part: operation logs, the state of objects, the topology and locks; its
    ``usage`` keeps samples and what they led to (:class:`~orchestra_core.storage.usage.
    UsageStore`). Implementations are safe to call from several threads."""

    @property
    def usage(self) -> UsageStore:
        """The usage store kept beside the rest (samples, lifetimes, allocations, records)."""
        ...

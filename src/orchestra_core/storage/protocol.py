"""The store interface: operation logs, the last applied state of every object, the servers
and routes of the last apply, and the locks that keep two applies off the same server.

Every implementation (memory, SQLAlchemy on SQLite or PostgreSQL) passes the same contract
suite in ``tests/storage``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from orchestra_core.errors import OrchestraError
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.model.servers import Route, Server

if TYPE_CHECKING:
    from orchestra_core.storage.usage import UsageStore

__all__ = ["NotFound", "ObjectSnapshot", "ServerBusy", "Store", "holder_id", "holder_is_gone"]


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
class ObjectSnapshot:
    """An object as plain data: its key, its kind, its fields (``unstructure``d) and whether it
    was effectively active (itself and its account). What incremental plans compare."""

    key: str
    kind: str
    data: dict[str, Any]
    active: bool = True


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
class Store(Protocol):
    """Keeps operation logs, the state of objects, the topology and locks; its ``usage`` keeps
    samples and what they led to (:class:`~orchestra_core.storage.usage.UsageStore`).
    Implementations are safe to call from several threads."""

    @property
    def usage(self) -> UsageStore:
        """The usage store kept beside the rest (samples, lifetimes, allocations, records)."""
        ...

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

    # -- the state of objects ---------------------------------------------------------------

    def applied(self) -> dict[str, ObjectSnapshot]:
        """The last applied snapshot of every object, by key."""
        ...

    def record_applied(self, snapshots: Sequence[ObjectSnapshot]) -> None:
        """Remember these snapshots as applied (insert or replace by key)."""
        ...

    def forget_applied(self, keys: Sequence[str]) -> None:
        """Forget the applied snapshots of these keys (deleted objects); unknown keys are fine."""
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

    # -- locks ------------------------------------------------------------------------------

    def lock_servers(self, names: Sequence[str], holder: str, *, wait: float = 0.0) -> None:
        """Take every server of ``names`` for ``holder``, all or none.

        Waits up to ``wait`` seconds for servers another holder has, then raises
        :class:`ServerBusy` naming the first one still held. A holder's lock on a server is
        re-entrant. Locks of a process that is gone (same host) are taken over.
        """
        ...

    def unlock_servers(self, names: Sequence[str], holder: str) -> None:
        """Give back the servers of ``names`` that ``holder`` holds."""
        ...

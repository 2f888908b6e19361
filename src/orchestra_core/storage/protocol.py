"""The store interface: where operation logs are kept.

Every implementation (memory, SQLAlchemy) passes the same contract suite in
``tests/storage``. Later issues extend the protocol with servers, routes and applied state.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from orchestra_core.errors import OrchestraError
from orchestra_core.execution.results import OperationLog, State

__all__ = ["NotFound", "Store"]


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
    """Keeps operation logs. Implementations are safe to call from several threads."""

    def save_log(self, log: OperationLog) -> None:
        """Insert ``log``, or replace the stored log with the same ``id``."""
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

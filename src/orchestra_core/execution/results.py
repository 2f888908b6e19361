"""Operation logs: what happened to each planned operation, step by step."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

import attrs

__all__ = ["OperationLog", "State", "StepResult", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (time is UTC inside orchestra)."""
    return datetime.now(UTC)


class State(enum.StrEnum):
    """Life of an operation or a step.

    ``received`` (planned, queued), ``started`` (its batch is running), ``success`` (ran and
    changed something), ``nothing`` (ran, no change was needed), ``failure`` (a command exited
    non-zero), ``error`` (transport or internal error: retryable), ``timeout`` (killed after its
    time limit), ``aborted`` (not run, for certain, because an earlier step on the same
    server failed or timed out), ``unknown`` (it may or may not have run: its batch was cut
    off, by a lost connection or a server that stopped answering, before it reported; the
    next apply does it again), ``interrupted`` (its apply ended, killed or cut off from its
    store, before it finished: found and marked by the next apply of that server).
    """

    RECEIVED = "received"
    STARTED = "started"
    SUCCESS = "success"
    NOTHING = "nothing"
    FAILURE = "failure"
    ERROR = "error"
    TIMEOUT = "timeout"
    ABORTED = "aborted"
    UNKNOWN = "unknown"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        """True once the state can no longer change."""
        return self not in (State.RECEIVED, State.STARTED)

    @property
    def is_ok(self) -> bool:
        """True for the states that mean the work is done (``success`` and ``nothing``)."""
        return self in (State.SUCCESS, State.NOTHING)


@attrs.define(kw_only=True)
class StepResult:
    """The outcome of one step of a batch."""

    index: int
    kind: str
    description: str
    state: State = State.RECEIVED
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float | None = None


@attrs.define(kw_only=True)
class OperationLog:
    """The record of one planned operation on one server.

    ``script`` is the part of the batch that ran for it, with secrets redacted. A retry
    creates a new log whose ``retry_of`` names this one.
    """

    operation_id: str
    server: str
    backend: str
    action: str
    object_keys: tuple[str, ...]
    id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    state: State = State.RECEIVED
    script: str = ""
    steps: list[StepResult] = attrs.field(factory=list)
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    created_at: datetime = attrs.field(factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retry_of: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds between start and finish, once finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

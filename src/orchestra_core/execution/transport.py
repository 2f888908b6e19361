"""The transport interface: run one compiled batch on one server, in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from orchestra_core.backends.steps import Step
from orchestra_core.model.servers import Server

__all__ = ["Batch", "BatchResult", "Probe", "RawStepResult", "Transport"]


@attrs.frozen(kw_only=True)
class Batch:
    """One server's steps compiled into one bash script.

    ``script`` is what runs (it may hold secrets: send it on stdin or as a private file, never
    in argv); ``redacted`` is the same script with secrets replaced, for logs. ``nonce`` marks
    the result records in the script's output.
    """

    server: str
    steps: tuple[Step, ...]
    script: str
    redacted: str
    nonce: str


@attrs.frozen(kw_only=True)
class RawStepResult:
    """One step's outcome as reported by the batch: ``status`` is ``changed``, ``unchanged``,
    ``failed`` or ``timeout``."""

    index: int
    status: str
    exit_code: int
    stdout: str
    stderr: str
    duration: float


@attrs.frozen(kw_only=True)
class BatchResult:
    """What came back from a batch.

    ``steps`` holds the steps that reported. ``error`` is set when the transport failed
    (connect refused, killed, garbled output). ``timed_out`` is set when the whole batch hit
    its time limit. ``cut_off`` is set when the batch may have gone on past what it reported:
    the connection was lost, or the server stopped answering, after the batch was sent; the
    executor then marks every unreported step ``unknown``. Without it, the account is
    complete: a step that did not report did not run (after an ``error``, the unreported
    steps end ``error``; after a timeout, the step in flight ends ``timeout`` and the rest
    ``aborted``).
    """

    steps: tuple[RawStepResult, ...]
    exit_code: int | None = None
    stderr: str = ""
    error: str | None = None
    timed_out: bool = False
    cut_off: bool = False


@attrs.frozen(kw_only=True)
class Probe:
    """What ``orchestra servers test`` learns of a server: can it be reached, does it let us
    in, and which of the tools its backends need are missing."""

    reachable: bool
    authenticated: bool = False
    missing_tools: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the server is reachable, lets us in and has every tool."""
        return self.reachable and self.authenticated and not self.missing_tools and not self.error


@runtime_checkable
class Transport(Protocol):
    """Runs batches on servers. Implementations: ``local``, ``recording`` (and later ``ssh``).

    ``run`` must not raise for a failing script; it reports it in the result. It raises
    :class:`~orchestra_core.errors.TransportError` only for misuse it cannot report.
    """

    name: str

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        """Run ``batch`` on ``server`` and return its per-step results."""
        ...

    def probe(self, server: Server, tools: Sequence[str]) -> Probe:
        """Check that ``server`` can be reached and logged in to, and has ``tools``."""
        ...

    def close(self) -> None:
        """Release connections and processes; called when the engine is done."""
        ...

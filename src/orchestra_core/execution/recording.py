"""The ``recording`` transport: keeps every batch it is given and runs nothing.

Meant for unit tests of backends and of the executor: inspect ``batches`` to see what would
have run, and program results with :meth:`RecordingTransport.respond` and
:meth:`RecordingTransport.fail_connect`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import attrs

from orchestra_core.backends.steps import Step
from orchestra_core.execution.transport import Batch, BatchResult, Probe, RawStepResult
from orchestra_core.model.servers import Server

__all__ = ["RecordingTransport", "Response"]


def _server_name(server: Server | str | None) -> str | None:
    return server.name if isinstance(server, Server) else server


@attrs.frozen(kw_only=True)
class Response:
    """A programmed result for the steps it matches (``None`` criteria match anything)."""

    server: str | None = None
    description_contains: str | None = None
    kind: str | None = None
    status: str = "failed"
    exit_code: int = 1
    stdout: str = ""
    stderr: str = ""

    def matches(self, server: str, step: Step) -> bool:
        """True when this response applies to ``step`` on ``server``."""
        return (
            (self.server is None or self.server == server)
            and (self.kind is None or self.kind == step.kind)
            and (self.description_contains is None or self.description_contains in step.description)
        )


class RecordingTransport:
    """Records ``(server, batch)`` pairs in ``batches`` and returns programmed results.

    By default every step reports ``changed`` with exit code 0. The first matching
    :meth:`respond` rule decides a step's result; after a ``failed`` or ``timeout`` result the
    remaining steps do not report, as with the real script. Thread-safe.
    """

    name = "recording"

    def __init__(self) -> None:
        self.batches: list[tuple[Server, Batch]] = []
        self.responses: list[Response] = []
        self.refused: set[str] = set()
        self.closed = False
        self._lock = threading.Lock()

    def respond(
        self,
        server: Server | str | None = None,
        description_contains: str | None = None,
        kind: str | None = None,
        status: str = "failed",
        exit_code: int = 1,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        """Program the result of the steps matching ``server``, description and ``kind``."""
        if status not in ("changed", "unchanged", "failed", "timeout"):
            raise ValueError(f"unknown step status {status!r}")
        with self._lock:
            self.responses.append(
                Response(
                    server=_server_name(server),
                    description_contains=description_contains,
                    kind=kind,
                    status=status,
                    exit_code=exit_code,
                    stdout=stdout,
                    stderr=stderr,
                )
            )

    def fail_connect(self, server: Server | str) -> None:
        """Make every batch for ``server`` come back with ``error="connection refused"``."""
        name = _server_name(server)
        assert name is not None
        with self._lock:
            self.refused.add(name)

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        """Record the batch and return the programmed per-step results."""
        with self._lock:
            self.batches.append((server, batch))
            if server.name in self.refused:
                return BatchResult(steps=(), error="connection refused")
            responses = list(self.responses)
        results: list[RawStepResult] = []
        for index, step in enumerate(batch.steps):
            rule = next((r for r in responses if r.matches(server.name, step)), None)
            if rule is None:
                results.append(
                    RawStepResult(
                        index=index,
                        status="changed",
                        exit_code=0,
                        stdout="",
                        stderr="",
                        duration=0.0,
                    )
                )
                continue
            results.append(
                RawStepResult(
                    index=index,
                    status=rule.status,
                    exit_code=rule.exit_code,
                    stdout=rule.stdout,
                    stderr=rule.stderr,
                    duration=0.0,
                )
            )
            if rule.status in ("failed", "timeout"):
                break
        ok = all(r.status in ("changed", "unchanged") for r in results)
        return BatchResult(steps=tuple(results), exit_code=0 if ok else 1)

    def scripts(self, server: Server | str | None = None) -> list[str]:
        """The scripts recorded so far, optionally for one server only."""
        name = _server_name(server)
        with self._lock:
            return [b.script for s, b in self.batches if name is None or s.name == name]

    def probe(self, server: Server, tools: Sequence[str]) -> Probe:
        """Every server is fine: nothing is reached."""
        return Probe(reachable=True, authenticated=True)

    def close(self) -> None:
        """Mark the transport closed (tests may check that the engine closed it)."""
        self.closed = True

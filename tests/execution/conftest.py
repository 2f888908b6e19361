"""Fixtures for execution tests: a sandbox root per test and real bash runs under it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestra_core.backends.steps import Step
from orchestra_core.execution.local import LocalTransport, process_alive
from orchestra_core.execution.script import compile_batch
from orchestra_core.execution.transport import Batch, BatchResult
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import PlannedOperation, ServerPlan

RunSteps = Callable[..., BatchResult]


def server_plan(server: Server, *operations: tuple[Step, ...]) -> ServerPlan:
    """A server plan with one operation per tuple of steps."""
    return ServerPlan(
        server=server,
        operations=tuple(
            PlannedOperation(
                id=f"op{n}",
                server=server.name,
                backend="test",
                action="save",
                object_keys=(f"thing:{n}",),
                steps=steps,
            )
            for n, steps in enumerate(operations)
        ),
    )


def statuses(result: BatchResult) -> list[str]:
    """The status of every step that reported, in order."""
    return [step.status for step in result.steps]


def wait_gone(pid: int, limit: float = 10.0) -> bool:
    """Wait (bounded) for a killed process to disappear; True once it has."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The sandbox root (created by the transport on first use)."""
    return tmp_path / "root"


@pytest.fixture
def server(root: Path) -> Server:
    return Server(name="sandbox", root=str(root))


@pytest.fixture
def compile_steps(server: Server) -> Callable[..., Batch]:
    def _compile(*steps: Step, nonce: str | None = None) -> Batch:
        return compile_batch(server_plan(server, tuple(steps)), nonce=nonce)

    return _compile


@pytest.fixture
def run(server: Server, compile_steps: Callable[..., Batch]) -> RunSteps:
    """Compile steps into one batch and run it with the real local transport."""

    def _run(*steps: Step, timeout: float | None = 60.0, nonce: str | None = None) -> BatchResult:
        batch = compile_steps(*steps, nonce=nonce)
        return LocalTransport().run(server, batch, timeout=timeout)

    return _run

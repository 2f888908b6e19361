"""Fixtures for execution tests: a sandbox root per test and real bash runs under it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestra_core.backends.steps import Step
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.script import compile_batch
from orchestra_core.execution.transport import Batch, BatchResult
from orchestra_core.model.servers import Server
from tests.execution.helpers import RunSteps, server_plan


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

"""Helpers of the execution tests: server plans from steps, and what a batch reported.

Plain functions, imported by the tests and by ``conftest.py``. A test never imports a
conftest: pytest imports conftests itself, by a path of its own under importlib mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestra_core.backends.steps import Step
from orchestra_core.execution.local import process_alive
from orchestra_core.execution.transport import BatchResult
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import PlannedOperation, ServerPlan

__all__ = ["RunSteps", "server_plan", "statuses", "wait_gone"]

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

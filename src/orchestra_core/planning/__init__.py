"""Planning: change sets, routes, the planner and the plan it produces."""

from orchestra_core.planning.changeset import ChangeSet, Operation
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.planning.planner import Planner, dependency_order
from orchestra_core.planning.steps import (
    CANDIDATE,
    Command,
    DeleteFile,
    EnsureDirectory,
    Reload,
    Step,
    WriteFile,
)

__all__ = [
    "CANDIDATE",
    "ChangeSet",
    "Command",
    "DeleteFile",
    "EnsureDirectory",
    "Operation",
    "Plan",
    "PlannedOperation",
    "Planner",
    "Reload",
    "ServerPlan",
    "Step",
    "WriteFile",
    "dependency_order",
]

"""Planning: change sets, routes, the planner and the plan it produces.

Names are imported on first use: backends import :mod:`orchestra_core.backends.steps`, and
the planner imports backends, so this package must not import the planner eagerly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra_core.planning.changeset import ChangeSet, Operation
    from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
    from orchestra_core.planning.planner import Planner, dependency_order

_WHERE = {
    "ChangeSet": "changeset",
    "Operation": "changeset",
    "Plan": "plan",
    "PlannedOperation": "plan",
    "ServerPlan": "plan",
    "Planner": "planner",
    "dependency_order": "planner",
}

__all__ = [
    "ChangeSet",
    "Operation",
    "Plan",
    "PlannedOperation",
    "Planner",
    "ServerPlan",
    "dependency_order",
]


def __getattr__(name: str) -> object:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

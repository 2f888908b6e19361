"""The hook specifications of orchestra (pluggy project name ``orchestra``).

Four families contribute things (services, backends, resources, billing metrics); two event
hooks tell plugins what happened. Every hook is documented in ``docs/hooks.md`` and has a test of
its own (``tests/test_hooks_documented.py`` checks both).

A plugin is a module (or object) with functions marked by :data:`hookimpl`, registered through
the ``orchestra.plugins`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from orchestra_core.backends.base import Backend
    from orchestra_core.billing.metrics import BillingMetric
    from orchestra_core.execution.results import OperationLog
    from orchestra_core.model.service import Service
    from orchestra_core.planning.plan import Plan
    from orchestra_core.resources.definitions import Monitor, ResourceDefinition
    from orchestra_core.resources.evaluation import ResourceEvent

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "orchestra"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# services
# ---------------------------------------------------------------------------------------------


@hookspec
def orchestra_service_types() -> Sequence[type[Service]]:
    """Return the service types (attrs subclasses of ``Service``) this plugin defines.

    Called once, when plugins load. Each type's ``kind`` must be unique across all plugins; its
    ``plural`` names its inventory section.
    """


# ---------------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------------


@hookspec
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """Return the backend classes this plugin provides.

    Called once, when plugins load. Each backend's ``name`` must be unique across all plugins
    and its ``service_type`` must be registered by some plugin.
    """


# ---------------------------------------------------------------------------------------------
# resources
# ---------------------------------------------------------------------------------------------


@hookspec
def orchestra_monitors() -> Sequence[type[Monitor[Any, Any]]]:
    """Return the monitor classes this plugin provides (usage collectors).

    Called once, when plugins load. Each monitor's ``name`` must be unique.
    """


@hookspec
def orchestra_resources() -> Sequence[ResourceDefinition]:
    """Return the resource definitions this plugin provides.

    Called once, when plugins load, after the monitors; every monitor a resource names must
    be registered.
    """


# ---------------------------------------------------------------------------------------------
# billing metrics
# ---------------------------------------------------------------------------------------------


@hookspec
def orchestra_billing_metrics() -> Sequence[BillingMetric]:
    """Return the billing metrics this plugin provides.

    Called once, when plugins load, after the resources; every resource a metric names must be
    registered.
    """


# ---------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------


@hookspec
def orchestra_plan_ready(plan: Plan) -> None:
    """Called when the planner has produced a plan, before anything runs.

    The plan is immutable; the return value is ignored. Raising here stops the apply.
    """


@hookspec
def orchestra_operation_finished(log: OperationLog) -> None:
    """Called once per planned operation when it reaches a final state (success, nothing,
    failure, error, timeout, aborted), after its log is saved in the store.

    Called from the executor's worker threads: implementations must be thread-safe. The return
    value is ignored; an exception is logged, not propagated, so one bad plugin cannot stop an
    apply half way.
    """


@hookspec
def orchestra_resource_exceeded(event: ResourceEvent) -> None:
    """Called once when an object's usage of a resource goes over its allocation (not at every
    evaluation while it stays over), after the new state is saved and before the objects that
    depend on it are applied again with the allocation exceeded.

    The return value is ignored; an exception is logged, not propagated.
    """


@hookspec
def orchestra_resource_recovered(event: ResourceEvent) -> None:
    """Called once when an object's usage of a resource comes back within its allocation (or
    the allocation is raised above it), after the new state is saved and before the objects
    that depend on it are applied again without the restriction.

    The return value is ignored; an exception is logged, not propagated.
    """

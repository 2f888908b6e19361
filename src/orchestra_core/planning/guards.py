"""Guards a plan must pass before it runs: no mass deletion by mistake, no out-of-date plan.

A truncated or emptied inventory, or a route that no longer matches, reads to the planner as
"these objects are gone": it would delete them on their servers. :func:`check_deletes`
refuses a plan that deletes more than a limit (by default 10 objects or 10% of the applied
ones, whichever is larger) unless deletes are allowed; :func:`check_inventory` refuses an
inventory with no accounts or no services while objects are applied. :class:`StalePlan` is
what an apply raises when the applied state of its servers moved while it waited for them.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import attrs

from orchestra_core.errors import PlanningError
from orchestra_core.planning.plan import Plan

__all__ = [
    "DeleteLimit",
    "EmptyInventory",
    "StalePlan",
    "TooManyDeletes",
    "check_deletes",
    "check_inventory",
]


@attrs.frozen(kw_only=True)
class DeleteLimit:
    """How many objects a plan may delete without being told it may: ``objects`` or
    ``percent`` of the applied objects, whichever is larger."""

    objects: int = 10
    percent: float = 10.0

    def allowed(self, applied: int) -> int:
        """The most objects a plan may delete when ``applied`` objects are applied."""
        return max(self.objects, math.ceil(applied * self.percent / 100))

    def __str__(self) -> str:
        return f"{self.objects} objects or {self.percent:g}% of the applied ones"


def _listed(keys: Collection[str], most: int = 5) -> str:
    shown = sorted(keys)[:most]
    return ", ".join(shown) + (f" and {len(keys) - most} more" if len(keys) > most else "")


class TooManyDeletes(PlanningError):
    """The plan deletes more objects than its limit allows; ``deleted`` lists them."""

    def __init__(self, deleted: Collection[str], allowed: int, applied: int) -> None:
        self.deleted = tuple(sorted(deleted))
        self.allowed = allowed
        self.applied = applied
        super().__init__(
            f"the plan deletes {len(deleted)} of the {applied} applied objects, more than the "
            f"{allowed} allowed without asking ({_listed(deleted)}): if the inventory or a "
            "route is not what you meant, fix it; if they are to go, allow the deletes"
        )


class EmptyInventory(PlanningError):
    """An inventory with no accounts or no services, while objects are applied."""

    def __init__(self, what: str, applied: int) -> None:
        self.what = what
        self.applied = applied
        super().__init__(
            f"the inventory has no {what}, while {applied} objects are applied: applying it "
            "would delete every one of them (an empty or cut-off file?); if that is what you "
            "want, allow the deletes"
        )


class StalePlan(PlanningError):
    """The applied state of the plan's servers changed between planning and the moment the
    apply held their locks (another apply ran on them): plan again."""

    def __init__(self, servers: Collection[str]) -> None:
        self.servers = tuple(sorted(servers))
        super().__init__(
            "the applied state changed while this apply waited for servers "
            f"{', '.join(self.servers)} (another apply ran on them): the plan is out of date; "
            "plan again"
        )


def check_deletes(plan: Plan, applied: int, limit: DeleteLimit) -> None:
    """Raise :class:`TooManyDeletes` when ``plan`` deletes more objects than ``limit``."""
    deleted = plan.deleted_objects()
    allowed = limit.allowed(applied)
    if len(deleted) > allowed:
        raise TooManyDeletes(deleted, allowed, applied)


def check_inventory(accounts: int, services: int, applied: int) -> None:
    """Raise :class:`EmptyInventory` for an inventory with nothing while objects are applied."""
    if applied and not accounts:
        raise EmptyInventory("accounts", applied)
    if applied and not services:
        raise EmptyInventory("services", applied)

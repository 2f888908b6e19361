"""Usage of objects against their allocations: values per window, and crossings.

:func:`resource_values` folds each object's series over a window and adds its monitors up;
:func:`evaluate` compares every object of a resource's kind with its allocation and keeps the
outcome as a :class:`~orchestra_core.resources.ResourceState`. A crossing (over the allocation
after being within it, or back) is a :class:`ResourceEvent`, made once per crossing however
often the same usage is evaluated again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby

import attrs

from orchestra_core.model.service import Service
from orchestra_core.resources.definitions import ResourceDefinition, ResourceState
from orchestra_core.resources.periods import Period, parse_window, utc
from orchestra_core.resources.series import DaySummary, Point, Usage, fold
from orchestra_core.resources.usage import UsageLedger, UsageReader

__all__ = [
    "ResourceEvent",
    "evaluate",
    "resource_usages",
    "resource_values",
    "series_by_object",
]

#: Above this many objects, series are read for every object and filtered here: one scan
#: instead of a query with thousands of parameters.
_FILTER_LIMIT = 500


@attrs.frozen(kw_only=True)
class ResourceEvent:
    """An object's usage crossed its allocation: ``kind`` is ``exceeded`` or ``recovered``."""

    kind: str
    object_key: str
    account: str
    resource: str
    usage: float | None
    allocation: float | None
    at: datetime = attrs.field(converter=utc)

    def __str__(self) -> str:
        used, allowed = _number(self.usage), _number(self.allocation)
        return f"{self.object_key}: {self.resource} {self.kind} ({used} of {allowed})"


def _number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


def series_by_object(
    store: UsageReader, monitors: Sequence[str], period: Period, keys: Sequence[str] | None
) -> Iterator[tuple[str, list[list[Point | DaySummary]]]]:
    """Each object's series of ``monitors`` over ``period`` (one list of elements per
    monitor), object by object, for ``keys`` only when given."""
    wanted = None if keys is None else set(keys)
    query = list(keys) if keys is not None and len(keys) <= _FILTER_LIMIT else None
    series = store.iter_series(monitors, period.start, period.end, object_keys=query)
    for key, group in groupby(series, key=lambda s: s[0]):
        if wanted is None or key in wanted:
            yield key, [elements for _, _, elements in group]


def resource_usages(
    store: UsageReader,
    resource: ResourceDefinition,
    period: Period,
    keys: Sequence[str] | None = None,
) -> Iterator[tuple[str, list[Usage]]]:
    """Each object's usages over ``period``, one per monitor series of ``resource``, object by
    object (those of ``keys`` only, when given)."""
    for key, series in series_by_object(store, resource.monitors, period, keys):
        yield key, [fold(elements, period.start, period.end) for elements in series]


def resource_values(
    store: UsageReader, resource: ResourceDefinition, period: Period, keys: Sequence[str]
) -> dict[str, float | None]:
    """The resource's value for each of ``keys`` over ``period`` (None: nothing measured)."""
    values: dict[str, float | None] = dict.fromkeys(keys)
    for key, usages in resource_usages(store, resource, period, keys):
        values[key] = resource.value(usages)
    return values


def evaluate(
    store: UsageLedger,
    resources: Iterable[ResourceDefinition],
    objects: Iterable[Service],
    at: datetime,
) -> list[ResourceEvent]:
    """Compare every object with its allocation of every resource of its kind, at ``at``, and
    keep the states; the crossings since the last evaluation, in a stable order.

    The window of each resource ends at ``at`` and includes what was measured then. An object
    without an allocation (its own or the resource's default) is only measured; the first
    evaluation of one already over its allocation is a crossing too.
    """
    at = utc(at)
    allocations = store.allocations()
    previous = store.resource_states()
    by_kind: dict[str, list[Service]] = {}
    for obj in objects:
        by_kind.setdefault(obj.kind, []).append(obj)
    states: list[ResourceState] = []
    events: list[ResourceEvent] = []
    for resource in sorted(resources, key=lambda r: r.name):
        found = sorted(by_kind.get(resource.service_kind, ()), key=lambda o: o.key)
        if not found:
            continue
        # Evaluating at ``at`` sees what was measured at ``at``: the window ends just after.
        window = parse_window(resource.window, at + timedelta(microseconds=1))
        values = resource_values(store, resource, window, [obj.key for obj in found])
        for obj in found:
            allocation = allocations.get((obj.key, resource.name), resource.default_allocation)
            value = values[obj.key]
            exceeded = allocation is not None and value is not None and value > allocation
            before = previous.get((obj.key, resource.name))
            crossed = exceeded if before is None else before.exceeded != exceeded
            since = at if before is None or crossed else before.since
            states.append(
                ResourceState(
                    object_key=obj.key,
                    resource=resource.name,
                    exceeded=exceeded,
                    usage=value,
                    allocation=allocation,
                    since=since,
                    evaluated_at=at,
                )
            )
            if crossed:
                events.append(
                    ResourceEvent(
                        kind="exceeded" if exceeded else "recovered",
                        object_key=obj.key,
                        account=obj.account,
                        resource=resource.name,
                        usage=value,
                        allocation=allocation,
                        at=at,
                    )
                )
    store.save_resource_states(states)
    return events

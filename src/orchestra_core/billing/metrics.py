"""Billing metrics, and the usage records they make of a resource over a billing period.

A :class:`BillingMetric` names a resource and how a period of it is billed. For each object
that existed during the period (its :class:`~orchestra_core.resources.Lifetime`), it makes one
:class:`UsageRecord`: the account, the object, the metric's code, the period, the quantity in
the resource's unit, and an idempotency key that is the same whenever the same record is made
again, so that a billing system ingests it once however often it is exported.

Quantities, by the metric's aggregation (the resource's unless it says otherwise):

* ``average``: the time integral over the part of the period the object existed, divided by
  the whole period: a time-weighted average prorated by itself (GiB-months);
* ``sum``: the samples added up (a counter only counts while the object exists);
* ``last`` and ``max``: the value at the end, or the largest, times the part of the period
  the object existed when ``prorate`` (a mailbox created on the 21st of a 30-day month
  counts a third).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from orchestra_core.resources.definitions import Aggregation, ResourceDefinition
from orchestra_core.resources.periods import Period, utc
from orchestra_core.resources.series import Usage

__all__ = ["BillingMetric", "UsageRecord", "quantity"]


@attrs.frozen(kw_only=True)
class BillingMetric:
    """Turns a resource over a billing period into billable quantities.

    ``code`` is what the billing system knows the metric by (a Lago billable metric code);
    ``resource`` names a registered :class:`~orchestra_core.resources.ResourceDefinition`.
    ``aggregation`` overrides the resource's (a disk is checked by its ``last`` value but
    billed by its ``average``); ``prorate`` scales ``last`` and ``max`` by the part of the
    period the object existed. ``field`` is the property the quantity travels in (Lago's
    billable metric ``field_name``).
    """

    code: str
    resource: str
    unit: str
    description: str = ""
    aggregation: Aggregation | None = attrs.field(
        default=None, converter=attrs.converters.optional(Aggregation)
    )
    prorate: bool = True
    field: str = "quantity"


@attrs.frozen(kw_only=True)
class UsageRecord:
    """A billable quantity of one object for one metric and period.

    ``start`` and ``end`` are the billing period's; ``used_from`` and ``used_until`` the part of
    it the object existed. ``quantity`` is in the metric's ``unit`` (GiB-months for the average
    of a resource in GiB). ``idempotency_key`` is ``METRIC:OBJECT:PERIOD START``.
    """

    account: str
    object_key: str
    metric: str
    start: datetime = attrs.field(converter=utc)
    end: datetime = attrs.field(converter=utc)
    used_from: datetime = attrs.field(converter=utc)
    used_until: datetime = attrs.field(converter=utc)
    quantity: float
    unit: str
    idempotency_key: str

    @staticmethod
    def key_for(metric: str, object_key: str, start: datetime) -> str:
        """The idempotency key of a record."""
        return f"{metric}:{object_key}:{utc(start).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def quantity(
    metric: BillingMetric,
    resource: ResourceDefinition,
    usages: Sequence[Usage],
    period: Period,
    used: Period,
) -> float:
    """The quantity ``metric`` bills for one object whose monitors' ``usages`` were folded
    over ``used`` (the part of ``period`` the object existed), in the resource's unit."""
    aggregation = metric.aggregation or resource.aggregation
    if period.seconds <= 0:
        return 0.0
    share = used.seconds / period.seconds if metric.prorate else 1.0
    if aggregation is Aggregation.AVERAGE:
        amount = sum(u.integral for u in usages) / period.seconds
    elif aggregation is Aggregation.SUM:
        amount = sum(u.total for u in usages)
    elif aggregation is Aggregation.LAST:
        amount = sum(u.last or 0.0 for u in usages) * share
    else:
        amount = sum(u.maximum or 0.0 for u in usages) * share
    return amount * resource.scale

"""Billing metric definitions, registered through the billing-metrics hook family."""

from __future__ import annotations

import attrs

__all__ = ["BillingMetric"]


@attrs.frozen(kw_only=True)
class BillingMetric:
    """Turns a resource over a billing period into billable quantities.

    ``code`` is what the billing system knows the metric by (a Lago billable metric code);
    ``resource`` names a registered :class:`~orchestra_core.resources.ResourceDefinition`.
    """

    code: str
    resource: str
    unit: str
    description: str = ""

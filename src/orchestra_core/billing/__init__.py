"""Billing: how measured usage becomes billable quantities."""

from orchestra_core.billing.metrics import BillingMetric

__all__ = ["BillingMetric"]

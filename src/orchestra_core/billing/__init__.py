"""Billing: how measured usage becomes billable quantities."""

from orchestra_core.billing.metrics import BillingMetric, UsageRecord, quantity

__all__ = ["BillingMetric", "UsageRecord", "quantity"]

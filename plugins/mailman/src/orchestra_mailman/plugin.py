"""The ``mailman`` driver's plugin: mailing lists in Mailman 3 core and their addresses in
Postfix; the lists' subscribers and posts monitors, their resources and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.driver import Backend, BillingMetric, Monitor, ResourceDefinition, hookimpl
from orchestra_mailman.backends import MailmanList, MailmanPostfix
from orchestra_mailman.monitor import METRICS, MONITORS, RESOURCES


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``mailman-list`` for the list server, ``mailman-postfix`` for the mail server that
    delivers the list's addresses to it."""
    return [MailmanList, MailmanPostfix]


@hookimpl
def orchestra_monitors() -> Sequence[type[Monitor[Any, Any]]]:
    """Each list's subscribers (Mailman's REST API) and posts (Mailman's smtp.log)."""
    return list(MONITORS)


@hookimpl
def orchestra_resources() -> Sequence[ResourceDefinition]:
    """``list-subscribers`` and ``list-posts``."""
    return list(RESOURCES)


@hookimpl
def orchestra_billing_metrics() -> Sequence[BillingMetric]:
    """Subscribers (averaged over the period) and posts."""
    return list(METRICS)

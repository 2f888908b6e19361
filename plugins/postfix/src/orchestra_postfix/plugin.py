"""The ``postfix`` driver's plugin: mailboxes, addresses and a backup MX on Postfix and
Dovecot; the mailboxes' disk, traffic and messages monitors, their resources and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.driver import Backend, BillingMetric, Monitor, ResourceDefinition, hookimpl
from orchestra_postfix.backends import (
    PostfixAddress,
    PostfixMailbox,
    PostfixRelayAddress,
    PostfixRelayMailbox,
)
from orchestra_postfix.monitor import METRICS, MONITORS, RESOURCES


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``postfix-mailbox`` and ``postfix-address`` for a domain's mail server,
    ``postfix-relay-mailbox`` and ``postfix-relay-address`` for its backup MX."""
    return [PostfixMailbox, PostfixAddress, PostfixRelayMailbox, PostfixRelayAddress]


@hookimpl
def orchestra_monitors() -> Sequence[type[Monitor[Any, Any]]]:
    """The mailboxes' disk (``du`` of each home) and their mail from Postfix's log."""
    return list(MONITORS)


@hookimpl
def orchestra_resources() -> Sequence[ResourceDefinition]:
    """``mailbox-disk`` (its allocation enforced through the quota), ``mailbox-traffic``,
    ``mailbox-messages``."""
    return list(RESOURCES)


@hookimpl
def orchestra_billing_metrics() -> Sequence[BillingMetric]:
    """Mailbox storage (GiB-months) and traffic."""
    return list(METRICS)

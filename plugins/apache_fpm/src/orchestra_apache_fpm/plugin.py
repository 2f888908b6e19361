"""The ``apache_fpm`` driver's plugin: system users, web apps and websites on Apache 2.4 with
PHP-FPM; the websites' traffic and the web apps' disk monitors, their resources and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_apache_fpm.monitor import METRICS, MONITORS, RESOURCES
from orchestra_apache_fpm.users import ApacheSystemUser
from orchestra_apache_fpm.webapps import ApacheWebApp
from orchestra_apache_fpm.websites import ApacheWebsite
from orchestra_core.driver import (
    Backend,
    BillingMetric,
    Monitor,
    ResourceDefinition,
    hookimpl,
)


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``apache-systemuser``, ``apache-webapp`` and ``apache-website``."""
    return [ApacheSystemUser, ApacheWebApp, ApacheWebsite]


@hookimpl
def orchestra_monitors() -> Sequence[type[Monitor[Any, Any]]]:
    """The websites' bytes and requests from Apache's log, the web apps' disk."""
    return list(MONITORS)


@hookimpl
def orchestra_resources() -> Sequence[ResourceDefinition]:
    """``webapp-disk``, ``site-traffic``, ``site-requests``."""
    return list(RESOURCES)


@hookimpl
def orchestra_billing_metrics() -> Sequence[BillingMetric]:
    """Web app storage (GiB-months) and website traffic (GiB)."""
    return list(METRICS)

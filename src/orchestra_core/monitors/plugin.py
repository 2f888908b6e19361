"""The built-in ``monitors`` plugin: disk usage of homes and web roots, web traffic, their
resources and billing metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.billing.metrics import BillingMetric
from orchestra_core.hookspecs import hookimpl
from orchestra_core.monitors.disk import DiskUsage, WebDiskUsage
from orchestra_core.monitors.traffic import WebTraffic
from orchestra_core.resources.definitions import Aggregation, Monitor, ResourceDefinition

__all__ = ["HOME_DISK", "RESOURCES", "WEB_DISK", "WEB_TRAFFIC"]

GIB = 1 / 2**30

#: A home's disk usage, checked daily against its allocation (GiB).
HOME_DISK = ResourceDefinition(
    name="home-disk",
    service_kind="systemuser",
    monitors=(DiskUsage.name,),
    aggregation=Aggregation.LAST,
    unit="GiB",
    scale=GIB,
    verbose_name="Disk used by the home",
    window="1d",
    min_allocation=0,
)

#: A website's web root, checked daily against its allocation (GiB).
WEB_DISK = ResourceDefinition(
    name="web-disk",
    service_kind="website",
    monitors=(WebDiskUsage.name,),
    aggregation=Aggregation.LAST,
    unit="GiB",
    scale=GIB,
    verbose_name="Disk used by the web root",
    window="1d",
    min_allocation=0,
)

#: A website's traffic so far this month (GiB).
WEB_TRAFFIC = ResourceDefinition(
    name="web-traffic",
    service_kind="website",
    monitors=(WebTraffic.name,),
    aggregation=Aggregation.SUM,
    unit="GiB",
    scale=GIB,
    verbose_name="Web traffic this month",
    window="month",
    min_allocation=0,
)

RESOURCES = (HOME_DISK, WEB_DISK, WEB_TRAFFIC)


@hookimpl
def orchestra_monitors() -> Sequence[type[Monitor[Any, Any]]]:
    """``disk-usage`` (homes), ``web-disk-usage`` (web roots), ``web-traffic`` (logs)."""
    return [DiskUsage, WebDiskUsage, WebTraffic]


@hookimpl
def orchestra_resources() -> Sequence[ResourceDefinition]:
    """``home-disk``, ``web-disk`` and ``web-traffic``."""
    return list(RESOURCES)


@hookimpl
def orchestra_billing_metrics() -> Sequence[BillingMetric]:
    """Disk billed by its time-weighted average (GiB-months), traffic by its sum (GiB)."""
    return [
        BillingMetric(
            code="home_disk_gib_month",
            resource=HOME_DISK.name,
            unit="GiB-month",
            aggregation=Aggregation.AVERAGE,
            description="Disk used by homes, averaged over the month",
        ),
        BillingMetric(
            code="web_disk_gib_month",
            resource=WEB_DISK.name,
            unit="GiB-month",
            aggregation=Aggregation.AVERAGE,
            description="Disk used by web roots, averaged over the month",
        ),
        BillingMetric(
            code="web_traffic_gib",
            resource=WEB_TRAFFIC.name,
            unit="GiB",
            description="Bytes sent by websites",
        ),
    ]

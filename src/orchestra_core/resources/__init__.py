"""Resources: monitors that measure usage, the resources they feed, and their arithmetic."""

from orchestra_core.resources.definitions import (
    Aggregation,
    Allocation,
    Lifetime,
    Monitor,
    ResourceDefinition,
    ResourceState,
    Sample,
)
from orchestra_core.resources.periods import Period, parse_window
from orchestra_core.resources.series import DaySummary, Point, Usage, fold, summarize_day

__all__ = [
    "Aggregation",
    "Allocation",
    "DaySummary",
    "Lifetime",
    "Monitor",
    "Period",
    "Point",
    "ResourceDefinition",
    "ResourceState",
    "Sample",
    "Usage",
    "fold",
    "parse_window",
    "summarize_day",
]

"""Resource and monitor definitions, registered through the resources hook family.

The measuring and aggregating machinery lands with the resources issue; these are the shapes
plugins register today, checked when they load.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs

from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.planning.steps import Step

__all__ = ["Aggregation", "Monitor", "ResourceDefinition", "Sample"]


class Aggregation(enum.StrEnum):
    """How a resource folds the samples of a window into one value."""

    LAST = "last"
    SUM = "sum"
    AVERAGE = "average"  # time-weighted
    MAX = "max"


@attrs.frozen(kw_only=True)
class Sample:
    """One measured value of one object by one monitor."""

    monitor: str
    object_key: str
    value: float
    measured_at: datetime
    idempotency_key: str


class Monitor(ABC):
    """Measures usage on a server for a set of objects, in one collection script."""

    name: ClassVar[str]
    service_type: ClassVar[type[Service]]
    unit: ClassVar[str]

    @abstractmethod
    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        """The steps whose output :meth:`parse` turns into samples."""

    @abstractmethod
    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        """Samples from the collection script's standard output."""


@attrs.frozen(kw_only=True)
class ResourceDefinition:
    """A measured quantity of a service type: which monitors feed it and how they fold."""

    name: str
    service_kind: str
    monitors: tuple[str, ...]
    aggregation: Aggregation
    unit: str
    scale: float = 1.0
    verbose_name: str = ""

"""Monitors, resources and their records, registered through the resources hook family.

A :class:`Monitor` renders a read-only collection script for a set of objects on one server
and parses its output into :class:`Sample` s. A :class:`ResourceDefinition` says which monitors
feed a measured quantity of a service kind, how a window of their samples folds into one value
(:class:`Aggregation`, see :mod:`orchestra_core.resources.series`), in which unit and scale,
and how much of it an object may have (its allocation, bounded by ``min_allocation`` and
``max_allocation``). What crossing an allocation did is a :class:`ResourceState`; when an object
existed, for proration, a :class:`Lifetime`.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic

import attrs

from orchestra_core.backends.base import NoSettings, ServiceT, SettingsT
from orchestra_core.backends.steps import Step
from orchestra_core.errors import FieldError
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.resources.periods import parse_window, utc
from orchestra_core.resources.series import Usage

if TYPE_CHECKING:
    from orchestra_core.rendering.templates import Templates

__all__ = [
    "Aggregation",
    "Allocation",
    "Lifetime",
    "Monitor",
    "ResourceDefinition",
    "ResourceState",
    "Sample",
]


class Aggregation(enum.StrEnum):
    """How a resource folds the samples of a window into one value.

    ``last``: the value holding at the window's end (a gauge: disk usage); ``sum``: the samples
    added up (a counter's deltas: traffic); ``average``: the time-weighted average (a gauge
    billed per time held: GiB-months); ``max``: the largest value held.
    """

    LAST = "last"
    SUM = "sum"
    AVERAGE = "average"
    MAX = "max"

    def of(self, usage: Usage) -> float | None:
        """This aggregation of one series' :class:`Usage`; None when nothing is known."""
        if self is Aggregation.LAST:
            return usage.last
        if self is Aggregation.SUM:
            return usage.total
        if self is Aggregation.MAX:
            return usage.maximum
        return usage.average


@attrs.frozen(kw_only=True)
class Sample:
    """One measured value of one object by one monitor.

    ``idempotency_key`` names the measurement: storing a sample whose key is stored already
    replaces it (a counter's bucket read again when complete), and storing the same sample
    twice changes nothing.
    """

    monitor: str
    object_key: str
    value: float
    measured_at: datetime = attrs.field(converter=utc)
    idempotency_key: str


class Monitor(ABC, Generic[ServiceT, SettingsT]):
    """Measures usage on a server for a set of objects, in one read-only collection script.

    Typed like a backend, ``Monitor[Database, MySQLSettings]``: the objects it measures are of
    its ``service_type``, and its settings an instance of the settings class it reads.
    ``backend`` names the backend whose routes and settings it follows: objects are measured
    where that backend sends them, with that backend's settings there (the database size
    where the database lives). A monitor without one is routed by routes that name the
    monitor itself, with its own ``settings_class``.
    """

    name: ClassVar[str]
    service_type: ClassVar[type[Service]]
    unit: ClassVar[str]
    backend: ClassVar[str | None] = None
    settings_class: ClassVar[type[Any]] = NoSettings
    #: As a backend's (:attr:`Backend.settings_section`): the shared server block read first
    #: when a route names the monitor itself.
    settings_section: ClassVar[str | None] = None
    #: Commands a server needs for it (``orchestra servers test`` checks them).
    tools: ClassVar[tuple[str, ...]] = ()

    def gauge(self, object_key: str, value: float, measured_at: datetime) -> Sample:
        """A gauge's sample of ``object_key``: ``value`` measured at ``measured_at``, keyed by
        this monitor, the object and the time (a run repeated at the same time replaces it)."""
        return Sample(
            monitor=self.name,
            object_key=object_key,
            value=value,
            measured_at=measured_at,
            idempotency_key=f"{self.name}:{object_key}:{measured_at.isoformat()}",
        )

    def indexed_gauges(
        self, output: str, objects: Sequence[Service], measured_at: datetime
    ) -> list[Sample]:
        """A gauge per ``INDEX<TAB>NUMBER`` line of ``output`` (what a ``du`` of one folder per
        object prints), for the object at that index; other lines are passed over."""
        samples = []
        for line in output.splitlines():
            index, _, value = line.partition("\t")
            if (
                index.isascii()
                and index.isdigit()
                and int(index) < len(objects)
                and value.isascii()
                and value.isdigit()
            ):
                samples.append(self.gauge(objects[int(index)].key, float(value), measured_at))
        return samples

    def hourly(self, totals: Mapping[tuple[str, datetime], float]) -> list[Sample]:
        """A counter's samples: one per object and UTC hour of ``totals`` (``(object key,
        hour's start) -> amount``), stamped with the hour and keyed by it, so that the hour
        read again by a later run replaces its sample instead of adding to it."""
        return self._bucketed(totals, "%Y-%m-%dT%H")

    def daily(self, totals: Mapping[tuple[str, datetime], float]) -> list[Sample]:
        """As :meth:`hourly`, per UTC day (``(object key, day's start) -> amount``)."""
        return self._bucketed(totals, "%Y-%m-%d")

    def _bucketed(self, totals: Mapping[tuple[str, datetime], float], stamp: str) -> list[Sample]:
        return [
            Sample(
                monitor=self.name,
                object_key=key,
                value=value,
                measured_at=start,
                idempotency_key=f"{self.name}:{key}:{start.astimezone(UTC).strftime(stamp)}",
            )
            for (key, start), value in sorted(totals.items())
        ]

    @property
    def templates(self) -> Templates:
        """The templates of the monitor's package (``templates/`` beside its module)."""
        from orchestra_core.rendering.templates import Templates

        return Templates.for_object(self)

    @abstractmethod
    def render(
        self, objects: Sequence[ServiceT], server: Server, settings: SettingsT
    ) -> Sequence[Step]:
        """The read-only steps whose standard output :meth:`parse` turns into samples, for
        ``objects`` (all of its ``service_type``) on ``server``. ``settings`` are always an
        instance of the settings class (the backend's it follows, or its own).

        Pure, as a backend's rendering: no I/O, the same input the same steps.
        """

    @abstractmethod
    def parse(
        self, output: str, objects: Sequence[ServiceT], measured_at: datetime
    ) -> list[Sample]:
        """Samples from the collection script's standard output, for ``objects``.

        ``measured_at`` is when the run started (UTC); a counter stamps each sample with the
        start of the time bucket it counts instead, and keys it by that bucket.
        """


def _bound(
    _: ResourceDefinition, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must not be negative, not {value}")


@attrs.frozen(kw_only=True)
class ResourceDefinition:
    """A measured quantity of a service kind: which monitors feed it, how they fold, and how
    much of it an object may have.

    Each monitor's series is folded by ``aggregation`` over a window, the monitors' values are
    added up and multiplied by ``scale`` (bytes to GiB: ``1 / 2**30``), in ``unit``. ``window``
    is where usage is read against the allocation (``1d``, ``month``...). An object's allocation
    is its own, or ``default_allocation``; one set outside ``min_allocation`` ..
    ``max_allocation`` is refused.
    """

    name: str
    service_kind: str
    monitors: tuple[str, ...]
    aggregation: Aggregation = attrs.field(converter=Aggregation)
    unit: str
    scale: float = 1.0
    verbose_name: str = ""
    window: str = "1d"
    default_allocation: float | None = attrs.field(default=None, validator=_bound)
    min_allocation: float | None = attrs.field(default=None, validator=_bound)
    max_allocation: float | None = attrs.field(default=None, validator=_bound)

    def __attrs_post_init__(self) -> None:
        if not self.monitors:
            raise ValueError(f"resource {self.name!r} needs at least one monitor")
        parse_window(self.window, datetime(2000, 1, 1, tzinfo=UTC))  # refuses a bad one
        low, high = self.min_allocation, self.max_allocation
        if low is not None and high is not None and low > high:
            raise ValueError(f"resource {self.name!r}: min_allocation {low} > max {high}")
        if self.default_allocation is not None and self.check_allocation(
            "default", self.default_allocation
        ):
            raise ValueError(
                f"resource {self.name!r}: default_allocation {self.default_allocation} is "
                "outside min_allocation .. max_allocation"
            )

    def value(self, usages: Sequence[Usage]) -> float | None:
        """The resource's value from its monitors' usages over one window (one usage per
        monitor series), in its unit; None when no monitor knows anything."""
        known = [v for v in (self.aggregation.of(u) for u in usages) if v is not None]
        return sum(known) * self.scale if known else None

    def check_allocation(self, object_key: str, value: float) -> list[FieldError]:
        """Problems with ``value`` as the allocation of ``object_key`` (naming the field
        ``allocations[RESOURCE]``)."""
        field = f"allocations[{self.name}]"
        if not isinstance(value, int | float) or value != value:
            return [FieldError(object_key, field, f"{value!r} is not a number")]
        if value < 0:
            return [FieldError(object_key, field, f"{value} is negative")]
        if self.min_allocation is not None and value < self.min_allocation:
            return [
                FieldError(object_key, field, f"{value} {self.unit} is below {self.min_allocation}")
            ]
        if self.max_allocation is not None and value > self.max_allocation:
            return [
                FieldError(object_key, field, f"{value} {self.unit} is above {self.max_allocation}")
            ]
        return []


@attrs.frozen(kw_only=True)
class Allocation:
    """How much of ``resource`` the object ``object_key`` may have, in the resource's unit."""

    object_key: str
    resource: str
    value: float


@attrs.frozen(kw_only=True)
class ResourceState:
    """The last evaluation of one object's resource against its allocation.

    ``exceeded`` changes only when usage crosses the allocation; ``since`` is when it last did
    (when the object was first evaluated, before any crossing).
    """

    object_key: str
    resource: str
    exceeded: bool
    usage: float | None
    allocation: float | None
    since: datetime = attrs.field(converter=utc)
    evaluated_at: datetime = attrs.field(converter=utc)


@attrs.frozen(kw_only=True)
class Lifetime:
    """When an object existed: from ``started_at`` until ``ended_at`` (None: it still does).

    What proration reads, and what keeps a deleted object's last sample from holding for ever.
    """

    object_key: str
    kind: str
    account: str
    started_at: datetime = attrs.field(converter=utc)
    ended_at: datetime | None = attrs.field(default=None, converter=attrs.converters.optional(utc))

"""An account's usage over a period: per object and resource, the value, the allocation and a
value per day, for a panel or ``orchestra usage ACCOUNT``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from orchestra_core.resources.definitions import ResourceDefinition
from orchestra_core.resources.evaluation import series_by_object
from orchestra_core.resources.periods import Period, utc
from orchestra_core.resources.series import fold
from orchestra_core.resources.usage import UsageReader

__all__ = ["UsageLine", "account_usage", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"


@attrs.frozen(kw_only=True)
class UsageLine:
    """One object's use of one resource over a period (up to now, for a period going on).

    ``value`` is the resource's aggregation over the period, ``daily`` the same over each day
    (None for a day nothing is known of), ``allocation`` the object's or the resource's
    default, ``exceeded`` what the last evaluation found.
    """

    object_key: str
    kind: str
    resource: str
    unit: str
    value: float | None
    allocation: float | None
    exceeded: bool
    daily: tuple[float | None, ...]


def account_usage(
    store: UsageReader,
    resources: Mapping[str, ResourceDefinition],
    account: str,
    period: Period,
    *,
    now: datetime,
) -> list[UsageLine]:
    """Every object ``account`` had during ``period`` (by lifetime), with every resource of its
    kind; the period is cut at ``now`` when it goes on."""
    end = min(period.end, utc(now))
    seen = Period(period.start, max(end, period.start))
    lives = store.lifetimes(period.start, period.end, account=account)
    kinds = {life.object_key: life.kind for life in lives}
    allocations = store.allocations()
    states = store.resource_states()
    lines: list[UsageLine] = []
    for name in sorted(resources):
        resource = resources[name]
        keys = sorted(k for k, kind in kinds.items() if kind == resource.service_kind)
        if not keys:
            continue
        series = dict(series_by_object(store, resource.monitors, seen, keys))
        for key in keys:
            elements = series.get(key, [])
            value = resource.value([fold(e, seen.start, seen.end) for e in elements])
            daily = tuple(
                resource.value([fold(e, day.start, day.end) for e in elements])
                for day in _days(seen)
            )
            state = states.get((key, name))
            lines.append(
                UsageLine(
                    object_key=key,
                    kind=resource.service_kind,
                    resource=name,
                    unit=resource.unit,
                    value=value,
                    allocation=allocations.get((key, name), resource.default_allocation),
                    exceeded=bool(state and state.exceeded),
                    daily=daily,
                )
            )
    return lines


def _days(period: Period) -> list[Period]:
    days = []
    start = period.start
    while start < period.end:
        days.append(Period(start, min(start + timedelta(days=1), period.end)))
        start += timedelta(days=1)
    return days


def sparkline(values: Sequence[float | None]) -> str:
    """A one-line chart of ``values`` (a space where a value is unknown), highest as █."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0)
    if top <= 0:
        return "".join(" " if v is None else _BLOCKS[0] for v in values)
    return "".join(
        " " if v is None else _BLOCKS[min(len(_BLOCKS) - 1, int(v / top * (len(_BLOCKS) - 1)))]
        for v in values
    )

"""The hostile corpus: values that try to break out of quoting, formats or validation.

The values are data (``hostile.yaml`` beside this module), so that any driver's tests can feed
them to any field: each must be refused by validation with an error naming that field, or
land verbatim where it belongs while no canary file appears. :func:`corpus` gives them with
the canary's path filled in; the contract suite (:mod:`orchestra_core.testing.contract`) runs
them through every text field of a backend's objects.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import attrs

__all__ = ["CANARY", "HostileValue", "corpus", "hostile_values"]

#: The placeholder in ``hostile.yaml`` that stands for the canary file's path.
CANARY = "CANARY"


@attrs.frozen(kw_only=True)
class HostileValue:
    """One entry of the corpus: its ``name``, the ``value`` and ``why`` it is there."""

    name: str
    value: str
    why: str


@functools.cache
def _entries() -> tuple[tuple[str, str, str], ...]:
    import yaml

    text = resources.files(__package__).joinpath("hostile.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, Any]] = yaml.safe_load(text)
    entries = []
    for name, entry in data.items():
        value = str(entry["value"]) * int(entry.get("repeat", 1))
        entries.append((name, value, str(entry["why"])))
    return tuple(entries)


def hostile_values(canary: str) -> list[HostileValue]:
    """Every entry of the corpus, in file order, with :data:`CANARY` replaced by ``canary``
    (the path of a file that only a successful injection would create)."""
    return [
        HostileValue(name=name, value=value.replace(CANARY, canary), why=why)
        for name, value, why in _entries()
    ]


def corpus(canary: str) -> dict[str, str]:
    """The corpus as ``{name: value}``, with ``canary`` as the canary file's path."""
    return {entry.name: entry.value for entry in hostile_values(canary)}

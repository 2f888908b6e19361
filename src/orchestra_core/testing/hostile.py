"""The hostile corpus: values that try to break out of quoting, formats or validation.

The values are data (``hostile.yaml`` beside this module), so that any driver's tests can feed
them to any field: each must be refused by validation with an error naming that field, or
land verbatim where it belongs while no canary file appears. :func:`corpus` gives them with
the canary's path filled in; the contract suite (:mod:`orchestra_core.testing.contract`) runs
them through every text field of a backend's objects.

The entries marked ``for: match`` are route ``match`` expressions instead (:func:`hostile_matches`):
each asks for too much work (a huge number, text or width), a name no match sees, or a change to
the object it routes, and must be refused by ``orchestra validate`` at the route's file and line.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import attrs

__all__ = ["CANARY", "HostileValue", "corpus", "hostile_matches", "hostile_values"]

#: The placeholder in ``hostile.yaml`` that stands for the canary file's path.
CANARY = "CANARY"


@attrs.frozen(kw_only=True)
class HostileValue:
    """One entry of the corpus: its ``name``, the ``value`` and ``why`` it is there."""

    name: str
    value: str
    why: str


@functools.cache
def _entries() -> tuple[tuple[str, str, str, str], ...]:
    """``(name, value, why, for)`` of every entry, in file order; ``for`` is ``text`` (a
    value for a text field) or ``match`` (a route's match expression)."""
    import yaml

    text = resources.files(__package__).joinpath("hostile.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, Any]] = yaml.safe_load(text)
    entries = []
    for name, entry in data.items():
        value = str(entry["value"]) * int(entry.get("repeat", 1))
        entries.append((name, value, str(entry["why"]), str(entry.get("for", "text"))))
    return tuple(entries)


def hostile_values(canary: str) -> list[HostileValue]:
    """Every text value of the corpus, in file order, with :data:`CANARY` replaced by
    ``canary`` (the path of a file that only a successful injection would create)."""
    return [
        HostileValue(name=name, value=value.replace(CANARY, canary), why=why)
        for name, value, why, use in _entries()
        if use == "text"
    ]


def hostile_matches() -> list[HostileValue]:
    """Every route ``match`` expression of the corpus, in file order: each must be refused
    (``orchestra validate`` exits 2 naming the route's file and line, promptly, having built
    little) for a route of any backend; they read the object as ``obj``."""
    return [
        HostileValue(name=name, value=value, why=why)
        for name, value, why, use in _entries()
        if use == "match"
    ]


def corpus(canary: str) -> dict[str, str]:
    """The corpus as ``{name: value}``, with ``canary`` as the canary file's path."""
    return {entry.name: entry.value for entry in hostile_values(canary)}

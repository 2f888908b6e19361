"""What one evaluation of a route's ``match`` may cost: the values it builds and its time.

A match is a small test of an object; nothing it legitimately does builds much. So every
evaluation gets a :class:`Budget`: the characters and items of all the values its operators,
calls and filters build (:data:`MAX_UNITS` in all), numbers of at most :data:`MAX_INT_BITS`
bits, and :data:`MAX_SECONDS` of time. An operation whose result would exceed what is left
is refused *before* it runs (``'x' * 10**9`` allocates nothing), by the bound of what it can
build (:func:`measure` of its operands, its widths and counts); every result is then charged.
Time is checked at every attribute, item, call, operator and filter of the evaluation: no
single operation can run long once its result is bounded, so the clock bounds the rest.

This module only counts; :mod:`orchestra_core.planning.expressions` calls it from the
sandbox's hooks.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "MAX_INT_BITS",
    "MAX_SECONDS",
    "MAX_UNITS",
    "Budget",
    "ExpressionRefused",
    "format_spec_width",
    "measure",
    "percent_bound",
]

#: Characters and items that one evaluation may build, in all.
MAX_UNITS = 1_000_000
#: The largest number (in bits) an evaluation may compute: 2**1024 is about 1.8e308.
MAX_INT_BITS = 1024
#: Seconds one evaluation may take.
MAX_SECONDS = 1.0
#: How deeply :func:`measure` follows nested values before it calls them too big.
_MAX_DEPTH = 100


class ExpressionRefused(Exception):
    """An evaluation would build too much, compute too large a number, or took too long."""


class _Over(Exception):
    """Internal: :func:`measure` went past its cap."""


def measure(value: object, cap: int = MAX_UNITS) -> int:
    """The characters and items ``value`` holds when spelt out (a text's characters, a
    container's items and theirs, counted every time they appear, at least 1 for anything),
    or ``cap + 1`` as soon as it is more than ``cap``.

    ``[s] * 1000`` holds one string a thousand times: it measures ``1000 * len(s)``, what
    ``str()`` or a join of it would build. Shared values are measured once.
    """
    try:
        return _measure(value, cap, {}, 0)
    except _Over:
        return cap + 1


def _measure(value: object, cap: int, memo: dict[int, int], depth: int) -> int:
    if isinstance(value, (str, bytes, bytearray, range)):
        return max(1, len(value))
    if value is None or isinstance(value, (bool, int, float)):
        return 1
    known = memo.get(id(value))
    if known is not None:
        return known
    parts: Iterable[object]
    if isinstance(value, Mapping):
        parts = (part for item in value.items() for part in item)
    elif isinstance(value, (list, tuple, set, frozenset, deque)):
        parts = value
    elif attrs.has(type(value)):
        cls: Any = type(value)
        parts = (getattr(value, field.name, None) for field in attrs.fields(cls))
    else:
        return 1  # a function, a generator, an undefined: nothing spelt out
    if depth > _MAX_DEPTH:
        raise _Over
    memo[id(value)] = 1  # a value that contains itself counts once
    total = 1
    for part in parts:
        kind = type(part)
        if kind is str or kind is bytes:  # the common parts, without a call
            total += len(part) or 1  # type: ignore[arg-type]
        elif kind is int or kind is float or kind is bool or part is None:
            total += 1
        else:
            total += _measure(part, cap, memo, depth + 1)
        if total > cap:
            raise _Over
    memo[id(value)] = total
    return total


# One %-conversion: %(key)flags width .precision length type.
_PERCENT = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<type>.?)",
    re.DOTALL,
)
_DIGITS = re.compile(r"\d+")


def _number(digits: str) -> int:
    """A width or precision as written; one of more than 9 digits is over any budget."""
    return int(digits) if len(digits) <= 9 else MAX_UNITS * 10


def percent_bound(template: str | bytes, args: object) -> int:
    """The most ``template % args`` can build: its text, and for each conversion its width,
    precision and the spelt-out arguments. A ``*`` width is refused (it takes a width from
    the arguments)."""
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    size = measure(args)
    bound = len(text)
    for found in _PERCENT.finditer(text):
        if "*" in (found["width"], found["precision"]):
            raise ExpressionRefused("a '*' width or precision in a % format is not allowed")
        bound += _number(found["width"] or "0") + _number(found["precision"] or "0")
        bound += size if found["type"] != "%" else 0
        if bound > MAX_UNITS:
            break
    return bound


def format_spec_width(spec: str) -> int:
    """The widths and precisions a format spec (``>999``, ``.3f``) asks for, added up."""
    return sum(_number(digits) for digits in _DIGITS.findall(spec))


@attrs.define
class Budget:
    """What is left to one evaluation: ``units`` to build, until ``deadline`` (monotonic)."""

    deadline: float = attrs.field(factory=lambda: time.monotonic() + MAX_SECONDS)
    units: int = MAX_UNITS

    def tick(self) -> None:
        """Refuse to go on past the deadline."""
        if time.monotonic() > self.deadline:
            raise ExpressionRefused(f"the match ran longer than {MAX_SECONDS:g} s")

    def afford(self, units: int, what: str) -> None:
        """Refuse ``what`` when it would build more than is left."""
        if units > self.units:
            amount = f"{units:,}" if units <= MAX_UNITS else f"more than {MAX_UNITS:,}"
            left = f"; {self.units:,} left" if self.units < MAX_UNITS else ""
            raise ExpressionRefused(
                f"{what} would build {amount} characters or items "
                f"(a match may build {MAX_UNITS:,} in all{left})"
            )

    def bits(self, bits: int, what: str) -> None:
        """Refuse ``what`` when it would make a number of more than :data:`MAX_INT_BITS` bits."""
        if bits > MAX_INT_BITS:
            raise ExpressionRefused(
                f"{what} would make a number of {bits:,} bits (a match may use {MAX_INT_BITS})"
            )

    def charge(self, value: Any, what: str) -> Any:
        """Count ``value`` (just built by ``what``) against the budget, and return it."""
        self.tick()
        if isinstance(value, int) and not isinstance(value, bool):
            self.bits(value.bit_length(), what)
            return value
        units = measure(value, self.units)
        if units > self.units:  # measured up to what is left: say how much was there
            self.afford(measure(value), what)
        self.units -= units
        return value

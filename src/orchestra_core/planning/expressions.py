"""The sandbox route ``match`` expressions run in: immutable, and bounded in work and time.

:class:`MatchEnvironment` is jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`
(no internals, no unsafe calls, and no method that changes a list, dict or set: a match cannot
change the object it routes) with these limits, so that a hostile or careless expression is
refused with the route's file and line instead of hanging or filling memory:

* nothing is computed at compile time (``optimized=False``: jinja2 would otherwise fold
  ``10**(10**8)`` or ``'x' * 10**9`` into the compiled code while the inventory loads);
* every arithmetic operator goes through :meth:`~MatchEnvironment.call_binop`, every call
  through :meth:`~MatchEnvironment.call`, every filter and test through a guard, and every
  ``~`` through :meth:`~MatchEnvironment.concat`: each checks the bound of what it would
  build against the evaluation's :class:`~orchestra_core.planning.budget.Budget` before it
  runs (exponents, repetitions, widths of ``format``, ``%``, ``center``/``ljust``/``rjust``/
  ``zfill``, ``join``, ``replace``...), and charges what it built;
* only the globals ``range`` (at most 100,000 items) and ``dict``, and only the filters of
  :data:`FILTERS` (``lipsum``, ``cycler``, ``center``, ``indent``, ``wordwrap``, ``tojson``...
  are not there: a match tests an object, it does not lay out text);
* one evaluation (:func:`evaluate`) takes at most ``MAX_SECONDS``.
"""

from __future__ import annotations

import contextvars
import functools
import types
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.tests import TESTS as JINJA_TESTS

from orchestra_core.planning.budget import (
    Budget,
    ExpressionRefused,
    format_spec_width,
    measure,
    percent_bound,
)

__all__ = ["FILTERS", "MatchEnvironment", "evaluate"]

#: The filters a match may use: the ones that test or pick, none that lays out text.
FILTERS = frozenset(
    {
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "first", "float",
        "format", "int", "items", "join", "last", "length", "list", "lower", "map", "max",
        "min", "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr",
        "sort", "string", "sum", "title", "trim", "truncate", "unique", "upper", "wordcount",
    }
)  # fmt: skip

_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "match_budget", default=None
)


def _budget() -> Budget:
    """The running evaluation's budget (a fresh one for a use outside :func:`evaluate`)."""
    return _BUDGET.get() or Budget()


def evaluate(expression: TemplateExpression, variables: Mapping[str, Any]) -> bool:
    """Evaluate a compiled match with ``variables`` under a fresh budget: its truth value.

    Raises :class:`~orchestra_core.planning.budget.ExpressionRefused` for too much work,
    :class:`~jinja2.exceptions.SecurityError` for what the sandbox refuses, and whatever
    the expression raised (an undefined name, a division by zero).
    """
    token = _BUDGET.set(Budget())
    try:
        return bool(expression(**variables))
    finally:
        _BUDGET.reset(token)


class _ConcatGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to :meth:`MatchEnvironment.concat` (jinja2 joins it inline)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_bounded((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in a match: each field is paid for before it is formatted."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is None:
            return value
        budget = _budget()
        budget.afford(measure(value), "a format conversion")
        return budget.charge(super().convert_field(value, conversion), "a format conversion")

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = _budget()
        budget.afford(measure(value) + format_spec_width(format_spec), "a format field")
        return budget.charge(super().format_field(value, format_spec), "a format field")


def _str_method_bound(text: str | bytes, name: str, args: tuple[Any, ...]) -> int | None:
    """What the ``str``/``bytes`` method ``name`` can build, for the methods whose result
    can outgrow their operands; None for the others."""
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else 0
        return max(len(text), width) if isinstance(width, int) else None
    if name == "expandtabs":
        tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
        size = args[0] if args else 8
        return len(text) + tabs * size if isinstance(size, int) else None
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if not isinstance(old, type(text)) or not isinstance(new, type(text)):
            return None
        times = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            times = min(times, args[2])
        return len(text) + times * len(new)
    if name == "translate" and args:
        return len(text) * measure(args[0])
    return None


def _calling(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call that would build more than the budget has left; the arguments to call
    with (an iterable given to ``join`` is read once, here)."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    what = f"{name}()"
    budget = _budget()
    if isinstance(owner, (str, bytes, bytearray)):
        if name == "join" and len(args) == 1 and not kwargs:
            items = list(args[0])
            budget.afford(len(owner) * len(items) + measure(items), what)
            return (items,)
        positional = args + tuple(kwargs.values())
        bound = _str_method_bound(bytes(owner) if isinstance(owner, bytearray) else owner,
                                  name, positional)  # fmt: skip
        if bound is not None:
            budget.afford(bound, what)
    elif isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int):
            budget.afford(length, what)
    return args


def _filter_bound(
    name: str, value: Any, rest: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget
) -> Any:
    """Refuse the filter ``name`` of ``value`` when what it can build is over the budget; the
    value to filter (an iterable to join is read once, here; a value to format or replace in
    is made a text, as the filter would)."""
    what = f"the {name} filter"
    if name in ("replace", "format", "string") and not isinstance(value, str):
        budget.afford(measure(value), what)
        value = str(value)
    if name == "join" and not isinstance(value, str):
        value = list(value)
        sep = rest[0] if rest else kwargs.get("d", "")
        budget.afford(measure(value) + len(str(sep)) * len(value), what)
    elif name == "replace":
        bound = _str_method_bound(value, "replace", (*rest, *kwargs.values()))
        budget.afford(bound if bound is not None else len(value), what)
    elif name == "format":
        budget.afford(percent_bound(value, kwargs or rest), what)
    elif name == "sum":
        start = rest[1] if len(rest) > 1 else kwargs.get("start", 0)
        if not isinstance(start, (int, float)):
            raise ExpressionRefused("the sum filter adds numbers only")
    return value


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its argument checked before and its result charged after."""
    # jinja2 passes a context or environment first to a filter marked with pass_*: the
    # wrapper keeps that mark (functools.wraps copies it) and looks past it.
    lead = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    what = f"the {name} filter"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        head, value, rest = args[:lead], args[lead], args[lead + 1 :]
        value = _filter_bound(name, value, rest, kwargs, budget)
        return budget.charge(func(*head, value, *rest, **kwargs), what)

    return guarded


def _guard_test(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        return func(*args, **kwargs)

    return guarded


def _binop_bound(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left OPERATOR right`` when its result would be over the budget."""
    budget = _budget()
    what = f"the {operator} operator"
    sequences = (str, bytes, list, tuple)
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1:
            budget.bits((abs(left).bit_length() - 1) * right, what)
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            budget.bits(abs(left).bit_length() + abs(right).bit_length(), what)
        elif isinstance(left, sequences) and isinstance(right, int):
            budget.afford(measure(left) * max(right, 0), what)
        elif isinstance(right, sequences) and isinstance(left, int):
            budget.afford(measure(right) * max(left, 0), what)
    elif operator == "%" and isinstance(left, (str, bytes)):
        budget.afford(percent_bound(left, right), what)


class MatchEnvironment(ImmutableSandboxedEnvironment):
    """The environment of route matches (see the module's documentation)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    code_generator_class = _ConcatGenerator

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, optimized=False, autoescape=False)
        self.globals = {"range": self.globals["range"], "dict": dict}
        self.filters = {name: _guard_filter(name, JINJA_FILTERS[name]) for name in FILTERS}
        self.tests = {name: _guard_test(test) for name, test in JINJA_TESTS.items()}  # type: ignore[arg-type]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """An arithmetic operator, refused when its result would be over the budget."""
        _budget().tick()
        _binop_bound(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        return _budget().charge(result, f"the {operator} operator")

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call, refused when what it can build is over the budget; its result charged."""
        budget = _budget()
        budget.tick()
        if not self.is_safe_callable(obj):
            raise SecurityError(f"{obj!r} is not safely callable")
        args = _calling(obj, args, kwargs)
        name = getattr(obj, "__name__", "a call")
        return budget.charge(context.call(obj, *args, **kwargs), f"{name}()")

    def getattr(self, obj: Any, attribute: str) -> Any:
        """An attribute, on the clock."""
        _budget().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """An item, on the clock."""
        _budget().tick()
        return super().getitem(obj, argument)

    def concat_bounded(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ ...``: the texts of the parts, paid for before they are joined."""
        budget = _budget()
        budget.afford(sum(measure(part) for part in parts), "the ~ operator")
        text = "".join(str(part) for part in parts)  # str() of an undefined part raises
        return budget.charge(text, "the ~ operator")  # type: ignore[no-any-return]

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``str.format_map`` of a match, through a bounded formatter."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            return None
        if value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        text: str = value.__self__
        formatter = _BoundedFormatter(self)
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return str(formatter.vformat(text, (), args[0]))
            return str(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(bounded, value)

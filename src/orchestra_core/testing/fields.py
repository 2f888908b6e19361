"""Find every text field of an object, and put a value into one: how hostile values are fed.

A field is named by a path the way :class:`~orchestra_core.errors.FieldError` names it:
``name``, ``domains[0]``, ``records[0].values[0]``, ``options[memory_limit]``. Text fields are
the ``str`` and ``str | None`` attributes of attrs classes, the first item of their
``tuple[str, ...]`` attributes (an empty tuple gets one item), the values of their
``dict[str, str]`` attributes, and the same inside nested attrs objects (the first item of a
tuple of them).
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, TypeVar

import attrs

__all__ = ["replace_field", "text_fields"]

T = TypeVar("T")

_FIRST = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]*)\]")


def text_fields(obj: Any) -> list[str]:
    """The path of every text field of the attrs object ``obj``, in field order."""
    hints = typing.get_type_hints(type(obj))
    paths: list[str] = []
    for field in attrs.fields(type(obj)):
        if not field.init:
            continue
        paths += _paths(field.name, hints.get(field.name, Any), getattr(obj, field.name))
    return paths


def _paths(path: str, hint: Any, value: Any) -> list[str]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is str or (_is_union(origin) and str in args and _only_str_or_none(args)):
        return [path]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if item is str:
            return [f"{path}[0]"]
        if attrs.has(item) and value:
            return [f"{path}[0].{sub}" for sub in text_fields(value[0])]
        return []
    if origin is dict and args == (str, str):
        return [f"{path}[{key}]" for key in list(value or {})[:1]]
    if attrs.has(hint) and value is not None:
        return [f"{path}.{sub}" for sub in text_fields(value)]
    return []


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def _only_str_or_none(args: tuple[Any, ...]) -> bool:
    return all(a in (str, type(None)) for a in args)


def replace_field(obj: T, path: str, value: str) -> T:
    """A copy of ``obj`` with ``value`` at ``path`` (one of :func:`text_fields`)."""
    first = _FIRST.match(path)
    rest = list(_TOKEN.finditer(path, first.end())) if first else []
    if first is None or first.end() + sum(len(m[0]) for m in rest) != len(path):
        raise ValueError(f"not a field path: {path!r}")
    tokens = [(first[0], None), *((m[1], m[2]) for m in rest)]
    try:
        return typing.cast(T, _replace(obj, tokens, value))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} is not a field of {type(obj).__name__}: {exc}") from exc


def _replace(current: Any, tokens: list[tuple[str | None, str | None]], value: str) -> Any:
    (name, key), rest = tokens[0], tokens[1:]
    if name:
        inner = getattr(current, name)
        return attrs.evolve(current, **{name: _replace(inner, rest, value) if rest else value})
    assert key is not None
    if isinstance(current, dict):
        return {**current, key: _replace(current[key], rest, value) if rest else value}
    items = list(current or ())
    index = int(key)
    if index == len(items) and not rest:
        items.append(value)
    else:
        items[index] = _replace(items[index], rest, value) if rest else value
    return tuple(items)

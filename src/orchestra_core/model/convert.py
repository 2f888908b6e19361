"""Conversion between service objects and plain data (JSON, YAML, form posts).

One configured :class:`cattrs.Converter` turns mappings into accounts and services and back.
It is strict, because plain data comes from people: a string is never made from a number
(``php_version: 8.10`` in YAML is the float 8.1), a bool only from a bool (``"false"`` is not
False), a list from a string (``values: 192.0.2.1``) is refused, and an unknown key is an
error. Every problem becomes a :class:`~orchestra_core.errors.FieldError` whose field is a path
such as ``records[2].values[0]`` (``options[memory_limit]`` for a mapping key).

Structuring checks types only; ``obj.check()`` checks values.
"""

from __future__ import annotations

import datetime
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from orchestra_core.errors import FieldError, ValidationError
from orchestra_core.model.service import Account, Service

__all__ = [
    "converter",
    "describe_type",
    "field_path",
    "structure_account",
    "structure_object",
    "structure_service",
    "unstructure",
]

S = TypeVar("S", bound=Service)
T = TypeVar("T")
_WHOLE = "<object>"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _WrongType(TypeError):
    """A value of the wrong type; the message says what was expected and what came."""

    def __init__(self, expected: Any, value: object) -> None:
        self.got = kind_of(value)
        super().__init__(f"expected {describe_type(expected)}, got {self.got}")


class _Unreadable(ValueError):
    """A value of the right type that nothing downstream can hold (a lone surrogate)."""


def _text(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _WrongType(str, value)
    found = _SURROGATE.search(value)
    if found is not None:
        raise _Unreadable(
            f"holds a lone surrogate {found.group()!r}, which is not a character: no file, "
            "script or log can hold it"
        )
    return value


def kind_of(value: object) -> str:
    """How an error message names the type of a plain value ("a mapping", "a string"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, datetime.date):
        return "a date (quote it for a string)"
    return type(value).__name__


def describe_type(tp: Any) -> str:
    """How an error message names a field type: ``a string``, ``a list of strings``..."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [describe_type(a) for a in args if a is not type(None)]
        suffix = " or null" if type(None) in args else ""
        return " or ".join(inner) + suffix
    if origin is tuple or origin is list:
        return f"a list of {_plural(describe_type(args[0]))}" if args else "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number"}
    if tp in names:
        return names[tp]
    if tp is Any:
        return "any value"
    if attrs.has(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _plural(description: str) -> str:
    word = description.removeprefix("a ").removeprefix("an ")
    if word.startswith("mapping ("):
        return "mappings " + word.removeprefix("mapping ")
    return {"true or false": "booleans"}.get(word, word + "s")


def _strict(tp: type, accept: Callable[[object], bool]) -> Callable[[object, type], Any]:
    def hook(value: object, _: type) -> Any:
        if not accept(value):
            raise _WrongType(tp, value)
        return value

    return hook


def _is_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple


def _is_dict(tp: Any) -> bool:
    return typing.get_origin(tp) is dict


def _tuple_hook(conv: cattrs.Converter, tp: Any) -> Callable[[object, type], tuple[Any, ...]]:
    args = typing.get_args(tp)
    if len(args) != 2 or args[1] is not Ellipsis:
        raise TypeError(f"only homogeneous tuples are supported, not {tp!r}")
    item_type = args[0]

    def hook(value: object, _: type) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _WrongType(tp, value)
        out: list[Any] = []
        errors: list[Exception] = []
        for i, item in enumerate(value):
            try:
                out.append(conv.structure(item, item_type))
            except Exception as exc:
                note = IterableValidationNote(f"Structuring {tp!r} @ index {i}", i, item_type)
                exc.add_note(note)
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return tuple(out)

    return hook


def _dict_hook(conv: cattrs.Converter, tp: Any) -> Callable[[object, type], dict[Any, Any]]:
    key_type, value_type = typing.get_args(tp) or (Any, Any)

    def hook(value: object, _: type) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise _WrongType(dict, value)
        out: dict[Any, Any] = {}
        errors: list[Exception] = []
        for key, item in value.items():
            try:
                out[conv.structure(key, key_type)] = conv.structure(item, value_type)
            except Exception as exc:
                shown = key if isinstance(key, str) and key.isprintable() else "?"
                exc.add_note(IterableValidationNote(f"Structuring {tp!r} @ key", shown, value_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return out

    return hook


def _attrs_hook(conv: cattrs.Converter, cls: type[Any]) -> Callable[[object, type], Any]:
    inner = make_dict_structure_fn(cls, conv)

    def hook(value: object, _: type) -> Any:
        if not isinstance(value, Mapping):
            raise _WrongType(cls, value)
        return inner(value, cls)

    return hook


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, unstruct_collection_overrides={tuple: list})
    conv.register_structure_hook(str, _text)
    conv.register_structure_hook(bool, _strict(bool, lambda v: isinstance(v, bool)))
    conv.register_structure_hook(
        int, _strict(int, lambda v: isinstance(v, int) and not isinstance(v, bool))
    )
    conv.register_structure_hook(
        float, _strict(float, lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    )
    conv.register_structure_hook_factory(_is_tuple, lambda tp: _tuple_hook(conv, tp))
    conv.register_structure_hook_factory(_is_dict, lambda tp: _dict_hook(conv, tp))
    conv.register_structure_hook_factory(attrs.has, lambda cls: _attrs_hook(conv, cls))
    return conv


#: The one converter for accounts, services and their parts (records, website contents).
converter = _make_converter()


def field_path(parts: list[str | int]) -> str:
    """``["records", 2, "values", 0]`` as ``records[2].values[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("["):
            out += part
        else:
            out += f".{part}" if out else part
    return out


def _walk(exc: BaseException, path: list[str | int], out: list[tuple[str, str]]) -> None:
    """Flatten a cattrs error tree into (field path, message) pairs."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                _walk_leaf(sub, [*path, note.name], note.type, out)
            elif isinstance(note, IterableValidationNote):
                step: str | int = note.index if isinstance(note.index, int) else f"[{note.index}]"
                _walk_leaf(sub, [*path, step], note.type, out)
        for sub in without:
            _walk(sub, path, out)
    elif isinstance(exc, ForbiddenExtraKeysError):
        for name in sorted(exc.extra_fields, key=str):
            known = ", ".join(f.name for f in attrs.fields(exc.cl))
            shown = repr(name if isinstance(name, str) else repr(name))
            if len(shown) > 80:  # a 10 kB key must not flood the terminal
                shown = f"{shown[:80]}... ({len(str(name))} characters)"
            out.append(
                (
                    field_path([*path, str(name)]),
                    f"unknown field {shown} (known fields: {known})",
                )
            )
    elif isinstance(exc, BaseExceptionGroup):
        for member in exc.exceptions:
            _walk(member, path, out)
    else:
        _walk_leaf(exc, path, None, out)


def _walk_leaf(
    exc: BaseException, path: list[str | int], tp: Any, out: list[tuple[str, str]]
) -> None:
    where = field_path(path) or _WHOLE
    if isinstance(exc, ClassValidationError | IterableValidationError | ForbiddenExtraKeysError):
        _walk(exc, path, out)
    elif isinstance(exc, _WrongType) and tp is not None:
        # the field's type says more than the hook's (``an integer or null``)
        out.append((where, f"expected {describe_type(tp)}, got {exc.got}"))
    elif isinstance(exc, _WrongType | _Unreadable):
        out.append((where, str(exc)))
    elif isinstance(exc, KeyError) and tp is not None:
        out.append((where, f"is required ({describe_type(tp)})"))
    elif tp is not None:
        out.append((where, f"expected {describe_type(tp)}"))
    elif isinstance(exc, AttributeError | TypeError):
        out.append((where, "expected a mapping"))
    else:
        out.append((where, f"invalid value: {exc}"))


def _guess_key(cls: type[Any], data: object) -> str:
    """The object's key from raw data, as well as it can be told; ``KIND:?`` otherwise."""
    kind = str(getattr(cls, "kind", cls.__name__.lower()))
    if not isinstance(data, Mapping):
        return f"{kind}:?"
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if isinstance(data.get(field.name), str):
            values[field.name] = data[field.name]
        elif isinstance(field.default, str):
            values[field.name] = field.default
    try:
        prop = getattr(cls, "identity", None)
        if isinstance(prop, property) and prop.fget is not None:
            identity = prop.fget(types.SimpleNamespace(**values))
        else:
            identity = values["name"]
    except Exception:
        return f"{kind}:?"
    if not isinstance(identity, str) or not identity.isprintable() or len(identity) > 255:
        return f"{kind}:?"
    return f"{kind}:{identity}"


def _structure(data: Mapping[str, Any], cls: type[Any]) -> Any:
    key = _guess_key(cls, data)
    if not isinstance(data, Mapping):
        raise ValidationError([FieldError(key, _WHOLE, f"expected a mapping, got {kind_of(data)}")])
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        found: list[tuple[str, str]] = []
        _walk(exc, [], found)
        if not found:  # pragma: no cover - cattrs raised something we do not know
            found = [(_WHOLE, f"invalid: {exc}")]
        raise ValidationError([FieldError(key, f, m) for f, m in found]) from exc


def structure_object(data: Mapping[str, Any], cls: type[T]) -> T:
    """Build any attrs class of the model (a server, a route) from plain data, strictly."""
    obj: T = _structure(data, cls)
    return obj


def structure_service(data: Mapping[str, Any], cls: type[S]) -> S:
    """Build a service of ``cls`` from plain data; :class:`ValidationError` names each field."""
    obj: S = _structure(data, cls)
    return obj


def structure_account(data: Mapping[str, Any]) -> Account:
    """Build an account from plain data; :class:`ValidationError` names each field."""
    account: Account = _structure(data, Account)
    return account


def unstructure(obj: object) -> dict[str, Any]:
    """Plain JSON-able data of an account or service; :func:`structure_service` takes it back."""
    data = converter.unstructure(obj)
    if not isinstance(data, dict):
        raise TypeError(f"{type(obj).__name__} does not unstructure to a mapping")
    return data

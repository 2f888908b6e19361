"""Backend settings: an attrs class per backend, defaults overridden by server and route.

Values are strict, as in the rest of an inventory: a string setting takes a string (YAML reads
``file_mode: 0644`` as the number 420), a boolean ``true`` or ``false`` (``"no"`` is not
false), a number a number, a list a list (``checker: named-checkzone`` is not a list of one
command, nor of its letters). An unknown setting, a value of the wrong type and a value that a
validator refuses are each a :class:`SettingProblem` in an operator's words (``unknown setting
'file_mod' of backend dummy-databaseuser (did you mean 'file_mode'?)``, ``setting 'port' must
be an integer, got 'abc'``), raised together as a :class:`SettingsError`, which the inventory
loader places at the file and line of the offending key.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError, ForbiddenExtraKeysError

from orchestra_core.errors import ConfigurationError, FieldError
from orchestra_core.model import checks
from orchestra_core.model.convert import describe_type, kind_of

__all__ = [
    "SettingProblem",
    "SettingsError",
    "absolute_path",
    "any_absolute_path",
    "build_settings",
    "command",
    "program",
]


@attrs.frozen
class SettingProblem:
    """One problem with settings: the setting's name (None when it is not known which), what is
    wrong, and its kind: ``unknown`` (no such setting), ``type`` (a value of the wrong type),
    ``invalid`` (a validator refused the value) or ``missing`` (a required setting)."""

    setting: str | None
    message: str
    kind: str


class SettingsError(ConfigurationError):
    """Settings that do not fit a backend's settings class; ``problems`` names each setting."""

    def __init__(self, where: str, problems: Sequence[SettingProblem]) -> None:
        self.where = where
        self.problems = tuple(problems)
        super().__init__(f"settings of {where}: " + "; ".join(p.message for p in self.problems))


# -- validators for drivers' settings classes (attrs ``validator=``) -----------------------------
# What a server would refuse at apply, refused where the setting is written instead.


def absolute_path(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """An absolute path on the server, of plain characters, without ``..`` (None passes)."""
    errors: list[FieldError] = []
    if value is not None and not checks.path_field(errors, "", attribute.name, value):
        raise ValueError(errors[0].message)


def any_absolute_path(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """An absolute path of any characters (None passes): for a path that reaches only
    scripts, which quote it; a relative one has no meaning on a server."""
    if value is not None and not value.startswith("/"):
        raise ValueError(f"{_quote(value)} is not an absolute path (it must start with '/')")


def program(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """A program to run: one word, a name on the server's ``PATH`` or a path."""
    if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
        raise ValueError(f"'{attribute.name}' must be a program (one word), got {_quote(value)}")


def command(_: object, attribute: attrs.Attribute[Any], value: Sequence[str]) -> None:
    """A program and its arguments (``[rndc, -c, FILE]``): at least the program."""
    if not value:
        raise ValueError(
            f"'{attribute.name}' must name a program and its arguments, as [rndc, -c, FILE]"
        )
    program(None, attribute, value[0])
    for word in value[1:]:
        if not word.isprintable():
            raise ValueError(f"'{attribute.name}' holds a control character: {_quote(word)}")


def _strict(accept: Callable[[object], bool], make: Callable[[Any], Any]) -> Any:
    def hook(value: object, tp: type) -> Any:
        if not accept(value):
            raise TypeError(f"expected {describe_type(tp)}, got {kind_of(value)}")
        return make(value)

    return hook


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_sequence(tp: Any) -> bool:
    """A homogeneous ``tuple[X, ...]`` or ``list[X]``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return len(args) == 1
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis


def _sequence_hook(tp: Any) -> Callable[[object, type], Any]:
    origin, item = typing.get_origin(tp), typing.get_args(tp)[0]

    def hook(value: object, _: type) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
            raise TypeError(f"expected {describe_type(tp)}, got {kind_of(value)}")
        return origin(_converter.structure(v, item) for v in value)

    return hook


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(str, _strict(lambda v: isinstance(v, str), str))
_converter.register_structure_hook(bool, _strict(lambda v: isinstance(v, bool), bool))
_converter.register_structure_hook(
    int, _strict(lambda v: isinstance(v, int) and not isinstance(v, bool), int)
)
_converter.register_structure_hook(float, _strict(_is_number, float))
_converter.register_structure_hook_factory(_is_sequence, _sequence_hook)


def build_settings(
    settings_class: type[Any],
    *layers: Mapping[str, Any],
    where: str,
    subject: str | None = None,
) -> Any:
    """An instance of ``settings_class`` from layered overrides (later layers win).

    ``where`` names the source (``backend dummy-domain on server web1``) for the error's
    message; ``subject`` is whose settings they are (``backend dummy-domain``), for an unknown
    setting's. Anything that does not fit is a :class:`SettingsError` listing every problem.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, Mapping):
            message = f"settings must be a mapping, got {kind_of(layer)}"
            raise SettingsError(where, [SettingProblem(None, message, "type")])
        merged.update(layer)
    try:
        return _converter.structure(merged, settings_class)
    except Exception as exc:  # cattrs raises ClassValidationError, a class its own errors
        problems = _problems(exc, settings_class, merged, subject)
        raise SettingsError(where, problems) from exc


def _problems(
    exc: BaseException, cls: type[Any], values: Mapping[str, Any], subject: str | None
) -> list[SettingProblem]:
    if not isinstance(exc, ClassValidationError):
        return [_refused(exc, cls, values)]
    out: list[SettingProblem] = []
    with_notes, without = exc.group_exceptions()
    for sub, note in with_notes:
        if not isinstance(note, AttributeValidationNote):
            out.append(_refused(sub, cls, values))
        elif isinstance(sub, KeyError):
            message = f"setting {note.name!r} is required ({describe_type(note.type)})"
            out.append(SettingProblem(note.name, message, "missing"))
        else:
            value = values.get(note.name)
            message = (
                f"setting {note.name!r} must be {describe_type(note.type)}, got {_quote(value)}"
            )
            out.append(SettingProblem(note.name, message + _as_written(note, value), "type"))
    for sub in without:
        if isinstance(sub, ForbiddenExtraKeysError):
            out.extend(_unknown(cls, sub.extra_fields, subject))
        else:
            out.append(_refused(sub, cls, values))
    return out


def _as_written(note: AttributeValidationNote, value: object) -> str:
    """What to write instead, for a number given to a string setting (a mode is octal text
    in quotes: a number is refused, never guessed at)."""
    if note.type is not str or isinstance(value, bool) or not isinstance(value, int):
        return ""
    digits = str(value)
    if "mode" in note.name and len(digits) <= 4 and set(digits) <= set("01234567"):
        return f' (a mode is octal text in quotes: write "{digits.zfill(4)}")'
    return f' (quote it: "{digits}")' if len(digits) <= 40 else " (quote it)"


def _unknown(cls: type[Any], names: set[str], subject: str | None) -> list[SettingProblem]:
    known = [f.name for f in attrs.fields(cls)] if attrs.has(cls) else []
    of = f" of {subject}" if subject else ""
    out = []
    for name in sorted(names, key=str):
        close = difflib.get_close_matches(name, known, n=3) if isinstance(name, str) else []
        if close:
            hint = " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
        elif known:
            hint = f" (settings: {', '.join(known)})"
        else:
            hint = " (it takes no settings)"
        out.append(
            SettingProblem(str(name), f"unknown setting {_quote(name)}{of}{hint}", "unknown")
        )
    return out


def _refused(exc: BaseException, cls: type[Any], values: Mapping[str, Any]) -> SettingProblem:
    """A validator's (or converter's) refusal in its own words, with the setting it is about:
    attrs' validators pass their attribute (``in_`` and ``matches_re`` are worded here);
    another's words start with the setting's name, or else it is the one setting that is
    refused on its own, which the message then names first."""
    args = exc.args
    text = str(args[0]) if args and isinstance(args[0], str) else str(exc)
    if len(args) > 1 and isinstance(args[1], attrs.Attribute):
        name = args[1].name
        if isinstance(exc, ValueError) and len(args) == 4:
            allowed, value = args[2], args[3]
            if isinstance(allowed, re.Pattern):
                message = f"setting {name!r} must match {allowed.pattern!r}, got {_quote(value)}"
                return SettingProblem(name, message, "invalid")
            if isinstance(allowed, tuple | list | set | frozenset):
                choices = ", ".join(_quote(c) for c in allowed)
                message = f"setting {name!r} must be one of {choices}, got {_quote(value)}"
                return SettingProblem(name, message, "invalid")
        if text.startswith(f"'{name}' "):
            return SettingProblem(name, f"setting {text}", "invalid")
        return SettingProblem(name, f"setting {name!r}: {text}", "invalid")
    fields = [f.name for f in attrs.fields(cls)] if attrs.has(cls) else []
    named = next((f for f in fields if text.startswith((f"{f} ", f"'{f}' "))), None)
    if named is not None:
        quoted = text.startswith(f"'{named}' ")  # attrs' words again: "'level' must be <= 9"
        return SettingProblem(named, f"setting {text}" if quoted else text, "invalid")
    culprit = _culprit(cls, values)
    if culprit is None:
        return SettingProblem(None, text, "invalid")
    return SettingProblem(culprit, f"setting {culprit!r}: {text}", "invalid")


def _culprit(cls: type[Any], values: Mapping[str, Any]) -> str | None:
    """The one setting of ``values`` that the class refuses on its own, if there is one."""
    refused = []
    for name, value in values.items():
        try:
            _converter.structure({name: value}, cls)
        except Exception:
            refused.append(name)
    return refused[0] if len(refused) == 1 else None


def _quote(value: object, limit: int = 80) -> str:
    """The value's repr, cut after ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def block_problems(
    settings: Mapping[str, Any], blocks: tuple[tuple[str, type[Any]], ...], key: str, whose: str
) -> list[FieldError]:
    """Every problem with the blocks of ``settings`` that ``blocks`` names (key, settings
    class), as field errors of the object ``key`` (``settings.NAME.SETTING``, or
    ``settings.NAME`` when the block itself is wrong). Each setting is read on its own, so
    that a wrong type does not hide a value out of range beside it; ``whose`` says whose
    settings they are in messages."""
    errors: list[FieldError] = []
    for name, cls in blocks:
        if name not in settings:
            continue
        block = settings[name]
        layers = (
            [{item: value} for item, value in block.items()] if isinstance(block, dict) else [block]
        )
        for layer in layers:
            try:
                build_settings(cls, layer, where=f"{name} of {whose}", subject=name)
            except SettingsError as exc:
                for problem in exc.problems:
                    field = f"settings.{name}"
                    if isinstance(block, dict) and problem.setting in block:
                        field += f".{problem.setting}"
                    errors.append(FieldError(key, field, problem.message))
    return errors

"""Field checks shared by service types: each appends :class:`FieldError` s to a list.

Checks never raise and never touch a server; a service's ``check()`` calls them for each field
and returns the whole list, so that a user sees every problem at once.

Names (of users, zones, apps, databases) are ASCII and match a pattern in full: a value that
reaches a template, a config file or a command is either constrained by a pattern or bounded
free text without control characters. Patterns are matched with ``fullmatch`` because ``$``
also matches before a trailing newline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence

from orchestra_core.errors import FieldError

__all__ = [
    "MAX_INT32",
    "MAX_INT64",
    "choice_field",
    "email_field",
    "hostname_field",
    "identifier_field",
    "int_field",
    "ip_field",
    "name_field",
    "path_field",
    "record_name_field",
    "text_field",
    "unique_items",
    "unix_name_field",
]

MAX_INT32 = 2147483647
#: What every integer field is bounded by when it names no maximum of its own: the largest
#: number a daemon's 64-bit counter (a quota in bytes, a size) holds.
MAX_INT64 = 2**63 - 1

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_RECORD_LABEL = re.compile(r"_?(?!-)[a-z0-9-]{1,62}(?<!-)")
# Narrower than RFC 5322 on purpose: addresses reach Postfix maps and command lines, and a
# quote, a '|' or a leading '-' there is far more often an attack than a customer's address.
_LOCAL_PART = re.compile(r"[a-z0-9_][a-z0-9_+-]*(\.[a-z0-9_+-]+)*")
#: The longest e-mail address: a path of SMTP holds 256 characters with its angle brackets.
EMAIL_MAX = 254
_UNIX_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_$-]*")
_PATH = re.compile(r"/[A-Za-z0-9._~+@%=,:/-]*")
# C0 and C1 controls, DEL, and the unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAK_OR_TAB = re.compile(r"[\t\n\r]")
# Half of a UTF-16 pair on its own: not a character, so no file, script or log can hold it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _err(errors: list[FieldError], key: str, field: str, message: str) -> None:
    errors.append(FieldError(key, field, message))


def _short(value: str, limit: int = 80) -> str:
    """The value's repr, cut so that a 10 kB value does not flood an error message."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"... ({len(value)} characters)"


def _any(value: object, limit: int = 80) -> str:
    """Any value as a message shows what was given: its repr, cut; a number too long to print
    said to be one; None as YAML writes it, null."""
    if value is None:
        return "null"
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python prints
        return "a number too long to print"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _pattern_field(
    errors: list[FieldError],
    key: str,
    field: str,
    value: str,
    *,
    pattern: re.Pattern[str],
    max_length: int,
    rule: str,
) -> bool:
    """A non-empty string of at most ``max_length`` matching ``pattern``; ``rule`` says what
    is allowed, for the error message. Returns True when valid."""
    if not isinstance(value, str) or not value:
        _err(errors, key, field, "must be a non-empty string")
        return False
    if len(value) > max_length:
        _err(errors, key, field, f"is {len(value)} characters long, at most {max_length} allowed")
        return False
    if not pattern.fullmatch(value):
        _err(errors, key, field, f"{_short(value)} {rule}")
        return False
    return True


def name_field(
    errors: list[FieldError], key: str, field: str, value: str, *, max_length: int = 64
) -> bool:
    """A short identifier: lower-case letters, digits, ``_ . -``, not starting with ``-``.

    Returns True when valid.
    """
    return _pattern_field(
        errors,
        key,
        field,
        value,
        pattern=_NAME,
        max_length=max_length,
        rule="may only hold lower-case letters, digits, '_', '.' and '-', "
        "and must start with a letter or digit",
    )


def unix_name_field(errors: list[FieldError], key: str, field: str, value: str) -> bool:
    """A unix user or group name: ``[a-z_][a-z0-9_-]{0,31}``. Returns True when valid."""
    if not isinstance(value, str) or not _UNIX_NAME.fullmatch(value):
        shown = _short(value) if isinstance(value, str) else type(value).__name__
        _err(
            errors,
            key,
            field,
            f"{shown} is not a unix name: 1 to 32 lower-case letters, digits, '_' or '-', "
            "starting with a letter or '_'",
        )
        return False
    return True


def identifier_field(
    errors: list[FieldError], key: str, field: str, value: str, *, max_length: int = 64
) -> bool:
    """A database object name: ASCII letters, digits, ``_ $ -``, not starting with ``$`` or ``-``.

    The core's rule is generic (every SQL engine can hold such a name when quoted); drivers
    add their own limits. Returns True when valid.
    """
    return _pattern_field(
        errors,
        key,
        field,
        value,
        pattern=_IDENTIFIER,
        max_length=max_length,
        rule="may only hold ASCII letters, digits, '_', '$' and '-', "
        "and must start with a letter, digit or '_'",
    )


def text_field(
    errors: list[FieldError],
    key: str,
    field: str,
    value: str,
    *,
    max_length: int = 4096,
    multiline: bool = False,
) -> bool:
    """Free text: printable unicode, no NUL or control characters, bounded length.

    ``multiline`` allows line feeds and tabs. Returns True when valid.
    """
    if not isinstance(value, str):
        _err(errors, key, field, "must be a string")
        return False
    ok = True
    if len(value) > max_length:
        _err(errors, key, field, f"is {len(value)} characters long, at most {max_length} allowed")
        ok = False
    if _CONTROL.search(value) or (not multiline and _LINE_BREAK_OR_TAB.search(value)):
        _err(errors, key, field, "must not contain control characters or line breaks")
        ok = False
    if _SURROGATE.search(value):
        _err(errors, key, field, "must not contain a lone surrogate (it is not a character)")
        ok = False
    return ok


def hostname_field(
    errors: list[FieldError],
    key: str,
    field: str,
    value: str,
    *,
    allow_wildcard: bool = False,
    trailing_dot: bool = True,
) -> bool:
    """A DNS host name (letters, digits, hyphens; dot-separated labels; 253 characters at most).

    ``trailing_dot`` allows an absolute name ending with ``.``. Returns True when valid, so
    callers can skip checks that depend on it.
    """
    if not isinstance(value, str) or not value:
        _err(errors, key, field, "must be a non-empty host name")
        return False
    name = value[:-1] if value.endswith(".") else value
    if value.endswith(".") and not trailing_dot:
        _err(errors, key, field, f"{_short(value)} must not end with '.'")
        return False
    if len(name) > 253:
        _err(errors, key, field, f"is {len(name)} characters long, at most 253 allowed")
        return False
    labels = name.split(".")
    for i, label in enumerate(labels):
        if allow_wildcard and i == 0 and label == "*":
            continue
        if not _LABEL.fullmatch(label):
            _err(
                errors,
                key,
                field,
                f"{_short(value)} has an invalid label {_short(label, 40)}: labels are 1 to 63 "
                "lower-case letters, digits or '-', not starting or ending with '-'",
            )
            return False
    return True


def record_name_field(errors: list[FieldError], key: str, field: str, value: str) -> bool:
    """A DNS record name relative to its zone: ``@`` for the apex, or labels like a host
    name's that may start with ``_`` (``_sip._tcp``), the first one possibly ``*``.
    """
    if not isinstance(value, str) or not value:
        _err(errors, key, field, "must be '@' or a name relative to the zone")
        return False
    if value == "@":
        return True
    if len(value) > 253:
        _err(errors, key, field, f"is {len(value)} characters long, at most 253 allowed")
        return False
    for i, label in enumerate(value.split(".")):
        if i == 0 and label == "*":
            continue
        if not _RECORD_LABEL.fullmatch(label):
            _err(
                errors,
                key,
                field,
                f"{_short(value)} has an invalid label {_short(label, 40)}: use '@' for the "
                "apex, or relative labels of lower-case letters, digits and '-' (a label may "
                "start with '_', the first may be '*'), without a trailing '.'",
            )
            return False
    return True


def email_field(errors: list[FieldError], key: str, field: str, value: str) -> bool:
    """An e-mail address ``local@domain`` with a plain local part and a valid domain, at
    most 254 characters (what fits a path of SMTP: 256 with its angle brackets)."""
    if not isinstance(value, str) or value.count("@") != 1:
        shown = _short(value) if isinstance(value, str) else type(value).__name__
        _err(errors, key, field, f"{shown} is not an address of the form local@domain")
        return False
    if len(value) > EMAIL_MAX:
        _err(
            errors,
            key,
            field,
            f"{_short(value)} has {len(value)} characters: an address has at most {EMAIL_MAX}",
        )
        return False
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        _err(
            errors,
            key,
            field,
            f"{_short(value)} has an invalid local part {_short(local, 40)}: lower-case "
            "letters, digits, '_', '+', '-' and single dots inside, starting with a letter, "
            "digit or '_', at most 64 characters",
        )
        return False
    return hostname_field(errors, key, field, domain, trailing_dot=False)


def ip_field(errors: list[FieldError], key: str, field: str, value: str, *, version: int) -> bool:
    """An IPv4 (``version=4``) or IPv6 (``version=6``) address, without an IPv6 scope."""
    try:
        if not isinstance(value, str) or "%" in value:
            raise ValueError(value)
        address = ipaddress.ip_address(value)
    except ValueError:
        shown = _short(value) if isinstance(value, str) else type(value).__name__
        _err(errors, key, field, f"{shown} is not an IPv{version} address")
        return False
    if address.version != version:
        _err(
            errors,
            key,
            field,
            f"{value!r} is an IPv{address.version} address, not IPv{version}",
        )
        return False
    return True


def path_field(
    errors: list[FieldError], key: str, field: str, value: str, *, max_length: int = 4096
) -> bool:
    """An absolute POSIX path of ASCII letters, digits and ``. _ ~ + @ % = , : / -``, without
    ``..`` segments. Returns True when valid.
    """
    if not isinstance(value, str):
        _err(errors, key, field, f"must be an absolute path (a string), got {_any(value)}")
        return False
    if not value.startswith("/"):
        _err(
            errors, key, field, f"{_short(value)} is not an absolute path (it must start with '/')"
        )
        return False
    if len(value) > max_length:
        _err(errors, key, field, f"is {len(value)} characters long, at most {max_length} allowed")
        return False
    if not _PATH.fullmatch(value):
        _err(
            errors,
            key,
            field,
            f"{_short(value)} may only hold ASCII letters, digits and '._~+@%=,:/-' "
            "(no spaces, quotes or control characters)",
        )
        return False
    if ".." in value.split("/"):
        _err(errors, key, field, f"{_short(value)} must not contain '..'")
        return False
    return True


def int_field(
    errors: list[FieldError],
    key: str,
    field: str,
    value: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> bool:
    """An integer (not a bool) within ``minimum..maximum`` (inclusive); without a
    ``maximum``, at most :data:`MAX_INT64` (and without a ``minimum``, at least its negative)."""
    if isinstance(value, bool) or not isinstance(value, int):
        _err(errors, key, field, f"must be an integer, got {type(value).__name__}")
        return False
    low = -MAX_INT64 - 1 if minimum is None else minimum
    high = MAX_INT64 if maximum is None else maximum
    if not low <= value <= high:
        shown = str(value) if abs(value) < 10**40 else "a number of more than 40 digits"
        _err(errors, key, field, f"{shown} is out of range {low}..{high}")
        return False
    return True


def choice_field(
    errors: list[FieldError], key: str, field: str, value: str, choices: Collection[str]
) -> bool:
    """One of a fixed set of strings."""
    if value not in choices:
        shown = _short(value) if isinstance(value, str) else type(value).__name__
        _err(errors, key, field, f"{shown} is not one of {', '.join(choices)}")
        return False
    return True


def unique_items(errors: list[FieldError], key: str, field: str, values: Sequence[object]) -> bool:
    """Refuse a repeated item in a list; the error names the repeat, e.g. ``groups[2]``."""
    seen: set[object] = set()
    ok = True
    for i, value in enumerate(values):
        try:
            repeated = value in seen
        except TypeError:  # unhashable: a type error the field's own check reports
            continue
        if repeated:
            _err(errors, key, f"{field}[{i}]", f"{value!r} is listed twice")
            ok = False
        seen.add(value)
    return ok

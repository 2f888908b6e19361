"""Field checks shared by service types: each appends :class:`FieldError` s to a list.

Checks never raise and never touch a server; a service's ``check()`` calls them for each field
and returns the whole list, so that a user sees every problem at once.
"""

from __future__ import annotations

import ipaddress
import re

from orchestra_core.errors import FieldError

__all__ = [
    "email_field",
    "hostname_field",
    "ip_field",
    "name_field",
    "text_field",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[a-z0-9!#%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#%&'*+/=?^_`{|}~-]+)*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _err(errors: list[FieldError], key: str, field: str, message: str) -> None:
    errors.append(FieldError(key, field, message))


def name_field(
    errors: list[FieldError], key: str, field: str, value: str, *, max_length: int = 64
) -> None:
    """A short identifier: lower-case letters, digits, ``_ . -``, not starting with ``-``."""
    if not isinstance(value, str) or not value:
        _err(errors, key, field, "must be a non-empty string")
        return
    if len(value) > max_length:
        _err(errors, key, field, f"is {len(value)} characters long, at most {max_length} allowed")
    elif not _NAME.match(value):
        _err(
            errors,
            key,
            field,
            f"{value!r} may only hold lower-case letters, digits, '_', '.' and '-', "
            "and must start with a letter or digit",
        )


def text_field(
    errors: list[FieldError],
    key: str,
    field: str,
    value: str,
    *,
    max_length: int = 4096,
    multiline: bool = False,
) -> None:
    """Free text: any printable unicode, no NUL or control characters, bounded length."""
    if not isinstance(value, str):
        _err(errors, key, field, "must be a string")
        return
    if len(value) > max_length:
        _err(errors, key, field, f"is {len(value)} characters long, at most {max_length} allowed")
    if _CONTROL.search(value) or (not multiline and ("\n" in value or "\r" in value)):
        _err(errors, key, field, "must not contain control characters or line breaks")


def hostname_field(
    errors: list[FieldError], key: str, field: str, value: str, *, allow_wildcard: bool = False
) -> bool:
    """A DNS host name (letters, digits, hyphens; dot-separated labels; 253 characters at most).

    Returns True when valid, so callers can skip checks that depend on it.
    """
    if not isinstance(value, str) or not value:
        _err(errors, key, field, "must be a non-empty host name")
        return False
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        _err(errors, key, field, f"is {len(name)} characters long, at most 253 allowed")
        return False
    labels = name.split(".")
    for i, label in enumerate(labels):
        if allow_wildcard and i == 0 and label == "*":
            continue
        if not _LABEL.match(label):
            _err(
                errors,
                key,
                field,
                f"{value!r} has an invalid label {label!r}: labels are 1 to 63 lower-case "
                "letters, digits or '-', not starting or ending with '-'",
            )
            return False
    return True


def email_field(errors: list[FieldError], key: str, field: str, value: str) -> bool:
    """An e-mail address ``local@domain`` with a plain local part and a valid domain."""
    if not isinstance(value, str) or value.count("@") != 1:
        _err(errors, key, field, f"{value!r} is not an address of the form local@domain")
        return False
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.match(local):
        _err(
            errors,
            key,
            field,
            f"{value!r} has an invalid local part {local!r} (no spaces, quotes or control "
            "characters; at most 64 characters)",
        )
        return False
    return hostname_field(errors, key, field, domain)


def ip_field(errors: list[FieldError], key: str, field: str, value: str, *, version: int) -> bool:
    """An IPv4 (``version=4``) or IPv6 (``version=6``) address."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        _err(errors, key, field, f"{value!r} is not an IPv{version} address")
        return False
    if address.version != version:
        _err(errors, key, field, f"{value!r} is an IPv{address.version} address, not IPv{version}")
        return False
    return True

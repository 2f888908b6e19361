"""Shared field checks: full-string matching, bounds, and the errors they append."""

from __future__ import annotations

import pytest

from orchestra_core.errors import FieldError
from orchestra_core.model import checks


def run(check: object, value: object, **kwargs: object) -> list[FieldError]:
    errors: list[FieldError] = []
    check(errors, "x:1", "f", value, **kwargs)  # type: ignore[operator]
    return errors


@pytest.mark.parametrize(
    "check",
    [
        checks.name_field,
        checks.unix_name_field,
        checks.identifier_field,
        checks.hostname_field,
        checks.email_field,
        checks.record_name_field,
    ],
)
def test_a_trailing_newline_does_not_sneak_past_the_pattern(check: object) -> None:
    # '$' matches before a final newline; patterns must match the whole string.
    value = "ops@a.example\n" if check is checks.email_field else "abc\n"
    errors = run(check, value)
    assert [e.field for e in errors] == ["f"]
    assert errors[0].object_key == "x:1"


def test_name_field_returns_whether_valid_and_keeps_its_signature() -> None:
    errors: list[FieldError] = []
    assert checks.name_field(errors, "k", "f", "web-1.a_b") is True
    assert checks.name_field(errors, "k", "f", "a" * 65) is False
    assert errors == [FieldError("k", "f", "is 65 characters long, at most 64 allowed")]


def test_long_values_are_cut_in_messages() -> None:
    errors = run(checks.name_field, "A" * 10_000, max_length=20_000)
    assert len(errors[0].message) < 300
    assert "(10000 characters)" in errors[0].message


def test_hostname_trailing_dot_is_optional_unless_refused() -> None:
    assert run(checks.hostname_field, "a.example.") == []
    assert (
        "must not end with '.'"
        in run(checks.hostname_field, "a.example.", trailing_dot=False)[0].message
    )
    assert run(checks.hostname_field, "*.a.example", allow_wildcard=True) == []
    assert len(run(checks.hostname_field, "*.a.example")) == 1


@pytest.mark.parametrize(
    ("value", "version", "fragment"),
    [
        ("fe80::1%eth0", 6, "is not an IPv6 address"),
        ("fe80::1%$(id)", 6, "is not an IPv6 address"),
        ("192.0.2.1", 6, "is an IPv4 address, not IPv6"),
        (" 192.0.2.1", 4, "is not an IPv4 address"),
    ],
)
def test_ip_field(value: str, version: int, fragment: str) -> None:
    errors = run(checks.ip_field, value, version=version)
    assert len(errors) == 1
    assert fragment in errors[0].message


def test_int_field_refuses_bools_and_bounds() -> None:
    assert "must be an integer, got bool" in run(checks.int_field, True)[0].message
    assert "5 is out of range 1..4" in run(checks.int_field, 5, minimum=1, maximum=4)[0].message
    assert run(checks.int_field, 4, minimum=1, maximum=4) == []


def test_text_field_multiline_allows_line_feeds_and_tabs_only() -> None:
    assert run(checks.text_field, "a\n\tb", multiline=True) == []
    assert len(run(checks.text_field, "a\r\nb", multiline=True)) == 1
    assert len(run(checks.text_field, "a\tb")) == 1
    assert len(run(checks.text_field, "a\u2029b", multiline=True)) == 1


def test_path_field() -> None:
    assert run(checks.path_field, "/home/acme/web_1.2") == []
    assert "must not contain '..'" in run(checks.path_field, "/a/../b")[0].message
    assert "no spaces" in run(checks.path_field, "/a b")[0].message


def test_unique_items_names_the_repeat() -> None:
    errors: list[FieldError] = []
    assert checks.unique_items(errors, "k", "groups", ["a", "b", "a"]) is False
    assert errors == [FieldError("k", "groups[2]", "'a' is listed twice")]

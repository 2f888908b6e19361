"""Field paths: every text field of a catalogue object is found and can be replaced."""

from __future__ import annotations

import pytest

from orchestra_core.catalogue import (
    DatabaseUser,
    Domain,
    Record,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.testing.fields import replace_field, text_fields

DOMAIN = Domain(account="acme", name="example.com", records=(Record(type="TXT", values=("v",)),))


def test_text_fields_walk_nested_objects_tuples_and_dicts() -> None:
    assert text_fields(DOMAIN) == [
        "account",
        "name",
        "records[0].name",
        "records[0].type",
        "records[0].values[0]",
    ]
    app = WebApp(account="a", name="app", system_user="u", options={"memory_limit": "64M"})
    assert text_fields(app) == [
        "account",
        "name",
        "type",
        "system_user",
        "php_version",
        "options[memory_limit]",
    ]
    site = Website(
        account="a", name="s", domains=("d.com",), contents=(WebsiteContent(webapp="app"),)
    )
    assert "contents[0].webapp" in text_fields(site)


def test_replace_field_changes_only_that_field() -> None:
    changed = replace_field(DOMAIN, "records[0].values[0]", "new")
    assert changed.records[0].values == ("new",)
    assert changed.name == DOMAIN.name and DOMAIN.records[0].values == ("v",)
    app = WebApp(account="a", name="app", system_user="u", options={"memory_limit": "64M"})
    assert replace_field(app, "options[memory_limit]", "1G").options == {"memory_limit": "1G"}


def test_an_empty_tuple_gets_its_first_item() -> None:
    user = DatabaseUser(account="a", username="u")
    assert "databases[0]" in text_fields(user)
    assert replace_field(user, "databases[0]", "db").databases == ("db",)


@pytest.mark.parametrize("path", ["", "records[0]x", "9name", "records[0]..name"])
def test_a_malformed_path_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a field path"):
        replace_field(DOMAIN, path, "x")


def test_a_path_to_no_field_is_refused() -> None:
    with pytest.raises(ValueError, match="not a field of Domain"):
        replace_field(DOMAIN, "records[3].name", "x")

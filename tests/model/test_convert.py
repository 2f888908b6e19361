"""Plain data to objects and back: exact round trips, strict types, errors naming fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestra_core.catalogue import (
    CATALOGUE,
    Database,
    DatabaseUser,
    Domain,
    MailAddress,
    Mailbox,
    MailingList,
    Record,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.errors import FieldError, ValidationError
from orchestra_core.model.convert import structure_account, structure_service, unstructure
from orchestra_core.model.service import Account, Service

OBJECTS: list[Service] = [
    SystemUser(account="acme", name="u1", home="/home/u1", shell="/bin/bash", groups=("a", "b")),
    Domain(
        account="acme",
        name="acme.example",
        ttl=300,
        is_active=False,
        records=(
            Record(type="A", values=("192.0.2.1", "192.0.2.2")),
            Record(name="_sip._tcp", type="SRV", values=("0 5 5060 sip.acme.example",), ttl=60),
        ),
    ),
    Mailbox(account="acme", address="info@acme.example", quota=1024),
    MailAddress(
        account="acme",
        address="a@acme.example",
        mailboxes=("info@acme.example",),
        forwards=("x@elsewhere.example",),
    ),
    WebApp(
        account="acme",
        name="wp",
        system_user="u1",
        php_version="8.10",
        options={"memory_limit": "64M", "opcache.enable": "1"},
    ),
    Website(
        account="acme",
        name="site",
        domains=("acme.example",),
        protocol="http/https",
        contents=(WebsiteContent(path="/", webapp="wp"),),
    ),
    Database(account="acme", name="db", collation="utf8mb4_bin"),
    DatabaseUser(account="acme", username="dbu", type="postgresql", databases=("db",)),
    MailingList(
        account="acme",
        name="news",
        domain="acme.example",
        admin_email="a@acme.example",
        description="Nouvelles ✓",
    ),
]


def test_every_catalogue_type_is_covered() -> None:
    assert {type(o) for o in OBJECTS} == set(CATALOGUE)


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o.kind)
def test_round_trip_through_json(obj: Service) -> None:
    data = unstructure(obj)
    text = json.dumps(data)
    assert structure_service(json.loads(text), type(obj)) == obj
    assert "kind" not in data
    assert data["account"] == "acme"


def test_unstructure_gives_lists_and_nested_mappings() -> None:
    assert unstructure(OBJECTS[1]) == {
        "account": "acme",
        "is_active": False,
        "name": "acme.example",
        "records": [
            {"name": "@", "type": "A", "values": ["192.0.2.1", "192.0.2.2"], "ttl": None},
            {
                "name": "_sip._tcp",
                "type": "SRV",
                "values": ["0 5 5060 sip.acme.example"],
                "ttl": 60,
            },
        ],
        "ttl": 300,
    }


def test_defaults_fill_missing_optional_fields() -> None:
    domain = structure_service({"account": "a", "name": "a.example"}, Domain)
    assert domain == Domain(account="a", name="a.example")
    assert isinstance(domain.records, tuple)


def test_account_round_trip() -> None:
    account = Account(name="acme", email="ops@acme.example", is_active=False, description="é")
    assert structure_account(unstructure(account)) == account


def errors_of(data: Any, cls: type[Service]) -> list[FieldError]:
    with pytest.raises(ValidationError) as info:
        structure_service(data, cls)
    return list(info.value.errors)


def test_unknown_keys_are_refused_by_name() -> None:
    errors = errors_of({"account": "a", "nmae": "x", "name": "a.example"}, Domain)
    assert errors == [
        FieldError(
            "domain:a.example",
            "nmae",
            "unknown field 'nmae' (known fields: account, is_active, name, records, ttl)",
        )
    ]


def test_nested_errors_carry_the_field_path() -> None:
    data = {
        "account": "a",
        "records": [
            {"type": "A", "values": ["192.0.2.1", 3], "ttl": "60", "valeus": []},
            5,
        ],
    }
    errors = errors_of(data, Domain)
    assert {(e.field, e.message) for e in errors} == {
        ("name", "is required (a string)"),
        ("records[0].values[1]", "expected a string, got an integer"),
        ("records[0].ttl", "expected an integer or null, got a string"),
        ("records[0].valeus", "unknown field 'valeus' (known fields: name, type, values, ttl)"),
        ("records[1]", "expected a mapping (Record), got an integer"),
    }
    assert {e.object_key for e in errors} == {"domain:?"}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"is_active": "false"}, "is_active", "expected true or false, got a string"),
        ({"quota": True}, "quota", "expected an integer or null, got a boolean"),
        ({"quota": 1.5}, "quota", "expected an integer or null, got a number"),
        ({"address": 42}, "address", "expected a string, got an integer"),
        ({"address": None}, "address", "expected a string, got null"),
    ],
)
def test_types_are_strict(data: dict[str, Any], field: str, message: str) -> None:
    errors = errors_of({"account": "a", "address": "i@a.example", **data}, Mailbox)
    assert [(e.field, e.message) for e in errors] == [(field, message)]


def test_a_string_is_not_a_list_and_a_float_is_not_a_version() -> None:
    errors = errors_of(
        {"account": "a", "name": "w", "system_user": "u", "php_version": 8.1, "options": []},
        WebApp,
    )
    assert [(e.field, e.message) for e in errors] == [
        ("php_version", "expected a string or null, got a number"),
        ("options", "expected a mapping, got a list"),
    ]
    errors = errors_of({"account": "a", "name": "s", "domains": "a.example"}, Website)
    assert [(e.field, e.message) for e in errors] == [
        ("domains", "expected a list of strings, got a string")
    ]


def test_mapping_values_are_named_by_key() -> None:
    data = {"account": "a", "name": "w", "system_user": "u", "options": {"memory_limit": 64}}
    errors = errors_of(data, WebApp)
    assert [(e.object_key, e.field) for e in errors] == [("webapp:a/w", "options[memory_limit]")]


def test_not_a_mapping() -> None:
    assert errors_of(["a"], Mailbox) == [
        FieldError("mailbox:?", "<object>", "expected a mapping, got a list")
    ]


def test_account_errors() -> None:
    with pytest.raises(ValidationError) as info:
        structure_account({"name": "acme", "mail": "x"})
    assert [(e.object_key, e.field) for e in info.value.errors] == [("account:acme", "mail")]

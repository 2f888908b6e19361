"""Hostile values: refused in every name field, accepted in free text unless they hold controls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestra_core.catalogue import (
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
from orchestra_core.model.service import Account

HOSTILE = {
    "single_quote": "it's",
    "double_quote": 'say"hi"',
    "command_substitution": "$(touch /tmp/pwned)",
    "backticks": "`touch /tmp/pwned`",
    "semicolon": "x;touch",
    "space": "a b",
    "newline": "x\ntouch",
    "trailing_newline": "abc\n",
    "carriage_return": "x\rtouch",
    "nul": "x\x00y",
    "long": "a" * 10_000,
    "unicode": "ünïcödé",
    "leading_dash": "-rf",
    "empty": "",
    "glob": "a*",
    "dotdot": "../etc",
}
# Path fields must start with '/': hostile values are also tried after a '/'.
PATH_HOSTILE = {**HOSTILE, **{f"slash_{k}": "/" + v for k, v in HOSTILE.items() if v != "-rf"}}
del PATH_HOSTILE["slash_empty"]

Build = Callable[[str], Any]

NAME_FIELDS: dict[str, Build] = {
    "account.name": lambda v: Account(name=v),
    "account.email": lambda v: Account(name="acme", email=v),
    "systemuser.account": lambda v: SystemUser(account=v, name="u"),
    "systemuser.name": lambda v: SystemUser(account="acme", name=v),
    "systemuser.groups[0]": lambda v: SystemUser(account="acme", name="u", groups=(v,)),
    "domain.name": lambda v: Domain(account="acme", name=v),
    "domain.records[0].name": lambda v: Domain(
        account="acme", name="a.example", records=(Record(name=v, type="A", values=("192.0.2.1",)),)
    ),
    "domain.records[0].type": lambda v: Domain(
        account="acme", name="a.example", records=(Record(type=v, values=("192.0.2.1",)),)
    ),
    "domain.records[0].values[0]": lambda v: Domain(
        account="acme", name="a.example", records=(Record(name="w", type="CNAME", values=(v,)),)
    ),
    "mailbox.address": lambda v: Mailbox(account="acme", address=v),
    "mailbox.address(local)": lambda v: Mailbox(account="acme", address=f"{v}@a.example"),
    "mailaddress.mailboxes[0]": lambda v: MailAddress(
        account="acme", address="a@a.example", mailboxes=(v,)
    ),
    "mailaddress.forwards[0]": lambda v: MailAddress(
        account="acme", address="a@a.example", forwards=(v,)
    ),
    "webapp.name": lambda v: WebApp(account="acme", name=v, system_user="u"),
    "webapp.type": lambda v: WebApp(account="acme", name="w", type=v, system_user="u"),
    "webapp.system_user": lambda v: WebApp(account="acme", name="w", system_user=v),
    "webapp.php_version": lambda v: WebApp(
        account="acme", name="w", system_user="u", php_version=v
    ),
    "webapp.options": lambda v: WebApp(account="acme", name="w", system_user="u", options={v: "1"}),
    "website.name": lambda v: Website(account="acme", name=v, domains=("a.example",)),
    "website.domains[0]": lambda v: Website(account="acme", name="s", domains=(v,)),
    "website.protocol": lambda v: Website(account="acme", name="s", domains=("a.ex",), protocol=v),
    "website.contents[0].webapp": lambda v: Website(
        account="acme", name="s", domains=("a.ex",), contents=(WebsiteContent(webapp=v),)
    ),
    "database.name": lambda v: Database(account="acme", name=v),
    "database.type": lambda v: Database(account="acme", name="d", type=v),
    "database.charset": lambda v: Database(account="acme", name="d", charset=v),
    "database.collation": lambda v: Database(account="acme", name="d", collation=v),
    "databaseuser.username": lambda v: DatabaseUser(account="acme", username=v),
    "databaseuser.type": lambda v: DatabaseUser(account="acme", username="u", type=v),
    "databaseuser.databases[0]": lambda v: DatabaseUser(
        account="acme", username="u", databases=(v,)
    ),
    "mailinglist.name": lambda v: MailingList(
        account="acme", name=v, domain="a.example", admin_email="x@a.example"
    ),
    "mailinglist.domain": lambda v: MailingList(
        account="acme", name="l", domain=v, admin_email="x@a.example"
    ),
    "mailinglist.admin_email": lambda v: MailingList(
        account="acme", name="l", domain="a.example", admin_email=v
    ),
}

PATH_FIELDS: dict[str, Build] = {
    "systemuser.home": lambda v: SystemUser(account="acme", name="u", home=v),
    "systemuser.shell": lambda v: SystemUser(account="acme", name="u", shell=v),
    "website.contents[0].path": lambda v: Website(
        account="acme", name="s", domains=("a.ex",), contents=(WebsiteContent(path=v, webapp="w"),)
    ),
}

TEXT_FIELDS: dict[str, Build] = {
    "account.description": lambda v: Account(name="acme", description=v),
    "mailinglist.description": lambda v: MailingList(
        account="acme", name="l", domain="a.example", admin_email="x@a.example", description=v
    ),
    "domain.records[0].values[0]": lambda v: Domain(
        account="acme", name="a.example", records=(Record(type="TXT", values=(v,)),)
    ),
    "webapp.options[x]": lambda v: WebApp(
        account="acme", name="w", system_user="u", options={"x": v}
    ),
}

FREE_TEXT_OK = [
    "it's",
    'say "hi"',
    "$(touch /tmp/pwned)",
    "`id`",
    "a; b",
    "Ünïcödé ✓ 日本語 🚀",
    "-rf",
    "",
]
FREE_TEXT_REFUSED = ["a\nb", "a\x00b", "a\rb", "a\u2028b", "a\x85b", "a\x1bb", "x" * 10_000]


def expected_field(label: str) -> str:
    field = label.split(".", 1)[1]
    return field.split("(")[0]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("label", NAME_FIELDS)
def test_hostile_names_are_refused_naming_the_field(label: str, value: str) -> None:
    errors = NAME_FIELDS[label](value).check()
    assert errors, f"{label} accepted {value!r}"
    assert {e.field for e in errors} == {expected_field(label)}


@pytest.mark.parametrize("value", PATH_HOSTILE.values(), ids=PATH_HOSTILE.keys())
@pytest.mark.parametrize("label", PATH_FIELDS)
def test_hostile_paths_are_refused_naming_the_field(label: str, value: str) -> None:
    errors = PATH_FIELDS[label](value).check()
    assert errors, f"{label} accepted {value!r}"
    assert {e.field for e in errors} == {expected_field(label)}


@pytest.mark.parametrize("label", [*NAME_FIELDS, *PATH_FIELDS])
def test_every_probed_field_accepts_a_sane_value(label: str) -> None:
    """The hostile tests above would pass for a field that refuses everything; this one not."""
    sane = {
        "email": "ops@a.example",
        "address": "ops@a.example",
        "address(local)": "ops",
        "mailboxes[0]": "ops@a.example",
        "forwards[0]": "ops@a.example",
        "admin_email": "ops@a.example",
        "type": "A" if label.startswith("domain") else "mysql",
        "php_version": "8.2",
        "protocol": "https",
        "charset": "latin1",
        "collation": "utf8mb4_bin",
        "home": "/home/u",
        "shell": "/bin/bash",
        "path": "/blog",
        "values[0]": "b.example",
        "domain": "a.example",
        "domains[0]": "a.example",
        "name": "a.example" if label.startswith("domain.name") else "www",
    }
    if label == "webapp.type":
        sane["type"] = "static"
    value = sane.get(label.rsplit(".", 1)[1], "www")
    builders = {**NAME_FIELDS, **PATH_FIELDS}
    assert builders[label](value).check() == []


@pytest.mark.parametrize("value", FREE_TEXT_OK)
@pytest.mark.parametrize("label", TEXT_FIELDS)
def test_free_text_accepts_unicode_quotes_and_shell_syntax(label: str, value: str) -> None:
    if value == "" and label.startswith("domain"):
        value = "x"  # a TXT value may be empty in DNS, but here it must be a non-empty set item
    assert TEXT_FIELDS[label](value).check() == []


@pytest.mark.parametrize("value", FREE_TEXT_REFUSED, ids=repr)
@pytest.mark.parametrize("label", TEXT_FIELDS)
def test_free_text_refuses_controls_line_breaks_and_floods(label: str, value: str) -> None:
    errors = TEXT_FIELDS[label](value).check()
    assert [e.field for e in errors] == [label.split(".", 1)[1]]

"""Objects that name other objects: checked against every known object before planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import (
    Database,
    DatabaseUser,
    MailAddress,
    Mailbox,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.errors import InventoryError, ValidationError
from orchestra_core.inventory import parse_inventory
from orchestra_core.registry import Registry

ACCOUNTS = [Account(name="acme"), Account(name="other")]
USER = SystemUser(account="acme", name="acme")
APP = WebApp(account="acme", name="shop", system_user="acme")
SITE = Website(
    account="acme",
    name="main",
    domains=("acme.example",),
    contents=(WebsiteContent(path="/", webapp="shop"),),
)


@pytest.fixture
def orchestra(tmp_path: Path) -> Orchestra:
    routes = [
        Route(backend=f"dummy-{k}", servers=("box",)) for k in ("systemuser", "webapp", "website")
    ]
    return Orchestra(servers=[Server(name="box", root=str(tmp_path))], routes=routes)


def test_references_resolve_in_the_index(orchestra: Orchestra) -> None:
    index = ServiceIndex(ACCOUNTS, [USER, APP, SITE])
    plan = orchestra.plan(ChangeSet().save(SITE), index=index)
    assert [(op.action, op.object_keys) for op in plan.operations()] == [
        ("save", ("website:acme/main",)),
        ("reload", ("website:acme/main",)),
    ]


def test_a_missing_reference_names_the_field_and_the_key(orchestra: Orchestra) -> None:
    with pytest.raises(ValidationError) as info:
        orchestra.plan(ChangeSet().save(SITE), index=ServiceIndex(ACCOUNTS, [USER, SITE]))
    [error] = info.value.errors
    assert (error.object_key, error.field) == ("website:acme/main", "contents[0].webapp")
    assert "webapp:acme/shop" in error.message


def test_a_reference_to_another_account_is_refused(orchestra: Orchestra) -> None:
    theirs = SystemUser(account="other", name="acme")
    with pytest.raises(
        ValidationError,
        match="system_user: names systemuser:acme, which belongs to another account",
    ):
        orchestra.plan(ChangeSet().save(APP), index=ServiceIndex(ACCOUNTS, [theirs, APP]))


def test_mail_and_database_references() -> None:
    index = ServiceIndex(ACCOUNTS, [Mailbox(account="acme", address="a@acme.example")])
    ok = MailAddress(account="acme", address="b@acme.example", mailboxes=("a@acme.example",))
    bad = MailAddress(account="acme", address="c@acme.example", mailboxes=("x@acme.example",))
    assert ok.check_references(index) == []
    assert [e.field for e in bad.check_references(index)] == ["mailboxes[0]"]
    user = DatabaseUser(account="acme", username="u", databases=("shop", "blog"))
    db_index = ServiceIndex(ACCOUNTS, [Database(account="acme", name="shop")])
    assert [e.field for e in user.check_references(db_index)] == ["databases[1]"]


def test_inventory_reports_a_dangling_reference_at_its_line() -> None:
    text = """\
accounts:
  - name: acme
    webapps:
      - name: shop
        system_user: nobody
"""
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, filename="inv.yaml", service_types=Registry.load().by_plural())
    assert "inv.yaml:5:" in str(info.value)
    assert "systemuser:nobody" in str(info.value)

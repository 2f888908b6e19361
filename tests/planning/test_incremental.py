"""Incremental plans: only what differs from the last applied state is planned."""

from __future__ import annotations

import attrs
import pytest

from orchestra_core.catalogue import Domain, Mailbox, Record
from orchestra_core.model import Account
from orchestra_core.planning.incremental import RenameRefused, compare, snapshot
from orchestra_core.registry import Registry

TYPES = Registry.load().service_types
ACME = Account(name="acme")
A = Domain(account="acme", name="a.example", records=(Record(type="A", values=("192.0.2.1",)),))
B = Domain(account="acme", name="b.example")
BOX = Mailbox(account="acme", address="x@a.example")


def applied_from(*objects: object, accounts: tuple[Account, ...] = (ACME,)) -> dict[str, object]:
    from orchestra_core.model import ServiceIndex

    index = ServiceIndex(accounts, objects)  # type: ignore[arg-type]
    return {o.key: snapshot(o, index) for o in objects}  # type: ignore[attr-defined]


def ops(changes: object) -> list[tuple[str, str]]:
    return [(op.action, op.key) for op in changes.changeset.operations()]  # type: ignore[attr-defined]


def test_first_apply_saves_everything() -> None:
    changes = compare({}, [ACME], [A, BOX], TYPES)
    assert ops(changes) == [("save", "domain:a.example"), ("save", "mailbox:x@a.example")]
    assert changes.summary() == "2 new, 0 changed, 0 removed, 0 unchanged"


def test_only_changed_new_and_removed_objects_are_planned() -> None:
    applied = applied_from(A, BOX)
    edited = attrs.evolve(A, records=(Record(type="A", values=("192.0.2.2",)),))
    changes = compare(applied, [ACME], [edited, B], TYPES)  # type: ignore[arg-type]
    assert ops(changes) == [
        ("delete", "mailbox:x@a.example"),
        ("save", "domain:a.example"),
        ("save", "domain:b.example"),
    ]
    assert (changes.new, changes.changed, changes.removed, changes.unchanged) == (
        ("domain:b.example",),
        ("domain:a.example",),
        ("mailbox:x@a.example",),
        0,
    )
    deleted = changes.changeset.operations()[0].obj
    assert deleted == BOX  # rebuilt from the applied snapshot


def test_nothing_differs_nothing_planned_unless_all() -> None:
    applied = applied_from(A, BOX)
    assert compare(applied, [ACME], [A, BOX], TYPES).is_empty  # type: ignore[arg-type]
    full = compare(applied, [ACME], [A, BOX], TYPES, full=True)  # type: ignore[arg-type]
    assert [action for action, _ in ops(full)] == ["save", "save"]


def test_suspending_an_account_changes_each_of_its_services() -> None:
    applied = applied_from(A, BOX)
    changes = compare(applied, [Account(name="acme", is_active=False)], [A, BOX], TYPES)  # type: ignore[arg-type]
    assert changes.changed == ("domain:a.example", "mailbox:x@a.example")


def test_a_rename_is_refused_with_a_clear_message() -> None:
    applied = applied_from(BOX)
    renamed = Mailbox(account="acme", address="y@a.example")
    with pytest.raises(RenameRefused, match=r"renames mailbox:x@a.example -> mailbox:y@a.example"):
        compare(applied, [ACME], [renamed], TYPES)  # type: ignore[arg-type]
    allowed = compare(applied, [ACME], [renamed], TYPES, allow_renames=True)  # type: ignore[arg-type]
    assert ops(allowed) == [("delete", "mailbox:x@a.example"), ("save", "mailbox:y@a.example")]


def test_a_new_object_with_other_fields_is_not_a_rename() -> None:
    applied = applied_from(BOX)
    other = Mailbox(account="acme", address="y@a.example", quota=1000)
    assert ops(compare(applied, [ACME], [other], TYPES))[0] == ("delete", "mailbox:x@a.example")  # type: ignore[arg-type]

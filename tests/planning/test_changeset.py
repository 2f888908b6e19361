from __future__ import annotations

import pytest

from orchestra_core.errors import PlanningError
from orchestra_core.model import Secret, ServiceIndex
from orchestra_core.planning import ChangeSet
from tests.planning.helpers import Thing


def actions(changes: ChangeSet, index: ServiceIndex | None = None) -> list[tuple[str, str]]:
    return [(op.action, op.key) for op in changes.operations(index)]


def test_latest_save_wins() -> None:
    changes = ChangeSet().save(Thing(account="a", name="x", note="1"))
    changes.save(Thing(account="a", name="x", note="2"))
    [op] = changes.operations()
    assert op.action == "save"
    assert isinstance(op.obj, Thing) and op.obj.note == "2"


def test_delete_cancels_pending_save_and_password() -> None:
    thing = Thing(account="a", name="x")
    changes = ChangeSet().save(thing).set_password(thing, "pw").delete(thing)
    assert actions(changes) == [("delete", "thing:x")]


def test_save_after_delete_recreates() -> None:
    thing = Thing(account="a", name="x")
    changes = ChangeSet().delete(thing).save(thing)
    assert actions(changes) == [("save", "thing:x")]


def test_password_of_deleted_object_is_refused() -> None:
    thing = Thing(account="a", name="x")
    changes = ChangeSet().delete(thing)
    with pytest.raises(PlanningError, match="thing:x"):
        changes.set_password(thing, "pw")


def test_order_follows_first_mention() -> None:
    a, b = Thing(account="a", name="a"), Thing(account="a", name="b")
    changes = ChangeSet().save(b).save(a).set_password(b, "pw").save(b)
    assert actions(changes) == [
        ("save", "thing:b"),
        ("set_password", "thing:b"),
        ("save", "thing:a"),
    ]


def test_change_to_related_object_resaves_its_owner() -> None:
    zone = Thing(account="a", name="zone")
    child = Thing(account="a", name="child", parent="zone")
    grandchild = Thing(account="a", name="grandchild", parent="child")
    index = ServiceIndex([], [zone, child, grandchild])
    changes = ChangeSet().delete(grandchild)
    assert actions(changes, index) == [
        ("delete", "thing:grandchild"),
        ("save", "thing:child"),
        ("save", "thing:zone"),
    ]


def test_owner_being_deleted_is_not_resaved() -> None:
    zone = Thing(account="a", name="zone")
    child = Thing(account="a", name="child", parent="zone")
    index = ServiceIndex([], [child])
    changes = ChangeSet().delete(zone).save(child)
    assert actions(changes, index) == [("delete", "thing:zone"), ("save", "thing:child")]


def test_secret_is_redacted_in_reprs() -> None:
    thing = Thing(account="a", name="x")
    changes = ChangeSet().set_password(thing, "hunter2")
    [op] = changes.operations()
    assert op.secret == Secret("hunter2")
    assert "hunter2" not in repr(op)
    assert "hunter2" not in repr(changes)
    assert "hunter2" not in str(op.secret)

"""ServiceIndex look-ups and its per-index memo."""

from __future__ import annotations

import pytest

from orchestra_core.catalogue import Domain, Mailbox
from orchestra_core.errors import ValidationError
from orchestra_core.model import Account, ServiceIndex


def test_lookups_by_key_kind_type_and_account() -> None:
    a = Domain(account="acme", name="a.example")
    b = Mailbox(account="other", address="x@a.example")
    index = ServiceIndex([Account(name="acme", is_active=False)], [a, b])
    assert index.get("domain:a.example") is a and "mailbox:x@a.example" in index
    assert index.of_type(Domain) == [a] and index.of_kind("mailbox") == [b]
    assert index.of_account("other") == [b]
    assert not index.is_effectively_active(a)  # its account is suspended
    assert index.is_effectively_active(b)  # an unknown account suspends nothing


def test_two_objects_with_one_key_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"domain:a\.example: key"):
        ServiceIndex(
            [], [Domain(account="x", name="a.example"), Domain(account="y", name="a.example")]
        )


def test_memo_builds_once_per_index_and_key() -> None:
    calls: list[str] = []

    def build(tag: str) -> list[str]:
        calls.append(tag)
        return [tag]

    index, other = ServiceIndex(), ServiceIndex()
    assert index.memo("t.one", lambda: build("one")) == ["one"]
    assert index.memo("t.one", lambda: build("again")) == ["one"]
    assert index.memo("t.two", lambda: build("two")) == ["two"]
    assert other.memo("t.one", lambda: build("other")) == ["other"]
    assert calls == ["one", "two", "other"]

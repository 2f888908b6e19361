"""The guard against YAML bombs bounds what aliases expand, not an inventory's honest size:
an inventory of 6,000 domains with six records each is more than 200,000 values and was
refused outright; a few lines of aliases that expand to millions still are, at their line."""

from __future__ import annotations

import time

import pytest

from orchestra_core.errors import InventoryError
from orchestra_core.inventory.located import MAX_ALIAS_VALUES, read_yaml


def test_a_big_honest_document_is_read_whole() -> None:
    domains = "".join(
        f"- name: d{i}.example\n  records:\n"
        + "".join(f"    - {{name: r{j}, type: A, values: [192.0.2.{j}]}}\n" for j in range(6))
        for i in range(6_000)
    )
    data, lines = read_yaml(domains, "big.yaml")
    assert len(data) == 6_000 and data[-1]["records"][5]["values"] == ["192.0.2.5"]
    assert lines.line((5_999, "records", 5)) == 6_000 * 8
    # More values than the cap on aliases: the document's own values are not counted.
    assert MAX_ALIAS_VALUES < 6_000 * (2 + 6 * 6)


def test_aliases_that_expand_past_the_bound_are_refused_at_their_line() -> None:
    bomb = (
        'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
        "h: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    )
    started = time.monotonic()
    with pytest.raises(InventoryError) as caught:
        read_yaml(bomb, "bomb.yaml")
    # "f" is the first entry whose aliases repeat more than the bound (e's repeat 10,000).
    assert f"f: its aliases repeat more than {MAX_ALIAS_VALUES} values" in str(caught.value)
    assert caught.value.line == 6, caught.value
    assert time.monotonic() - started < 30  # stopped early, not after a billion values


def test_a_few_aliases_are_read() -> None:
    data, _ = read_yaml("base: &b {ttl: 300}\nzones:\n  - *b\n  - *b\n", "small.yaml")
    assert data["zones"] == [{"ttl": 300}, {"ttl": 300}]

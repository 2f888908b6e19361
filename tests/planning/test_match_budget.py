"""The bounded sandbox of route matches: what ordinary matches do still works, and each way of
building too much is refused before it builds it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestra_core.errors import RouteError
from orchestra_core.model import Route, Server, ServiceIndex
from orchestra_core.planning.budget import MAX_UNITS, Budget, ExpressionRefused, measure
from orchestra_core.planning.expressions import evaluate
from orchestra_core.planning.routing import Router, compile_match
from tests.planning.helpers import BACKENDS, Thing


def run(expression: str, **variables: Any) -> bool:
    return evaluate(compile_match(expression, route="r"), variables)


@pytest.mark.parametrize(
    "expression",
    [
        "name.endswith('.example') and not name.startswith('x')",
        "name.split('.')|first == 'a'",
        "name|upper|lower|length > 3",
        "'{}-{}'.format(name, 2) == 'a.example-2'",
        "'%s:%05d' % (name, 7) == 'a.example:00007'",
        "name ~ '!' == 'a.example!'",
        "(range(10)|map('string')|join(',')).count(',') == 9",
        "[1, 2, 3]|sum == 6 and 2 ** 10 == 1024 and 7 // 2 == 3 and -3 % 5 == 2",
        "name.replace('a', 'b') == 'b.exbmple' and 'ab' * 3 == 'ababab'",
        "dict(a=1).a == 1 and name is string and 4 is divisibleby 2",
        "(range(99999)|list|length) == 99999",
    ],
)
def test_ordinary_matches_still_work(expression: str) -> None:
    assert run(expression, name="a.example") is True


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        ("10**(10**8)", "a number of 300,000,000 bits"),
        ("2 ** 1024", "a number of 1,025 bits"),
        ("10**300 * 10**300", "a number of"),
        ("'x' * 10**9", "the * operator would build more than 1,000,000"),
        ("[0] * 10**9", "the * operator would build"),
        ("[[1] * 1000] * 1001", "the * operator would build"),
        ("'{0:>999999999}'.format(1)", "a format field"),
        ("'{0:{1}}'.format(1, 10**9)", "a format field"),
        ("('{0}' * 30000).format('x' * 99999)", "a format field"),
        ("'{0!r}'.format(['x' * 99999] * 20)", "the * operator"),
        ("'%0999999999d' % 1", "the % operator"),
        ("'%.999999999f' % 1.0", "the % operator"),
        ("'%*d' % (10**9, 1)", "a '*' width or precision"),
        ("'%s'|format('x' * 10**6)", "the format filter"),
        ("'%0999999999d'|format(1)", "the format filter"),
        ("'a'.center(10**9)", "center()"),
        ("'a'.ljust(10**9)", "ljust()"),
        ("'a'.rjust(10**9)", "rjust()"),
        ("'1'.zfill(10**9)", "zfill()"),
        ("'a'.encode().center(10**9)", "center()"),
        ("('\t' * 99999).expandtabs(99999)", "expandtabs()"),
        ("('a' * 99999).replace('a', 'b' * 99999)", "replace()"),
        ("('a' * 99999)|replace('a', 'b' * 99999)", "the replace filter"),
        ("(' ' * 99999).join(range(99999)|map('string'))", "join()"),
        ("range(99999)|map('string')|join(' ' * 99999)", "the join filter"),
        ("('a' * 999)|list|join('b' * 9999)", "the join filter"),
        ("([[0] * 999] * 999)|string", "the * operator"),
        ("[('x' * 99999)] * 11", "the * operator"),
        ("(1).to_bytes(10**9, 'big')", "to_bytes()"),
        ("('a' * 99999).translate({97: 'b' * 999})", "translate()"),
        ("[[1], [2]]|sum(start=[])", "the sum filter adds numbers only"),
        ("('x' * 600000) ~ ('y' * 600000)", "the * operator"),
    ],
)
def test_too_much_work_is_refused_before_it_is_done(expression: str, said: str) -> None:
    with pytest.raises(ExpressionRefused, match=None) as caught:
        run(expression)
    assert said in str(caught.value)


def test_the_budget_is_for_the_whole_evaluation() -> None:
    """Each half fits; both do not: what one evaluation builds is added up."""
    assert run("('x' * 600000)|length == 600000")
    with pytest.raises(ExpressionRefused, match="600,000 characters or items"):
        run("('x' * 600000)|length + ('y' * 600000)|length")


def test_a_match_that_runs_too_long_is_stopped() -> None:
    budget = Budget(deadline=time.monotonic() - 1)
    with pytest.raises(ExpressionRefused, match="ran longer than 1 s"):
        budget.tick()


def test_a_shared_value_is_measured_as_often_as_it_appears() -> None:
    text = "x" * 1000
    assert measure([text] * 10) == 1 + 10 * 1000
    assert measure({"k": [text, text]}) == 1 + 1 + (1 + 2000)
    assert measure([text] * 2000, cap=10_000) == 10_001
    assert measure(range(MAX_UNITS)) == MAX_UNITS


@pytest.mark.parametrize(
    "expression", ["lipsum(n=10**6)", "cycler(1, 2)", "joiner(',')", "namespace(a=1)"]
)
def test_only_range_and_dict_are_global(expression: str) -> None:
    with pytest.raises(Exception, match="is undefined"):
        run(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "'x'|center(10**9)",
        "'x'|indent(10**9)",
        "'x'|wordwrap(1, wrapstring='y' * 99999)",
        "'x'|tojson(indent=10**9)",
        "[1]|batch(10**9, 0)|list",
        "[1]|slice(10**9)|list",
        "range(3)|random",
        "not " * 300 + "1",
        "(" * 400 + "1" + ")" * 400,
    ],
)
def test_filters_that_lay_out_text_and_deep_nesting_are_not_valid_matches(
    expression: str,
) -> None:
    with pytest.raises(RouteError, match="invalid match expression"):
        compile_match(expression, route="r")


def test_a_match_cannot_change_what_it_routes() -> None:
    options = {"tier": "bronze"}
    for expression in (
        "options.update({'tier': 'gold'}) or True",
        "options.setdefault('x', 1) or True",
        "options.pop('tier') or True",
        "names.append('x') or True",
        "names.sort() or True",
    ):
        with pytest.raises(Exception, match="unsafe"):
            run(expression, options=options, names=["a"])
    assert options == {"tier": "bronze"}


def test_a_refusal_for_an_object_names_the_route_and_where_it_was_declared() -> None:
    route = Route(backend="thing-files", servers=("s1",), match="'a'.center(10**9)", name="big")
    router = Router([Server(name="s1")], [route.declared_at("inv.yaml:7")], BACKENDS)
    with pytest.raises(RouteError) as caught:
        router.targets("thing-files", Thing(account="a", name="t"), ServiceIndex())
    assert str(caught.value).startswith("inv.yaml:7: route big for thing:t: refused: center()")
    assert caught.value.source == "inv.yaml:7" and caught.value.object_key == "thing:t"


def test_where_a_route_was_declared_is_not_part_of_its_value() -> None:
    route = Route(backend="thing-files", servers=("s1",))
    located = route.declared_at("inv.yaml:3")
    assert located == route and located.source == "inv.yaml:3" and route.source is None
    assert "inv.yaml" not in repr(located)

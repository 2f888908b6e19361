from __future__ import annotations

import pytest

from orchestra_core.errors import RouteError
from orchestra_core.model import Account, Route, Server, ServiceIndex
from orchestra_core.planning.routing import Router
from tests.planning.helpers import BACKENDS, Thing

SERVERS = [Server(name="s1"), Server(name="s2")]


def router(*routes: Route) -> Router:
    return Router(SERVERS, list(routes), BACKENDS)


def test_match_expression_selects_servers() -> None:
    r = router(
        Route(backend="thing-files", servers=("s1",), match='thing.name.endswith(".example")'),
        Route(backend="thing-files", servers=("s2",), match='obj.name.startswith("b")'),
    )
    index = ServiceIndex()
    names = lambda t: [s.name for s, _ in r.targets("thing-files", t, index)]  # noqa: E731
    assert names(Thing(account="a", name="a.example")) == ["s1"]
    assert names(Thing(account="a", name="b.example")) == ["s1", "s2"]
    assert names(Thing(account="a", name="c.other")) == []


def test_account_is_visible_to_expressions() -> None:
    r = router(Route(backend="thing-files", servers=("s1",), match="account.email == 'x@y.z'"))
    index = ServiceIndex([Account(name="a", email="x@y.z")])
    assert r.targets("thing-files", Thing(account="a", name="t"), index)


def test_unknown_backend_is_an_error_at_load_time() -> None:
    with pytest.raises(RouteError, match="backend 'nope' is not installed"):
        router(Route(backend="nope", servers=("s1",)))


def test_unknown_server_is_an_error() -> None:
    with pytest.raises(RouteError, match="unknown servers"):
        router(Route(backend="thing-files", servers=("s9",)))


def test_syntax_error_names_the_route() -> None:
    with pytest.raises(RouteError, match="invalid match expression"):
        router(Route(backend="thing-files", servers=("s1",), match="thing.name ==", name="dns"))


@pytest.mark.parametrize(
    "expression",
    [
        "thing.__class__.__mro__",
        "thing.__init__.__globals__",
        "().__class__.__bases__[0].__subclasses__()",
    ],
)
def test_expressions_cannot_escape_the_sandbox(expression: str) -> None:
    r = router(Route(backend="thing-files", servers=("s1",), match=expression, name="evil"))
    with pytest.raises(RouteError, match="evil"):
        r.targets("thing-files", Thing(account="a", name="t"), ServiceIndex())


def test_undefined_names_fail_loudly() -> None:
    r = router(Route(backend="thing-files", servers=("s1",), match="domain.name == 'x'"))
    with pytest.raises(RouteError, match="thing:t"):
        r.targets("thing-files", Thing(account="a", name="t"), ServiceIndex())

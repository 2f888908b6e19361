from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from orchestra_core.backends import Backend
from orchestra_core.backends.settings import build_settings
from orchestra_core.backends.steps import Reload, WriteFile
from orchestra_core.errors import (
    ConfigurationError,
    DependencyCycleError,
    SandboxViolation,
    ValidationError,
)
from orchestra_core.model import Account, Route, Server, ServiceIndex
from orchestra_core.planning import ChangeSet, Planner, dependency_order

from .conftest import BACKENDS, Thing, ThingFiles, ThingUsers

SERVERS = [Server(name="s1", root="/sandbox/s1"), Server(name="s2")]
ROUTES = [
    Route(backend="thing-files", servers=("s1", "s2")),
    Route(backend="thing-users", servers=("s1",)),
    Route(backend="thing-web", servers=("s1",), match="thing.name != 'noweb'"),
]


def planner(**kw: Any) -> Planner:
    return Planner(
        kw.get("backends", BACKENDS), kw.get("servers", SERVERS), kw.get("routes", ROUTES)
    )


def test_dependency_order_ignores_missing_and_is_stable() -> None:
    assert dependency_order(BACKENDS) == ["thing-files", "thing-users", "thing-web"]


def test_dependency_cycle_is_named() -> None:
    class A(ThingUsers):
        name = "a"
        after = ("b",)

    class B(ThingUsers):
        name = "b"
        after = ("a",)

    with pytest.raises(DependencyCycleError) as info:
        dependency_order({"a": A, "b": B})
    assert info.value.cycle == ("a", "b", "a")


def test_saves_in_dependency_order_deletes_reversed_and_first() -> None:
    keep = Thing(account="acme", name="keep")
    gone = Thing(account="acme", name="gone")
    changes = ChangeSet().save(keep).delete(gone)
    plan = planner().plan(changes, ServiceIndex([], [keep]))
    s1 = next(sp for sp in plan.servers if sp.server.name == "s1")
    assert [(op.action, op.backend, op.object_keys[0]) for op in s1.operations] == [
        ("delete", "thing-web", "thing:gone"),
        ("delete", "thing-users", "thing:gone"),
        ("delete", "thing-files", "thing:gone"),
        ("save", "thing-files", "thing:keep"),
        ("reload", "thing-files", "thing:gone"),
        ("save", "thing-users", "thing:keep"),
        ("save", "thing-web", "thing:keep"),
    ]
    # The reload covers both objects: the delete and the save both notified the daemon.
    assert s1.operations[4].object_keys == ("thing:gone", "thing:keep")


def test_one_reload_per_daemon_after_its_last_notifying_step() -> None:
    things = [Thing(account="acme", name=n) for n in ("a", "b", "c")]
    changes = ChangeSet()
    for t in things:
        changes.save(t)
    plan = planner().plan(changes, ServiceIndex([], things))
    s2 = next(sp for sp in plan.servers if sp.server.name == "s2")
    assert [op.action for op in s2.operations] == ["save", "save", "save", "reload"]
    reload_op = s2.operations[-1]
    assert reload_op.object_keys == ("thing:a", "thing:b", "thing:c")
    [step] = reload_op.steps
    assert isinstance(step, Reload) and step.daemon == "thingd" and step.script == "true"


def test_paths_go_under_the_sandbox_root() -> None:
    thing = Thing(account="acme", name="a")
    plan = planner().plan(ChangeSet().save(thing), ServiceIndex([], [thing]))
    paths = {
        sp.server.name: [s.path for s in sp.steps if isinstance(s, WriteFile)]
        for sp in plan.servers
    }
    assert paths == {"s1": ["/sandbox/s1/srv/things/a"], "s2": ["/srv/things/a"]}


def test_dot_dot_cannot_climb_out_of_the_root() -> None:
    thing = Thing(account="acme", name="a")
    routes = [
        Route(backend="thing-files", servers=("s1",), settings={"directory": "/srv/../../etc"})
    ]
    plan = planner(routes=routes).plan(ChangeSet().save(thing), ServiceIndex([], [thing]))
    [path] = [s.path for s in plan.servers[0].steps if isinstance(s, WriteFile)]
    assert path == "/sandbox/s1/etc/a"


def test_step_escaping_the_sandbox_is_refused() -> None:
    class Escaping(ThingFiles):
        name = "escaping"

        def render(self, ctx: Any) -> Any:
            return [WriteFile(description="x", path="/sandbox/s1/../etc/passwd", content="")]

    thing = Thing(account="acme", name="a")
    p = Planner({"escaping": Escaping}, SERVERS, [Route(backend="escaping", servers=("s1",))])
    with pytest.raises(SandboxViolation, match="outside the sandbox root"):
        p.plan(ChangeSet().save(thing), ServiceIndex([], [thing]))


def test_route_and_server_settings_override_defaults() -> None:
    servers = [Server(name="s1", settings={"thing-files": {"directory": "/from-server"}})]
    routes = [
        Route(backend="thing-files", servers=("s1",), match="thing.name == 'a'"),
        Route(
            backend="thing-files",
            servers=("s1",),
            match="thing.name == 'b'",
            settings={"directory": "/from-route"},
        ),
    ]
    p = planner(servers=servers, routes=routes)
    things = [Thing(account="x", name="a"), Thing(account="x", name="b")]
    plan = p.plan(ChangeSet().save(things[0]).save(things[1]), ServiceIndex([], things))
    paths = [s.path for s in plan.servers[0].steps if isinstance(s, WriteFile)]
    assert paths == ["/from-server/a", "/from-route/b"]


def test_unknown_setting_is_a_clear_error() -> None:
    routes = [Route(backend="thing-files", servers=("s2",), settings={"directroy": "/x"})]
    thing = Thing(account="x", name="a")
    with pytest.raises(ConfigurationError, match=r"thing-files on server s2.*directroy"):
        planner(routes=routes).plan(ChangeSet().save(thing), ServiceIndex([], [thing]))


def test_all_validation_errors_are_raised_together_and_nothing_is_planned() -> None:
    bad1, bad2 = Thing(account="x", name="a b"), Thing(account="x", name="c d")
    with pytest.raises(ValidationError) as info:
        planner().plan(ChangeSet().save(bad1).save(bad2), ServiceIndex([], [bad1, bad2]))
    assert [(e.object_key, e.field) for e in info.value.errors] == [
        ("thing:a b", "name"),
        ("thing:c d", "name"),
    ]


def test_suspended_account_renders_inactive() -> None:
    thing = Thing(account="acme", name="a")
    index = ServiceIndex([Account(name="acme", is_active=False)], [thing])
    plan = planner(routes=ROUTES[:1]).plan(ChangeSet().save(thing), index)
    contents = [s.content for s in plan.servers[0].steps if isinstance(s, WriteFile)]
    assert contents == ["a off\n"]


def test_unrouted_objects_are_listed() -> None:
    thing = Thing(account="acme", name="noweb")
    routes = [Route(backend="thing-web", servers=("s1",), match="thing.name != 'noweb'")]
    plan = planner(routes=routes).plan(ChangeSet().save(thing), ServiceIndex([], [thing]))
    assert plan.is_empty and plan.unrouted == ("thing:noweb",)


def test_plan_is_pure_data_and_redacts_sensitive_steps() -> None:
    thing = Thing(account="acme", name="a")
    changes = ChangeSet().set_password(thing, "hunter2")
    plan = planner(routes=ROUTES[:1]).plan(changes, ServiceIndex([], [thing]))
    again = planner(routes=ROUTES[:1]).plan(changes, ServiceIndex([], [thing]))
    assert plan == again
    text = json.dumps(plan.to_dict()) + plan.render_text()
    assert "hunter2" not in text
    assert '"content": "********"' in json.dumps(plan.to_dict())


def test_plan_text_shows_full_file_content() -> None:
    thing = Thing(account="acme", name="a")
    plan = planner(routes=ROUTES[:1]).plan(ChangeSet().save(thing), ServiceIndex([], [thing]))
    text = plan.render_text()
    assert "server s1 via local (root /sandbox/s1)" in text
    assert "+a on" in text
    assert "reload thingd if a step changed it:\n      $ true\n" in text


def test_backend_errors_name_backend_and_object() -> None:
    class Broken(ThingFiles):
        name = "broken"

        def render(self, ctx: Any) -> Any:
            raise KeyError("boom")

    backends: dict[str, type[Backend[Any]]] = {"broken": Broken}
    thing = Thing(account="acme", name="a")
    p = Planner(backends, SERVERS, [Route(backend="broken", servers=("s2",))])
    with pytest.raises(Exception, match=r"backend broken \(thing:a\): rendering save failed"):
        p.plan(ChangeSet().save(thing), ServiceIndex([], [thing]))


def test_backends_see_the_servers_another_backend_sends_the_object_to() -> None:
    seen: dict[str, list[tuple[str, str]]] = {}

    class Master(ThingFiles):
        name = "master"
        reads_peers = ("slave",)

        def render(self, ctx: Any) -> Any:
            seen[ctx.server.name] = [(s.name, st.directory) for s, st in ctx.peers("slave")]
            return []

    class Slave(ThingFiles):
        name = "slave"

    servers = [Server(name="m"), Server(name="s1"), Server(name="s2"), Server(name="s3")]
    routes = [
        Route(backend="master", servers=("m",)),
        Route(backend="slave", servers=("s1",), settings={"directory": "/one"}),
        Route(backend="slave", servers=("s2",), match="thing.name == 'other'"),
        Route(backend="slave", servers=("s3",)),
    ]
    p = Planner({"master": Master, "slave": Slave}, servers, routes)
    thing = Thing(account="acme", name="a")
    p.plan(ChangeSet().save(thing), ServiceIndex([], [thing]))
    assert seen["m"] == [("s1", "/one"), ("s3", "/srv/things")]


def test_a_dependency_on_another_server_runs_one_wave_later() -> None:
    class Master(ThingFiles):
        name = "master"

    class Slave(ThingFiles):
        name = "slave"
        after = ("master",)

    servers = [Server(name="m"), Server(name="s"), Server(name="both")]
    routes = [
        Route(backend="master", servers=("m", "both")),
        Route(backend="slave", servers=("s", "both")),
    ]
    p = Planner({"master": Master, "slave": Slave}, servers, routes)
    thing = Thing(account="acme", name="a")
    plan = p.plan(ChangeSet().save(thing), ServiceIndex([], [thing]))
    waves = [(sp.wave, sp.server.name, [op.backend for op in sp.operations]) for sp in plan.servers]
    assert waves == [
        (0, "both", ["master", "slave", "slave"]),  # local order is enough; one reload
        (0, "m", ["master", "master"]),
        (1, "s", ["slave", "slave"]),  # its master is elsewhere: after wave 0
    ]
    assert "server s via local, wave 2" in plan.render_text()
    deleted = p.plan(ChangeSet().delete(thing), ServiceIndex([], []))
    assert {sp.wave for sp in deleted.servers} == {0}


def test_settings_errors_keep_the_validators_words() -> None:
    @attrs.frozen(kw_only=True)
    class Picky:
        mode: str = attrs.field(default="a", validator=attrs.validators.in_(("a", "b")))
        count: int = 1

    with pytest.raises(ConfigurationError) as info:
        build_settings(Picky, {"mode": "c"}, where="backend x on server s")
    assert str(info.value) == (
        "settings of backend x on server s: setting 'mode' must be one of 'a', 'b', got 'c'"
    )
    with pytest.raises(ConfigurationError) as info:
        build_settings(Picky, {"count": "many"}, where="backend x on server s")
    assert str(info.value).endswith("setting 'count' must be an integer, got 'many'")

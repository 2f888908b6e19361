from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from orchestra_core.backends import Backend
from orchestra_core.backends.settings import build_settings
from orchestra_core.backends.steps import (
    CANDIDATE,
    AssembleFile,
    DeleteFile,
    Derived,
    Reload,
    WriteFile,
)
from orchestra_core.errors import (
    BackendError,
    ConfigurationError,
    DependencyCycleError,
    SandboxViolation,
    ValidationError,
)
from orchestra_core.model import Account, Route, Server, ServiceIndex
from orchestra_core.planning import ChangeSet, Planner, dependency_order
from tests.planning.helpers import BACKENDS, Thing, ThingFiles, ThingUsers

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


# -- files assembled from many objects' fragments ------------------------------------------


@attrs.frozen(kw_only=True)
class MapSettings:
    directory: str = "/etc/thingd"
    checker: str = "thingd-check"
    reload_command: str = "thingd reload"


class ThingMap(Backend[Any]):
    """Each thing writes its line of one map; the map is assembled and checked whole."""

    name = "thing-map"
    service_type = Thing
    daemon = "thingd"
    settings_class = MapSettings
    actions = frozenset({"save", "delete"})
    map_name = "things"

    def assembly(self, ctx: Any) -> AssembleFile:
        folder = ctx.path(ctx.settings.directory)
        return AssembleFile(
            description=f"map of {self.map_name}",
            path=f"{folder}/{self.map_name}",
            fragments=f"{folder}/{self.map_name}.d",
            suffix=".map",
            validate=(ctx.settings.checker, CANDIDATE),
            derived=(Derived(argv=("thingd-map", "hash:" + CANDIDATE), outputs=(".db",)),),
            notify=self.daemon,
        )

    def render(self, ctx: Any) -> Any:
        target = self.assembly(ctx)
        path = f"{target.fragments}/{ctx.obj.name}.map"
        if ctx.action == "delete":
            return [DeleteFile(description="line", path=path, fragment_of=target)]
        return [
            WriteFile(
                description="line", path=path, content=f"{ctx.obj.name} x\n", fragment_of=target
            )
        ]

    def reload(self, server: Server, settings: Any, daemon: str) -> str | None:
        return str(settings.reload_command)


class ThingAlias(ThingMap):
    """A second backend writing fragments of the same map."""

    name = "thing-alias"
    after = ("thing-map",)

    def render(self, ctx: Any) -> Any:
        target = self.assembly(ctx)
        path = f"{target.fragments}/{ctx.obj.name}-alias.map"
        return [WriteFile(description="alias", path=path, content="a b\n", fragment_of=target)]


class ThingOther(ThingMap):
    """Fragments of another map."""

    name = "thing-other"
    after = ("thing-alias", "thing-map")
    map_name = "others"


class ThingLater(ThingUsers):
    """Runs after the map backends and touches no map."""

    name = "thing-later"
    after = ("thing-other",)


MAP_BACKENDS: dict[str, type[Backend[Any]]] = {
    b.name: b for b in (ThingMap, ThingAlias, ThingOther, ThingLater)
}


def map_plan(names: list[str], backends: list[str], **kw: Any) -> Any:
    things = [Thing(account="acme", name=n) for n in names]
    routes = kw.get("routes") or [Route(backend=b, servers=("s1",)) for b in backends]
    p = Planner({b: MAP_BACKENDS[b] for b in kw.get("installed", backends)}, SERVERS, routes)
    changes = kw.get("changes") or ChangeSet()
    if "changes" not in kw:
        for t in things:
            changes.save(t)
    return p.plan(changes, ServiceIndex([], things))


def test_one_assembly_per_file_and_batch_after_its_last_fragment_before_the_reload() -> None:
    plan = map_plan(["a", "b", "c"], ["thing-map", "thing-alias", "thing-later"])
    [s1] = plan.servers
    assert [(op.action, op.backend) for op in s1.operations] == [
        ("save", "thing-map"),
        ("save", "thing-map"),
        ("save", "thing-map"),
        ("save", "thing-alias"),
        ("save", "thing-alias"),
        ("save", "thing-alias"),
        ("assemble", "thing-alias"),
        ("reload", "thing-alias"),
        ("save", "thing-later"),
        ("save", "thing-later"),
        ("save", "thing-later"),
    ]
    assemble = s1.operations[6]
    assert assemble.object_keys == ("thing:a", "thing:b", "thing:c")
    assert assemble.id == "s1:thing-alias:assemble:/sandbox/s1/etc/thingd/things"
    [step] = assemble.steps
    assert isinstance(step, AssembleFile) and step.path == "/sandbox/s1/etc/thingd/things"
    # The fragments notify nothing: the assembly does, so the reload follows only it.
    assert all(s.notify is None for op in s1.operations[:6] for s in op.steps)
    assert step.notify == "thingd"
    assert s1.operations[7].object_keys == ("thing:a", "thing:b", "thing:c")


def test_two_files_two_assemblies_and_one_reload() -> None:
    plan = map_plan(["a"], ["thing-map", "thing-other"])
    [s1] = plan.servers
    actions = [op.action for op in s1.operations]
    assert actions == ["save", "assemble", "save", "assemble", "reload"]
    paths = [op.steps[0].path for op in s1.operations if op.action == "assemble"]  # type: ignore[attr-defined]
    assert paths == ["/sandbox/s1/etc/thingd/things", "/sandbox/s1/etc/thingd/others"]


def test_an_assembly_follows_its_own_last_fragment() -> None:
    """A file whose fragments are all in early operations is assembled there, not at the end."""
    plan = map_plan(["a"], ["thing-map", "thing-other", "thing-later"])
    [s1] = plan.servers
    assert [(op.action, op.backend) for op in s1.operations] == [
        ("save", "thing-map"),
        ("assemble", "thing-map"),
        ("save", "thing-other"),
        ("assemble", "thing-other"),
        ("reload", "thing-other"),
        ("save", "thing-later"),
    ]


def test_no_fragment_no_assembly() -> None:
    plan = map_plan(["a"], ["thing-later"])
    assert [op.action for op in plan.servers[0].operations] == ["save"]


def test_deletes_are_assembled_too() -> None:
    gone = Thing(account="acme", name="gone")
    plan = map_plan(["a"], ["thing-map"], changes=ChangeSet().delete(gone))
    [s1] = plan.servers
    assert [(op.action, op.object_keys) for op in s1.operations] == [
        ("delete", ("thing:gone",)),
        ("assemble", ("thing:gone",)),
        ("reload", ("thing:gone",)),
    ]


def test_one_file_built_two_ways_by_two_saves_is_an_error() -> None:
    routes = [
        Route(backend="thing-map", servers=("s1",)),
        Route(backend="thing-alias", servers=("s1",), settings={"checker": "other-check"}),
    ]
    with pytest.raises(BackendError, match="validate differ") as info:
        map_plan(["a"], ["thing-map", "thing-alias"], routes=routes)
    assert "backend thing-alias" in str(info.value)


def test_a_delete_rendered_with_other_settings_builds_the_file_as_the_saves_say() -> None:
    """A delete is rendered with the settings it was applied with: the saves' settings are
    today's, and they decide how the file is built."""
    gone, kept = Thing(account="acme", name="gone"), Thing(account="acme", name="kept")
    routes = [
        Route(
            backend="thing-map",
            servers=("s1",),
            match="thing.name == 'gone'",
            settings={"checker": "old-check"},
        ),
        Route(backend="thing-alias", servers=("s1",)),
    ]
    p = Planner({b: MAP_BACKENDS[b] for b in ("thing-map", "thing-alias")}, SERVERS, routes)
    plan = p.plan(ChangeSet().delete(gone).save(kept), ServiceIndex([], [kept]))
    [assemble] = [op for op in plan.servers[0].operations if op.action == "assemble"]
    assert assemble.steps[0].validate == ("thingd-check", CANDIDATE)  # type: ignore[attr-defined]


def test_an_assembled_file_outside_the_sandbox_is_refused() -> None:
    class Escaping(ThingMap):
        name = "escaping"

        def render(self, ctx: Any) -> Any:
            target = AssembleFile(
                description="x",
                path="/etc/passwd",
                fragments="/sandbox/s1/frags",
                suffix=".map",
            )
            return [
                WriteFile(
                    description="x", path="/sandbox/s1/frags/a.map", content="", fragment_of=target
                )
            ]

    thing = Thing(account="acme", name="a")
    p = Planner({"escaping": Escaping}, SERVERS, [Route(backend="escaping", servers=("s1",))])
    with pytest.raises(SandboxViolation, match="outside the sandbox root"):
        p.plan(ChangeSet().save(thing), ServiceIndex([], [thing]))


def test_plan_json_and_text_show_the_assembly() -> None:
    plan = map_plan(["a"], ["thing-map"])
    data = json.loads(json.dumps(plan.to_dict()))
    ops = data["servers"][0]["operations"]
    fragment = ops[0]["steps"][0]
    assert fragment["fragment_of"] == "/sandbox/s1/etc/thingd/things"
    [assemble] = ops[1]["steps"]
    assert assemble["kind"] == "assemble"
    assert assemble["fragments"] == "/sandbox/s1/etc/thingd/things.d"
    assert assemble["derived"] == [{"argv": ["thingd-map", "hash:{candidate}"], "outputs": [".db"]}]
    assert assemble["header"].startswith("# Managed by orchestra: assembled from ")
    text = plan.render_text()
    assert "  fragment of: /sandbox/s1/etc/thingd/things\n" in text
    assert (
        "assemble /sandbox/s1/etc/thingd/things (mode 0644) from "
        "/sandbox/s1/etc/thingd/things.d/*.map" in text
    )
    assert "validated by: thingd-check '{candidate}'" in text

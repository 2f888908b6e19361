"""What the applied state does for zones against real named masters and slaves: a zone moved
to another master stops being served by the old one, a slave added to a route gets every zone,
a settings change renders every zone again, a zone unrouted and routed again comes back, a
zone file edited by hand is reported and not overwritten without --force, and a zone saved
alone keeps its subdomains' records. Through the API on PostgreSQL and through the command
line on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest
import yaml
from orchestra_bind9.testing import NamedFactory, NamedInstance

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server
from orchestra_core.catalogue import Domain, Record
from orchestra_core.model.service import Service
from orchestra_core.storage import open_store
from orchestra_core.storage.protocol import Store

pytestmark = pytest.mark.daemon

NS = ["ns1.dns.test", "ns2.dns.test"]
ACME = Account(name="acme")
A = Domain(account="acme", name="a.example", records=(Record(type="A", values=("192.0.2.1",)),))
B = Domain(account="acme", name="b.example", records=(Record(type="A", values=("192.0.2.2",)),))
WWW = Domain(
    account="acme", name="www.a.example", records=(Record(type="A", values=("192.0.2.80",)),)
)
ORCHESTRA = str(Path(sys.executable).with_name("orchestra"))


class Fleet:
    """Named instances as servers, and engines over one store with whatever routes a test
    gives them."""

    def __init__(self, nameds: dict[str, NamedInstance], store: Store) -> None:
        self.nameds = nameds
        self.store = store
        self.engines: list[Orchestra] = []

    def servers(self) -> list[Server]:
        servers = []
        for name, named in self.nameds.items():
            settings = named.settings(nameservers=NS)
            servers.append(
                Server(
                    name=name,
                    settings={
                        "state_dir": str(named.dir / "orchestra"),
                        "bind9-master": settings,
                        "bind9-slave": settings,
                    },
                )
            )
        return servers

    def engine(
        self, masters: Sequence[str], slaves: Sequence[str] = (), **route: object
    ) -> Orchestra:
        routes = [Route(backend="bind9-master", servers=tuple(masters), **route)]  # type: ignore[arg-type]
        if slaves:
            routes.append(Route(backend="bind9-slave", servers=tuple(slaves)))
        engine = Orchestra(servers=self.servers(), routes=routes, store=self.store)
        self.engines.append(engine)
        return engine

    def apply(self, engine: Orchestra, *zones: Service, **kw: object) -> list[tuple[str, str, str]]:
        result = engine.apply(engine.plan_inventory([ACME], zones, **kw))  # type: ignore[arg-type]
        assert result.ok, [(g.server, g.action, g.state.value, g.stderr) for g in result.logs]
        return sorted(
            (log.server, log.action, log.object_keys[0])
            for log in result.logs
            if log.action not in ("reload", "assemble")
        )


@pytest.fixture
def fleet(named_factory: NamedFactory, postgres_url: str) -> Iterator[Fleet]:
    nameds = {name: named_factory(name) for name in ("ns1", "ns2", "ns3")}
    store = open_store(postgres_url)
    made = Fleet(nameds, store)
    yield made
    for engine in made.engines:
        engine.close()
    store.close()  # type: ignore[attr-defined]


def test_a_zone_moved_to_another_master_stops_being_served_by_the_old_one(fleet: Fleet) -> None:
    ns1, ns2 = fleet.nameds["ns1"], fleet.nameds["ns2"]
    fleet.apply(fleet.engine(["ns1"]), A, B)
    assert ns1.answers("a.example") == ["192.0.2.1"]
    ran = fleet.apply(
        fleet.engine(["ns1"], match="domain.name == 'b.example'"), A, B, allow_deletes=True
    )
    assert ran == [("ns1", "delete", "domain:a.example")]  # a.example is routed nowhere now
    moved = fleet.engine(["ns2"])
    ran = fleet.apply(moved, A, B)
    assert ran == [
        ("ns1", "delete", "domain:b.example"),
        ("ns2", "save", "domain:a.example"),
        ("ns2", "save", "domain:b.example"),
    ]
    assert ns2.answers("a.example") == ["192.0.2.1"] and ns2.answers("b.example") == ["192.0.2.2"]
    assert ns1.rcode("a.example") == "REFUSED" and ns1.rcode("b.example") == "REFUSED"
    assert not list(ns1.zone_dir.glob("*.zone")) and not list(ns1.conf_dir.glob("zones/*.conf"))
    assert moved.plan_inventory([ACME], [A, B]).is_empty and moved.check().clean


def test_a_slave_added_to_a_route_gets_every_zone(fleet: Fleet) -> None:
    ns2, ns3 = fleet.nameds["ns2"], fleet.nameds["ns3"]
    fleet.apply(fleet.engine(["ns1"], ["ns2"]), A, B)
    assert ns2.wait_for(lambda: ns2.answers("b.example") == ["192.0.2.2"])
    both = fleet.engine(["ns1"], ["ns2", "ns3"])
    ran = fleet.apply(both, A, B)
    # The new slave gets each zone; the master lets it transfer them and notifies it.
    assert ran == [
        ("ns1", "save", "domain:a.example"),
        ("ns1", "save", "domain:b.example"),
        ("ns3", "save", "domain:a.example"),
        ("ns3", "save", "domain:b.example"),
    ]
    assert ns3.wait_for(lambda: ns3.answers("a.example") == ["192.0.2.1"])
    assert ns3.wait_for(lambda: ns3.answers("b.example") == ["192.0.2.2"])
    stanza = (fleet.nameds["ns1"].conf_dir / "zones" / "a.example.conf").read_text()
    assert f"port {ns3.port}" in stanza
    assert both.plan_inventory([ACME], [A, B]).is_empty


def test_a_settings_change_renders_every_zone_again(fleet: Fleet) -> None:
    ns1 = fleet.nameds["ns1"]
    fleet.apply(fleet.engine(["ns1"]), A, B)
    changed = fleet.engine(["ns1"], settings={"ttl": 1234})
    assert fleet.apply(changed, A, B) == [
        ("ns1", "save", "domain:a.example"),
        ("ns1", "save", "domain:b.example"),
    ]
    reply = ns1.query("b.example", "A")
    assert reply.answer and reply.answer[0].ttl == 1234
    assert changed.plan_inventory([ACME], [A, B]).is_empty


def test_a_zone_unrouted_then_routed_again_comes_back(fleet: Fleet) -> None:
    ns1 = fleet.nameds["ns1"]
    fleet.apply(fleet.engine(["ns1"]), A, B)
    narrowed = fleet.engine(["ns1"], match="domain.name != 'a.example'")
    plan = narrowed.plan_inventory([ACME], [A, B])
    assert plan.unrouted == ("domain:a.example",)
    assert narrowed.apply(plan).ok
    assert ns1.rcode("a.example") == "REFUSED" and "domain:a.example" not in fleet.store.applied()
    fleet.apply(fleet.engine(["ns1"]), A, B)
    assert ns1.answers("a.example") == ["192.0.2.1"]


def test_a_zone_saved_alone_keeps_its_subdomains_records(fleet: Fleet) -> None:
    ns1 = fleet.nameds["ns1"]
    engine = fleet.engine(["ns1"])
    fleet.apply(engine, A, WWW)
    assert ns1.answers("www.a.example") == ["192.0.2.80"]
    # The application re-saves the zone alone, as a panel does after an edit.
    edited = attrs.evolve(A, records=(Record(type="A", values=("192.0.2.9",)),))
    assert engine.apply(engine.plan(ChangeSet().save(edited))).ok
    assert ns1.answers("a.example") == ["192.0.2.9"]
    assert ns1.answers("www.a.example") == ["192.0.2.80"]


def test_a_zone_file_edited_by_hand_is_reported_and_kept_until_forced(
    named_factory: NamedFactory, tmp_path: Path
) -> None:
    ns1 = named_factory("ns1")
    settings = ns1.settings(nameservers=NS)
    inventory = {
        "servers": [
            {
                "name": "ns1",
                "transport": "local",
                "settings": {"state_dir": str(ns1.dir / "orchestra"), "bind9-master": settings},
            }
        ],
        "routes": [{"backend": "bind9-master", "servers": ["ns1"]}],
        "accounts": [
            {
                "name": "acme",
                "domains": [
                    {"name": "a.example", "records": [{"type": "A", "values": ["192.0.2.1"]}]}
                ],
            }
        ],
    }
    path = tmp_path / "dns.yaml"
    path.write_text(yaml.safe_dump(inventory))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ORCHESTRA, *args], cwd=tmp_path, capture_output=True, text=True, check=False
        )

    assert run("apply", "dns.yaml", "--yes").returncode == 0
    assert run("check").returncode == 0
    live = ns1.zone_dir / "a.example.zone"
    live.write_text(live.read_text() + "hand 300 IN A 192.0.2.66\n")
    ns1.rndc("reload", "a.example")
    done = run("check", "--json")
    assert done.returncode == 5, done.stdout + done.stderr
    [finding] = json.loads(done.stdout)["findings"]
    assert (finding["name"], finding["state"]) == ("live zone", "changed")
    assert "192.0.2.66" in finding["live"]
    inventory["accounts"][0]["domains"][0]["records"][0]["values"] = ["192.0.2.2"]  # type: ignore[index]
    path.write_text(yaml.safe_dump(inventory))
    done = run("apply", "dns.yaml", "--yes")
    assert done.returncode == 1 and "drift: live zone of domain:a.example" in done.stdout
    assert ns1.answers("hand.a.example") == ["192.0.2.66"] and ns1.answers("a.example") == [
        "192.0.2.1"
    ]
    done = run("apply", "dns.yaml", "--yes", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ns1.answers("a.example") == ["192.0.2.2"] and ns1.rcode("hand.a.example") == "NXDOMAIN"
    assert run("check").returncode == 0

"""Against a real named: a symlink planted beside a live zone cannot redirect the master's
publish step (its copy of the live zone, ``ZONE.zone.orchestra-previous``, was written with
``cp -p`` through any link there), and the longest legal zone name gets file names that fit
(it failed at apply with ``File name too long``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from orchestra_bind9.testing import NamedFactory

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record

pytestmark = pytest.mark.daemon

NS = ["ns1.dns.test", "ns2.dns.test"]
ACME = Account(name="acme")


def zone(value: str) -> Domain:
    return Domain(account="acme", name="a.example", records=(Record(type="A", values=(value,)),))


def test_a_symlinked_previous_copy_of_the_live_zone_is_not_written_through(
    named_factory: NamedFactory, tmp_path: Path
) -> None:
    ns1 = named_factory("ns1")
    server = Server(
        name="ns1",
        settings={
            "state_dir": str(ns1.dir / "orchestra"),
            "bind9-master": ns1.settings(nameservers=NS),
        },
    )
    engine = Orchestra(servers=[server], routes=[Route(backend="bind9-master", servers=("ns1",))])

    def apply(obj: Domain) -> tuple[bool, str]:
        plan = engine.plan(ChangeSet().save(obj), index=ServiceIndex([ACME], [obj]))
        result = engine.apply(plan)
        said = "".join(s.stderr for log in result.logs for s in log.steps)
        return result.ok, said

    try:
        assert apply(zone("192.0.2.1"))[0]
        precious = tmp_path / "precious"
        precious.write_text("keep me\n")
        planted = ns1.zone_dir / "a.example.zone.orchestra-previous"
        planted.symlink_to(precious)
        ok, said = apply(zone("192.0.2.2"))
        assert precious.read_text() == "keep me\n"
        assert not ok and "refusing to write through the symlink" in said, said
        assert ns1.answers("a.example") == ["192.0.2.1"]
        planted.unlink()
        ok, said = apply(zone("192.0.2.2"))
        assert ok, said
        assert ns1.answers("a.example") == ["192.0.2.2"]
    finally:
        engine.close()


LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


def test_the_longest_zone_name_is_served_by_master_and_slave(
    named_factory: NamedFactory,
) -> None:
    """A 253-character zone: its file names are shortened (``name~HASH.zone``), named serves
    it from the master and the slave, and a delete removes every file."""
    master, slave = named_factory("ns1"), named_factory("ns2")
    servers = [
        Server(
            name=name,
            settings={
                "state_dir": str(named.dir / "orchestra"),
                "bind9-master": named.settings(nameservers=NS),
                "bind9-slave": named.settings(nameservers=NS),
            },
        )
        for name, named in (("ns1", master), ("ns2", slave))
    ]
    engine = Orchestra(
        servers=servers,
        routes=[
            Route(backend="bind9-master", servers=("ns1",)),
            Route(backend="bind9-slave", servers=("ns2",)),
        ],
    )
    big = Domain(account="acme", name=LONGEST, records=(Record(type="A", values=("192.0.2.9",)),))
    try:
        plan = engine.plan(ChangeSet().save(big), index=ServiceIndex([ACME], [big]))
        result = engine.apply(plan)
        assert result.ok, [(log.server, log.state.value, log.stderr) for log in result.logs]
        assert master.answers(LONGEST) == ["192.0.2.9"]
        assert slave.wait_for(lambda: slave.answers(LONGEST) == ["192.0.2.9"])
        made = [p for n in (master, slave) for p in n.dir.rglob("*") if LONGEST[:60] in p.name]
        assert made and all(len(p.name.encode()) <= 255 for p in made)
        result = engine.apply(engine.plan(ChangeSet().delete(big), index=ServiceIndex([ACME], [])))
        assert result.ok, [(log.server, log.state.value, log.stderr) for log in result.logs]
        assert master.rcode(LONGEST) == "REFUSED"
    finally:
        engine.close()

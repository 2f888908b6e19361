"""The include file named reads is an assembled file (the core's ``AssembleFile``): each zone
keeps its stanza in ``conf_dir/zones``, and the include is rebuilt from all of them once per
server and batch, checked whole by ``named-checkconf``, swapped in only when it changed. A real
named on loopback answers for what the include holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orchestra_bind9.testing import NamedInstance

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record
from orchestra_core.execution.executor import ApplyResult

pytestmark = pytest.mark.daemon

ACME = Account(name="acme")
ZONES = [
    Domain(account="acme", name=name, records=(Record(type="A", values=(address,)),))
    for name, address in (
        ("b.example", "192.0.2.2"),
        ("a.example", "192.0.2.1"),
        ("c.example", "192.0.2.3"),
    )
]


@pytest.fixture
def orchestra(named_master: NamedInstance) -> Iterator[Orchestra]:
    settings = named_master.settings(nameservers=["ns1.dns.test"])
    engine = Orchestra(
        servers=[
            Server(
                name="ns1",
                settings={"state_dir": str(named_master.dir / "state"), "bind9-master": settings},
            )
        ],
        routes=[Route(backend="bind9-master", servers=("ns1",))],
    )
    yield engine
    engine.close()


def apply(orchestra: Orchestra, changes: ChangeSet, *zones: Domain) -> ApplyResult:
    return orchestra.apply(orchestra.plan(changes, index=ServiceIndex([ACME], zones)))


def states(result: ApplyResult) -> list[tuple[str, str]]:
    return [(log.action, log.state.value) for log in result.logs]


def describe(result: ApplyResult) -> str:
    return "\n".join(
        f"{log.action} {log.state.value}: {(log.stdout + log.stderr).strip()}"
        for log in result.logs
    )


def test_the_include_is_assembled_from_every_stanza_in_order(
    orchestra: Orchestra, named_master: NamedInstance
) -> None:
    changes = ChangeSet()
    for zone in ZONES:
        changes.save(zone)
    result = apply(orchestra, changes, *ZONES)
    assert result.ok, describe(result)
    stanzas = named_master.conf_dir / "zones"
    text = named_master.include_file.read_text()
    assert text.startswith(
        f"// Managed by orchestra-bind9: assembled from {stanzas}/*.conf. Do not edit.\n"
    )
    expected = "".join((stanzas / f"{n}.example.conf").read_text() for n in "abc")
    assert text.split("\n", 1)[1] == expected
    assert [named_master.answers(z.name, "A") for z in ZONES] == [
        ["192.0.2.2"],
        ["192.0.2.1"],
        ["192.0.2.3"],
    ]

    # One zone alone in a later plan: the include keeps the others (fragments are the truth).
    changed = Domain(
        account="acme", name="a.example", records=(Record(type="A", values=("192.0.2.9",)),)
    )
    result = apply(orchestra, ChangeSet().save(changed), changed, *ZONES[:1], *ZONES[2:])
    assert result.ok, describe(result)
    # A record change reloads its zone; the include is as it was, so no reconfig.
    assert ("assemble", "nothing") in states(result) and ("reload", "nothing") in states(result)
    assert named_master.include_file.read_text() == text
    assert named_master.answers("a.example", "A") == ["192.0.2.9"]

    # The last zones go: the include is empty again, as before orchestra's first zone.
    gone = ChangeSet()
    for zone in ZONES:
        gone.delete(zone)
    result = apply(orchestra, gone)
    assert result.ok, describe(result)
    assert named_master.include_file.read_bytes() == b""
    assert named_master.rcode("b.example", "A") == "REFUSED"


def test_an_include_named_checkconf_refuses_whole_changes_nothing(
    orchestra: Orchestra, named_master: NamedInstance
) -> None:
    """Each stanza is fine alone; together with a stanza someone left among them, the include
    defines a zone twice. named-checkconf refuses the whole: the include and the stanzas stay
    as they were, named serves what it served, and the zone is not taken for applied."""
    first, second = ZONES[0], ZONES[1]
    assert apply(orchestra, ChangeSet().save(first), first).ok
    before = named_master.include_file.read_bytes()
    stray = named_master.conf_dir / "zones" / "left-by-hand.conf"
    stray.write_text(f'zone "{second.name}" {{ type master; file "/nonexistent"; }};\n')
    result = apply(orchestra, ChangeSet().save(second), first, second)
    assert not result.ok
    assemble = next(log for log in result.logs if log.action == "assemble")
    assert assemble.state.value == "failure", describe(result)
    said = assemble.stdout + assemble.stderr
    assert "already exists" in said and "is refused" in said
    assert named_master.include_file.read_bytes() == before
    assert not (named_master.conf_dir / "zones" / f"{second.name}.conf").exists()
    assert named_master.answers(first.name, "A") == ["192.0.2.2"]
    assert named_master.rcode(second.name, "A") == "REFUSED"

    stray.unlink()
    plan = orchestra.plan_inventory([ACME], [first, second])
    assert [op.object_keys[0] for op in plan.operations() if op.action == "save"] == [
        f"domain:{second.name}"
    ]
    result = orchestra.apply(plan)
    assert result.ok, describe(result)
    assert named_master.answers(second.name, "A") == ["192.0.2.1"]

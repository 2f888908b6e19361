"""The bind9 backends against real named instances (master and slave) on loopback.

Everything goes through the core: an Orchestra with the local transport plans and applies;
dnspython asks each named what it serves.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from orchestra_bind9.testing import NamedFactory, NamedInstance

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record
from orchestra_core.execution.executor import ApplyResult

pytestmark = pytest.mark.daemon

NS = ["ns1.dns.test", "ns2.dns.test"]
ACME = Account(name="acme")
EXAMPLE = Domain(
    account="acme",
    name="example.com",
    records=(
        Record(type="A", values=("192.0.2.1", "192.0.2.2")),
        Record(type="AAAA", values=("2001:db8::1",)),
        Record(type="MX", values=("10 mail.example.com",)),
        Record(name="mail", type="A", values=("192.0.2.25",), ttl=300),
        Record(name="www", type="CNAME", values=("example.com",)),
        Record(type="TXT", values=("v=spf1 mx -all", "long " + "x" * 300)),
        Record(name="_sip._tcp", type="SRV", values=("10 5 5060 sip.example.net",)),
        Record(type="CAA", values=('0 issue "letsencrypt.org"',)),
    ),
)
SHOP = Domain(
    account="acme", name="shop.example.com", records=(Record(type="A", values=("192.0.2.7",)),)
)
OTHER = Domain(
    account="acme", name="example.org", records=(Record(type="A", values=("198.51.100.1",)),)
)


@pytest.fixture(params=["local", "ssh"])
def orchestra(
    request: pytest.FixtureRequest, named_master: NamedInstance, named_slave: NamedInstance
) -> Iterator[Orchestra]:
    """The engine, reaching both nameds through the local transport or over real SSH."""
    engine = make_engine(request, named_master, named_slave, request.param)
    yield engine
    engine.close()


def make_engine(
    request: pytest.FixtureRequest,
    master: NamedInstance,
    slave: NamedInstance,
    transport: str,
    *,
    master_settings: dict[str, object] | None = None,
    slave_settings: dict[str, object] | None = None,
) -> Orchestra:
    """An engine with ``master`` as ns1 and ``slave`` as ns2, over ``transport``; the routes
    give each backend its ``*_settings`` over the servers' own."""
    named_master, named_slave = master, slave
    settings = {
        "ns1": {
            "state_dir": str(named_master.dir / "orchestra"),
            "bind9-master": named_master.settings(nameservers=NS),
        },
        "ns2": {
            "state_dir": str(named_slave.dir / "orchestra"),
            "bind9-slave": named_slave.settings(),
        },
    }
    if transport == "ssh":
        [host] = request.getfixturevalue("ssh_host_factory")(1)
        servers = [host.server(name, settings=settings[name]) for name in ("ns1", "ns2")]
    else:
        servers = [Server(name=name, settings=settings[name]) for name in ("ns1", "ns2")]
    routes = [
        Route(backend="bind9-master", servers=("ns1",), settings=master_settings or {}),
        Route(backend="bind9-slave", servers=("ns2",), settings=slave_settings or {}),
    ]
    return Orchestra(servers=servers, routes=routes)


def apply(
    orchestra: Orchestra,
    *domains: Domain,
    delete: tuple[Domain, ...] = (),
    accounts: tuple[Account, ...] = (ACME,),
) -> ApplyResult:
    changes = ChangeSet()
    for domain in domains:
        changes.save(domain)
    for domain in delete:
        changes.delete(domain)
    result = orchestra.apply(orchestra.plan(changes, index=ServiceIndex(accounts, domains)))
    return result


def assert_ok(result: ApplyResult) -> None:
    assert result.ok, [
        (log.server, log.action, log.state.value, log.stdout, log.stderr) for log in result.logs
    ]


def loaded(named: NamedInstance, zone: str) -> int:
    return len(re.findall(rf"zone {re.escape(zone)}/IN: loaded serial", named.log_text()))


def test_master_serves_every_record_as_rendered_and_the_slave_transfers(
    orchestra: Orchestra, named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    result = apply(orchestra, EXAMPLE, SHOP)
    assert_ok(result)
    for named in (named_master, named_slave):
        if named is named_slave:
            assert named.wait_for(
                lambda: named_slave.serial("example.com") == named_master.serial("example.com")
            )
        assert named.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
        assert named.answers("example.com", "AAAA") == ["2001:db8::1"]
        assert named.answers("example.com", "MX") == ["10 mail.example.com."]
        assert named.answers("mail.example.com", "A") == ["192.0.2.25"]
        assert named.answers("www.example.com", "CNAME") == ["example.com."]
        assert named.answers("_sip._tcp.example.com", "SRV") == ["10 5 5060 sip.example.net."]
        assert named.answers("example.com", "CAA") == ['0 issue "letsencrypt.org"']
        assert named.answers("example.com", "NS") == ["ns1.dns.test.", "ns2.dns.test."]
        assert named.answers("shop.example.com", "A") == ["192.0.2.7"]
        txt = named.query("example.com", "TXT", tcp=True).answer[0]
        assert sorted(b"".join(r.strings).decode() for r in txt) == [
            "long " + "x" * 300,
            "v=spf1 mx -all",
        ]
    serial = named_master.serial("example.com")
    assert serial is not None and serial >= int(time.strftime("%Y%m%d00", time.gmtime()))


def test_a_second_apply_changes_nothing(orchestra: Orchestra, named_master: NamedInstance) -> None:
    assert_ok(apply(orchestra, EXAMPLE))
    serial = named_master.serial("example.com")
    again = apply(orchestra, EXAMPLE)
    assert {log.state.value for log in again.logs} == {"nothing"}
    assert named_master.serial("example.com") == serial
    assert loaded(named_master, "example.com") == 1


def test_a_record_change_reloads_only_its_zone(
    orchestra: Orchestra, named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    assert_ok(apply(orchestra, EXAMPLE, OTHER))
    before = named_master.serial("example.com")
    other_serial = named_master.serial("example.org")
    reconfigs = named_master.log_text().count("received control channel command 'reconfig'")
    changed = attrs.evolve(EXAMPLE, records=(Record(type="A", values=("192.0.2.99",)),))
    result = apply(orchestra, changed, OTHER)
    assert_ok(result)
    assert named_master.answers("example.com", "A") == ["192.0.2.99"]
    assert named_master.serial("example.com") == before + 1  # type: ignore[operator]
    assert named_master.serial("example.org") == other_serial
    assert loaded(named_master, "example.com") == 2
    assert loaded(named_master, "example.org") == 1
    assert named_master.log_text().count("received control channel command 'reconfig'") == reconfigs
    assert named_slave.wait_for(lambda: named_slave.answers("example.com", "A") == ["192.0.2.99"])
    publish = [
        log
        for log in result.logs
        if log.object_keys == ("domain:example.com",) and log.action == "save"
    ]
    assert f"example.com: serial {before + 1}" in publish[0].stdout  # type: ignore[operator]


def test_a_change_named_refuses_leaves_the_old_zone_serving(
    orchestra: Orchestra, named_master: NamedInstance
) -> None:
    assert_ok(apply(orchestra, EXAMPLE))
    zone_file = Path(str(named_master.zone_dir)) / "example.com.zone"
    live = zone_file.read_text()
    # Valid for the catalogue, refused by named-checkzone -M fail: an MX naming a CNAME.
    bad = attrs.evolve(
        EXAMPLE,
        records=(
            *EXAMPLE.records[:2],
            Record(type="MX", values=("10 www.example.com",)),
            *EXAMPLE.records[3:],
        ),
    )
    result = apply(orchestra, bad)
    [log] = [log for log in result.logs if log.action == "save" and log.server == "ns1"]
    assert log.state.value == "failure"
    assert "example.com/MX 'www.example.com' is a CNAME (illegal)" in log.stdout + log.stderr
    assert zone_file.read_text() == live
    assert named_master.answers("example.com", "MX") == ["10 mail.example.com."]


def test_suspend_stops_serving_and_resume_serves_again(
    orchestra: Orchestra, named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    assert_ok(apply(orchestra, EXAMPLE))
    serial = named_master.serial("example.com")
    assert_ok(apply(orchestra, attrs.evolve(EXAMPLE, is_active=False)))
    assert named_master.rcode("example.com", "A") == "REFUSED"
    assert named_slave.rcode("example.com", "A") == "REFUSED"
    assert_ok(apply(orchestra, EXAMPLE))
    assert named_master.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
    assert named_master.serial("example.com") == serial
    assert named_slave.wait_for(lambda: named_slave.serial("example.com") == serial)


def test_delete_removes_the_zone_from_every_server(
    orchestra: Orchestra, named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    assert_ok(apply(orchestra, EXAMPLE, OTHER))
    assert named_slave.wait_for(
        lambda: None not in (named_slave.serial("example.com"), named_slave.serial("example.org"))
    )
    assert_ok(apply(orchestra, OTHER, delete=(EXAMPLE,)))
    for named in (named_master, named_slave):
        assert named.rcode("example.com", "SOA") == "REFUSED"
        assert named.answers("example.org", "A") == ["198.51.100.1"]
    assert not (Path(str(named_master.zone_dir)) / "example.com.zone").exists()
    assert "example.com" not in named_master.include_file.read_text()
    again = apply(orchestra, OTHER, delete=(EXAMPLE,))
    assert {log.state.value for log in again.logs} == {"nothing"}


HOSTILE_TEXT = [
    'say "hi"',
    "semi; colon",
    "$(touch /tmp/orchestra-bind9-canary)",
    "`touch /tmp/orchestra-bind9-canary`",
    "back\\slash",
    "Ünïcödé ✓ 日本語",
    "-rf --help",
    '} ; zone "evil" {',
    "x" * 1000,
]


def test_hostile_txt_values_are_served_verbatim_as_data(
    orchestra: Orchestra, named_master: NamedInstance
) -> None:
    canary = Path("/tmp/orchestra-bind9-canary")
    canary.unlink(missing_ok=True)
    domain = Domain(
        account="acme",
        name="example.com",
        records=(Record(name="t", type="TXT", values=tuple(HOSTILE_TEXT)),),
    )
    assert_ok(apply(orchestra, domain))
    answer = named_master.query("t.example.com", "TXT", tcp=True).answer[0]
    assert sorted(b"".join(r.strings).decode() for r in answer) == sorted(HOSTILE_TEXT)
    assert not canary.exists()
    assert "evil" not in named_master.include_file.read_text()


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (Record(name="t", type="TXT", values=("line\nbreak",)), "records[0].values[0]"),
        (Record(name="t", type="TXT", values=("nul\x00",)), "records[0].values[0]"),
        (Record(name="a;b", type="A", values=("192.0.2.1",)), "records[0].name"),
        (Record(name="$(x)", type="A", values=("192.0.2.1",)), "records[0].name"),
        (
            Record(name="t", type="MX", values=("10 mail.example.com; evil",)),
            "records[0].values[0]",
        ),
        (Record(name="t", type="CNAME", values=('a"b.example.com',)), "records[0].values[0]"),
    ],
)
def test_hostile_names_and_values_fail_validation_before_anything_runs(
    orchestra: Orchestra, named_master: NamedInstance, record: Record, field: str
) -> None:
    from orchestra_core.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        orchestra.plan(
            ChangeSet().save(Domain(account="acme", name="example.com", records=(record,)))
        )
    assert [e.field for e in info.value.errors] == [field]
    assert named_master.include_file.read_text() == ""


def test_a_suspended_subdomain_stops_being_served_in_its_parent_zone(
    orchestra: Orchestra, named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    """A subdomain object of another account lives in the parent's zone: suspending that
    account takes its records out of the zone, resuming brings them back."""
    shop = attrs.evolve(SHOP, account="shopco")
    active = (ACME, Account(name="shopco"))
    suspended = (ACME, Account(name="shopco", is_active=False))
    assert_ok(apply(orchestra, EXAMPLE, shop, accounts=active))
    assert named_master.answers("shop.example.com", "A") == ["192.0.2.7"]
    assert_ok(apply(orchestra, EXAMPLE, shop, accounts=suspended))
    assert named_master.rcode("shop.example.com", "A") == "NXDOMAIN"
    assert named_master.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
    assert named_slave.wait_for(lambda: named_slave.rcode("shop.example.com", "A") == "NXDOMAIN")
    assert_ok(apply(orchestra, EXAMPLE, shop, accounts=active))
    assert named_master.answers("shop.example.com", "A") == ["192.0.2.7"]
    assert named_slave.wait_for(
        lambda: named_slave.answers("shop.example.com", "A") == ["192.0.2.7"]
    )


def test_a_zone_changed_while_suspended_comes_back_changed_on_master_and_slave(
    orchestra: Orchestra, named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    """The slave's zone comes back from its old copy; it must not wait an hour (its refresh
    time) for the change the master made while it was away."""
    assert_ok(apply(orchestra, EXAMPLE))
    copy = named_slave.slave_dir / "example.com.db"
    assert named_slave.wait_for(copy.exists)  # written a moment after the transfer
    # Without this pause the master's notify of the resumed zone sometimes reaches the slave
    # only after it has loaded its old copy, and hides the problem; with it, a slave left to
    # itself reliably waits for its refresh time.
    time.sleep(1.5)
    changed = attrs.evolve(EXAMPLE, records=(Record(type="A", values=("192.0.2.99",)),))
    assert_ok(apply(orchestra, attrs.evolve(changed, is_active=False)))
    assert_ok(apply(orchestra, changed))
    assert named_master.answers("example.com", "A") == ["192.0.2.99"]
    serial = named_master.serial("example.com")
    assert named_slave.wait_for(lambda: named_slave.serial("example.com") == serial, timeout=5)
    assert named_slave.answers("example.com", "A") == ["192.0.2.99"]


#: What many operators set: named keeps a journal of each zone's differences, beside the zone
#: file (master) or the transferred copy (slave), and transfers incrementally.
IXFR = "ixfr-from-differences yes;"


@pytest.mark.parametrize("transport", ["local", "ssh"])
def test_journals_go_with_their_zone(
    request: pytest.FixtureRequest, named_factory: NamedFactory, transport: str
) -> None:
    """A deleted zone leaves no journal, so a zone created again under its name serves its
    own records (not the old journal's), and a zone changed while suspended loads again."""
    master, slave = named_factory("master", options=IXFR), named_factory("slave", options=IXFR)
    orchestra = make_engine(request, master, slave, transport)
    journals = [master.zone_dir / "example.com.zone.jnl", slave.slave_dir / "example.com.db.jnl"]
    try:
        first = attrs.evolve(EXAMPLE, records=(Record(type="A", values=("192.0.2.1",)),))
        second = attrs.evolve(EXAMPLE, records=(Record(type="A", values=("192.0.2.2",)),))
        assert_ok(apply(orchestra, first))
        assert slave.wait_for(lambda: slave.serial("example.com") is not None)
        assert_ok(apply(orchestra, second))
        assert slave.wait_for(lambda: slave.answers("example.com", "A") == ["192.0.2.2"])
        assert all(j.exists() for j in journals), "named wrote no journal: the test shows nothing"

        assert_ok(apply(orchestra, delete=(second,)))
        assert [j for j in journals if j.exists()] == []
        assert_ok(apply(orchestra, first))
        assert master.answers("example.com", "A") == ["192.0.2.1"]
        assert slave.wait_for(lambda: slave.answers("example.com", "A") == ["192.0.2.1"])

        assert_ok(apply(orchestra, second))  # a journal again, then a change while suspended
        assert_ok(apply(orchestra, attrs.evolve(first, is_active=False)))
        assert_ok(apply(orchestra, first))
        assert master.answers("example.com", "A") == ["192.0.2.1"]
        assert "journal out of sync" not in master.log_text()
        assert slave.wait_for(lambda: slave.serial("example.com") == master.serial("example.com"))
    finally:
        orchestra.close()


# -- named out of reach ------------------------------------------------------------------------

#: What rndc says when it cannot talk to named, by how it was cut off.
OUT_OF_REACH = {
    "wrong key": "connection to remote host closed",
    "named stopped": "connection refused",
}
#: The change applied while named cannot be reached.
MOVED = attrs.evolve(EXAMPLE, records=(Record(type="A", values=("192.0.2.99",)),))


def cut_off(
    request: pytest.FixtureRequest,
    how: str,
    transport: str,
    *nameds: NamedInstance,
    master: NamedInstance,
    slave: NamedInstance,
) -> Orchestra:
    """Put ``nameds`` out of rndc's reach, ``how``: stopped, or with an engine whose rndc
    signs with a key they do not know. Returns the engine to apply with meanwhile."""
    if how == "named stopped":
        for named in nameds:
            named.stop()
        return make_engine(request, master, slave, transport)
    wrong = {named.name: {"rndc": named.rndc_out_of_reach("key")} for named in nameds}
    return make_engine(
        request,
        master,
        slave,
        transport,
        master_settings=wrong.get(master.name),
        slave_settings=wrong.get(slave.name),
    )


def back_in_reach(how: str, *nameds: NamedInstance) -> None:
    """Start again what :func:`cut_off` stopped."""
    if how == "named stopped":
        for named in nameds:
            named.restart()


def failed(result: ApplyResult, server: str) -> list[tuple[str, str, str]]:
    """(action, state, output) of every operation on ``server``: what the test asserts on."""
    return [
        (log.action, log.state.value, log.stdout + log.stderr)
        for log in result.logs
        if log.server == server
    ]


@pytest.mark.parametrize("how", sorted(OUT_OF_REACH))
@pytest.mark.parametrize("transport", ["local", "ssh"])
def test_a_changed_zone_named_cannot_be_reached_for_is_not_published(
    request: pytest.FixtureRequest,
    named_master: NamedInstance,
    named_slave: NamedInstance,
    transport: str,
    how: str,
) -> None:
    """The apply fails with rndc's words, the live zone file stays the old one (so that a
    later apply publishes the change rather than finding it "unchanged"), and named serves
    the old zone until an apply that reaches it publishes the new one."""
    orchestra = make_engine(request, named_master, named_slave, transport)
    try:
        assert_ok(apply(orchestra, EXAMPLE))
        zone_file = named_master.zone_dir / "example.com.zone"
        live, serial = zone_file.read_bytes(), named_master.serial("example.com")
        cut = cut_off(request, how, transport, named_master, master=named_master, slave=named_slave)
        try:
            result = apply(cut, MOVED)
        finally:
            cut.close()
        [(state, output)] = [(s, out) for a, s, out in failed(result, "ns1") if a == "save"]
        assert state == "failure", describe_logs(result)
        assert "success" not in {s for _, s, _ in failed(result, "ns1")}, describe_logs(result)
        assert OUT_OF_REACH[how] in output
        assert "named cannot be reached" in output
        assert zone_file.read_bytes() == live
        back_in_reach(how, named_master)
        assert named_master.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
        assert named_master.serial("example.com") == serial

        again = apply(orchestra, MOVED)
        assert_ok(again)
        assert "success" in {state for _, state, _ in failed(again, "ns1")}
        assert named_master.answers("example.com", "A") == ["192.0.2.99"]
        assert named_master.serial("example.com") == serial + 1  # type: ignore[operator]
        assert named_slave.wait_for(
            lambda: named_slave.answers("example.com", "A") == ["192.0.2.99"]
        )
    finally:
        orchestra.close()


@pytest.mark.parametrize("command", ["zonestatus", "reload"])
@pytest.mark.parametrize("transport", ["local", "ssh"])
def test_named_lost_between_the_zone_check_and_its_publish_fails_the_publish(
    request: pytest.FixtureRequest,
    named_master: NamedInstance,
    named_slave: NamedInstance,
    transport: str,
    command: str,
) -> None:
    """named answers while the zone source is checked, and stops answering (rndc's key
    refused) from ``command`` on: the publish step fails with rndc's words, the previous live
    file is back, and the next apply publishes, because the live zone still differs from
    its source."""
    good = ["rndc", "-c", str(named_master.rndc_conf)]
    bad = named_master.rndc_out_of_reach("key")
    answered = {"zonestatus": "status", "reload": "status|zonestatus"}[command]
    # bash -c SCRIPT rndc ARGS...: "$1" is rndc's command.
    script = (
        f'case $1 in {answered}) exec {shlex.join(good)} "$@";; esac; exec {shlex.join(bad)} "$@"'
    )
    flaky = ["bash", "-c", script, "rndc"]
    orchestra = make_engine(request, named_master, named_slave, transport)
    try:
        assert_ok(apply(orchestra, EXAMPLE))
        zone_file = named_master.zone_dir / "example.com.zone"
        live = zone_file.read_bytes()
        cut = make_engine(
            request, named_master, named_slave, transport, master_settings={"rndc": flaky}
        )
        try:
            result = apply(cut, MOVED)
        finally:
            cut.close()
        [(state, output)] = [(s, out) for a, s, out in failed(result, "ns1") if a == "save"]
        assert state == "failure", describe_logs(result)
        assert "success" not in {s for _, s, _ in failed(result, "ns1")}, describe_logs(result)
        assert OUT_OF_REACH["wrong key"] in output
        assert zone_file.read_bytes() == live
        assert not list(named_master.zone_dir.glob("*.orchestra-previous"))
        assert named_master.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]

        again = apply(orchestra, MOVED)
        assert_ok(again)
        assert named_master.answers("example.com", "A") == ["192.0.2.99"]
    finally:
        orchestra.close()


@pytest.mark.parametrize("change", ["suspend", "delete"])
@pytest.mark.parametrize("how", sorted(OUT_OF_REACH))
@pytest.mark.parametrize("transport", ["local", "ssh"])
def test_a_stanza_change_named_cannot_be_reached_for_is_taken_back(
    request: pytest.FixtureRequest,
    named_master: NamedInstance,
    named_slave: NamedInstance,
    transport: str,
    how: str,
    change: str,
) -> None:
    """A suspension or a delete while neither named can be reached: each reconfig fails with
    rndc's words, the stanzas, zone files and include files are what they were, both nameds
    (once back) still serve the zone, and the next apply that reaches them makes the change."""
    orchestra = make_engine(request, named_master, named_slave, transport)
    nameds = (named_master, named_slave)
    suspended = attrs.evolve(EXAMPLE, is_active=False)

    def make_change(engine: Orchestra) -> ApplyResult:
        if change == "delete":
            return apply(engine, delete=(EXAMPLE,))
        return apply(engine, suspended)

    try:
        assert_ok(apply(orchestra, EXAMPLE))
        assert named_slave.wait_for(lambda: (named_slave.slave_dir / "example.com.db").exists())
        before = {named.name: config_files(named) for named in nameds}
        cut = cut_off(request, how, transport, *nameds, master=named_master, slave=named_slave)
        try:
            result = make_change(cut)
        finally:
            cut.close()
        for named, server in zip(nameds, ("ns1", "ns2"), strict=True):
            reloads = [(s, out) for action, s, out in failed(result, server) if action == "reload"]
            assert [s for s, _ in reloads] == ["failure"], describe_logs(result)
            assert OUT_OF_REACH[how] in reloads[0][1]
            assert config_files(named) == before[named.name]
        back_in_reach(how, *nameds)
        assert named_master.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
        assert named_slave.wait_for(
            lambda: named_slave.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
        )

        assert_ok(make_change(orchestra))
        assert named_master.rcode("example.com", "A") == "REFUSED"
        assert named_slave.rcode("example.com", "A") == "REFUSED"
    finally:
        orchestra.close()


def config_files(named: NamedInstance) -> dict[str, bytes]:
    """The stanzas, zone files (master's and slave's) and the include file of ``named``, by
    path."""
    found = {
        str(p): p.read_bytes()
        for folder in (named.conf_dir, named.zone_dir, named.slave_dir)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    found["include"] = named.include_file.read_bytes()
    return found


def describe_logs(result: ApplyResult) -> str:
    return "\n".join(
        f"{log.server} {log.action} {log.state.value}: {(log.stdout + log.stderr).strip()}"
        for log in result.logs
    )


def test_two_named_on_one_server_each_reload_what_changed_for_them(
    named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    """A master and a slave named on ONE server (each with its own include file and rndc):
    each instance is reloaded once per batch with its own settings, so both serve a new zone
    (one reload of "named" with the last backend's settings left the other blind)."""
    settings = {
        "state_dir": str(named_master.dir / "orchestra"),
        "bind9-master": named_master.settings(nameservers=NS),
        "bind9-slave": named_slave.settings(),
    }
    engine = Orchestra(
        servers=[Server(name="ns", settings=settings)],
        routes=[
            Route(backend="bind9-master", servers=("ns",)),
            Route(backend="bind9-slave", servers=("ns",)),
        ],
    )
    try:
        first = apply(engine, EXAMPLE)
        assert_ok(first)
        reloads = sorted(log.backend for log in first.logs if log.action == "reload")
        assert reloads == ["bind9-master", "bind9-slave"], reloads
        assert named_master.answers("example.com", "A") == ["192.0.2.1", "192.0.2.2"]
        assert named_slave.wait_for(
            lambda: named_slave.serial("example.com") == named_master.serial("example.com")
        )
        assert_ok(apply(engine, EXAMPLE, OTHER))
        assert named_master.answers("example.org", "A") == ["198.51.100.1"]
        assert named_slave.wait_for(
            lambda: named_slave.answers("example.org", "A") == ["198.51.100.1"]
        )
    finally:
        engine.close()

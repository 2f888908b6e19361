"""Zone rendering and planning, without a daemon: pure functions, checked with dnspython."""

from __future__ import annotations

from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from orchestra_bind9.backends import Bind9Master, Bind9Slave, parse_peer
from orchestra_bind9.settings import Bind9Settings
from orchestra_bind9.zone import character_strings, hostmaster_name, render_zone, zone_members

from orchestra_core import Account, ChangeSet, Route, Server, ServiceIndex
from orchestra_core.backends.steps import Command, DeleteFile, WriteFile
from orchestra_core.catalogue import Domain, Record
from orchestra_core.errors import BackendError, ValidationError
from orchestra_core.planning import Planner

SETTINGS = Bind9Settings(
    nameservers=("ns1.dns.test", "ns2.dns.test"), hostmaster="host.master@dns.test"
)


def parse(text: str, origin: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=True)


def txt_bytes(rendered: str) -> bytes:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, rendered)
    return b"".join(rdata.strings)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "v=spf1 mx -all",
        'quote " and backslash \\ and ; and $(touch x) and `x`',
        "Ünïcödé ✓ 日本語 🚀",
        "a" * 255,
        "b" * 256,
        "é" * 200,  # 400 bytes: the split must not cut a character
        "x" * 4096,
    ],
)
def test_txt_values_round_trip_exactly(value: str) -> None:
    rendered = character_strings(value)
    assert txt_bytes(rendered) == value.encode("utf-8")
    strings = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, rendered).strings  # type: ignore[attr-defined]
    assert all(len(s) <= 255 for s in strings)
    for chunk in strings:
        chunk.decode("utf-8")  # each string is whole characters
    assert "\n" not in rendered


def test_hostmaster_escapes_dots_in_the_local_part() -> None:
    assert hostmaster_name("host.master@dns.test") == "host\\.master.dns.test."
    assert hostmaster_name("hostmaster@dns.test") == "hostmaster.dns.test."


def test_zone_has_soa_defaults_records_and_subdomains() -> None:
    zone = Domain(
        account="acme",
        name="example.com",
        records=(
            Record(type="A", values=("192.0.2.1", "192.0.2.2")),
            Record(type="AAAA", values=("2001:db8:0:0::1",)),
            Record(type="MX", values=("10 mail.example.com", "20 backup.example.net.")),
            Record(name="mail", type="A", values=("192.0.2.25",), ttl=300),
            Record(name="www", type="CNAME", values=("example.com",)),
            Record(name="_sip._tcp", type="SRV", values=("10 5 5060 sip.example.net",)),
            Record(type="CAA", values=('0 issue "letsencrypt.org"',)),
        ),
    )
    shop = Domain(
        account="acme", name="shop.example.com", records=(Record(type="A", values=("192.0.2.7",)),)
    )
    other = Domain(account="acme", name="example.org")
    index = ServiceIndex([], [zone, shop, other])
    assert [d.name for d in zone_members(zone, index)] == ["example.com", "shop.example.com"]
    settings = Bind9Settings(
        nameservers=("ns1.dns.test",),
        hostmaster="hostmaster@dns.test",
        refresh=7200,
        default_records=(
            Record(type="TXT", values=("default",)),
            Record(type="A", values=("198.51.100.1",)),
        ),
    )
    text = render_zone(zone, zone_members(zone, index), settings).text
    assert "        0 ; serial\n" in text
    parsed = parse(text, "example.com.")
    soa = parsed.find_rdataset("example.com.", "SOA")[0]
    assert (str(soa.mname), str(soa.rname), soa.serial, soa.refresh) == (
        "ns1.dns.test.",
        "hostmaster.dns.test.",
        0,
        7200,
    )

    def values(name: str, rdtype: str) -> list[str]:
        return sorted(r.to_text() for r in parsed.find_rdataset(name, rdtype))

    assert values("example.com.", "NS") == ["ns1.dns.test."]
    assert values("example.com.", "A") == ["192.0.2.1", "192.0.2.2"]  # the domain's set wins
    assert values("example.com.", "TXT") == ['"default"']  # a default fills the gap
    assert values("example.com.", "AAAA") == ["2001:db8::1"]
    assert values("example.com.", "MX") == ["10 mail.example.com.", "20 backup.example.net."]
    assert values("www.example.com.", "CNAME") == ["example.com."]
    assert values("_sip._tcp.example.com.", "SRV") == ["10 5 5060 sip.example.net."]
    assert values("example.com.", "CAA") == ['0 issue "letsencrypt.org"']
    assert values("shop.example.com.", "A") == ["192.0.2.7"]
    assert parsed.find_rdataset("mail.example.com.", "A").ttl == 300


def test_a_suspended_subdomain_is_left_out_of_its_zone() -> None:
    zone = Domain(account="acme", name="example.com")
    shop = Domain(
        account="shopco",
        name="shop.example.com",
        records=(Record(type="A", values=("192.0.2.7",)),),
    )
    blog = Domain(account="acme", name="blog.example.com", is_active=False)
    docs = Domain(account="acme", name="docs.example.com")
    accounts = [Account(name="acme"), Account(name="shopco", is_active=False)]
    index = ServiceIndex(accounts, [zone, shop, blog, docs])
    assert [d.name for d in zone_members(zone, index)] == ["example.com", "docs.example.com"]
    resumed = ServiceIndex([Account(name="acme"), Account(name="shopco")], [zone, shop, docs])
    text = render_zone(zone, zone_members(zone, resumed), SETTINGS).text
    assert "shop.example.com. IN A 192.0.2.7" in text


def test_apex_ns_records_of_the_domain_replace_the_default_set() -> None:
    zone = Domain(
        account="a", name="example.com", records=(Record(type="NS", values=("ns.own.test",)),)
    )
    parsed = parse(render_zone(zone, [zone], SETTINGS).text, "example.com.")
    assert [r.to_text() for r in parsed.find_rdataset("example.com.", "NS")] == ["ns.own.test."]


def test_peers_parse_and_refuse_garbage() -> None:
    assert parse_peer("192.0.2.1") == ("192.0.2.1", None)
    assert parse_peer("2001:db8::1 port 5353") == ("2001:db8::1", 5353)
    for bad in ("192.0.2.1; }", "example.com", "192.0.2.1 port 0", "1.2.3.4 port x"):
        with pytest.raises(ValueError):
            parse_peer(bad)


SERVERS = [Server(name="m"), Server(name="s", address="192.0.2.53")]


def planner(**settings: Any) -> Planner:
    routes = [
        Route(backend="bind9-master", servers=("m",), settings=dict(settings)),
        Route(backend="bind9-slave", servers=("s",)),
    ]
    return Planner({"bind9-master": Bind9Master, "bind9-slave": Bind9Slave}, SERVERS, routes)


def test_master_and_slave_find_each_other_through_routes() -> None:
    zone = Domain(account="a", name="example.com")
    plan = planner(nameservers=["ns1.dns.test"]).plan(
        ChangeSet().save(zone), ServiceIndex([], [zone])
    )
    by_server = {sp.server.name: sp for sp in plan.servers}
    assert (by_server["m"].wave, by_server["s"].wave) == (0, 1)
    master_stanza = next(
        s
        for s in by_server["m"].steps
        if isinstance(s, WriteFile) and s.path.endswith("example.com.conf")
    )
    assert "also-notify { 192.0.2.53; };" in master_stanza.content
    assert "allow-transfer { 192.0.2.53; };" in master_stanza.content
    slave_stanza = next(
        s
        for s in by_server["s"].steps
        if isinstance(s, WriteFile) and s.path.endswith("example.com.conf")
    )
    assert "masters { 127.0.0.1; };" in slave_stanza.content
    kinds = [type(s).__name__ for s in by_server["m"].steps]
    assert kinds == [
        "EnsureDirectory",
        "WriteFile",
        "Command",
        "EnsureDirectory",
        "WriteFile",
        "AssembleFile",
        "Reload",
    ]


def test_a_subdomain_re_saves_its_zone_and_has_no_zone_of_its_own() -> None:
    zone = Domain(account="a", name="example.com")
    shop = Domain(
        account="a", name="shop.example.com", records=(Record(type="A", values=("192.0.2.7",)),)
    )
    plan = planner().plan(ChangeSet().save(shop), ServiceIndex([], [zone, shop]))
    keys = {op.object_keys for op in plan.operations() if op.action == "save"}
    assert keys == {("domain:example.com",)}
    source = next(s for s in plan.servers[0].steps if isinstance(s, WriteFile))
    assert "shop.example.com. IN A 192.0.2.7" in source.content


def test_suspended_and_deleted_zones() -> None:
    zone = Domain(account="a", name="example.com", is_active=False)
    plan = planner().plan(ChangeSet().save(zone), ServiceIndex([], [zone]))
    steps = [s for sp in plan.servers for s in sp.steps]
    assert [type(s).__name__ for s in steps if not isinstance(s, Command)].count("DeleteFile") == 2
    assert not any(isinstance(s, WriteFile) for s in steps)
    plan = planner().plan(ChangeSet().delete(zone), ServiceIndex([], []))
    deleted = sorted(
        s.path.rsplit("/", 1)[1]
        for sp in plan.servers
        for s in sp.steps
        if isinstance(s, DeleteFile)
    )
    assert deleted == [
        "example.com.conf",
        "example.com.conf",
        "example.com.db",
        "example.com.db.jnl",
        "example.com.zone",
        "example.com.zone.jnl",
        "example.com.zone.src",
    ]


def test_a_slave_with_no_master_is_a_clear_error() -> None:
    zone = Domain(account="a", name="example.com")
    alone = Planner(
        {"bind9-slave": Bind9Slave}, SERVERS, [Route(backend="bind9-slave", servers=("s",))]
    )
    with pytest.raises(BackendError, match="no master to transfer from"):
        alone.plan(ChangeSet().save(zone), ServiceIndex([], [zone]))


def test_bad_settings_name_the_setting() -> None:
    zone = Domain(account="a", name="example.com")
    with pytest.raises(ValidationError) as info:
        planner(
            nameservers=["ns1..bad"], also_notify=["10.0.0.1; }; evil"], port=70000, ttl=-1
        ).plan(ChangeSet().save(zone), ServiceIndex([], [zone]))
    fields = [e.field for e in info.value.errors]
    assert fields == [
        "settings of bind9-master: nameservers[0]",
        "settings of bind9-master: port",
        "settings of bind9-master: ttl",
        "settings of bind9-master: also_notify[0]",
    ]

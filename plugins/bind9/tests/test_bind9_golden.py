"""Golden renders of the bind9 backends: what named gets, kept as plain files for review.

Plans only, nothing runs: a master ``ns1`` and a slave ``ns2`` without a sandbox root, so that
every path is the one a real server gets. The rendered zone carries serial ``0``: the publish
step stamps the real one on the server, so the renders do not depend on the day.
``pytest --update-golden plugins/bind9/tests/test_bind9_golden.py`` rewrites them.
"""

from __future__ import annotations

from typing import Any

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.backends.steps import AssembleFile
from orchestra_core.catalogue import Domain, Record
from orchestra_core.planning.plan import describe_step
from orchestra_core.testing.golden import Golden, rendered_files

ACME = Account(name="acme")
#: One record set of every type, TTLs of their own, a TXT that needs escapes and splitting.
EXAMPLE = Domain(
    account="acme",
    name="example.com",
    records=(
        Record(type="A", values=("192.0.2.1", "192.0.2.2")),
        Record(type="AAAA", values=("2001:db8:0:0::1",)),
        Record(type="MX", values=("10 mail.example.com", "20 mx.example.net.")),
        Record(name="mail", type="A", values=("192.0.2.25",), ttl=300),
        Record(name="www", type="CNAME", values=("example.com",)),
        Record(name="*.cdn", type="CNAME", values=("cdn.example.net",)),
        Record(
            type="TXT",
            values=(
                "v=spf1 mx -all",
                'quote " backslash \\ semicolon ; dollar $(x) Ünïcödé ✓',
                "long " + "x" * 300,
            ),
        ),
        Record(name="_sip._tcp", type="SRV", values=("10 5 5060 sip.example.net",)),
        Record(type="CAA", values=('0 issue "letsencrypt.org"', '0 iodef "mailto:ca@example.com"')),
        Record(name="lab", type="NS", values=("ns.lab.example.net",), ttl=86400),
    ),
)
#: A subdomain object: no zone of its own, its records are rendered into example.com's.
SHOP = Domain(
    account="acme",
    name="shop.example.com",
    records=(
        Record(type="A", values=("192.0.2.7",)),
        Record(name="api", type="A", values=("192.0.2.8",)),
    ),
)
#: A zone with nothing of its own: the defaults of the settings fill it.
BARE = Domain(account="acme", name="example.org", ttl=600)


def engine(master: dict[str, Any], slave: dict[str, Any]) -> Orchestra:
    servers = [
        Server(name="ns1", address="192.0.2.53", settings={"bind9-master": master}),
        Server(name="ns2", address="198.51.100.53", settings={"bind9-slave": slave}),
    ]
    routes = [
        Route(backend="bind9-master", servers=("ns1",)),
        Route(backend="bind9-slave", servers=("ns2",)),
    ]
    return Orchestra(servers=servers, routes=routes)


def plan_files(orchestra: Orchestra, changes: ChangeSet, *domains: Domain) -> dict[str, str]:
    """The rendered files and commands, and how each server's include is assembled
    (``assembled/SERVER.txt``: the step as plans show it, and its header line)."""
    try:
        plan = orchestra.plan(changes, index=ServiceIndex([ACME], domains))
        files = rendered_files(plan, reloads=True)
        for sp in plan.servers:
            for step in sp.steps:
                if isinstance(step, AssembleFile):
                    text = "\n".join(describe_step(step)) + "\nheader: " + step.header
                    files[f"{sp.server.name}/assembled/{sp.server.name}.txt"] = text
        return files
    finally:
        orchestra.close()


def test_master_and_slave_with_debian_paths(golden: Golden) -> None:
    """Every record type, a subdomain, Debian's default paths and SOA timers."""
    orchestra = engine(
        master={
            "nameservers": ["ns1.dns.test", "ns2.dns.test"],
            "hostmaster": "host.master@dns.test",
        },
        slave={},
    )
    changes = ChangeSet().save(EXAMPLE).save(SHOP)
    golden.check("debian", plan_files(orchestra, changes, EXAMPLE, SHOP))


def test_settings_of_every_kind(golden: Golden) -> None:
    """Paths, peers on other ports, extra notify targets and masters, SOA values and default
    records, for a zone that has no record of its own."""
    common = {
        "zone_dir": "/srv/dns/master",
        "slave_dir": "/srv/dns/slave",
        "conf_dir": "/srv/dns/conf",
        "include_file": "/srv/dns/named.conf.zones",
        "rndc": ["rndc", "-c", "/srv/dns/rndc.conf"],
    }
    orchestra = engine(
        master={
            **common,
            "port": 5353,
            "also_notify": ["203.0.113.9", "2001:db8::53 port 5300"],
            "nameservers": ["a.ns.test", "b.ns.test"],
            "primary_ns": "hidden.ns.test",
            "hostmaster": "dns@ns.test",
            "ttl": 7200,
            "refresh": 1800,
            "retry": 600,
            "expire": 604800,
            "minimum": 60,
            "default_records": [
                {"type": "MX", "values": ["0 ."]},
                {"type": "TXT", "values": ["v=spf1 -all"]},
                {"name": "www", "type": "A", "values": ["203.0.113.80"]},
            ],
        },
        slave={**common, "address": "198.51.100.54", "port": 5354, "masters": ["203.0.113.1"]},
    )
    golden.check("settings", plan_files(orchestra, ChangeSet().save(BARE), BARE))

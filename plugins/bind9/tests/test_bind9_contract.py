"""The bind9 backends pass the backend contract, against real named instances, locally and
over SSH.

Observing a server means everything the backends may change on it: every file under the
named instance's ``zone_dir``, ``slave_dir`` and ``conf_dir`` and the include file (content and
mode), and what named does with them: ``rndc status``'s count of zones, the stable lines of
``rndc zonestatus`` for the subject's zone, and named's answers (rcode, authoritative flag,
records with their TTLs) to every name and type of the subject, over TCP.

Left out, because they change by themselves or are not the backends' to change:

- named's log (it only grows), pid file, session key and managed-keys files: named writes
  them at start, outside those folders;
- the clock lines of ``zonestatus`` (``last loaded``, ``next refresh``, ``expires``): a time,
  not a configuration;
- directories as such: the zone, stanza and copy folders are made once per server and shared
  by every zone (a delete leaves them in place, empty); every file in them is observed;
- orchestra's own state (the marker of an owed reload), which the contract keeps in the
  test's temp dir.

Journal files (``.jnl``) are *not* left out: named writes them beside a zone file for
incremental transfers and ``ixfr-from-differences``, and a delete must remove them too (see
``test_journals_go_with_their_zone`` in test_bind9_named.py, with a named that writes them).

The slave's subject is the same domain, routed to a master on another server: a save applies
it to both, so both are observed, and observing waits until the slave has caught up with the
master (a transfer runs after the apply returns).

named is put out of rndc's reach by the ``rndc`` setting: the master's with a key named does
not know (named closes the connection), the slave's with a port where nothing listens (the
connection is refused), as ``NamedInstance.rndc_out_of_reach`` writes them. Both nameds keep
running, so that observing them shows what they serve.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import dns.flags
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from orchestra_bind9.testing import NamedInstance

from orchestra_core import Route, Server, Service
from orchestra_core.catalogue import Domain, Record
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

pytestmark = pytest.mark.daemon

NS = ["ns1.dns.test", "ns2.dns.test"]
ZONE = "example.com"
#: The subject: its first record set is the one whose text fields get the hostile corpus
#: (a TXT set, so that any text is a value it must serve verbatim), then one of every type.
EXAMPLE = Domain(
    account="acme",
    name=ZONE,
    records=(
        Record(type="TXT", values=("v=spf1 mx -all",)),
        Record(type="A", values=("192.0.2.1", "192.0.2.2")),
        Record(type="AAAA", values=("2001:db8::1",)),
        Record(type="MX", values=("10 mail.example.com",)),
        Record(name="mail", type="A", values=("192.0.2.25",), ttl=300),
        Record(name="www", type="CNAME", values=("example.com",)),
        Record(name="long", type="TXT", values=("long " + "x" * 300,)),
        Record(name="_sip._tcp", type="SRV", values=("10 5 5060 sip.example.net",)),
        Record(type="CAA", values=('0 issue "letsencrypt.org"',)),
    ),
)
#: The world: a subdomain object whose records the subject's zone serves.
SHOP = Domain(
    account="acme", name="shop.example.com", records=(Record(type="A", values=("192.0.2.7",)),)
)
#: An update of EXAMPLE: an address moved, a record added, one gone.
CHANGED = attrs.evolve(
    EXAMPLE,
    records=(
        *(r for r in EXAMPLE.records if (r.name, r.type) not in {("@", "A"), ("www", "CNAME")}),
        Record(type="A", values=("192.0.2.3",)),
        Record(name="shop", type="TXT", values=("opening soon",)),
    ),
)
#: Lines of ``rndc zonestatus`` that are clocks, not configuration.
CLOCK_LINES = ("last loaded:", "next refresh:", "expires:", "next resign")


def owner(record: Record, zone: str) -> str:
    return zone if record.name == "@" else f"{record.name}.{zone}"


def answer(named: NamedInstance, name: str, rdtype: str) -> tuple[Any, ...]:
    """What named says to NAME/TYPE: rcode, authoritative flag, and the answer's records
    (owner, TTL, type, rdata), sorted. Over TCP, so that long TXT sets are never truncated."""
    response = named.query(name, rdtype, tcp=True)
    records = sorted(
        (rrset.name.to_text(), rrset.ttl, dns.rdatatype.to_text(rrset.rdtype), rdata.to_text())
        for rrset in response.answer
        for rdata in rrset
    )
    return (
        dns.rcode.to_text(response.rcode()),
        bool(response.flags & dns.flags.AA),
        tuple(records),
    )


def questions(domains: Sequence[Domain], zone: str) -> list[tuple[str, str]]:
    """The names and types to ask about: the apex's SOA and NS, every record set of
    ``domains``, and a name that does not exist (the negative answer carries the SOA)."""
    asked = [(zone, "SOA"), (zone, "NS"), (f"absent.{zone}", "A")]
    for domain in domains:
        for record in domain.records:
            asked.append((owner(record, domain.name), record.type))
    return list(dict.fromkeys(asked))


def files(named: NamedInstance) -> dict[str, tuple[bytes, int]]:
    """Every file the backends may write on this named's server, by path: content, mode."""
    found = {
        str(path.relative_to(named.dir)): (path.read_bytes(), path.stat().st_mode)
        for folder in (named.zone_dir, named.slave_dir, named.conf_dir)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    found["include"] = (named.include_file.read_bytes(), named.include_file.stat().st_mode)
    return found


def served(named: NamedInstance, zone: str, domains: Sequence[Domain]) -> dict[str, Any]:
    """What named does with the files: its count of zones, the subject zone's status, and
    its answers about the zone's names."""
    status = named.rndc("status").stdout
    zones = [line for line in status.splitlines() if line.startswith("number of zones:")]
    zonestatus = named.rndc("zonestatus", zone, check=False)
    lines = (zonestatus.stdout + zonestatus.stderr).splitlines()
    return {
        "zones": zones,
        "zonestatus": [line for line in lines if not line.startswith(CLOCK_LINES)],
        "answers": {q: answer(named, *q) for q in questions(domains, zone)},
    }


def state(named: NamedInstance, zone: str, domains: Sequence[Domain]) -> dict[str, Any]:
    return {"files": files(named), **served(named, zone, domains)}


def steady(look: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``look()`` once two looks in a row agree. named finishes some work after the command
    that asked for it returned: loading a zone after ``rndc reconfig``, writing a slave's copy
    after serving what it transferred."""
    last = look()
    for _ in range(100):
        time.sleep(0.05)
        current = look()
        if current == last:
            break
        last = current
    return last


#: The fields of a record set that a value may reach and pass validation with.
RECORD_FIELD = re.compile(r"records\[(\d+)\]\.(name|type|values\[(\d+)\])")


def served_set(named: NamedInstance, name: str, rdtype: str) -> dns.rrset.RRset | None:
    """The record set ``named`` answers for NAME/TYPE, None when it has none."""
    response = named.query(name, rdtype, tcp=True)
    return response.get_rrset(
        response.answer,
        dns.name.from_text(name),
        dns.rdataclass.IN,
        dns.rdatatype.from_text(rdtype),
    )


def values_of(rrset: dns.rrset.RRset) -> list[str]:
    """The values of a served record set as the catalogue writes them: a TXT record's
    strings joined and decoded as UTF-8 (the bytes of the data, not the escaped text)."""
    if rrset.rdtype == dns.rdatatype.TXT:
        return sorted(b"".join(rdata.strings).decode("utf-8") for rdata in rrset)
    return sorted(rdata.to_text() for rdata in rrset)


def read_field(named: NamedInstance, obj: Domain, path: str) -> Any:
    """The value at ``path`` of ``obj`` as ``named`` serves it. Only a record set's name,
    type and values can take a hostile value and pass validation, and only they are served
    as data; anything else is an error of the test."""
    match = RECORD_FIELD.fullmatch(path)
    if match is None:
        raise AssertionError(f"{path!r} of {obj.key} passed validation: no way to read it back")
    record = obj.records[int(match[1])]
    rrset = served_set(named, owner(record, obj.name), record.type)
    if rrset is None:
        return None
    held = values_of(rrset)
    if match[3] is not None:  # one value: what the set holds besides the others
        index = int(match[3])
        for other in record.values[:index] + record.values[index + 1 :]:
            if other in held:
                held.remove(other)
        return held[0] if len(held) == 1 else held
    if held != sorted(record.values):
        return held
    if match[2] == "name":
        return rrset.name.relativize(dns.name.from_text(obj.name)).to_text()
    return dns.rdatatype.to_text(rrset.rdtype)


class TestBind9MasterContract(BackendContract):
    """``bind9-master`` on one named."""

    backend = "bind9-master"
    transports = ("local", "ssh")

    @pytest.fixture(autouse=True)
    def _named(self, named_master: NamedInstance) -> None:
        self.master = named_master

    def servers(self) -> list[Server]:
        return [Server(name="ns1", settings={"bind9-master": self.master.settings(nameservers=NS)})]

    def objects(self) -> list[Service]:
        return [EXAMPLE, SHOP]

    def observe(self) -> dict[str, Any]:
        return steady(lambda: state(self.master, ZONE, [EXAMPLE, SHOP]))

    def read_back(self, obj: Service, path: str) -> Any:
        assert isinstance(obj, Domain)
        NamedInstance.wait_for(lambda: self.master.serial(obj.name) is not None)  # loaded
        return read_field(self.master, obj, path)

    def changed(self, obj: Service) -> Service:
        return CHANGED

    def rejection(self, obj: Service) -> Rejection:
        # A new address for the zone, and a slave to notify on a link-local address of an
        # interface this server does not have: orchestra cannot know the server's interfaces,
        # named-checkconf refuses the stanza ("unable to find primaries list"). The stanza
        # comes after the zone in the operation, so this shows that the new zone does not go
        # live either. (A zone named-checkzone refuses, an MX naming a CNAME, is
        # test_a_change_named_refuses_leaves_the_old_zone_serving in test_bind9_named.py.)
        assert isinstance(obj, Domain)
        moved = Record(type="A", values=("192.0.2.99",))
        records = tuple(moved if (r.name, r.type) == ("@", "A") else r for r in obj.records)
        return Rejection(
            obj=attrs.evolve(obj, records=records),
            settings={"also_notify": ["fe80::1%nosuchif0"]},
        )

    def unreachable(self, obj: Service) -> Unreachable:
        # The update (changed()) with an rndc that signs with a key named does not know.
        return Unreachable(out_of_reach={"rndc": self.master.rndc_out_of_reach("key")})


class TestBind9SlaveContract(BackendContract):
    """``bind9-slave`` on one named, transferring from a master on another server."""

    backend = "bind9-slave"
    transports = ("local", "ssh")

    @pytest.fixture(autouse=True)
    def _named(self, named_master: NamedInstance, named_slave: NamedInstance) -> None:
        self.master = named_master
        self.slave = named_slave

    def servers(self) -> list[Server]:
        return [
            Server(name="ns1", settings={"bind9-master": self.master.settings(nameservers=NS)}),
            Server(name="ns2", settings={"bind9-slave": self.slave.settings()}),
        ]

    def routes(self) -> list[Route]:
        return [
            Route(backend="bind9-master", servers=("ns1",)),
            Route(backend="bind9-slave", servers=("ns2",)),
        ]

    def objects(self) -> list[Service]:
        return [EXAMPLE, SHOP]

    def settled(self) -> bool:
        """The slave serves what the master serves, and has written its copy."""
        if f'zone "{ZONE}"' not in self.slave.include_file.read_text():
            return True
        serial = self.master.serial(ZONE)
        copy = self.slave.slave_dir / f"{ZONE}.db"
        return serial is None or (self.slave.serial(ZONE) == serial and copy.exists())

    def both(self) -> dict[str, Any]:
        return {
            "master": state(self.master, ZONE, [EXAMPLE, SHOP]),
            "slave": state(self.slave, ZONE, [EXAMPLE, SHOP]),
        }

    def observe(self) -> dict[str, Any]:
        NamedInstance.wait_for(self.settled)
        return steady(self.both)

    def read_back(self, obj: Service, path: str) -> Any:
        assert isinstance(obj, Domain)
        NamedInstance.wait_for(self.settled)
        return read_field(self.slave, obj, path)

    def changed(self, obj: Service) -> Service:
        return CHANGED

    def rejection(self, obj: Service) -> Rejection:
        # A link-local master on an interface this slave does not have: orchestra cannot know
        # the server's interfaces, named-checkconf refuses ("unable to find primaries list").
        return Rejection(obj=obj, settings={"masters": ["fe80::1%nosuchif0"]})

    def unreachable(self, obj: Service) -> Unreachable:
        # A record change is the master's to reload (the slave transfers it by itself): what
        # the slave's rndc must carry is a change of its stanza, here one more master to
        # transfer from, with an rndc that asks a port where nothing listens.
        return Unreachable(
            obj=obj,
            settings={"masters": ["192.0.2.53"]},
            out_of_reach={"rndc": self.slave.rndc_out_of_reach("port")},
        )

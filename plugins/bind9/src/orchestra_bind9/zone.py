"""Zone files from domains and their record sets: pure functions, no I/O.

A zone is a :class:`~orchestra_core.catalogue.Domain` plus every subdomain object whose zone
it is (``www.example.com`` inside ``example.com``), each rendered with absolute owner names.
The SOA serial is written as ``0 ; serial``: the master backend stamps the real serial on the
server, so rendering stays pure and the serial only moves when the content does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

import attrs

from orchestra_bind9.settings import Bind9Settings
from orchestra_core.driver import Domain, Record, ServiceIndex

__all__ = [
    "SERIAL_MARK",
    "RenderedZone",
    "character_strings",
    "hostmaster_name",
    "render_zone",
    "zone_members",
    "zone_of",
]

#: The SOA serial line ends with this; the server-side publish step finds and stamps it.
SERIAL_MARK = " ; serial"
_TYPE_ORDER = {t: i for i, t in enumerate(("NS", "A", "AAAA", "MX", "TXT", "SRV", "CAA", "CNAME"))}


@attrs.frozen
class RenderedZone:
    """A zone's text (serial ``0``) and its name."""

    name: str
    text: str


def zone_of(domain: Domain, index: ServiceIndex) -> str:
    """The name of the zone a domain's records live in: the top of its chain of parents."""
    current = domain
    while True:
        parents = list(current.related_keys(index))
        if not parents:
            return current.name
        parent = index.get(parents[0])
        if not isinstance(parent, Domain):
            return current.name
        current = parent


def zone_members(zone: Domain, index: ServiceIndex) -> list[Domain]:
    """The zone's own domain first, then the subdomain objects rendered into it, by name.

    A suspended subdomain (itself or its account, which may not be the zone's) is left out:
    its records stop being served, and come back when it is resumed.
    """
    return [
        zone,
        *index.memo("orchestra_bind9.zone_members", lambda: _members(index)).get(zone.name, []),
    ]


def _members(index: ServiceIndex) -> dict[str, list[Domain]]:
    """Every zone's active subdomain objects, found in one pass over the index."""
    members: dict[str, list[Domain]] = {}
    for domain in index.of_type(Domain):
        top = zone_of(domain, index)
        if top != domain.name and index.is_effectively_active(domain):
            members.setdefault(top, []).append(domain)
    return {name: sorted(found, key=lambda d: d.name) for name, found in members.items()}


def absolute(name: str) -> str:
    """A host name with its trailing dot (``.`` stays the root)."""
    return name if name.endswith(".") else name + "."


def owner(record: Record, domain: Domain) -> str:
    """The absolute owner name of a record set of ``domain``."""
    if record.name == "@":
        return absolute(domain.name)
    return absolute(f"{record.name}.{domain.name}")


def hostmaster_name(address: str) -> str:
    """The SOA RNAME of a mailbox: ``host.master@example.net`` -> ``host\\.master.example.net.``."""
    local, _, domain = address.partition("@")
    return absolute(local.replace(".", "\\.") + "." + domain)


def _escape(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):  # " and \
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def character_strings(value: str) -> str:
    """A TXT value as zone-file character strings of at most 255 bytes each.

    UTF-8 is split on character boundaries; quotes and backslashes are escaped, and every byte
    outside printable ASCII is written as ``\\DDD``, so no value can end the string or the line.
    """
    chunks: list[bytes] = []
    current = b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 255:
            chunks.append(current)
            current = b""
        current += encoded
    chunks.append(current)
    return " ".join(_escape(chunk) for chunk in chunks)


def rdata(record_type: str, value: str) -> str:
    """One value of a record set, as zone-file RDATA."""
    if record_type in ("A", "AAAA"):
        return str(ipaddress.ip_address(value))
    if record_type in ("CNAME", "NS"):
        return absolute(value)
    if record_type == "MX":
        priority, host = value.split(" ")
        return f"{priority} {absolute(host)}"
    if record_type == "SRV":
        priority, weight, port, target = value.split(" ")
        return f"{priority} {weight} {port} {absolute(target)}"
    if record_type == "TXT":
        return character_strings(value)
    return value  # CAA: validated as FLAGS TAG "PRINTABLE ASCII WITHOUT QUOTES"


def _record_sets(
    zone: Domain, members: Sequence[Domain], settings: Bind9Settings
) -> list[tuple[str, Record]]:
    sets: list[tuple[str, Record]] = []
    for member in members:
        for record in member.records:
            sets.append((owner(record, member), record))
    present = {(o, r.type) for o, r in sets}
    apex = absolute(zone.name)
    if (apex, "NS") not in present:
        sets.append((apex, Record(type="NS", values=settings.nameservers)))
    for default in settings.default_records:
        where = owner(default, zone)
        if (where, default.type) not in present:
            sets.append((where, default))
    return sorted(
        sets,
        key=lambda item: (item[0] != apex, item[0].split(".")[::-1], _TYPE_ORDER[item[1].type]),
    )


def render_zone(zone: Domain, members: Iterable[Domain], settings: Bind9Settings) -> RenderedZone:
    """The zone file of ``zone`` (with ``members``' records), serial ``0``."""
    apex = absolute(zone.name)
    primary = absolute(settings.primary_ns or settings.nameservers[0])
    ttl = zone.ttl or settings.ttl
    lines = [
        f"; Zone {zone.name}, rendered by orchestra-bind9 from {zone.key}.",
        "; Do not edit: the next apply overwrites it.",
        f"$TTL {ttl}",
        f"{apex} IN SOA {primary} {hostmaster_name(settings.hostmaster)} (",
        f"        0{SERIAL_MARK}",
        f"        {settings.refresh} ; refresh",
        f"        {settings.retry} ; retry",
        f"        {settings.expire} ; expire",
        f"        {settings.minimum} ; minimum",
        "        )",
    ]
    for name, record in _record_sets(zone, list(members), settings):
        record_ttl = f" {record.ttl}" if record.ttl is not None else ""
        for value in record.values:
            lines.append(f"{name}{record_ttl} IN {record.type} {rdata(record.type, value)}")
    return RenderedZone(name=zone.name, text="\n".join(lines) + "\n")

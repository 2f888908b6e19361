"""Settings of the bind9 backends, per server or route (defaults fit Debian's bind9 package)."""

from __future__ import annotations

import attrs

from orchestra_core.driver import Record, absolute_path, command, program

__all__ = ["Bind9Settings"]


@attrs.frozen(kw_only=True)
class Bind9Settings:
    """Where files go, how named is driven, and what every zone gets by default.

    Both backends read the same keys, so a server that is master for some zones and slave for
    others shares one include file. ``address`` and ``port`` say how *peers* reach this
    server's named (notify, transfers); ``address`` defaults to the server's address.
    """

    #: Master zone files (``ZONE.zone``) and their rendered sources (``ZONE.zone.src``).
    zone_dir: str = attrs.field(default="/var/lib/bind/orchestra", validator=absolute_path)
    #: Zones transferred by a slave (``ZONE.db``), written by named itself.
    slave_dir: str = attrs.field(default="/var/cache/bind/orchestra", validator=absolute_path)
    #: One stanza per zone (``zones/ZONE.conf``), gathered into ``include_file``.
    conf_dir: str = attrs.field(default="/etc/bind/orchestra", validator=absolute_path)
    #: The file orchestra owns; ``include`` it once from the operator's ``named.conf``.
    include_file: str = attrs.field(
        default="/etc/bind/named.conf.orchestra", validator=absolute_path
    )
    rndc: tuple[str, ...] = attrs.field(default=("rndc",), validator=command)
    named_checkzone: str = attrs.field(default="named-checkzone", validator=program)
    #: Stricter than named's defaults: bad names, MX and SRV pointing at CNAMEs are refused.
    checkzone_options: tuple[str, ...] = ("-k", "fail", "-M", "fail", "-S", "fail")
    named_checkconf: str = attrs.field(default="named-checkconf", validator=program)
    address: str | None = None
    #: From 1 to 65535 (checked with each zone, like the SOA timers below: 0 to 2**31-1).
    port: int = 53
    #: Slaves: masters to transfer from besides those found through routes ("IP" or "IP port N").
    masters: tuple[str, ...] = ()
    #: Masters: extra servers to notify and allow transfers to ("IP" or "IP port N").
    also_notify: tuple[str, ...] = ()
    #: The zone's NS set when a domain has no NS records of its own at the apex.
    nameservers: tuple[str, ...] = ("ns1.example.net", "ns2.example.net")
    #: SOA primary name server; the first of ``nameservers`` when None.
    primary_ns: str | None = None
    #: SOA responsible mailbox, as an address.
    hostmaster: str = "hostmaster@example.net"
    ttl: int = 3600
    refresh: int = 3600
    retry: int = 900
    expire: int = 1209600
    minimum: int = 300
    #: Record sets every zone gets unless the domain has a set of the same name and type.
    default_records: tuple[Record, ...] = ()

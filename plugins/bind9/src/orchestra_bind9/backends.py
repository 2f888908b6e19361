"""The bind9 backends: authoritative master and slave zones on BIND 9.

Every file goes through a checker before it replaces a live one: the zone through
``named-checkzone`` (as a source with serial 0, then again with its serial), each zone's stanza
and the include file gathering them through ``named-checkconf``. The include file is an
assembled file (:class:`AssembleFile`): each zone keeps its stanza as a fragment in
``conf_dir/zones``, and the core rebuilds the include from all of them once per server and
batch, checked whole. A record change reloads only its zone (``rndc reload ZONE``); a change
to the set of zones changes the include, which runs ``rndc reconfig`` once per server and
batch. If that reload fails, the include, the stanzas and zone files of the batch get their
previous content back.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from orchestra_bind9.settings import Bind9Settings
from orchestra_bind9.zone import RenderedZone, render_zone, zone_members
from orchestra_core.driver import (
    CANDIDATE,
    AssembleFile,
    Backend,
    BackendError,
    Command,
    DeleteFile,
    Domain,
    EnsureDirectory,
    FieldError,
    Observation,
    RenderContext,
    Server,
    Step,
    WriteFile,
    checks,
    file_name,
    server_path,
)

__all__ = ["Bind9Master", "Bind9Slave", "named_string", "parse_peer"]

#: Runs named-checkzone on a candidate and, on failure, shows each line it complains about:
#: the line is the record set (owner, TTL, type, value), so the error names the record. With
#: ``--stanza CHECKCONF TEXT`` it first has CHECKCONF check the zone's stanza TEXT. With
#: ``--rndc N ARGV...`` (the N words of the rndc command) it then asks ``rndc status``: a zone
#: named cannot be reached for would be published and never loaded, so its source is refused
#: (with rndc's words) and nothing of the zone changes.
CHECK_ZONE = r"""zone=$1 file=$2; shift 2
if [ "$1" = --stanza ]; then
  conf=$(mktemp) || exit 1
  printf '%s' "$3" >"$conf"
  out=$("$2" "$conf" 2>&1); rc=$?
  rm -f -- "$conf"
  if [ "$rc" -ne 0 ]; then
    printf 'the stanza of zone %s is refused:\n%s\n' "$zone" "$out"
    exit "$rc"
  fi
  shift 3
fi
rndc=()
if [ "$1" = --rndc ]; then
  rndc=("${@:3:$2}")
  shift $((2 + $2))
fi
out=$("$@" "$zone" "$file" 2>&1); rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
  for n in $(printf '%s\n' "$out" | grep -o ':[0-9][0-9]*:' | tr -d : | sort -un); do
    printf 'line %s: %s\n' "$n" "$(sed -n "${n}p" -- "$file")"
  done
  exit "$rc"
fi
if [ "${#rndc[@]}" -gt 0 ]; then
  out=$("${rndc[@]}" status 2>&1); rc=$?
  if [ "$rc" -ne 0 ]; then
    printf 'zone %s is not published: named cannot be reached:\n%s\n' "$zone" "$out"
    exit "$rc"
  fi
fi
"""

NAMED = "named"
#: Seconds a file's checker (named-checkzone, named-checkconf) may take: its step is killed
#: and ends ``timeout`` past it, the live file untouched.
CHECK_TIMEOUT = 60.0
#: Seconds publishing a zone may take: its check, the move into place and ``rndc reload``.
PUBLISH_TIMEOUT = 120.0
#: What named adds to a zone file's name for its journal (incremental changes: transfers,
#: ``ixfr-from-differences``). A journal belongs to the file it was written against: a delete
#: removes it, or a zone created again under that name would be rolled forward with it.
JOURNAL = ".jnl"


def named_string(value: object) -> str:
    """Text for inside a double-quoted named.conf string."""
    text = str(value)
    if any(c in text for c in "\n\r\x00"):
        raise ValueError(f"{text!r} cannot be put in a named.conf string")
    return text.replace("\\", "\\\\").replace('"', '\\"')


def parse_peer(text: str) -> tuple[str, int | None]:
    """``"192.0.2.1"`` or ``"192.0.2.1 port 5353"`` as (address, port)."""
    parts = text.split()
    if len(parts) == 3 and parts[1] == "port" and parts[2].isdigit():
        address, port = parts[0], int(parts[2])
    elif len(parts) == 1:
        address, port = parts[0], None
    else:
        raise ValueError(f"{text!r} is not 'ADDRESS' or 'ADDRESS port N'")
    ipaddress.ip_address(address)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1..65535")
    return str(ipaddress.ip_address(address)), port


def named_instance(settings: Bind9Settings) -> str:
    """The named instance that a zone's changes reload: ``named`` for the one the defaults
    describe, ``named:INCLUDE_FILE`` for another. Two named on one server (a master and a
    slave, each with its own include file and rndc) are two instances, each reloaded once per
    batch with its own settings; master and slave zones that share an include file are one."""
    default = attrs.fields(Bind9Settings).include_file.default
    return NAMED if settings.include_file == default else f"{NAMED}:{settings.include_file}"


#: What a bind9 backend renders with.
Context = RenderContext[Domain, Bind9Settings]


class _Bind9(Backend[Domain, Bind9Settings]):
    """What the master and the slave share: settings, paths, checks, the reconfig."""

    service_type: ClassVar[type[Any]] = Domain
    daemon: ClassVar[str | None] = NAMED
    settings_class: ClassVar[type[Any]] = Bind9Settings
    tools: ClassVar[tuple[str, ...]] = ("named-checkzone", "named-checkconf", "rndc")
    template_filters: ClassVar[Mapping[str, Callable[..., Any]]] = {"named_string": named_string}

    def check(self, obj: Domain, settings: Bind9Settings) -> list[FieldError]:
        """Settings that end up in zone files and named.conf must be well formed."""
        errors: list[FieldError] = []
        where = f"settings of {self.name}"
        s = settings
        for i, ns in enumerate(s.nameservers):
            checks.hostname_field(errors, obj.key, f"{where}: nameservers[{i}]", ns)
        if not s.nameservers:
            errors.append(FieldError(obj.key, f"{where}: nameservers", "needs at least one"))
        if s.primary_ns is not None:
            checks.hostname_field(errors, obj.key, f"{where}: primary_ns", s.primary_ns)
        checks.email_field(errors, obj.key, f"{where}: hostmaster", s.hostmaster)
        for i, record in enumerate(s.default_records):
            errors.extend(record.check(obj.key, f"{where}: default_records[{i}]"))
        # Out of range, named-checkconf (a peer's port) or named-checkzone (the SOA) would
        # refuse them on the server, after the plan was accepted.
        checks.int_field(errors, obj.key, f"{where}: port", s.port, minimum=1, maximum=65535)
        for field in ("ttl", "refresh", "retry", "expire", "minimum"):
            checks.int_field(
                errors,
                obj.key,
                f"{where}: {field}",
                getattr(s, field),
                minimum=0,
                maximum=checks.MAX_INT32,
            )
        for field in ("masters", "also_notify"):
            for i, text in enumerate(getattr(s, field)):
                try:
                    parse_peer(text)
                except ValueError as exc:
                    errors.append(FieldError(obj.key, f"{where}: {field}[{i}]", str(exc)))
        return errors

    def stanza_dir(self, server: Server, settings: Bind9Settings) -> str:
        """Where the per-zone stanzas live on ``server``."""
        return server_path(server, posixpath.join(settings.conf_dir, "zones"))

    def stanza_path(self, ctx: Context) -> str:
        """The stanza file of this zone."""
        return posixpath.join(
            self.stanza_dir(ctx.server, ctx.settings), file_name(ctx.obj.name, ".conf")
        )

    def include(self, server: Server, settings: Bind9Settings) -> AssembleFile:
        """The include file named reads, assembled from every zone's stanza on ``server``
        (master and slave zones alike: both backends name the same one), checked whole by
        ``named-checkconf``; with no zone left it is empty, as before orchestra's first."""
        return AssembleFile(
            description="include file of the zone stanzas",
            path=server_path(server, settings.include_file),
            fragments=self.stanza_dir(server, settings),
            suffix=".conf",
            validate=(settings.named_checkconf, CANDIDATE),
            notify=named_instance(settings),
            comment="//",
            managed_by="orchestra-bind9",
            timeout=CHECK_TIMEOUT,
        )

    def stanza_steps(self, ctx: Context, content: str) -> list[Step]:
        """Make sure the stanza directory exists and holds this zone's stanza, a fragment of
        the include file."""
        settings = ctx.settings
        return [
            EnsureDirectory(
                description="directory of zone stanzas", path=self.stanza_dir(ctx.server, settings)
            ),
            WriteFile(
                description=f"stanza of zone {ctx.obj.name}",
                path=self.stanza_path(ctx),
                content=content,
                validate=(settings.named_checkconf, CANDIDATE),
                fragment_of=self.include(ctx.server, settings),
                timeout=CHECK_TIMEOUT,
            ),
        ]

    def stanza_removal(self, ctx: Context, description: str) -> DeleteFile:
        """Remove this zone's stanza: the include is assembled again without it."""
        return DeleteFile(
            description=description,
            path=self.stanza_path(ctx),
            fragment_of=self.include(ctx.server, ctx.settings),
        )

    def is_subdomain(self, ctx: Context) -> bool:
        """True when the domain's records are rendered into a parent zone (no zone of its own)."""
        return bool(list(ctx.obj.related_keys(ctx.index)))

    def render(self, ctx: Context) -> Sequence[Step]:
        """A subdomain renders nothing, whatever the action: its zone renders its records.
        Otherwise as every backend: :meth:`render_save`, :meth:`render_suspended`,
        :meth:`render_delete`."""
        return [] if self.is_subdomain(ctx) else super().render(ctx)

    def render_delete(self, ctx: Context) -> Sequence[Step]:
        """The stanza and the zone's files go (the files come back if the reconfig fails)."""
        return [
            self.stanza_removal(ctx, f"stanza of zone {ctx.obj.name}"),
            *(
                DeleteFile(description=description, path=path, notify=named_instance(ctx.settings))
                for description, path in self.zone_files(ctx)
            ),
        ]

    def render_suspended(self, ctx: Context) -> Sequence[Step]:
        """The stanza goes (named stops serving the zone); its files stay for the resume."""
        return [self.stanza_removal(ctx, f"stop serving suspended zone {ctx.obj.name}")]

    def zone_files(self, ctx: Context) -> list[tuple[str, str]]:
        """(description, path) of the zone's files on the server, removed on delete."""
        raise NotImplementedError

    def peer_addresses(
        self, ctx: Context, backend: type[_Bind9], extra: Sequence[str]
    ) -> list[tuple[str, int | None]]:
        """Where the servers that ``backend`` routes this zone to answer, plus ``extra``."""
        found = [_peer_address(server, settings) for server, settings in ctx.peers(backend)]
        return list(dict.fromkeys([*found, *(parse_peer(text) for text in extra)]))

    def reload(self, server: Server, settings: Bind9Settings, daemon: str) -> str | None:
        """``rndc reconfig`` (the core has assembled the include), then a refresh of the
        slave zones whose stanza is new."""
        return self.templates.shell(
            "reload.sh.j2", stanzas=self.stanza_dir(server, settings), rndc=settings.rndc
        )


def _peer_address(server: Server, settings: Bind9Settings) -> tuple[str, int | None]:
    address = settings.address or server.address
    return str(ipaddress.ip_address(address)), (settings.port if settings.port != 53 else None)


class Bind9Master(_Bind9):
    """Serves a domain's zone as master, notifying its slaves and letting them transfer it."""

    name: ClassVar[str] = "bind9-master"
    #: Its slaves: where they are goes into the stanza (also-notify, allow-transfer).
    reads_peers: ClassVar[tuple[str, ...]] = ("bind9-slave",)

    def zone_files(self, ctx: Context) -> list[tuple[str, str]]:
        """The live zone file, its rendered source, and the journal named keeps beside the
        live file when it computes differences (``ixfr-from-differences``)."""
        live = posixpath.join(ctx.path(ctx.settings.zone_dir), file_name(ctx.obj.name, ".zone"))
        return [
            (f"zone file of {ctx.obj.name}", live),
            (f"zone source of {ctx.obj.name}", live + ".src"),
            (f"journal of {ctx.obj.name}", live + JOURNAL),
        ]

    def zone(self, ctx: Context) -> RenderedZone:
        """The zone of ``ctx.obj`` with its subdomains' records, rendered once per plan
        (:meth:`render_save` and :meth:`observe` both need it)."""
        return ctx.index.memo(
            f"orchestra_bind9.zone:{ctx.obj.key}:{ctx.settings!r}",
            lambda: render_zone(ctx.obj, zone_members(ctx.obj, ctx.index), ctx.settings),
        )

    def render_save(self, ctx: Context) -> list[Step]:
        """Zone source (checked, with the stanza), publish with a serial and a reload of the
        zone, stanza."""
        s = ctx.settings
        (_, live), (_, src), _journal = self.zone_files(ctx)
        zone = self.zone(ctx)
        checkzone = (s.named_checkzone, *s.checkzone_options)
        peers = self.peer_addresses(ctx, Bind9Slave, s.also_notify)
        stanza = self.templates.config(
            "master.conf.j2",
            key=ctx.obj.key,
            zone=ctx.obj.name,
            file=live,
            peers=peers,
            transfer=list(dict.fromkeys(address for address, _ in peers)),
        )
        # The zone goes live (publish) before its stanza is written: checking the stanza with
        # the zone's source stops a stanza named-checkconf refuses before anything changes.
        check = (
            "bash",
            "-c",
            CHECK_ZONE,
            "check-zone",
            ctx.obj.name,
            CANDIDATE,
            "--stanza",
            s.named_checkconf,
            stanza,
            "--rndc",
            str(len(s.rndc)),
            *s.rndc,
            *checkzone,
        )
        return [
            EnsureDirectory(description="directory of zone files", path=posixpath.dirname(live)),
            WriteFile(
                description=f"zone source of {ctx.obj.name}",
                path=src,
                content=zone.text,
                validate=check,
                timeout=CHECK_TIMEOUT,
            ),
            Command(
                description=f"publish zone {ctx.obj.name} with a new serial and reload it",
                script=self.templates.shell(
                    "publish.sh.j2",
                    live=live,
                    src=src,
                    zone=ctx.obj.name,
                    checkzone=checkzone,
                    rndc=s.rndc,
                ),
                unless=self.templates.shell("published.sh.j2", live=live, src=src),
                timeout=PUBLISH_TIMEOUT,
            ),
            *self.stanza_steps(ctx, stanza),
        ]

    def observe(self, ctx: Context) -> Sequence[Observation]:
        """The live zone without its serial: what named-checkzone let publish put there,
        as rendered (a zone edited by hand on the server is drift; a missing one reads as
        empty). The source and the
        stanza are files orchestra writes, observed without a probe."""
        (_, live), _src, _journal = self.zone_files(ctx)
        # A suspended zone keeps the live file it had (or none): what it holds is read after
        # the operation rather than known from the rendering.
        expected = without_serial(self.zone(ctx).text) if ctx.active else None
        return [
            Observation(
                name="live zone",
                script=self.templates.shell("live-zone.sh.j2", live=live),
                expected=expected,
            )
        ]


def without_serial(text: str) -> str:
    """``text`` as ``grep -v ' ; serial$'`` prints it: the lines that do not end with the
    serial's comment, each with its newline."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "".join(line + "\n" for line in lines if not line.endswith(" ; serial"))


class Bind9Slave(_Bind9):
    """Serves a domain's zone as slave, transferred from its masters."""

    name: ClassVar[str] = "bind9-slave"
    after: ClassVar[tuple[str, ...]] = ("bind9-master",)
    #: Its masters: where they are goes into the stanza (masters).
    reads_peers: ClassVar[tuple[str, ...]] = ("bind9-master",)

    def zone_files(self, ctx: Context) -> list[tuple[str, str]]:
        """The copy named keeps of the transferred zone, and its journal of incremental
        transfers."""
        copy = posixpath.join(ctx.path(ctx.settings.slave_dir), file_name(ctx.obj.name, ".db"))
        return [
            (f"transferred copy of {ctx.obj.name}", copy),
            (f"journal of the transferred copy of {ctx.obj.name}", copy + JOURNAL),
        ]

    def render_save(self, ctx: Context) -> list[Step]:
        """The stanza naming the masters (found through routes, or in settings)."""
        s = ctx.settings
        (_, copy), _journal = self.zone_files(ctx)
        masters = self.peer_addresses(ctx, Bind9Master, s.masters)
        if not masters:
            raise BackendError(
                self.name,
                "no master to transfer from: route bind9-master for this domain or set masters",
                object_key=ctx.obj.key,
            )
        stanza = self.templates.config(
            "slave.conf.j2", key=ctx.obj.key, zone=ctx.obj.name, file=copy, masters=masters
        )
        return [
            EnsureDirectory(
                description="directory of transferred zones", path=posixpath.dirname(copy)
            ),
            *self.stanza_steps(ctx, stanza),
        ]

"""The mailman backends: a mailing list in Mailman 3 core, and its addresses in Postfix.

``mailman-list`` (:class:`MailmanList`)
    The list in Mailman, through its REST API from the list server's own loopback: every
    step runs :mod:`orchestra_mailman.remote` on the server's Python with the job as JSON
    on its stdin (no value is quoted into code or into a command line), and that program
    asks ``mailman info`` for the API's address and credentials (Mailman's own: they never
    sit in orchestra's settings, the plan or the logs). A save probes the list (whether it
    and its domain exist, its description, its suspension and the enforced options, its
    owners) and :meth:`~MailmanList.reconcile` changes only what differs: a new
    description is one PATCH of that field, a new ``admin_email`` one owner added and the
    old one removed, an unchanged list no step at all. Suspended, the list is in Mailman's
    *emergency* moderation: every post is held for the owner (nothing lost, nothing
    delivered); resumed, posts flow again and the held ones wait for the owner to accept.
    Deleted: the list goes (Mailman keeps its archive; ``archive_on_delete: trash`` moves
    the prototype archive to the trash), and its domain with the last list of it.

``mailman-postfix`` (:class:`MailmanPostfix`)
    The list's nine addresses (``NAME``, ``NAME-bounces``, ``-confirm``, ``-join``,
    ``-leave``, ``-owner``, ``-request``, ``-subscribe``, ``-unsubscribe``) in the postfix
    driver's tables on the mail server: valid recipients of its domain
    (``virtual_mailboxes``, with the domain in ``virtual_domains``: a list domain that is
    also a mailbox domain of the same server works), kept from a catch-all of the domain
    (``virtual_mailbox_aliases``), and sent to Mailman by LMTP (``transport``:
    ``lmtp:[HOST]:PORT``, the ``lmtp`` setting of the list's ``mailman-list`` placement).
    Checked and reloaded as the postfix backends' own lines are. Deleted: the lines go, and
    the addresses are refused at RCPT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any, ClassVar

import attrs
from orchestra_postfix import maps
from orchestra_postfix.backends import PostfixTables
from orchestra_postfix.settings import PostfixSettings

from orchestra_core.driver import (
    Backend,
    BackendError,
    Command,
    FieldError,
    MailingList,
    Observation,
    Probe,
    RenderContext,
    Server,
    Step,
    Templates,
    move_to_trash,
    server_path,
)
from orchestra_mailman.settings import MailmanSettings

__all__ = [
    "LIST_ADDRESSES",
    "ListState",
    "MailmanList",
    "MailmanPostfix",
    "list_addresses",
    "rest_script",
]

#: The suffixes of a list's addresses: its posting address and Mailman's eight others.
LIST_ADDRESSES = (
    "",
    "-bounces",
    "-confirm",
    "-join",
    "-leave",
    "-owner",
    "-request",
    "-subscribe",
    "-unsubscribe",
)
#: The postfix driver's tables a list has lines in.
TABLES = ("virtual_domains", "virtual_mailboxes", "virtual_mailbox_aliases", "transport")
#: The source of the program every step runs on the server (sent as it is).
PROGRAM = resources.files("orchestra_mailman").joinpath("remote.py").read_text(encoding="utf-8")

ListContext = RenderContext[MailingList, MailmanSettings]


def rest_script(server: Server, settings: MailmanSettings, verb: str, **job: Any) -> str:
    """The shell that runs :data:`PROGRAM`'s ``verb`` on ``server`` with ``job`` (and how
    to reach Mailman there, from ``settings``) as ASCII JSON on its stdin."""
    config = server_path(server, settings.config) if settings.config else None
    mailman = [*settings.mailman, *(["-C", config] if config else [])]
    text = json.dumps(
        {"verb": verb, "mailman": mailman, "config": config, **job},
        sort_keys=True,
        ensure_ascii=True,
    )
    return Templates.for_package("orchestra_mailman").shell(
        "rest.sh.j2", job=text, python=settings.python, program=PROGRAM
    )


def list_addresses(obj: MailingList) -> list[str]:
    """Every address of the list, the posting address first."""
    return [f"{obj.name}{suffix}@{obj.domain}" for suffix in LIST_ADDRESSES]


@attrs.frozen(kw_only=True)
class ListState:
    """What the probe read of one list in Mailman."""

    domain: bool
    exists: bool
    config: dict[str, Any]
    owners: tuple[str, ...]


def parse_state(output: str) -> ListState:
    """The :class:`ListState` of what ``remote.py read`` printed; ``ValueError`` otherwise."""
    try:
        data = json.loads(output)
        return ListState(
            domain=bool(data["domain"]),
            exists=bool(data["exists"]),
            config=dict(data["config"]),
            owners=tuple(data["owners"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the list probe printed {output[:200]!r}, not a list's state") from exc


class MailmanList(Backend[MailingList, MailmanSettings, ListState]):
    """A list in Mailman 3 core (see the module's docs)."""

    name: ClassVar[str] = "mailman-list"
    service_type: ClassVar[type[Any]] = MailingList
    settings_class: ClassVar[type[Any]] = MailmanSettings
    settings_section: ClassVar[str | None] = "mailman"
    tools: ClassVar[tuple[str, ...]] = ("python3", "runuser")

    def check(self, obj: MailingList, settings: MailmanSettings) -> list[FieldError]:
        """A description Mailman cannot hold: it takes one line only (its REST API refuses
        a line break with 400)."""
        errors = []
        if any(c in obj.description for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"):
            errors.append(
                FieldError(
                    obj.key,
                    "description",
                    "Mailman keeps a list's description on one line: it has a line break",
                )
            )
        return errors

    # -- the program on the server --------------------------------------------------------------

    def _script(self, ctx: ListContext, verb: str, **job: Any) -> str:
        return rest_script(ctx.server, ctx.settings, verb, list=ctx.obj.identity, **job)

    def _fields(self, settings: MailmanSettings) -> list[str]:
        return sorted({"description", "emergency", *settings.enforced})

    def _read(self, ctx: ListContext) -> str:
        return self._script(ctx, "read", fields=self._fields(ctx.settings))

    # -- actions --------------------------------------------------------------------------------

    def render_save(self, ctx: ListContext) -> Sequence[Step]:
        """Nothing up front: a save probes the list and its steps are decided from what
        Mailman has (:meth:`reconcile`)."""
        return ()

    def probe(self, ctx: ListContext) -> Probe[ListState] | None:
        """For a save (active or suspended): one read of the list's state in Mailman."""
        if ctx.action != "save":
            return None
        return Probe(
            description=f"read the list {ctx.obj.identity} in Mailman",
            script=self._read(ctx),
            parse=parse_state,
            timeout=ctx.settings.timeout,
            observation="list",
        )

    def wanted(self, ctx: ListContext) -> dict[str, Any]:
        """The list options the list must have: its description, its suspension
        (``emergency``) and what the host enforces."""
        return {
            **ctx.settings.enforced,
            "description": ctx.obj.description,
            "emergency": not ctx.active,
        }

    def reconcile(self, ctx: ListContext, observed: ListState) -> Sequence[Step]:
        """The domain and list created if absent, the owner ``admin_email`` added, the
        options that differ set in one PATCH, the old owners removed: one step with only
        that, or none. If Mailman refuses a part, the step undoes the others."""
        obj = ctx.obj
        ops: list[dict[str, Any]] = []
        if not observed.domain:
            ops.append({"op": "domain"})
        if not observed.exists:
            ops.append({"op": "create"})
        have = observed.config if observed.exists else {}
        values = {
            key: value
            for key, value in self.wanted(ctx).items()
            if not observed.exists or have.get(key) != value
        }
        owner = obj.admin_email.lower()
        owners = observed.owners if observed.exists else ()
        if owner not in owners:
            ops.append({"op": "owner", "email": obj.admin_email})
        if values:
            previous = {key: have[key] for key in values if key in have}
            ops.append({"op": "config", "values": values, "previous": previous})
        ops += [{"op": "unowner", "email": old} for old in owners if old != owner]
        if not ops:
            return ()
        return [
            Command(
                description=f"list {obj.identity} in Mailman: {'; '.join(map(_said, ops))}"
                + ("" if ctx.active else " (suspended: posts held)"),
                script=self._script(ctx, "apply", ops=ops),
                timeout=ctx.settings.timeout,
            )
        ]

    def render_delete(self, ctx: ListContext) -> Sequence[Step]:
        """The list removed from Mailman (and its domain with the last list); with
        ``archive_on_delete: trash``, its archive moved to the trash."""
        obj, settings = ctx.obj, ctx.settings
        steps: list[Step] = [
            Command(
                description=f"remove the list {obj.identity} from Mailman",
                script=self._script(ctx, "delete"),
                unless=self._script(ctx, "absent"),
                timeout=settings.timeout,
            )
        ]
        if settings.archive_on_delete == "trash":
            steps.append(
                move_to_trash(
                    f"move the archive of {obj.identity} to the trash",
                    f"{ctx.path(settings.archive_dir)}/{obj.identity}",
                    ctx.path(settings.trash_dir),
                    obj.identity,
                )
            )
        return steps

    def observe(self, ctx: ListContext) -> Sequence[Observation]:
        """The list's state in Mailman (what the probe prints): a description, owner or
        moderation changed by hand is drift."""
        return [Observation(name="list", script=self._read(ctx))]


def _said(op: dict[str, Any]) -> str:
    """How a plan names one operation of a list's save."""
    kind = op["op"]
    if kind == "config":
        return f"set {', '.join(sorted(op['values']))}"
    if kind in ("owner", "unowner"):
        return f"{'add' if kind == 'owner' else 'drop'} owner {op['email']}"
    return "add its domain" if kind == "domain" else "create"


class MailmanPostfix(PostfixTables[MailingList]):
    """The list's addresses in Postfix, delivered to Mailman by LMTP (see the module's
    docs)."""

    name: ClassVar[str] = "mailman-postfix"
    service_type: ClassVar[type[Any]] = MailingList
    reads_peers: ClassVar[tuple[str, ...]] = ("mailman-list",)
    tools: ClassVar[tuple[str, ...]] = ("postfix", "postmap", "postconf")

    def check(self, obj: MailingList, settings: PostfixSettings) -> list[FieldError]:
        """Addresses Postfix's tables cannot hold (the name is what makes them)."""
        errors = []
        for address in list_addresses(obj):
            problem = maps.address_problem(address)
            if problem:
                errors.append(FieldError(obj.key, "name", f"{address!r:.60} {problem}"))
                break
        return errors

    def lmtp(self, ctx: RenderContext[MailingList, PostfixSettings]) -> str:
        """Postfix's transport to the list's Mailman: ``lmtp:[HOST]:PORT`` from the
        ``mailman-list`` placement of the list (the first server by name)."""
        peers = sorted(ctx.peers(MailmanList), key=lambda peer: peer[0].name)
        if not peers:
            raise BackendError(
                self.name,
                f"{ctx.obj.identity} has no list server: no route of mailman-list sends it "
                "anywhere, so Postfix would have no Mailman to deliver it to",
                object_key=ctx.obj.key,
            )
        host, _, port = peers[0][1].lmtp.rpartition(":")
        return f"lmtp:[{host.strip('[]')}]:{port}"

    def render_save(self, ctx: RenderContext[MailingList, PostfixSettings]) -> Sequence[Step]:
        """The domain, and each address as a recipient sent to Mailman. A suspended list's
        mail still reaches Mailman, which holds it."""
        obj = ctx.obj
        addresses = list_addresses(obj)
        transport = self.lmtp(ctx)
        return [
            *self.write(
                self.table(ctx, "virtual_domains"), obj, maps.domain_line(obj.domain), obj.domain
            ),
            *self.write(
                self.table(ctx, "virtual_mailboxes"),
                obj,
                "".join(maps.map_line(a, f"mailman:{obj.identity}") for a in addresses),
                obj.identity,
            ),
            *self.write(
                self.table(ctx, "virtual_mailbox_aliases"),
                obj,
                "".join(maps.alias_line(a, (a,)) for a in addresses),
                obj.identity,
            ),
            *self.write(
                self.table(ctx, "transport"),
                obj,
                "".join(maps.map_line(a, transport) for a in addresses),
                obj.identity,
            ),
        ]

    def render_delete(self, ctx: RenderContext[MailingList, PostfixSettings]) -> Sequence[Step]:
        """Every line of the list out; its domain goes with the last line that names it."""
        return [
            self.remove(self.table(ctx, name), ctx.obj, ctx.obj.identity)
            for name in (
                "virtual_domains",
                "virtual_mailboxes",
                "virtual_mailbox_aliases",
                "transport",
            )
        ]

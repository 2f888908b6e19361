"""The postfix backends: virtual mailboxes on Dovecot, addresses and forwards, and a backup MX.

Every table and passwd-file orchestra owns is an assembled file (:class:`AssembleFile`): each
object keeps its lines as a fragment (``maps_dir/parts/TABLE/KIND~ADDRESS.map``), and the core
rebuilds the file from all the fragments on the server once per server and batch, checks it
whole and swaps it in atomically. A Postfix table is checked by ``postfix check`` (with a
check that main.cf reads it) and built by ``postmap`` into a temporary ``.db`` (any warning of
postmap's, a duplicate key or a malformed line, refuses it); the Dovecot files by ``doveconf
-n`` (with a check that dovecot.conf reads them). Then ``postfix reload`` and ``doveadm
reload`` run once per batch; if one fails, the files of its daemon get their previous content
back.

``postfix-mailbox`` (``Mailbox``)
    Its domain in ``virtual_domains`` (a domain stays there while one mailbox or address of
    it does), ``ADDRESS DOMAIN/LOCAL/Maildir/`` in ``virtual_mailboxes``, ``ADDRESS ADDRESS``
    in ``virtual_mailbox_aliases`` (read after ``virtual_aliases``: a catch-all of the domain
    does not take a mailbox's mail), its userdb line (uid, gid, home ``MAIL_BASE/DOMAIN/LOCAL``,
    quota rule) in ``users``, and its home made. ``set_password`` has ``doveadm pw`` hash the
    password on the server, read from stdin, into ``passwords/ADDRESS``: only that hash is
    kept. Suspended: listed in ``suspended`` (a ``deny`` passdb: IMAP logins fail) while its
    mail is still accepted, or with ``suspended_mail = defer`` also in ``recipient_access``
    (senders get a 4xx and retry). Over its ``mailbox-disk`` allocation its quota becomes one
    byte: new mail is refused at RCPT (Dovecot's quota-status) until it is under again; the
    customer still reads and deletes. Deleted: every line goes, and the home is moved to
    ``TRASH_DIR/YYYY-MM-DD/ADDRESS`` (never removed).

``postfix-address`` (``MailAddress``)
    Its domain in ``virtual_domains`` and ``ADDRESS MAILBOX,...,FORWARD,...`` in
    ``virtual_aliases``; ``@DOMAIN`` is the domain's catch-all. An address named like a mailbox
    decides where that address's mail goes (list the mailbox among its mailboxes to keep it).

``postfix-relay-mailbox``, ``postfix-relay-address`` (backup MX)
    On a second server (a second route): the domain in ``relay_domains``, the address in
    ``relay_recipients`` (unknown recipients are refused there too) and ``DOMAIN
    smtp:[PRIMARY]:PORT`` in ``transport``, the primary being where ``postfix-mailbox`` (or
    ``postfix-address``) sends the same object, reached at its ``relay_address``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from orchestra_core.driver import (
    CANDIDATE,
    AssembleFile,
    Backend,
    BackendError,
    Command,
    DeleteFile,
    Derived,
    EnsureDirectory,
    FieldError,
    MailAddress,
    Mailbox,
    RenderContext,
    Server,
    Service,
    Step,
    Templates,
    WriteFile,
    file_name,
    move_to_trash,
    quote,
    server_path,
)
from orchestra_postfix import maps
from orchestra_postfix.settings import PostfixSettings

__all__ = [
    "DOVECOT_FILES",
    "POSTFIX_TABLES",
    "PostfixAddress",
    "PostfixMailbox",
    "PostfixRelayAddress",
    "PostfixRelayMailbox",
    "PostfixTables",
]

#: The Postfix tables orchestra owns, by file name in ``maps_dir``: the main.cf parameter
#: that must read it, and whether several objects may give the same line (a domain).
POSTFIX_TABLES: dict[str, tuple[str, bool]] = {
    "virtual_domains": ("virtual_mailbox_domains", True),
    "virtual_mailboxes": ("virtual_mailbox_maps", False),
    "virtual_aliases": ("virtual_alias_maps", False),
    "virtual_mailbox_aliases": ("virtual_alias_maps", False),
    "recipient_access": ("smtpd_recipient_restrictions", False),
    "relay_domains": ("relay_domains", True),
    "relay_recipients": ("relay_recipient_maps", False),
    "transport": ("transport_maps", True),
}
#: The Dovecot passwd-files orchestra assembles, in ``dovecot_dir``.
DOVECOT_FILES = ("users", "suspended")
#: The resource whose allocation the quota enforces (``orchestra_postfix.monitor``).
MAILBOX_DISK = "mailbox-disk"
#: The quota of a mailbox over its allocation: no new message fits.
OVER_ALLOCATION_QUOTA = 1

ServiceT = TypeVar("ServiceT", bound=Service)
MailT = TypeVar("MailT", Mailbox, MailAddress)

#: postmap, failing on any warning (a duplicate key, a line without a value): such a table
#: would lose lines without a word. ``$@`` is the postmap command and its arguments.
POSTMAP_STRICT = (
    'out=$("$@" 2>&1); rc=$?\n'
    '[ -z "$out" ] || printf \'%s\\n\' "$out" >&2\n'
    '[ "$rc" -eq 0 ] || exit "$rc"\n'
    "case $out in *warning:*) exit 1 ;; esac\n"
)


class PostfixTables(Backend[ServiceT, PostfixSettings], Generic[ServiceT]):
    """What every backend that writes orchestra's Postfix tables shares: the ``postfix``
    settings, the assembled files and their checks, the reloads. A backend of another
    distribution (orchestra-mailman's list addresses) subclasses it to put its own lines in
    the same tables, which the same checks and the same one reload per batch cover; its
    objects' fragments are named by their kind and :attr:`~orchestra_core.driver.Service.identity`.
    """

    daemon: ClassVar[str | None] = "postfix"
    settings_class: ClassVar[type[Any]] = PostfixSettings
    settings_section: ClassVar[str | None] = "postfix"
    tools: ClassVar[tuple[str, ...]] = ("postfix", "postmap", "postconf", "doveconf", "doveadm")

    @property
    def postfix_templates(self) -> Templates:
        """The postfix driver's own templates (the tables' checks, the reload), whichever
        package the backend is in."""
        return Templates.for_package("orchestra_postfix")

    # -- files ----------------------------------------------------------------------------------

    def table(self, ctx: RenderContext[Any, PostfixSettings], name: str) -> AssembleFile:
        """The assembled Postfix table ``name`` (one of :data:`POSTFIX_TABLES`)."""
        settings = ctx.settings
        maps_dir = ctx.path(settings.maps_dir)
        conf = ctx.path(settings.config_dir)
        path = f"{maps_dir}/{name}"
        parameter, unique = POSTFIX_TABLES[name]
        check = self.postfix_templates.shell(
            "check-table.sh.j2",
            postfix=list(settings.postfix),
            postconf=settings.postconf,
            conf=conf,
            parameter=parameter,
            table=f"{settings.map_type}:{path}",
        )
        return AssembleFile(
            description=f"Postfix table {name}",
            path=path,
            fragments=f"{maps_dir}/parts/{name}",
            suffix=".map",
            validate=("bash", "-c", check, "check-table", CANDIDATE),
            derived=(
                Derived(
                    argv=(
                        "bash",
                        "-c",
                        POSTMAP_STRICT,
                        "postmap",
                        settings.postmap,
                        "-c",
                        conf,
                        f"{settings.map_type}:{CANDIDATE}",
                    ),
                    outputs=(settings.map_suffix,),
                ),
            ),
            notify="postfix",
            managed_by="orchestra-postfix",
            unique=unique,
        )

    def passwd_file(self, ctx: RenderContext[Any, PostfixSettings], name: str) -> AssembleFile:
        """The assembled Dovecot passwd-file ``name`` (one of :data:`DOVECOT_FILES`)."""
        settings = ctx.settings
        dovecot_dir = ctx.path(settings.dovecot_dir)
        path = f"{dovecot_dir}/{name}"
        check = self.postfix_templates.shell(
            "check-dovecot.sh.j2", doveconf=list(settings.doveconf), file=path
        )
        return AssembleFile(
            description=f"Dovecot passwd-file {name}",
            path=path,
            fragments=f"{dovecot_dir}/parts/{name}",
            suffix=".map",
            mode=0o640,
            group=settings.dovecot_group,
            validate=("bash", "-c", check, "check-dovecot", CANDIDATE),
            notify="dovecot",
            managed_by="orchestra-postfix",
        )

    def fragment(self, target: AssembleFile, obj: Service) -> str:
        """Where ``obj`` keeps its lines of ``target``: its kind and identity (a mailbox's or
        an address's address) name the file, so a mailbox and an address of the same name
        keep apart."""
        return f"{target.fragments}/{file_name(f'{obj.kind}~{obj.identity}', target.suffix)}"

    def write(self, target: AssembleFile, obj: Service, content: str, what: str) -> Sequence[Step]:
        """The steps that give ``obj`` the lines ``content`` in ``target``."""
        return [
            EnsureDirectory(
                description=f"fragments of {target.description}", path=target.fragments
            ),
            WriteFile(
                description=f"{what} in {target.description}",
                path=self.fragment(target, obj),
                content=content,
                mode=target.mode,
                fragment_of=target,
            ),
        ]

    def remove(self, target: AssembleFile, obj: Service, what: str) -> Step:
        """The step that takes ``obj``'s lines out of ``target`` (nothing when absent)."""
        return DeleteFile(
            description=f"{what} out of {target.description}",
            path=self.fragment(target, obj),
            fragment_of=target,
        )

    # -- reloads --------------------------------------------------------------------------------

    def reload(self, server: Server, settings: PostfixSettings, daemon: str) -> str | None:
        """``postfix -c CONFIG_DIR reload`` (on a pseudo-terminal, for its words) or
        ``doveadm reload``."""
        if daemon == "dovecot":
            return " ".join(quote(word) for word in (*settings.doveadm, "reload"))
        return self.postfix_templates.shell(
            "reload-postfix.sh.j2",
            postfix=list(settings.postfix),
            conf=server_path(server, settings.config_dir),
        )


class _Mail(PostfixTables[MailT], Generic[MailT]):
    """The postfix driver's own backends: mailboxes and addresses, with their checks."""

    def check(self, obj: MailT, settings: PostfixSettings) -> list[FieldError]:
        """Addresses the tables and passwd-files cannot hold, each with its field."""
        errors = []
        catch_all = isinstance(obj, MailAddress) and obj.is_catch_all
        problem = maps.address_problem(obj.address, catch_all=catch_all)
        if problem:
            errors.append(FieldError(obj.key, "address", f"{_short(obj.address)} {problem}"))
        if isinstance(obj, MailAddress):
            for field in ("mailboxes", "forwards"):
                for i, value in enumerate(getattr(obj, field)):
                    problem = maps.address_problem(value)
                    if problem:
                        errors.append(
                            FieldError(obj.key, f"{field}[{i}]", f"{_short(value)} {problem}")
                        )
        return errors


class PostfixMailbox(_Mail[Mailbox]):
    """A mailbox on Postfix and Dovecot (see the module's docs)."""

    name: ClassVar[str] = "postfix-mailbox"
    service_type: ClassVar[type[Any]] = Mailbox
    actions: ClassVar[frozenset[str]] = frozenset({"save", "delete", "set_password"})

    def home(self, ctx: RenderContext[Mailbox, PostfixSettings]) -> str:
        """The mailbox's home on the server (its Maildir is ``HOME/Maildir``)."""
        return ctx.path(ctx.settings.home(ctx.obj.address))

    def quota(self, ctx: RenderContext[Mailbox, PostfixSettings]) -> int | None:
        """The quota Dovecot enforces: the mailbox's, or one byte over its allocation."""
        if MAILBOX_DISK in ctx.exceeded():
            return OVER_ALLOCATION_QUOTA
        return ctx.obj.quota

    def _present(
        self, ctx: RenderContext[Mailbox, PostfixSettings], *, suspended: bool
    ) -> Sequence[Step]:
        obj, settings = ctx.obj, ctx.settings
        address = obj.address
        local, _, domain = address.rpartition("@")
        home = self.home(ctx)
        uid, gid = str(settings.uid), str(settings.gid)
        steps: list[Step] = [
            EnsureDirectory(
                description=f"mail folder of {domain}",
                path=posixpath.dirname(home),
                mode=0o750,
                owner=uid,
                group=gid,
            ),
            EnsureDirectory(
                description=f"home of {address}", path=home, mode=0o700, owner=uid, group=gid
            ),
            *self.write(self.table(ctx, "virtual_domains"), obj, maps.domain_line(domain), domain),
            *self.write(
                self.table(ctx, "virtual_mailboxes"),
                obj,
                maps.map_line(address, f"{domain}/{local}/Maildir/"),
                address,
            ),
            *self.write(
                self.table(ctx, "virtual_mailbox_aliases"),
                obj,
                maps.alias_line(address, (address,)),
                address,
            ),
            *self.write(
                self.passwd_file(ctx, "users"),
                obj,
                maps.user_line(
                    address, settings.uid, settings.gid, ctx.settings.home(address), self.quota(ctx)
                ),
                address,
            ),
        ]
        suspended_file = self.passwd_file(ctx, "suspended")
        access = self.table(ctx, "recipient_access")
        if suspended:
            steps += self.write(suspended_file, obj, f"{address}\n", address)
        else:
            steps.append(self.remove(suspended_file, obj, address))
        if suspended and settings.suspended_mail == "defer":
            steps += self.write(access, obj, maps.map_line(address, settings.defer_reply), address)
        else:
            steps.append(self.remove(access, obj, address))
        return steps

    def render_save(self, ctx: RenderContext[Mailbox, PostfixSettings]) -> Sequence[Step]:
        """The mailbox's lines in every table and its home; not listed as suspended."""
        return self._present(ctx, suspended=False)

    def render_suspended(self, ctx: RenderContext[Mailbox, PostfixSettings]) -> Sequence[Step]:
        """As saved, and listed as suspended: no IMAP login; mail accepted (or deferred)."""
        return self._present(ctx, suspended=True)

    def render_delete(self, ctx: RenderContext[Mailbox, PostfixSettings]) -> Sequence[Step]:
        """Every line of the mailbox out, its password file gone, its home into the trash."""
        obj, settings = ctx.obj, ctx.settings
        address = obj.address
        steps: list[Step] = [
            self.remove(self.table(ctx, name), obj, address)
            for name in (
                "virtual_domains",
                "virtual_mailboxes",
                "virtual_mailbox_aliases",
                "recipient_access",
            )
        ]
        steps += [self.remove(self.passwd_file(ctx, name), obj, address) for name in DOVECOT_FILES]
        steps.append(
            DeleteFile(
                description=f"password of {address}",
                path=f"{ctx.path(settings.dovecot_dir)}/passwords/{address}",
            )
        )
        steps.append(
            move_to_trash(
                f"move the home of {address} to the trash",
                self.home(ctx),
                ctx.path(settings.trash_dir),
                address,
                prune=True,
            )
        )
        return steps

    def render_set_password(self, ctx: RenderContext[Mailbox, PostfixSettings]) -> Sequence[Step]:
        """``doveadm pw`` hashes the password (from stdin) into ``passwords/ADDRESS``."""
        secret = ctx.secret
        if secret is None:
            raise BackendError(self.name, "set_password without a password", object_key=ctx.obj.key)
        value = secret.reveal()
        if not value or "\n" in value or "\r" in value or "\0" in value:
            raise BackendError(
                self.name,
                "a password must be one line, not empty, without a line break or NUL: "
                "doveadm pw reads one line",
                object_key=ctx.obj.key,
            )
        settings = ctx.settings
        folder = f"{ctx.path(settings.dovecot_dir)}/passwords"
        return [
            EnsureDirectory(
                description="password files",
                path=folder,
                mode=0o750,
                group=settings.dovecot_group,
            ),
            Command(
                description=f"set the password of {ctx.obj.address}",
                script=self.templates.shell(
                    "password.sh.j2",
                    doveadm=list(settings.doveadm),
                    scheme=settings.password_scheme,
                    folder=folder,
                    address=ctx.obj.address,
                    group=settings.dovecot_group,
                ),
                stdin=f"{value}\n{value}\n",  # the password and its confirmation
                sensitive=True,
            ),
        ]


class PostfixAddress(_Mail[MailAddress]):
    """A mail address on Postfix: local mailboxes and forwards (see the module's docs)."""

    name: ClassVar[str] = "postfix-address"
    service_type: ClassVar[type[Any]] = MailAddress
    after: ClassVar[tuple[str, ...]] = ("postfix-mailbox",)

    def render_save(self, ctx: RenderContext[MailAddress, PostfixSettings]) -> Sequence[Step]:
        """The domain and the address's destinations. A suspended account's addresses keep
        delivering (its mailboxes refuse logins, not mail)."""
        obj = ctx.obj
        destinations = (*obj.mailboxes, *obj.forwards)
        return [
            *self.write(
                self.table(ctx, "virtual_domains"), obj, maps.domain_line(obj.domain), obj.domain
            ),
            *self.write(
                self.table(ctx, "virtual_aliases"),
                obj,
                maps.alias_line(obj.address, destinations),
                obj.address,
            ),
        ]

    def render_delete(self, ctx: RenderContext[MailAddress, PostfixSettings]) -> Sequence[Step]:
        """The address's lines out; its domain goes with the last line that names it."""
        return [
            self.remove(self.table(ctx, name), ctx.obj, ctx.obj.address)
            for name in ("virtual_domains", "virtual_aliases")
        ]


class _Relay(_Mail[MailT], Generic[MailT]):
    """A backup MX for the objects of its primary backend (``primary``)."""

    primary: ClassVar[str]

    def relay_to(self, ctx: RenderContext[MailT, PostfixSettings]) -> str:
        """Where the domain's mail goes: the primary's ``relay_address`` (port 25 unless it
        says), from the first server (by name) its primary backend sends the object to."""
        peers = sorted(ctx.peers(self.primary), key=lambda peer: peer[0].name)
        if not peers:
            raise BackendError(
                self.name,
                f"{ctx.obj.address} has no primary mail server: no route of {self.primary} "
                "sends it anywhere, so this backup MX would have nowhere to relay it",
                object_key=ctx.obj.key,
            )
        server, settings = peers[0]
        address = settings.relay_address or server.address
        if ":" in address and not address.startswith("[") and address.count(":") == 1:
            host, port = address.split(":")
        elif address.startswith("[") and "]:" in address:
            host, port = address[1:].split("]:")
        else:
            host, port = address.strip("[]"), "25"
        return f"smtp:[{host}]:{port}"

    def render_save(self, ctx: RenderContext[MailT, PostfixSettings]) -> Sequence[Step]:
        """The domain relayed to the primary, the address a known recipient."""
        obj: Mailbox | MailAddress = ctx.obj
        return [
            *self.write(
                self.table(ctx, "relay_domains"), obj, maps.domain_line(obj.domain), obj.domain
            ),
            *self.write(
                self.table(ctx, "transport"),
                obj,
                maps.map_line(obj.domain, self.relay_to(ctx)),
                obj.domain,
            ),
            *self.write(
                self.table(ctx, "relay_recipients"),
                obj,
                maps.map_line(obj.address, "OK"),
                obj.address,
            ),
        ]

    def render_delete(self, ctx: RenderContext[MailT, PostfixSettings]) -> Sequence[Step]:
        """Its lines out; the domain goes with the last object of it."""
        return [
            self.remove(self.table(ctx, name), ctx.obj, ctx.obj.address)
            for name in ("relay_domains", "transport", "relay_recipients")
        ]


class PostfixRelayMailbox(_Relay[Mailbox]):
    """A backup MX for mailboxes: relays their domain to where ``postfix-mailbox`` is."""

    name: ClassVar[str] = "postfix-relay-mailbox"
    service_type: ClassVar[type[Any]] = Mailbox
    primary: ClassVar[str] = "postfix-mailbox"
    reads_peers: ClassVar[tuple[str, ...]] = ("postfix-mailbox",)


class PostfixRelayAddress(_Relay[MailAddress]):
    """A backup MX for addresses: relays their domain to where ``postfix-address`` is."""

    name: ClassVar[str] = "postfix-relay-address"
    service_type: ClassVar[type[Any]] = MailAddress
    primary: ClassVar[str] = "postfix-address"
    reads_peers: ClassVar[tuple[str, ...]] = ("postfix-address",)
    after: ClassVar[tuple[str, ...]] = ("postfix-relay-mailbox",)


def _short(value: object, limit: int = 60) -> str:
    """``value`` quoted and escaped for an error message, cut to ``limit`` characters."""
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 4] + "...'"

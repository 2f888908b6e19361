"""``apache-systemuser``: the unix user of a hosting account, its CGI user and its home.

A save reads the two users from the server first (``getent``, one probe) and then runs only
what differs: ``useradd`` or ``usermod`` (home, shell, supplementary groups, the expiry
that suspends), the home made ``NAME:NAME`` 0750 with an ACL giving the CGI user and
Apache's user ``--x`` on it (they reach the web apps inside, nothing else). Suspended: the
account expires (``usermod -e 1``: no password, key or ``su`` log-in works; its files and
cron stay); resumed, it does not. A new home (the object's ``home``, or ``home_base``
changed) moves the old one there with everything in it, when it is a real folder of the
user's and nothing is in the new place yet (a move onto something fails, saying so).
``set_password`` hashes on the server (``openssl passwd -6`` reading stdin) and hands the
hash to ``chpasswd -e``: the password is on no command line and only its SHA512-crypt hash
is kept, in ``/etc/shadow``. A delete ends the users' processes, removes both users and
their groups, and moves the home to ``TRASH_DIR/YYYY-MM-DD/NAME``.

Why ACLs rather than groups: what a customer's tools create carries their umask, and a
group rule (Apache or the CGI user in the customer's group) gives away whatever a ``umask
002`` makes group-writable. A named ACL entry gives exactly what it says, whatever the
umask (see ``orchestra_apache_fpm.webapps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from orchestra_apache_fpm.acl import acl_step, entry
from orchestra_apache_fpm.settings import ApacheFpmSettings
from orchestra_core.driver import (
    Backend,
    BackendError,
    Command,
    EnsureDirectory,
    FieldError,
    Observation,
    Probe,
    RenderContext,
    Step,
    SystemUser,
    move_to_trash,
    quote,
)

__all__ = ["AccountState", "ApacheSystemUser", "parse_accounts"]

UserContext = RenderContext[SystemUser, ApacheFpmSettings]


@attrs.frozen(kw_only=True)
class UnixUser:
    """What ``getent passwd`` and ``id -Gn`` say of one user."""

    home: str
    shell: str
    groups: tuple[str, ...]
    expires: str


@attrs.frozen(kw_only=True)
class AccountState:
    """The system user and its CGI user as the server has them (None: absent)."""

    user: UnixUser | None
    cgi: UnixUser | None


def parse_accounts(output: str) -> AccountState:
    """What ``account-probe.sh.j2`` printed: for ``user`` then ``cgi``, a line ``WHO -`` when
    absent, else ``WHO HOME``, ``WHO SHELL``... as ``key=value`` lines."""
    found: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        if not line:
            continue
        who, _, rest = line.partition(" ")
        if who not in ("user", "cgi"):
            raise ValueError(f"unexpected probe line {line[:80]!r}")
        if rest == "-":
            found.setdefault(who, {})
            continue
        key, sep, value = rest.partition("=")
        if not sep:
            raise ValueError(f"unexpected probe line {line[:80]!r}")
        found.setdefault(who, {"present": "1"})[key] = value
    users: dict[str, UnixUser | None] = {}
    for who in ("user", "cgi"):
        fields = found.get(who, {})
        if not fields.get("present"):
            users[who] = None
            continue
        users[who] = UnixUser(
            home=fields.get("home", ""),
            shell=fields.get("shell", ""),
            groups=tuple(sorted(g for g in fields.get("groups", "").split(",") if g)),
            expires=fields.get("expires", ""),
        )
    return AccountState(user=users["user"], cgi=users["cgi"])


class ApacheSystemUser(Backend[SystemUser, ApacheFpmSettings, AccountState]):
    """A system user and its CGI user on a web server (see the module's docs)."""

    name: ClassVar[str] = "apache-systemuser"
    service_type: ClassVar[type[Any]] = SystemUser
    actions: ClassVar[frozenset[str]] = frozenset({"save", "delete", "set_password"})
    settings_class: ClassVar[type[Any]] = ApacheFpmSettings
    settings_section: ClassVar[str | None] = "apache_fpm"
    tools: ClassVar[tuple[str, ...]] = (
        "getent",
        "useradd",
        "usermod",
        "userdel",
        "chpasswd",
        "openssl",
        "setfacl",
        "getfacl",
        "pkill",
    )

    def check(self, obj: SystemUser, settings: ApacheFpmSettings) -> list[FieldError]:
        """A name too long for its CGI user, a group that is one of the users', a shell
        that is not absolute."""
        errors = []
        cgi = settings.cgi_user(obj.name)
        if len(cgi) > 32:
            errors.append(
                FieldError(
                    obj.key,
                    "name",
                    f"{obj.name!r} leaves no room for its CGI user {cgi!r}: a unix name has at "
                    f"most 32 characters, so this one at most {32 - len(settings.cgi_suffix)}",
                )
            )
        if obj.name.endswith(settings.cgi_suffix):
            errors.append(
                FieldError(
                    obj.key,
                    "name",
                    f"{obj.name!r} ends like a CGI user ({settings.cgi_suffix!r}): choose "
                    "another name",
                )
            )
        for i, group in enumerate(obj.groups):
            if group in (obj.name, cgi):
                errors.append(
                    FieldError(obj.key, f"groups[{i}]", f"{group!r} is one of the user's own")
                )
        return errors

    # -- values ---------------------------------------------------------------------------------

    def home(self, ctx: UserContext) -> str:
        """The home on the server (under its sandbox root)."""
        return ctx.path(ctx.settings.home(ctx.obj.name, ctx.obj.home))

    def _probe_script(self, ctx: UserContext) -> str:
        return self.templates.shell(
            "account-probe.sh.j2",
            user=ctx.obj.name,
            cgi=ctx.settings.cgi_user(ctx.obj.name),
        )

    def observe(self, ctx: UserContext) -> Sequence[Observation]:
        """The two users' passwd entries, groups and expiry (drift: a shell changed by hand)."""
        if ctx.action != "save":
            return ()
        return [Observation(name="account", script=self._probe_script(ctx))]

    def probe(self, ctx: UserContext) -> Probe[AccountState] | None:
        """For a save or delete: both users as the server has them."""
        if ctx.action not in ("save", "delete"):
            return None
        return Probe(
            description=f"read the users {ctx.obj.name} and {ctx.settings.cgi_user(ctx.obj.name)}",
            script=self._probe_script(ctx),
            parse=parse_accounts,
            observation="account" if ctx.action == "save" else None,
        )

    def render_save(self, ctx: UserContext) -> Sequence[Step]:
        """Nothing before the probe: :meth:`reconcile` decides every step."""
        return []

    def render_delete(self, ctx: UserContext) -> Sequence[Step]:
        """Nothing before the probe: :meth:`reconcile` decides every step."""
        return []

    def reconcile(self, ctx: UserContext, observed: AccountState) -> Sequence[Step]:
        """The steps from what the server has to what ``ctx`` asks for."""
        if ctx.action == "delete":
            return self._delete(ctx, observed)
        return self._save(ctx, observed)

    def _useradd(self, ctx: UserContext, name: str, shell: str, groups: Sequence[str]) -> str:
        settings = ctx.settings
        home = self.home(ctx)
        words = ["useradd", "--user-group", "--no-create-home", "--home-dir", home]
        words += ["--shell", shell]
        if groups:
            words += ["--groups", ",".join(groups)]
        if settings.id_range is not None:
            first, last = settings.id_range
            for key in ("UID", "GID"):
                words += ["-K", f"{key}_MIN={first}", "-K", f"{key}_MAX={last}"]
        words += ["--", name]
        return " ".join(quote(w) for w in words)

    def _save(self, ctx: UserContext, observed: AccountState) -> list[Step]:
        obj, settings = ctx.obj, ctx.settings
        home = self.home(ctx)
        cgi = settings.cgi_user(obj.name)
        expires = "" if ctx.active else "1"
        steps: list[Step] = []
        user = observed.user
        if user is None:
            script = self._useradd(ctx, obj.name, obj.shell, obj.groups)
            if not ctx.active:
                script += f" && usermod --expiredate 1 -- {quote(obj.name)}"
            steps.append(Command(description=f"create the user {obj.name}", script=script))
        else:
            words: list[str] = []
            if user.shell != obj.shell:
                words += ["--shell", obj.shell]
            if user.groups != tuple(sorted(obj.groups)):
                words += ["--groups", ",".join(obj.groups)]
            if (user.expires not in ("", "-1")) != (not ctx.active):
                words += ["--expiredate", expires]
            if user.home != home:
                steps.append(
                    Command(
                        description=f"move the home of {obj.name} to {home}",
                        script=self.templates.shell(
                            "move-home.sh.j2", user=obj.name, old=user.home, new=home, more=words
                        ),
                    )
                )
            elif words:
                steps.append(
                    Command(
                        description=f"change the user {obj.name}",
                        script=" ".join(quote(w) for w in ("usermod", *words, "--", obj.name)),
                    )
                )
        if observed.cgi is None:
            steps.append(
                Command(
                    description=f"create the CGI user {cgi}",
                    script=self._useradd(ctx, cgi, settings.cgi_shell, ()),
                )
            )
        elif observed.cgi.home != home or observed.cgi.shell != settings.cgi_shell:
            steps.append(
                Command(
                    description=f"change the CGI user {cgi}",
                    script=" ".join(
                        quote(w)
                        for w in (
                            "usermod",
                            "--home",
                            home,
                            "--shell",
                            settings.cgi_shell,
                            "--",
                            cgi,
                        )
                    ),
                )
            )
        real_home = self.home(ctx)
        steps.append(
            EnsureDirectory(
                description=f"home of {obj.name}",
                path=real_home,
                mode=0o750,
                owner=obj.name,
                group=obj.name,
            )
        )
        steps.append(
            acl_step(
                f"the home of {obj.name}",
                real_home,
                [entry(cgi, "--x"), entry(settings.apache_user, "--x")],
            )
        )
        return steps

    def _delete(self, ctx: UserContext, observed: AccountState) -> list[Step]:
        obj, settings = ctx.obj, ctx.settings
        steps: list[Step] = []
        for name, present in (
            (settings.cgi_user(obj.name), observed.cgi is not None),
            (obj.name, observed.user is not None),
        ):
            if present:
                steps.append(
                    Command(
                        description=f"remove the user {name}",
                        script=self.templates.shell("userdel.sh.j2", user=name),
                    )
                )
        steps.append(
            move_to_trash(
                f"move the home of {obj.name} to the trash",
                self.home(ctx),
                ctx.path(settings.trash_dir),
                obj.name,
            )
        )
        return steps

    def render_set_password(self, ctx: UserContext) -> Sequence[Step]:
        """``openssl passwd -6`` hashes the password read from stdin; ``chpasswd -e`` sets it."""
        secret = ctx.secret
        if secret is None:
            raise BackendError(self.name, "set_password without a password", object_key=ctx.obj.key)
        value = secret.reveal()
        if not value or any(c in value for c in "\n\r\0"):
            raise BackendError(
                self.name,
                "a password must be one line, not empty, without a line break or NUL",
                object_key=ctx.obj.key,
            )
        return [
            Command(
                description=f"set the password of {ctx.obj.name}",
                script=self.templates.shell("password.sh.j2", user=ctx.obj.name),
                stdin=f"{value}\n",
                sensitive=True,
            )
        ]

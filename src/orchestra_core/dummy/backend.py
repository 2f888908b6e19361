"""The dummy backend: provisions any service by writing one small file per object.

It is the example for driver authors (see ``docs/writing-a-driver.md``) and the engine of the
demo. It does what a real backend does, on a daemon-less "server":

* ``save`` renders a config file from a template (``templates/service.conf.j2``), validates the
  candidate with a real command before it replaces the live file, and notifies the ``dummy``
  "daemon", whose reload appends a line to a reload log (once per batch, only on change);
  with a ``pid_file`` setting the reload first signals the daemon process it names
  (``SIGHUP``, as ``kill -HUP $(cat PIDFILE)`` reloads many real daemons), and fails, with the
  shell's words, when the file is missing or names no process it may signal: the daemon is
  out of reach, and the files of the batch get their previous content back;
* ``delete`` removes the file (succeeding when it is absent);
* ``set_password`` keeps a salted PBKDF2 hash (never the password) in a private file;
* a suspended object or account is rendered with ``active = no``;
* an object over a resource allocation (or naming one that is) gets an ``exceeded`` line, as a
  real backend would restrict it.

Applying the same object twice changes nothing the second time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import secrets
import urllib.parse
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from orchestra_core.driver import (
    CANDIDATE,
    Backend,
    BackendError,
    DeleteFile,
    EnsureDirectory,
    RenderContext,
    Server,
    Service,
    Step,
    WriteFile,
    any_absolute_path,
    file_name,
    server_path,
    unstructure,
)

__all__ = ["DummyBackend", "DummySettings", "dummy_backend_for"]


_OCTAL = r"(0o)?[0-7]{3,4}"


@attrs.frozen(kw_only=True)
class DummySettings:
    """Where the dummy backend keeps its files (a server path, under the sandbox root if any)."""

    directory: str = attrs.field(default="/var/lib/orchestra-dummy", validator=any_absolute_path)
    #: Octal, as operators write it: "0644", "600", "0o600".
    file_mode: str = attrs.field(default="0644", validator=attrs.validators.matches_re(_OCTAL))
    #: A further checker of every new file, as a real daemon has one (``named-checkzone``,
    #: ``apache2 -t``): an argv in which ``{candidate}`` stands for the new file. Empty: none.
    checker: tuple[str, ...] = ()
    #: The pid file of a process that stands for the daemon (a server path, under the sandbox
    #: root if any). None: the daemon-less dummy, whose reload is a line in ``reloads.log``.
    #: Set: a reload sends SIGHUP to the process it names before it writes that line, and
    #: fails when the file is missing, holds no process id, or names no process it may
    #: signal, as reloading a real daemon that is down fails.
    pid_file: str | None = attrs.field(default=None, validator=any_absolute_path)

    @property
    def mode(self) -> int:
        """:attr:`file_mode` as a number."""
        return int(self.file_mode.removeprefix("0o"), 8)


#: What a dummy backend renders with.
Context = RenderContext[Service, DummySettings]


class DummyBackend(Backend[Service, DummySettings]):
    """Base of the dummy backends; :func:`dummy_backend_for` makes one per service type."""

    daemon: ClassVar[str | None] = "dummy"
    tools: ClassVar[tuple[str, ...]] = ("grep", "base64", "mktemp")
    settings_class: ClassVar[type[Any]] = DummySettings

    def file_path(self, ctx: Context) -> str:
        """The server path of the object's file: ``DIRECTORY/KIND/IDENTITY.conf``."""
        settings = ctx.settings
        name = file_name(urllib.parse.quote(ctx.obj.identity, safe="@.-_+"), ".conf")
        return ctx.path(posixpath.join(settings.directory, ctx.obj.kind, name))

    def render_delete(self, ctx: Context) -> Sequence[Step]:
        """The object's file and its password file go (succeeding when absent)."""
        path = self.file_path(ctx)
        return [
            DeleteFile(description=f"remove {ctx.obj.key}", path=path, notify=self.daemon),
            DeleteFile(description=f"remove {ctx.obj.key} password", path=path + ".secret"),
        ]

    def render_set_password(self, ctx: Context) -> Sequence[Step]:
        """A salted hash of the password in a private file beside the object's."""
        return [self._password_step(ctx, self.file_path(ctx))]

    def render_save(self, ctx: Context) -> Sequence[Step]:
        """The object's file, checked before it replaces the live one; a suspended object's
        says ``active = no`` (:meth:`render_suspended` is this)."""
        path = self.file_path(ctx)
        settings = ctx.settings
        content = self.templates.config(
            "service.conf.j2",
            key=ctx.obj.key,
            kind=ctx.obj.kind,
            account=ctx.obj.account,
            active=ctx.active,
            data=json.dumps(_plain(ctx.obj), sort_keys=True, ensure_ascii=False),
            exceeded=_exceeded(ctx),
        )
        return [
            EnsureDirectory(
                description=f"directory for {ctx.obj.kind} files", path=posixpath.dirname(path)
            ),
            WriteFile(
                description=f"configure {ctx.obj.key}",
                path=path,
                content=content,
                mode=settings.mode,
                validate=self.validate(ctx.obj.key, settings),
                notify=self.daemon,
            ),
        ]

    def validate(self, key: str, settings: DummySettings) -> tuple[str, ...]:
        """The check of a new file: it must declare exactly this object's key, and pass the
        ``checker`` of the settings, if any."""
        if not settings.checker:
            return ("grep", "-qxF", "-e", f"key = {key}", "--", CANDIDATE)
        script = 'grep -qxF -e "$1" -- "$2" || exit 1; shift 2; exec "$@"'
        return ("bash", "-c", script, "check", f"key = {key}", CANDIDATE, *settings.checker)

    def _password_step(self, ctx: Context, path: str) -> Step:
        if ctx.secret is None:
            raise BackendError(self.name, "set_password without a secret", object_key=ctx.obj.key)
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", ctx.secret.reveal().encode(), salt, 200_000)
        encoded = "$".join(
            [
                "pbkdf2-sha256",
                "200000",
                base64.b64encode(salt).decode(),
                base64.b64encode(digest).decode(),
            ]
        )
        return WriteFile(
            description=f"set the password of {ctx.obj.key}",
            path=path + ".secret",
            content=encoded + "\n",
            mode=0o600,
            sensitive=True,
        )

    def reload(self, server: Server, settings: DummySettings, daemon: str) -> str | None:
        """Append a line to the reload log, the dummy daemon's "reload"; with a ``pid_file``,
        signal its process first (SIGHUP), failing when there is none."""
        s = settings
        log = server_path(server, posixpath.join(s.directory, "reloads.log"))
        pid_file = server_path(server, s.pid_file) if s.pid_file is not None else None
        return self.templates.shell("reload.sh.j2", log=log, pid_file=pid_file)


def _exceeded(ctx: Context) -> list[tuple[str, str]]:
    """``(object key, resources)`` for the object and each object it names that is over an
    allocation: what a real backend restricts (the dummy writes it down)."""
    keys = [ctx.obj.key, *(key for _, key in ctx.obj.references())]
    return [(key, ", ".join(sorted(ctx.exceeded(key)))) for key in keys if ctx.exceeded(key)]


def _plain(obj: Service) -> dict[str, Any]:
    data = unstructure(obj)
    return {k: v for k, v in data.items() if k != "is_active"}


def dummy_backend_for(
    service_type: type[Service],
    *,
    after: tuple[str, ...] = (),
    actions: frozenset[str] = frozenset({"save", "delete"}),
) -> type[DummyBackend]:
    """A dummy backend class named ``dummy-KIND`` for one service type."""
    kind = service_type.kind
    return type(
        f"Dummy{service_type.__name__}Backend",
        (DummyBackend,),
        {
            "name": f"dummy-{kind}",
            "service_type": service_type,
            "after": after,
            "actions": actions,
            "__module__": __name__,
            "__doc__": f"Dummy backend for {kind} objects.",
        },
    )

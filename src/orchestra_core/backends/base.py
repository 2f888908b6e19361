"""The backend contract: provision one service type on one kind of daemon.

A backend validates objects and renders operations into steps without touching any server,
so a plan can be printed, tested and diffed before anything runs. Rendering must be pure: the
same object, settings and index give the same steps.

A backend is typed by the service type it provisions and its settings class,
``Backend[Domain, Bind9Settings]``: its :class:`RenderContext` then holds settings of that
class, and mypy refuses a driver that reads a setting it does not have. It renders one method
per action (:meth:`Backend.render_save`, :meth:`~Backend.render_suspended`,
:meth:`~Backend.render_delete`, :meth:`~Backend.render_set_password`), which
:meth:`Backend.render` dispatches to; a backend may override :meth:`~Backend.render` instead.

A backend whose work depends on what the server holds (a database account's grants) may
*probe, then reconcile* in Python instead of comparing in shell: :meth:`Backend.probe` gives a
read-only :class:`Probe` whose output its ``parse`` turns into a typed value (the backend's
third type parameter, ``Backend[DatabaseUser, MySQLSettings, AccountState]``), and
:meth:`Backend.reconcile` returns the steps that value calls for (none when the server
already matches). The plan shows the probe; the apply runs every probe of a server in one
read-only round trip first, then the steps decided from their outputs.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, overload

import attrs
from typing_extensions import TypeVar

from orchestra_core.backends.steps import Step
from orchestra_core.errors import BackendError, FieldError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.secret import Secret
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service

if TYPE_CHECKING:
    from orchestra_core.rendering.templates import Templates

__all__ = [
    "ACTIONS",
    "Backend",
    "NoSettings",
    "Observation",
    "ObservedT",
    "Probe",
    "RenderContext",
    "ServiceT",
    "SettingsT",
    "server_path",
]

#: The service type a backend provisions (``Backend[Domain, ...]``).
ServiceT = TypeVar("ServiceT", bound=Service, default=Service)
#: The settings class of a backend (``Backend[..., Bind9Settings]``).
SettingsT = TypeVar("SettingsT", default=Any)
#: What a backend's probe reads from the server, parsed (``Backend[..., ..., AccountState]``).
ObservedT = TypeVar("ObservedT", default=Any)
#: The settings class of a peer backend (:meth:`RenderContext.peers`).
PeerSettingsT = TypeVar("PeerSettingsT")

#: The actions a change set can ask for.
ACTIONS = ("save", "delete", "set_password")


def server_path(server: Server, path: str) -> str:
    """The real path of an absolute path on ``server``: under its sandbox root, if it has one.

    ``..`` cannot climb out of the root: the path is normalised before it is joined.
    """
    if not path.startswith("/"):
        raise ValueError(f"server paths are absolute, got {path!r}")
    normal = posixpath.normpath(path)
    if server.root is None:
        return normal
    return posixpath.join(server.root, normal.lstrip("/"))


@attrs.frozen(kw_only=True)
class Observation:
    """A read-only look at what a backend made on a server, for drift (``orchestra check``).

    ``script`` is shell that prints the state (a database's character set, an account's
    privileges, a live zone without its serial) and changes nothing; orchestra keeps the
    SHA-256 of what it prints. ``expected`` is that output when the backend knows it while
    rendering, because the operation's steps make it so when they succeed (nothing is then
    run after the apply to learn it); None has orchestra run the probe right after the
    operation and keep what it printed. A probe must print (and exit 0) for a state that is
    legitimately absent too. The files a backend writes
    with :class:`~orchestra_core.backends.steps.WriteFile` are observed without a probe.
    """

    name: str
    script: str
    expected: str | None = None


@attrs.frozen(kw_only=True)
class Probe(Generic[ObservedT]):
    """A read-only look at the live state that an operation's steps are decided from.

    ``script`` is shell that prints the state and changes nothing (it exits non-zero when it
    cannot read it; the operation then fails with its words and nothing else of it runs).
    ``parse`` turns what it printed into the value :meth:`Backend.reconcile` takes; a
    ``ValueError`` (or :class:`~orchestra_core.errors.BackendError`) it raises fails the
    operation with its message. ``description`` is how plans and logs name the probe;
    ``timeout`` bounds it, in seconds (None: the route's or server's step timeout).

    ``observation`` names one of the backend's :class:`Observation` s (:meth:`Backend.observe`)
    whose script prints exactly what this probe prints. The probe's output then stands for
    it: the drift check before the operation compares the output with what was last
    observed (the guard runs no read of its own), and when reconcile decides no step, the
    output is what is kept as observed (no read after the operation).
    """

    description: str
    script: str
    parse: Callable[[str], ObservedT] = attrs.field(repr=False, eq=False)
    timeout: float | None = None
    observation: str | None = None


@attrs.frozen(kw_only=True)
class NoSettings:
    """Settings class of a backend that needs none."""


@attrs.frozen(kw_only=True)
class RenderContext(Generic[ServiceT, SettingsT]):
    """Everything a backend may look at while rendering one operation.

    ``settings`` are the backend's settings for this object on this server (its
    ``settings_class``, the defaults overridden by the server's and the route's). ``active``
    is False when the object or its account is suspended: render the service disabled.
    ``secret`` is set for ``set_password`` only. :meth:`exceeded` tells which resource
    allocations an object is over.
    """

    obj: ServiceT
    action: str
    server: Server
    settings: SettingsT
    index: ServiceIndex
    active: bool = True
    secret: Secret | None = None
    peer_lookup: Callable[[str], list[tuple[Server, Any]]] = attrs.field(
        default=lambda _backend: [], repr=False, eq=False
    )
    over_allocation: Mapping[str, frozenset[str]] = attrs.field(factory=dict, repr=False)

    def exceeded(self, key: str | None = None) -> frozenset[str]:
        """The resources whose allocation the object ``key`` (this one by default) is over:
        how a backend restricts what an over-quota customer may do (the mysql driver takes
        INSERT, CREATE, INDEX and ALTER from the users of a database over its size)."""
        return self.over_allocation.get(self.obj.key if key is None else key, frozenset())

    @overload
    def peers(
        self, backend: type[Backend[Any, PeerSettingsT]]
    ) -> list[tuple[Server, PeerSettingsT]]: ...

    @overload
    def peers(self, backend: str) -> list[tuple[Server, Any]]: ...

    def peers(self, backend: type[Backend[Any, Any]] | str) -> list[tuple[Server, Any]]:
        """The servers that ``backend``'s routes send this same object to, with that backend's
        settings for each: how a DNS master finds its slaves (and a slave its masters). Give
        the backend's class to have its settings typed; it must be in ``reads_peers``."""
        return self.peer_lookup(backend if isinstance(backend, str) else backend.name)

    def path(self, path: str) -> str:
        """The real path of an absolute server path: under the server's sandbox root if any."""
        return server_path(self.server, path)


class Backend(Generic[ServiceT, SettingsT, ObservedT]):
    """Base class of every backend, typed by its service type and settings class (and, for
    one that probes, the type of what its probe reads).

    Class attributes declare what the backend is: ``name`` (unique, used by routes),
    ``service_type``, the ``actions`` it supports, the backends it must run ``after`` (by name;
    a missing one is ignored, a cycle is an error), the ``daemon`` it reloads (if any), the
    ``tools`` a server needs for it, its ``settings_class`` (an attrs class whose defaults
    a server or route may override: the class ``SettingsT`` names; a server's block of the
    driver's ``settings_section``, then its block of the backend's name), and the backends whose
    placements of the same object it reads while rendering (``reads_peers``: a DNS master
    reads its slaves; a change to where they are saves it again).

    A backend renders each action in its own method; :meth:`render` calls the one the
    context asks for. It must implement :meth:`render_save` (or :meth:`render`), and
    :meth:`render_delete` when it supports ``delete``.
    """

    name: ClassVar[str]
    service_type: ClassVar[type[Any]]
    actions: ClassVar[frozenset[str]] = frozenset({"save", "delete"})
    after: ClassVar[tuple[str, ...]] = ()
    daemon: ClassVar[str | None] = None
    tools: ClassVar[tuple[str, ...]] = ()
    settings_class: ClassVar[type[Any]] = NoSettings
    #: The server settings block every backend of the driver reads before its own (``postfix``
    #: for all the postfix backends): a server's paths are written once. Backends and monitors
    #: sharing a section have one settings class. None: only the block of the backend's name.
    settings_section: ClassVar[str | None] = None
    reads_peers: ClassVar[tuple[str, ...]] = ()
    #: Format-specific escapers its config templates use (``{"named_string": ...}``).
    template_filters: ClassVar[Mapping[str, Callable[..., Any]]] = {}

    def __init__(self, templates: Templates | None = None) -> None:
        self._templates = templates

    @property
    def templates(self) -> Templates:
        """The templates of the backend's package (``templates/`` beside its module, with
        :attr:`template_filters`), or those given to the constructor."""
        if self._templates is None:
            from orchestra_core.rendering.templates import Templates

            self._templates = Templates.for_object(self, self.template_filters)
        return self._templates

    def check(self, obj: ServiceT, settings: SettingsT) -> list[FieldError]:
        """Backend-specific problems with ``obj`` (beyond the type's own checks).

        Called before rendering, without touching a server. The default finds none.
        """
        return []

    def render(self, ctx: RenderContext[ServiceT, SettingsT]) -> Sequence[Step]:
        """The steps that carry out ``ctx.action`` for ``ctx.obj`` on ``ctx.server``: those of
        :meth:`render_save` (:meth:`render_suspended` for an object that is not active),
        :meth:`render_delete` or :meth:`render_set_password`.

        Must be pure and idempotent: applying the steps twice changes nothing the second time,
        and deleting what is absent succeeds.
        """
        if ctx.action == "save":
            return self.render_save(ctx) if ctx.active else self.render_suspended(ctx)
        if ctx.action == "delete":
            return self.render_delete(ctx)
        if ctx.action == "set_password":
            return self.render_set_password(ctx)
        raise self.unsupported(ctx)

    def render_save(self, ctx: RenderContext[ServiceT, SettingsT]) -> Sequence[Step]:
        """The steps that make the server provide the active object ``ctx.obj``."""
        raise self.unsupported(ctx)

    def render_suspended(self, ctx: RenderContext[ServiceT, SettingsT]) -> Sequence[Step]:
        """The steps that make the server hold the suspended object ``ctx.obj`` disabled
        (its data kept for the resume). The default renders it as :meth:`render_save` does,
        for a backend whose save already reads ``ctx.active``."""
        return self.render_save(ctx)

    def render_delete(self, ctx: RenderContext[ServiceT, SettingsT]) -> Sequence[Step]:
        """The steps that remove ``ctx.obj`` from the server (succeeding when it is absent)."""
        raise self.unsupported(ctx)

    def render_set_password(self, ctx: RenderContext[ServiceT, SettingsT]) -> Sequence[Step]:
        """The steps that give ``ctx.obj`` the password ``ctx.secret`` (never in argv)."""
        raise self.unsupported(ctx)

    def unsupported(self, ctx: RenderContext[ServiceT, SettingsT]) -> BackendError:
        """The error of an action this backend does not render."""
        return BackendError(self.name, f"unsupported action {ctx.action!r}", object_key=ctx.obj.key)

    def reload(self, server: Server, settings: SettingsT, daemon: str) -> str | None:
        """The shell snippet that reloads ``daemon`` on ``server``, or None for none.

        ``daemon`` is what the steps that changed something named in ``notify``: the
        backend's :attr:`daemon`, or an instance of it (``php8.2-fpm``, a second named);
        the planner asks once per daemon instance and batch, after its last change.
        """
        return None

    def observe(self, ctx: RenderContext[ServiceT, SettingsT]) -> Sequence[Observation]:
        """How to read back, without changing anything, what :meth:`render` made of
        ``ctx.obj`` on the server beyond the files it writes (which orchestra observes
        itself): a database, an account, a file a command produced. Pure, like
        :meth:`render`. The default observes nothing more."""
        return ()

    def probe(self, ctx: RenderContext[ServiceT, SettingsT]) -> Probe[ObservedT] | None:
        """The read-only probe whose output decides ``ctx.action``'s remaining steps
        (:meth:`reconcile`), or None to have :meth:`render` decide them all (the default).

        Pure, like :meth:`render`. When it gives one, the operation's steps are those of
        :meth:`render` (often none) followed by those :meth:`reconcile` returns at apply time.
        """
        return None

    def reconcile(
        self, ctx: RenderContext[ServiceT, SettingsT], observed: ObservedT
    ) -> Sequence[Step]:
        """The steps that bring the server from ``observed`` (what :meth:`probe` read, parsed)
        to what ``ctx`` asks for: none when it already matches (the operation then reports
        "nothing"). Pure: it must not touch a server. Raise
        :class:`~orchestra_core.errors.BackendError` (or ``ValueError``) to fail the operation
        with a message (a privilege the server does not have)."""
        raise self.unsupported(ctx)

    @classmethod
    def probes(cls) -> bool:
        """True when the backend probes, then reconciles (it overrides :meth:`probe`)."""
        return cls.probe is not Backend.probe

    @classmethod
    def observes(cls) -> bool:
        """True when the backend declares probes of its own (``orchestra drivers`` says)."""
        return cls.observe is not Backend.observe

    @classmethod
    def renders(cls) -> bool:
        """True when the backend renders something: it overrides :meth:`render` or
        :meth:`render_save` (the registry refuses one that does neither)."""
        return cls.render is not Backend.render or cls.render_save is not Backend.render_save

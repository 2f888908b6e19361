"""One factory for every kind of test daemon: start in fresh folders, share, reset, stop.

A driver describes its daemon once, as a :class:`DaemonKind`: a small class with a ``name``
and three methods, ``start`` (write a config into folders it asks for, start the daemon, wait
until it answers), ``reset`` (what "as a test expects to find it" means for this daemon:
named reloaded with no zones, MariaDB with the test accounts dropped, sshd with its sessions
killed) and ``stop``. :class:`InstanceFactory` does the rest for every kind alike::

    factory = InstanceFactory(NamedKind(), tmp_path_factory)  # or any make_dir(name) -> Path
    slave = factory("slave")                  # a new instance in fresh folders, started
    master = factory.shared("m", "master")    # kept under key "m": the same one each call
    factory.reset(master)                     # the kind's reset (started again if stopped)
    factory.stop_all()                        # every instance it started, last first

The arguments of ``factory(...)`` and ``factory.shared(key, ...)`` are those of the kind's
``start`` after its first one, and mypy checks them: ``InstanceFactory[NamedKind]`` is typed
by ``NamedKind.start``. The ``shared_daemons`` fixture of the orchestra pytest plugin keeps one
session factory per kind; ``docs/testing.md`` shows a driver's fixtures wired on it.

A kind class must not import orchestra at module level when it lives in a driver's pytest
plugin (loading the plugin should cost nothing): it is found by structure, not by a base
class, and this module is imported inside fixture bodies only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    import pytest

__all__ = ["DaemonKind", "InstanceFactory", "MakeDir", "SharedDaemons"]

P = ParamSpec("P")
T = TypeVar("T")
K = TypeVar("K", bound="DaemonKind[..., Any]", covariant=True)
OtherK = TypeVar("OtherK", bound="DaemonKind[..., Any]")

#: ``make_dir(name)``: a new, empty folder whose name starts with ``name``
#: (``tmp_path_factory.mktemp`` is one).
MakeDir = Callable[[str], Path]


class DaemonKind(Protocol[P, T]):
    """One kind of daemon as :class:`InstanceFactory` drives it (a structural protocol:
    a class with these members is one, no base class needed).

    ``T`` is what ``start`` returns: the driver's handle on a running daemon (a
    ``NamedInstance``, a ``MariaDBInstance``, a list of ``SSHHost``).
    """

    #: Short name of the daemon ("named", "mariadb"): folders and messages are named after it.
    name: str

    def start(self, make_dir: MakeDir, /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Configure and start one instance in folders from ``make_dir(name)`` (each call
        gives a new empty one); return once it answers, or raise
        :class:`~orchestra_core.testing.daemon.DaemonError` with the end of its log."""
        ...

    def reset(self, instance: T, /) -> object:
        """Bring ``instance`` back to how a test expects to find it, running (start it
        again if a test stopped it), with nothing left from an earlier test."""
        ...

    def stop(self, instance: T, /) -> object:
        """Stop ``instance`` and wait until it no longer listens; safe to call twice."""
        ...


class InstanceFactory(Generic[K]):
    """Starts instances of one :class:`DaemonKind`, each in fresh folders, keeps shared ones,
    resets them, and stops every one it started (:meth:`stop_all`, or leaving ``with``).

    ``make_dir`` gives the folders (``tmp_path_factory``, or any ``make_dir(name) -> Path``
    such as its ``mktemp``). ``instances`` lists what it started, oldest first.
    """

    def __init__(self, kind: K, make_dir: MakeDir | pytest.TempPathFactory) -> None:
        mktemp = getattr(make_dir, "mktemp", make_dir)
        if not callable(mktemp):
            raise TypeError(f"make_dir must be callable or a TempPathFactory, not {make_dir!r}")
        self._kind = kind
        self._mktemp: MakeDir = mktemp
        self._instances: list[Any] = []
        self._shared: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<InstanceFactory {self._kind.name}: {len(self._instances)} started>"

    @property
    def kind(self) -> K:
        """The kind of daemon this factory starts."""
        return self._kind

    @property
    def instances(self: InstanceFactory[DaemonKind[P, T]]) -> list[T]:
        """Every instance started here and not forgotten, oldest first (a copy)."""
        return list(self._instances)

    def make_dir(self, name: str) -> Path:
        """A new empty folder whose name starts with ``name`` (what the kind's ``start`` is
        given: it names its folders after itself, ``named-master``)."""
        return self._mktemp(name)

    def __call__(self: InstanceFactory[DaemonKind[P, T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """A new started instance, in fresh folders; the arguments are the kind's ``start``'s.
        It is stopped by :meth:`stop_all`."""
        instance = self._kind.start(self.make_dir, *args, **kwargs)
        self._instances.append(instance)
        return instance

    def shared(
        self: InstanceFactory[DaemonKind[P, T]], key: str, /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """The instance kept under ``key``: started (with these arguments) on the first call,
        the same object after that, until :meth:`stop_all`. Not reset: take it through
        :meth:`reset` in each test."""
        if key not in self._shared:
            self._shared[key] = self(*args, **kwargs)
        instance: T = self._shared[key]
        return instance

    def reset(self: InstanceFactory[DaemonKind[P, T]], instance: T) -> T:
        """Run the kind's reset on ``instance`` (running again, nothing left of an earlier
        test) and return it."""
        self._kind.reset(instance)
        return instance

    def stop(self: InstanceFactory[DaemonKind[P, T]], instance: T) -> None:
        """Stop ``instance`` now (the kind's stop); :meth:`stop_all` leaves it alone after."""
        self._kind.stop(instance)
        self._forget(instance)

    def stop_all(self) -> None:
        """Stop every instance started here, last first, even when one fails; the first
        error is raised at the end. The factory can start new ones afterwards."""
        first: BaseException | None = None
        while self._instances:
            instance = self._instances[-1]
            try:
                self._kind.stop(instance)
            except Exception as exc:
                first = first or exc
            finally:
                self._forget(instance)
        if first is not None:
            raise first

    def _forget(self, instance: object) -> None:
        self._instances = [i for i in self._instances if i is not instance]
        self._shared = {k: i for k, i in self._shared.items() if i is not instance}

    def __enter__(self) -> InstanceFactory[K]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


class SharedDaemons:
    """One :class:`InstanceFactory` per kind for a whole test session; behind the
    ``shared_daemons`` fixture, which stops them all at the end of the session.

    ``shared_daemons(KIND)`` is the session's factory for ``KIND``; kinds are told apart by
    class and ``name``, so a fixture may pass a new ``NamedKind()`` each time and still get the
    factory (and the kind object) of the first call. ``shared_daemons.instance(KIND, key,
    ...)`` is that factory's shared instance ``key``, started on first use and reset on
    every later call: what a driver's function-scoped fixture returns.
    """

    def __init__(self, make_dir: MakeDir | pytest.TempPathFactory) -> None:
        self._make_dir = make_dir
        self._factories: dict[tuple[type, str], InstanceFactory[Any]] = {}

    def __call__(self, kind: OtherK) -> InstanceFactory[OtherK]:
        key = (type(kind), kind.name)
        if key not in self._factories:
            self._factories[key] = InstanceFactory(kind, self._make_dir)
        factory: InstanceFactory[OtherK] = self._factories[key]
        return factory

    def instance(
        self, kind: DaemonKind[P, T], key: str = "shared", /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """The session's instance ``key`` of ``kind``: started with these arguments the first
        time, reset (:meth:`DaemonKind.reset`) every later time."""
        factory: InstanceFactory[DaemonKind[P, T]] = self(kind)
        fresh = key not in factory._shared
        instance = factory.shared(key, *args, **kwargs)
        return instance if fresh else factory.reset(instance)

    def factories(self) -> Iterator[InstanceFactory[Any]]:
        """Every factory made here, oldest first."""
        return iter(list(self._factories.values()))

    def stop_all(self) -> None:
        """Stop every factory's instances, the newest factory first; the first error is
        raised at the end."""
        first: BaseException | None = None
        for factory in reversed(list(self._factories.values())):
            try:
                factory.stop_all()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first

"""An Orchestra routed to one driver's backends on one server, for that driver's tests.

:func:`make_driver` builds a :class:`Driver`: an engine whose one server (local by default)
takes the same settings for each of the given backends, with a route from each backend to it,
and the objects the test has saved so far. ``driver.apply(changes)`` plans against every
object known so far and applies through the server's real transport; :func:`states` reads the
result back as the list of operation states. A driver's own ``testing`` module wraps it with
its backend names (``orchestra_mysql.testing.make_driver(mariadb.settings())``).

Each server of a test keeps orchestra's own state (the owed-reload markers) in a folder of
its own (:func:`with_state_dir`; :func:`make_driver` makes one): tests running in parallel
each have a server named ``mx1`` with a daemon of their own, and a marker under the shared
``/var/lib/orchestra`` would make one test reload the other's daemon.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from orchestra_core.engine import Orchestra
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.secret import Secret
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service
from orchestra_core.planning.changeset import ChangeSet

__all__ = ["Driver", "changed", "make_driver", "ok", "states", "with_state_dir"]

#: The account that owns the objects of a :class:`Driver`'s tests.
ACCOUNT = "acme"


def _accounts() -> list[Account]:
    return [Account(name=ACCOUNT)]


@attrs.define
class Driver:
    """An Orchestra with one server routed to a driver's backends, and the objects it knows
    (made by :func:`make_driver`). Close ``driver.orchestra`` after use."""

    orchestra: Orchestra
    accounts: list[Account] = attrs.field(factory=_accounts)
    objects: list[Service] = attrs.field(factory=list)

    def apply(
        self, changes: ChangeSet, *, known: Sequence[Service] = (), force: bool = False
    ) -> ApplyResult:
        """Plan ``changes`` against every object known so far (and ``known``), and apply
        (``force``: over what was changed by hand)."""
        plan = self.orchestra.plan(changes, index=self.index(known), force=force)
        return self.orchestra.apply(plan)

    def index(self, known: Sequence[Service] = ()) -> ServiceIndex:
        """The accounts and every object known so far (and ``known``)."""
        return ServiceIndex(self.accounts, [*self.objects, *known])

    def suspend(self, suspended: bool) -> None:
        """Suspend (or reactivate) the account that owns the objects."""
        self.accounts = [Account(name=ACCOUNT, is_active=not suspended)]

    def save(self, *objects: Service, password: tuple[Service, str] | None = None) -> ApplyResult:
        """Save ``objects`` (known from now on, replacing those of the same key), and give
        ``password[0]`` the password ``password[1]`` in the same apply."""
        keys = {obj.key for obj in objects}
        self.objects = [o for o in self.objects if o.key not in keys] + list(objects)
        changes = ChangeSet()
        for obj in objects:
            changes = changes.save(obj)
        if password is not None:
            changes = changes.set_password(password[0], Secret(password[1]))
        return self.apply(changes)

    def delete(self, *objects: Service) -> ApplyResult:
        """Delete ``objects`` (known no more), the plan allowed to delete them all."""
        keys = {obj.key for obj in objects}
        self.objects = [o for o in self.objects if o.key not in keys]
        changes = ChangeSet()
        for obj in objects:
            changes = changes.delete(obj)
        return self.orchestra.apply(
            self.orchestra.plan(changes, index=self.index(), allow_deletes=True)
        )


def with_state_dir(server: Server, state_dir: str | Path) -> Server:
    """``server`` keeping orchestra's own state (owed reloads) in ``state_dir`` unless it
    says where already: a test must not write under /var/lib/orchestra, which every test
    process on the machine shares."""
    if "state_dir" in server.settings:
        return server
    return attrs.evolve(server, settings={**server.settings, "state_dir": str(state_dir)})


def make_driver(
    backends: Sequence[str], settings: Mapping[str, Any], server: Server | None = None
) -> Driver:
    """A :class:`Driver` whose one server (``server``, by default a local one named ``db1``)
    takes ``settings`` for each of ``backends``, with a route from each backend to it, and a
    state folder of its own (removed with the driver) unless it names one."""
    base = server or Server(name="db1", transport="local")
    state = tempfile.mkdtemp(prefix="orchestra-state-")
    server = with_state_dir(
        attrs.evolve(
            base, settings={**base.settings, **{backend: dict(settings) for backend in backends}}
        ),
        state,
    )
    routes = [Route(backend=backend, servers=(server.name,)) for backend in backends]
    driver = Driver(Orchestra(servers=[server], routes=routes))
    weakref.finalize(driver, shutil.rmtree, state, True)
    return driver


def states(result: ApplyResult) -> list[str]:
    """The state of every operation log of ``result``, in order (``["success", "nothing"]``)."""
    return [log.state.value for log in result.logs]


def ok(result: ApplyResult) -> list[str]:
    """The states of ``result``'s operations, after asserting that none failed (showing the
    end of each one's stderr if one did)."""
    assert result.ok, [(log.operation_id, log.stderr[-3000:]) for log in result.logs if log.stderr]
    return states(result)


def changed(result: ApplyResult) -> list[tuple[str, list[str]]]:
    """The operations of ``result`` that changed something, each with the steps that did
    (their descriptions): what to show when an apply that should change nothing did."""
    return [
        (
            log.operation_id,
            [step.description for step in log.steps if step.state.value != "nothing"],
        )
        for log in result.logs
        if log.state.value != "nothing"
    ]

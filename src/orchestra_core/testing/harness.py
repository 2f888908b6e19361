"""The engine side of the contract suite: one backend, its servers, and what it applied.

:class:`ContractHarness` plans and applies change sets for the backend under test on the
servers a driver's contract class names, through real transports, with a memory store. The
index it plans against always holds the driver's world objects and every object it is asked
about, and the accounts of all of them, active or suspended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from orchestra_core.engine import Orchestra
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service
from orchestra_core.planning.changeset import ChangeSet
from orchestra_core.planning.plan import Plan
from orchestra_core.registry import Registry

__all__ = ["ContractHarness", "describe"]


def describe(result: ApplyResult) -> str:
    """Every log of ``result`` as one line each (server, backend, action, state, output):
    what an assertion message shows when an apply did not go as the contract wants."""
    lines = []
    for log in result.logs:
        output = (log.stderr or log.stdout).strip().replace("\n", " | ")
        lines.append(
            f"{log.server} {log.backend} {log.action} {','.join(log.object_keys)}: "
            f"{log.state.value}" + (f" ({output[:500]})" if output else "")
        )
    return "\n".join(lines) or "(no operation ran)"


@attrs.define
class ContractHarness:
    """Plans and applies for one backend on ``servers`` with ``routes``.

    ``world`` holds the objects the subject names (database users' databases, a website's web
    apps): they are in every index, and applied only if a route sends them somewhere.
    """

    backend: str
    servers: tuple[Server, ...]
    routes: tuple[Route, ...]
    world: tuple[Service, ...] = ()
    #: Processes whose descendants run batches besides this one (an SSH host's sshd).
    watch: tuple[int, ...] = ()
    registry: Registry = attrs.field(factory=Registry.load)
    engines: list[Orchestra] = attrs.field(factory=list)
    _default: Orchestra | None = None

    def engine(self, settings: Mapping[str, Any] | None = None) -> Orchestra:
        """An engine on a new memory store; with ``settings``, the routes of the backend under
        test carry them (over the servers' own settings). Closed by :meth:`close`."""
        routes = self.routes
        if settings:
            routes = tuple(
                attrs.evolve(r, settings={**r.settings, **settings})
                if r.backend == self.backend
                else r
                for r in routes
            )
        engine = Orchestra(servers=self.servers, routes=routes, registry=self.registry)
        self.engines.append(engine)
        return engine

    @property
    def default(self) -> Orchestra:
        """The engine the contract applies with, made on first use."""
        if self._default is None:
            self._default = self.engine()
        return self._default

    def index(self, objects: Iterable[Service], *, suspended: bool = False) -> ServiceIndex:
        """The world with ``objects`` in place of their namesakes, and an account for every
        account named (suspended when ``suspended``)."""
        objects = list(objects)
        keys = {obj.key for obj in objects}
        services = [obj for obj in self.world if obj.key not in keys] + objects
        names = dict.fromkeys(obj.account for obj in services)
        return ServiceIndex([Account(name=n, is_active=not suspended) for n in names], services)

    def plan(
        self,
        changes: ChangeSet,
        objects: Iterable[Service],
        *,
        suspended: bool = False,
        engine: Orchestra | None = None,
    ) -> Plan:
        """Plan ``changes`` (through the planner only: no hook fires) against :meth:`index`."""
        engine = engine or self.default
        index = self.index(objects, suspended=suspended)
        return engine.planner.plan(changes.operations(index), index)

    def decided(self, plan: Plan, *, engine: Orchestra | None = None) -> Plan:
        """``plan`` with the steps its probing backends decide from the server as it is now
        (each probe run once, read-only): what an apply would run, for the tests that look at
        a plan's steps (the folders it writes into, to plant links there)."""
        from orchestra_core.execution.reconcile import decide_plan

        engine = engine or self.default
        return decide_plan(plan, engine.transport, executor=engine.executor)

    def apply(
        self,
        changes: ChangeSet,
        objects: Iterable[Service],
        *,
        suspended: bool = False,
        engine: Orchestra | None = None,
    ) -> ApplyResult:
        """Plan ``changes`` and run the plan."""
        engine = engine or self.default
        return engine.apply(self.plan(changes, objects, suspended=suspended, engine=engine))

    def save(self, *objects: Service, suspended: bool = False) -> ApplyResult:
        """Apply a save of each object."""
        changes = ChangeSet()
        for obj in objects:
            changes.save(obj)
        return self.apply(changes, objects, suspended=suspended)

    def delete(self, *objects: Service) -> ApplyResult:
        """Apply a delete of each object."""
        changes = ChangeSet()
        for obj in objects:
            changes.delete(obj)
        return self.apply(changes, ())

    def own(self, result: ApplyResult) -> list[str]:
        """The states of the backend under test's operations in ``result``."""
        return [log.state.value for log in result.logs if log.backend == self.backend]

    def close(self) -> None:
        """Close every engine made."""
        for engine in self.engines:
            engine.close()
        self.engines.clear()
        self._default = None

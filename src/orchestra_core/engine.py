"""The embedding API: plan and apply change sets with the installed plugins.

An embedding application (a panel, a billing system, a provisioning API) builds an
:class:`Orchestra` with its servers and routes, collects a :class:`ChangeSet` from its own
objects, and calls :meth:`Orchestra.plan` and :meth:`Orchestra.apply`. No file and no CLI are
involved; the CLI is a thin layer over the same calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from orchestra_core.execution.executor import ApplyResult, Executor
from orchestra_core.execution.loading import load_transport
from orchestra_core.execution.results import OperationLog
from orchestra_core.execution.transport import Transport
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service
from orchestra_core.planning.changeset import ChangeSet, Operation
from orchestra_core.planning.plan import Plan
from orchestra_core.planning.planner import Planner
from orchestra_core.registry import Registry
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import Store

__all__ = ["Orchestra"]


class Orchestra:
    """Plans and applies changes on a set of servers, through the installed plugins.

    ``registry`` defaults to every installed plugin; ``store`` to a :class:`MemoryStore`;
    ``transports`` maps a transport name to an instance, and names not given are loaded through
    the ``orchestra.transports`` entry points when first needed.
    """

    def __init__(
        self,
        *,
        servers: Sequence[Server],
        routes: Sequence[Route],
        registry: Registry | None = None,
        store: Store | None = None,
        transports: Mapping[str, Transport] | None = None,
        max_parallel: int = 8,
        batch_timeout: float | None = 600,
    ) -> None:
        self.registry = registry or Registry.load()
        self.store: Store = store if store is not None else MemoryStore()
        self.servers = tuple(servers)
        self.routes = tuple(routes)
        self.planner = Planner(
            {name: info.cls for name, info in self.registry.backends.items()},
            self.servers,
            self.routes,
        )
        self._transports: dict[str, Transport] = dict(transports or {})
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout

    def transport(self, name: str) -> Transport:
        """The transport of this name, loaded once."""
        if name not in self._transports:
            self._transports[name] = load_transport(name)
        return self._transports[name]

    def plan(
        self,
        changes: ChangeSet | Iterable[Operation],
        *,
        index: ServiceIndex | None = None,
        accounts: Iterable[Account] = (),
    ) -> Plan:
        """Validate, route and render ``changes``; fires ``orchestra_plan_ready``.

        ``index`` is the world the renderers may look at (defaults to the saved objects of the
        change set, with ``accounts``).
        """
        ops = changes.operations() if isinstance(changes, ChangeSet) else list(changes)
        if index is None:
            index = ServiceIndex(accounts, [op.obj for op in ops if op.action == "save"])
        if isinstance(changes, ChangeSet):
            ops = changes.operations(index)
        plan = self.planner.plan(ops, index)
        self.registry.plan_ready(plan)
        return plan

    def apply(
        self,
        plan: Plan,
        *,
        on_finished: Callable[[OperationLog], None] | None = None,
    ) -> ApplyResult:
        """Run ``plan``: servers in parallel, each server's steps in order, one batch each.

        Every operation's log goes to the store and to ``orchestra_operation_finished``
        (and to ``on_finished`` when given) as soon as it is final.
        """

        def finished(log: OperationLog) -> None:
            self.registry.operation_finished(log)
            if on_finished is not None:
                on_finished(log)

        executor = Executor(
            self.transport,
            self.store,
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
            on_finished=finished,
        )
        return executor.execute(plan)

    def save_all(
        self, services: Iterable[Service], *, accounts: Iterable[Account] = ()
    ) -> tuple[ChangeSet, ServiceIndex]:
        """A change set saving every service, and the index they form (a full resync)."""
        services = list(services)
        index = ServiceIndex(accounts, services)
        changes = ChangeSet()
        for service in services:
            changes.save(service)
        return changes, index

    def close(self) -> None:
        """Close every transport that was opened."""
        for transport in self._transports.values():
            transport.close()

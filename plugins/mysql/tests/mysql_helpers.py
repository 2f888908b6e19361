"""Helpers for the orchestra-mysql tests: an Orchestra wired to one MariaDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Service

BACKENDS = ("mysql-database", "mysql-user")


@attrs.define
class Driver:
    """An Orchestra with one server routed to the mysql backends, and the objects it knows."""

    orchestra: Orchestra
    accounts: list[Account] = attrs.field(factory=lambda: [Account(name="acme")])
    objects: list[Service] = attrs.field(factory=list)

    def apply(self, changes: ChangeSet, *, known: Sequence[Service] = ()) -> ApplyResult:
        """Plan ``changes`` against every object known so far (and ``known``), and apply."""
        return self.orchestra.apply(self.orchestra.plan(changes, index=self.index(known)))

    def index(self, known: Sequence[Service] = ()) -> ServiceIndex:
        """The accounts and every object known so far (and ``known``)."""
        return ServiceIndex(self.accounts, [*self.objects, *known])

    def suspend(self, suspended: bool) -> None:
        self.accounts = [Account(name="acme", is_active=not suspended)]


def make_driver(settings: dict[str, Any], server: Server | None = None) -> Driver:
    """A :class:`Driver` whose one server (local by default) takes ``settings`` for both
    backends."""
    base = server or Server(name="db1", transport="local")
    server = attrs.evolve(
        base, settings={**base.settings, **{backend: settings for backend in BACKENDS}}
    )
    routes = [Route(backend=backend, servers=(server.name,)) for backend in BACKENDS]
    return Driver(Orchestra(servers=[server], routes=routes))


def states(result: ApplyResult) -> list[str]:
    return [log.state.value for log in result.logs]

"""Helpers for the orchestra-mysql tests: an Orchestra wired to one MariaDB."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Service

if TYPE_CHECKING:
    from orchestra_mysql.testing import MariaDBInstance

BACKENDS = ("mysql-database", "mysql-user")


@attrs.define
class Driver:
    """An Orchestra with one server routed to the mysql backends, and the objects it knows."""

    orchestra: Orchestra
    accounts: list[Account] = attrs.field(factory=lambda: [Account(name="acme")])
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


def restricted_admin(mariadb: MariaDBInstance, folder: Path) -> Path:
    """A restricted admin, as a hosting panel may use instead of root: it reads the grant
    tables, creates users, and grants what it holds on ``shop\\_%`` only. Returns the
    client option file (in ``folder``) that logs in as it; pass it as ``defaults_file``."""
    password = secrets.token_hex(16)
    mariadb.query(
        f"CREATE USER `panel`@`localhost` IDENTIFIED BY '{password}';\n"
        "GRANT SELECT ON mysql.* TO `panel`@`localhost`;\n"
        "GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO `panel`@`localhost`;\n"
        "GRANT ALL PRIVILEGES ON `shop\\_%`.* TO `panel`@`localhost` WITH GRANT OPTION;"
    )
    path = folder / "panel.cnf"
    path.write_text(
        f"[client]\nuser = panel\npassword = {password}\nsocket = {mariadb.socket}\n"
        "default-character-set = utf8mb4\n"
    )
    path.chmod(0o600)
    return path

"""The mysql driver passes the backend contract: ``mysql-database`` and ``mysql-user``, against
the real MariaDB of the ``mariadb`` fixture (reset before each test), locally and over SSH.

Observing the server is reading, as root, everything either backend may change: every
database with its character set and collation, the tables in them, every account as
``mysql.global_priv`` records it (plugin, authentication string, lock, password time), and the
privilege tables behind ``SHOW GRANTS``, and the rows of every customer table. Only the table
statistics of ``information_schema.TABLES`` are left out (see :func:`server_state`).

No ``read_back``: every value of the hostile corpus is refused by validation (names, character
sets, collations and privileges are strict words), so none is ever applied; ``hostile_skip`` is
empty.

The server is out of reach for the client through a ``defaults_file`` whose socket no server
listens on (the server itself keeps running, so that observing it shows what it holds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from orchestra_mysql.testing import SYSTEM_DATABASES, MariaDBInstance, restricted_admin

from orchestra_core import Server, Service
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

pytestmark = pytest.mark.daemon

DATABASE = Database(account="acme", name="shop_1")
#: A second database of the same account: what the user's rejection asks for. Not under
#: ``shop\_%``, what the restricted admin may grant; after shop_1 in the order statements run.
OTHER = Database(account="acme", name="stock_1")
USER = DatabaseUser(account="acme", username="shop", databases=("shop_1",))

#: Tables of the ``mysql`` schema that hold privileges (``SHOW GRANTS`` is made from them).
PRIVILEGE_TABLES = ("db", "tables_priv", "columns_priv", "procs_priv", "proxies_priv")


def server_state(mariadb: MariaDBInstance) -> dict[str, Any]:
    """Everything the mysql backends may change, as the server records it, read in one client
    run (each row tagged with the part it belongs to).

    Nothing here changes by itself: ``password_last_changed`` in ``mysql.global_priv`` is a
    timestamp, but the server writes it only when an account is created or its password set,
    so it stays in and shows that a save never touches a password. ``TABLE_ROWS`` and the
    other statistics of ``information_schema.TABLES`` are estimates that do change by
    themselves: the rows of the tables are read instead.
    """
    system = ", ".join(f"'{name}'" for name in sorted(SYSTEM_DATABASES))
    statements = [
        "SELECT 'schema', SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA ORDER BY 2",
        "SELECT 'table', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION "
        f"FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ({system}) ORDER BY 2, 3",
        "SELECT 'account', User, Host, Priv FROM mysql.global_priv ORDER BY 2, 3",
        "SELECT 'role', r.* FROM mysql.roles_mapping r ORDER BY 2, 3, 4",
        *(
            f"SELECT '{table}', t.* FROM mysql.{table} t ORDER BY 2, 3, 4"
            for table in PRIVILEGE_TABLES
        ),
    ]
    state: dict[str, Any] = {}
    for tag, *values in mariadb.query(";\n".join(statements) + ";"):
        if tag == "account":
            user, host, priv = values
            state.setdefault("account", {})[(user, host)] = json.loads(priv or "{}")
        else:
            state.setdefault(str(tag), []).append(tuple(values))
    for table in _customer_tables(state):
        rows = mariadb.query(f"SELECT * FROM `{table[0]}`.`{table[1]}` ORDER BY 1")
        state.setdefault("rows", {})[table] = rows
    return state


def _customer_tables(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(schema, name) for schema, name, *_ in state.get("table", [])]


class MySQLContract(BackendContract):
    """What both backends share: the server, its settings, how it is observed."""

    transports = ("local", "ssh")

    @pytest.fixture(autouse=True)
    def _server(self, mariadb: MariaDBInstance) -> None:
        self.mariadb = mariadb

    def servers(self) -> list[Server]:
        settings = self.mariadb.settings()
        return [Server(name="db1", settings={"mysql-database": settings, "mysql-user": settings})]

    def observe(self) -> dict[str, Any]:
        return server_state(self.mariadb)

    def unreachable(self, obj: Service) -> Unreachable:
        # The admin's login, through a socket where no server listens, as when it is down.
        folder = self.mariadb.admin_file.parent
        nowhere = folder / "no-server.sock"
        defaults = folder / "admin-no-server.cnf"
        defaults.write_text(f"[client]\nuser = root\npassword =\nsocket = {nowhere}\n")
        defaults.chmod(0o600)
        return Unreachable(out_of_reach={"defaults_file": str(defaults)})


class TestMySQLDatabaseContract(MySQLContract):
    backend = "mysql-database"
    #: A database has nothing to lock: suspending its account locks its users (mysql-user),
    #: and the database keeps its data exactly as it is.
    suspends = False

    def objects(self) -> list[Service]:
        return [DATABASE]

    def changed(self, obj: Service) -> Service:
        # ALTER DATABASE: another character set and its collation.
        return attrs.evolve(DATABASE, charset="latin1", collation="latin1_swedish_ci")

    def rejection(self, obj: Service) -> Rejection:
        # Both are names orchestra accepts, but latin1's collation is not one of utf8mb4's.
        assert isinstance(obj, Database)
        return Rejection(obj=Database(account=obj.account, name=obj.name, collation="latin1_bin"))


class TestMySQLUserContract(MySQLContract):
    backend = "mysql-user"

    @pytest.fixture(autouse=True)
    def _world(self, _server: None, tmp_path: Path) -> None:
        """The database the user is granted, with a customer's table in it (the user's
        operations must never touch data), and a restricted admin for :meth:`rejection`."""
        self.mariadb.query(
            "CREATE DATABASE shop_1;\n"
            "CREATE TABLE shop_1.orders (id INT PRIMARY KEY, item VARCHAR(40));\n"
            "INSERT INTO shop_1.orders VALUES (1, 'teapot'), (2, 'cups');"
        )
        self.panel_file = restricted_admin(self.mariadb, tmp_path)

    def objects(self) -> list[Service]:
        return [USER, DATABASE, OTHER]

    def changed(self, obj: Service) -> Service:
        # Fewer privileges: a REVOKE, the account and its password untouched.
        return attrs.evolve(USER, privileges=("SELECT", "INSERT"))

    def rejection(self, obj: Service) -> Rejection:
        """Read-only on its database, and a database that the admin logged in may not grant.

        A hosting panel often runs with an admin of its own, which may create users and grant
        only the customers' databases (``shop\\_%`` here), not root. Orchestra cannot know
        what that admin may do: the server takes the ``REVOKE`` on shop_1, then refuses the
        ``GRANT`` on stock_1 ("Access denied for user ... to database 'stock\\_1'"), and the
        step must take the ``REVOKE`` back.
        """
        assert isinstance(obj, DatabaseUser)
        changed = DatabaseUser(
            account=obj.account,
            username=obj.username,
            databases=(*obj.databases, OTHER.name),
            privileges=("SELECT",),
        )
        return Rejection(obj=changed, settings={"defaults_file": str(self.panel_file)})

    def check_password(self, obj: Service, secret: str) -> None:
        assert isinstance(obj, DatabaseUser)
        assert self.mariadb.can_login(obj.username, secret, obj.databases[0])
        assert not self.mariadb.can_login(obj.username, secret + "x", obj.databases[0])

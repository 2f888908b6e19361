"""Validation without a server: names, lengths, reserved databases, privileges, settings."""

from __future__ import annotations

import pytest
from orchestra_mysql.backends import MySQLUser
from orchestra_mysql.settings import MySQLSettings

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.errors import ConfigurationError, ValidationError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Service

#: The names the issue lists, and SQL that would run if a name reached SQL unquoted.
HOSTILE_NAMES = {
    "single_quote": "shop'1",
    "double_quote": 'shop"1',
    "backtick": "shop`; DROP DATABASE mysql; `",
    "semicolon": "shop;DROP DATABASE mysql",
    "comment": "shop-- x",
    "percent": "shop%",
    "space": "shop 1",
    "unicode": "shöp",
    "newline": "shop\n1",
    "nul": "shop\x001",
    "too_long": "a" * 65,
    "empty": "",
}


def plan_errors(*objects: Service, settings: dict[str, object] | None = None) -> list[str]:
    """The ``object: field: message`` lines planning ``objects`` gives."""
    server = Server(
        name="db1",
        transport="recording",
        settings={"mysql-database": settings or {}, "mysql-user": settings or {}},
    )
    orchestra = Orchestra(
        servers=[server],
        routes=[Route(backend=b, servers=("db1",)) for b in ("mysql-database", "mysql-user")],
    )
    changes = ChangeSet()
    for obj in objects:
        changes = changes.save(obj)
    index = ServiceIndex([Account(name="acme")], list(objects))
    try:
        orchestra.plan(changes, index=index)
    except ValidationError as exc:
        return [f"{e.object_key}: {e.field}: {e.message}" for e in exc.errors]
    return []


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_database_names_are_refused(name: str) -> None:
    errors = plan_errors(Database(account="acme", name=name))
    assert errors, name
    assert all(": name: " in e for e in errors), errors


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_user_names_are_refused(name: str) -> None:
    if name == "a" * 65:
        name = "a" * 81  # MariaDB takes 80
    errors = plan_errors(DatabaseUser(account="acme", username=name))
    assert errors, name
    assert all(": username: " in e for e in errors), errors


@pytest.mark.parametrize("name", ["mysql", "information_schema", "PERFORMANCE_SCHEMA", "sys"])
def test_reserved_databases_are_refused(name: str) -> None:
    assert plan_errors(Database(account="acme", name=name)) == [
        f"database:mysql/{name}: name: {name!r} is reserved for the server itself"
    ]
    # A user cannot name one either (planning stops earlier: no such object can exist).
    user = DatabaseUser(account="acme", username="u", databases=(name,))
    (error,) = MySQLUser().check(user, MySQLSettings())
    assert (error.field, error.message) == (
        "databases[0]",
        f"{name!r} is reserved for the server itself",
    )


@pytest.mark.parametrize("name", ["root", "mysql", "debian-sys-maint", "ROOT"])
def test_the_servers_own_accounts_are_refused(name: str) -> None:
    # With user_host localhost, a customer's "root" would be root: its password, its grants.
    assert plan_errors(DatabaseUser(account="acme", username=name)) == [
        f"databaseuser:mysql/{name}: username: {name!r} is the server's own account"
    ]


def test_a_database_whose_grant_pattern_is_too_long_is_refused_for_users() -> None:
    # GRANT escapes each '_': the server keeps (and checks) that escaped name in 64 characters.
    fits = "d" * 60 + "_" * 2  # 64 once escaped
    too_long = "d" * 61 + "_" * 2  # 65 once escaped
    for name in (fits, too_long):
        assert plan_errors(Database(account="acme", name=name)) == []  # a database is fine
    user = DatabaseUser(account="acme", username="u", databases=(fits, too_long))
    (error,) = MySQLUser().check(user, MySQLSettings())
    assert (error.field, error.message) == (
        "databases[1]",
        "cannot be granted: with its '_' and '%' escaped for GRANT it is 65 characters long; "
        "the server takes at most 64",
    )


def test_user_host_is_kept_in_lower_case_as_the_server_keeps_it() -> None:
    assert MySQLSettings(user_host="DB-Client.Example.COM").user_host == "db-client.example.com"
    assert MySQLSettings(user_host="10.0.0.%").user_host == "10.0.0.%"


def test_name_limits() -> None:
    assert plan_errors(Database(account="acme", name="d" * 64)) == []
    assert plan_errors(DatabaseUser(account="acme", username="u" * 80)) == []
    assert plan_errors(
        DatabaseUser(account="acme", username="u" * 33), settings={"flavor": "mysql"}
    ) == [f"databaseuser:mysql/{'u' * 33}: username: is 33 characters long; mysql takes at most 32"]


def test_unknown_privilege_names_the_item() -> None:
    user = DatabaseUser(account="acme", username="u", privileges=("SELECT", "SUPER"))
    (error,) = plan_errors(user)
    assert error.startswith(
        "databaseuser:mysql/u: privileges[1]: 'SUPER' is not a database privilege"
    )
    (error,) = plan_errors(DatabaseUser(account="acme", username="u", privileges=("DROP;",)))
    assert "privileges[0]: 'DROP;' is not a privilege name" in error


def test_other_engines_are_refused() -> None:
    (error,) = plan_errors(Database(account="acme", name="pg", type="postgresql"))
    assert (
        error
        == "database:postgresql/pg: type: the mysql backends take type 'mysql', not 'postgresql'"
    )


def test_bad_user_host_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        plan_errors(DatabaseUser(account="acme", username="u"), settings={"user_host": "x'; DROP"})
    message = str(info.value)
    assert "mysql-user" in message and "db1" in message
    assert 'user_host "x\'; DROP" is not a host name, address or pattern' in message


def test_rendering_is_pure_and_keeps_the_password_out_of_the_plan() -> None:
    server = Server(name="db1", transport="recording", settings={})
    orchestra = Orchestra(
        servers=[server],
        routes=[Route(backend=b, servers=("db1",)) for b in ("mysql-database", "mysql-user")],
    )
    db = Database(account="acme", name="shop")
    user = DatabaseUser(account="acme", username="shop", databases=("shop",))
    changes = ChangeSet().save(db).save(user).set_password(user, Secret("Sw0rdfish'--"))
    index = ServiceIndex([Account(name="acme")], [db, user])
    first, second = (orchestra.plan(changes, index=index) for _ in range(2))
    assert first.to_dict() == second.to_dict()
    text = first.render_text() + str(first.to_dict())
    assert "Sw0rdfish" not in text
    assert "*4E6F" not in text  # nor its hash


def test_orchestra_drivers_lists_mysql_with_its_two_backends() -> None:
    import subprocess
    import sys
    from pathlib import Path

    orchestra = str(Path(sys.executable).with_name("orchestra"))
    done = subprocess.run([orchestra, "drivers"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("mysql ")]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("mysql", "orchestra-mysql", "mysql-database", "database", "delete,save"),
        ("mysql", "orchestra-mysql", "mysql-user", "databaseuser", "delete,save,set_password"),
    ]

"""What the applied state does for databases against real MariaDB servers: a GRANT or an ALTER
by hand is drift that ``check`` reports and ``apply`` refuses without ``--force`` (through the
command line, on SQLite), and a database moved to another server is dumped and dropped where
it was (through the API, on PostgreSQL); an emptied inventory deletes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from orchestra_mysql.testing import MariaDBFactory, MariaDBInstance

from orchestra_core import Account, Orchestra, Route, Server
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.storage import open_store

ORCHESTRA = str(Path(sys.executable).with_name("orchestra"))


def inventory(mariadb: MariaDBInstance, *, databases: bool = True) -> dict[str, object]:
    settings = mariadb.settings()
    account: dict[str, object] = {"name": "acme"}
    if databases:
        account["databases"] = [{"name": "shop"}]
        account["databaseusers"] = [{"username": "shop", "databases": ["shop"]}]
    return {
        "servers": [
            {
                "name": "db1",
                "transport": "local",
                "settings": {"mysql-database": settings, "mysql-user": settings},
            }
        ],
        "routes": [
            {"backend": "mysql-database", "servers": ["db1"]},
            {"backend": "mysql-user", "servers": ["db1"]},
        ],
        "accounts": [account],
    }


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ORCHESTRA, *args], cwd=tmp_path, capture_output=True, text=True, check=False
    )


def test_a_grant_and_an_alter_by_hand_are_drift(mariadb: MariaDBInstance, tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(yaml.safe_dump(inventory(mariadb)))
    done = run(tmp_path, "apply", "db.yaml", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert run(tmp_path, "check").returncode == 0
    mariadb.query("CREATE DATABASE other")
    mariadb.query("GRANT SELECT ON other.* TO `shop`@`%`")
    mariadb.query("ALTER DATABASE shop CHARACTER SET latin1")
    done = run(tmp_path, "check", "--json")
    assert done.returncode == 5, done.stdout + done.stderr
    found = {(f["object_key"], f["name"], f["state"]) for f in json.loads(done.stdout)["findings"]}
    assert found == {
        ("database:mysql/shop", "database", "changed"),
        ("databaseuser:mysql/shop", "account", "changed"),
    }
    text = run(tmp_path, "check").stdout
    assert "latin1" in text and "other" in text  # what the server holds now is shown
    # A change to the user is refused: what it would replace was changed by hand.
    data = inventory(mariadb)
    data["accounts"][0]["databaseusers"][0]["privileges"] = ["SELECT"]  # type: ignore[index]
    path.write_text(yaml.safe_dump(data))
    done = run(tmp_path, "apply", "db.yaml", "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "differs from what orchestra last applied" in done.stdout
    assert mariadb.query("SELECT Select_priv FROM mysql.db WHERE Db = 'other'") == [("Y",)]
    done = run(tmp_path, "apply", "db.yaml", "--yes", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert mariadb.query("SELECT Db FROM mysql.db WHERE User = 'shop'") == [("shop",)]
    # The database's drift was not in this plan: a resync puts its character set back.
    assert run(tmp_path, "check").returncode == 5
    assert run(tmp_path, "apply", "db.yaml", "--yes", "--all").returncode == 0
    assert run(tmp_path, "check").returncode == 0
    (row,) = mariadb.query(
        "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = 'shop'"
    )
    assert row == ("utf8mb4",)


def test_an_emptied_inventory_drops_no_database(mariadb: MariaDBInstance, tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(yaml.safe_dump(inventory(mariadb)))
    assert run(tmp_path, "apply", "db.yaml", "--yes").returncode == 0
    path.write_text(yaml.safe_dump(inventory(mariadb, databases=False)))
    done = run(tmp_path, "apply", "db.yaml", "--yes")
    assert done.returncode == 2 and "no services, while 2 objects are applied" in done.stderr
    assert "shop" in mariadb.databases() and ("shop", "%") in mariadb.users()


def test_a_database_moved_to_another_server_is_dumped_and_dropped_where_it_was(
    mariadb_factory: MariaDBFactory, postgres_url: str, tmp_path: Path
) -> None:
    first, second = mariadb_factory(), mariadb_factory()
    dumps = tmp_path / "dumps"
    servers = [
        Server(
            name=name,
            settings={
                "mysql-database": instance.settings(dump_dir=str(dumps / name)),
                "mysql-user": instance.settings(),
            },
        )
        for name, instance in (("db1", first), ("db2", second))
    ]
    shop = Database(account="acme", name="shop")
    user = DatabaseUser(account="acme", username="shop", databases=("shop",))
    store = open_store(postgres_url)
    here = Orchestra(
        servers=servers,
        routes=[Route(backend=b, servers=("db1",)) for b in ("mysql-database", "mysql-user")],
        store=store,
    )
    there = Orchestra(
        servers=servers,
        routes=[Route(backend=b, servers=("db2",)) for b in ("mysql-database", "mysql-user")],
        store=store,
    )
    try:
        assert here.apply(here.plan_inventory([Account(name="acme")], [shop, user])).ok
        first.query("CREATE TABLE shop.orders (id INT)")
        plan = there.plan_inventory([Account(name="acme")], [shop, user])
        assert sorted((op.server, op.action, op.object_keys[0]) for op in plan.operations()) == [
            ("db1", "delete", "database:mysql/shop"),
            ("db1", "delete", "databaseuser:mysql/shop"),
            ("db2", "save", "database:mysql/shop"),
            ("db2", "save", "databaseuser:mysql/shop"),
        ]
        result = there.apply(plan)
        assert result.ok, [(log.operation_id, log.stderr) for log in result.logs]
        assert "shop" not in first.databases() and ("shop", "%") not in first.users()
        assert "shop" in second.databases() and ("shop", "%") in second.users()
        [dump] = (dumps / "db1").iterdir()
        assert dump.name.startswith("shop") and dump.stat().st_size > 0
        assert {(p.object_key, p.server) for p in store.placements()} == {
            ("database:mysql/shop", "db2"),
            ("databaseuser:mysql/shop", "db2"),
        }
        assert there.plan_inventory([Account(name="acme")], [shop, user]).is_empty
        assert there.check().clean
    finally:
        here.close()
        there.close()
        store.close()  # type: ignore[attr-defined]

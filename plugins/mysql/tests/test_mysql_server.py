"""The mysql backends against a real MariaDB (``mariadb`` fixture: one server per session,
reset before each test): what a hosting customer's database and users go through."""

from __future__ import annotations

import gzip
import os
import threading
import time
from pathlib import Path

import pytest
from orchestra_mysql.monitor import MySQLDatabaseSize
from orchestra_mysql.testing import (
    Driver,
    MariaDBError,
    MariaDBFactory,
    MariaDBInstance,
    make_driver,
    restricted_admin,
    states,
)

from orchestra_core import ChangeSet, Secret
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.script import compile_batch
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import PlannedOperation, ServerPlan
from orchestra_core.testing.sshd import SSHHost

pytestmark = pytest.mark.daemon

DB = Database(account="acme", name="shop_1")
USER = DatabaseUser(account="acme", username="shop", databases=("shop_1",))
PASSWORD = "correct horse battery staple"


def login(mariadb: MariaDBInstance, password: str, database: str | None = "shop_1") -> bool:
    return mariadb.can_login("shop", password, database)


def grants(mariadb: MariaDBInstance, user: str = "shop") -> list[str]:
    return sorted(row[0] or "" for row in mariadb.query(f"SHOW GRANTS FOR `{user}`@`%`"))


def db_grants(mariadb: MariaDBInstance) -> list[str]:
    """The account's grants on databases (without its global USAGE line)."""
    return [g for g in grants(mariadb) if not g.startswith("GRANT USAGE ON *.*")]


def live_state(mariadb: MariaDBInstance) -> list[object]:
    """Everything the backends may change, as the server records it."""
    return [
        mariadb.query("SELECT * FROM mysql.db ORDER BY User, Db"),
        mariadb.query("SELECT User, Host, authentication_string, plugin FROM mysql.user"),
        mariadb.query(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA ORDER BY 1"
        ),
        grants(mariadb) if ("shop", "%") in mariadb.users() else [],
    ]


@pytest.fixture
def shop(driver: Driver) -> Driver:
    """The database and its user, created, with PASSWORD."""
    driver.objects = [DB, USER]
    result = driver.apply(ChangeSet().save(DB).save(USER).set_password(USER, Secret(PASSWORD)))
    assert states(result) == ["success", "success", "success"], [log.stderr for log in result.logs]
    return driver


def test_create_then_the_user_logs_in_and_creates_a_table(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    assert mariadb.databases() == {"shop_1"}
    assert ("shop", "%") in mariadb.users()
    connection = mariadb.connect("shop", PASSWORD, "shop_1")
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
            cursor.execute("INSERT INTO t VALUES (1, 'one')")
            connection.commit()
            cursor.execute("SELECT name FROM t")
            assert cursor.fetchall() == (("one",),)
    finally:
        connection.close()
    assert not login(mariadb, PASSWORD + "x")
    (row,) = mariadb.query(
        "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = 'shop_1'"
    )
    assert row == ("utf8mb4",)


def test_second_apply_reports_and_changes_nothing(shop: Driver, mariadb: MariaDBInstance) -> None:
    before = live_state(mariadb)
    result = shop.apply(ChangeSet().save(DB).save(USER))
    assert states(result) == ["nothing", "nothing"]
    assert live_state(mariadb) == before


def test_privilege_change_changes_only_the_privileges(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    reader = DatabaseUser(
        account="acme", username="shop", databases=("shop_1",), privileges=("select", "INSERT")
    )
    before = mariadb.query("SELECT authentication_string FROM mysql.user WHERE User = 'shop'")

    result = shop.apply(ChangeSet().save(DB).save(reader))

    assert states(result) == ["nothing", "success"]
    assert result.logs[1].stdout.startswith("REVOKE UPDATE, DELETE, CREATE, DROP")
    assert "GRANT" not in result.logs[1].stdout and "CREATE USER" not in result.logs[1].stdout
    assert db_grants(mariadb) == ["GRANT SELECT, INSERT ON `shop\\_1`.* TO `shop`@`%`"]
    assert mariadb.query("SELECT authentication_string FROM mysql.user WHERE User = 'shop'") == (
        before
    )
    assert login(mariadb, PASSWORD)
    assert states(shop.apply(ChangeSet().save(reader))) == ["nothing"]

    back = shop.apply(ChangeSet().save(USER))
    assert states(back) == ["success"]
    assert back.logs[0].stdout.startswith("GRANT UPDATE, DELETE, CREATE")
    assert db_grants(mariadb) == ["GRANT ALL PRIVILEGES ON `shop\\_1`.* TO `shop`@`%`"]
    assert states(shop.apply(ChangeSet().save(USER))) == ["nothing"]


def test_all_is_compared_in_canonical_form(shop: Driver, mariadb: MariaDBInstance) -> None:
    # ALL given as the server's own expanded list (as a DBA or another tool would) is ALL.
    columns = [
        row[0]
        for row in mariadb.query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' "
            "AND TABLE_NAME = 'db' AND COLUMN_NAME LIKE '%\\\\_priv' "
            "AND COLUMN_NAME <> 'Grant_priv'"
        )
    ]
    names = {"Create_tmp_table_priv": "CREATE TEMPORARY TABLES"}
    expanded = ", ".join(
        names.get(c or "", (c or "").removesuffix("_priv").replace("_", " ").upper())
        for c in columns
    )
    mariadb.query("REVOKE ALL PRIVILEGES ON `shop\\_1`.* FROM `shop`@`%`")
    mariadb.query(f"GRANT {expanded} ON `shop\\_1`.* TO `shop`@`%`")
    assert states(shop.apply(ChangeSet().save(USER))) == ["nothing"]

    explicit = DatabaseUser(
        account="acme",
        username="shop",
        databases=("shop_1",),
        privileges=tuple(expanded.split(", ")),
    )
    assert states(shop.apply(ChangeSet().save(explicit))) == ["nothing"]


def test_a_grant_does_not_leak_through_wildcards(shop: Driver, mariadb: MariaDBInstance) -> None:
    # Unescaped, `shop_1` in a GRANT would also match shopX1.
    mariadb.query("CREATE DATABASE shopX1")
    assert login(mariadb, PASSWORD, "shop_1")
    assert not login(mariadb, PASSWORD, "shopX1")


def test_privileges_granted_by_hand_elsewhere_are_taken_back(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    mariadb.query("CREATE DATABASE other")
    mariadb.query("GRANT SELECT ON other.* TO `shop`@`%` WITH GRANT OPTION")
    # A grant by hand is drift: refused, and kept, until told to take it back.
    refused = shop.apply(ChangeSet().save(USER))
    assert states(refused) == ["failure"]
    assert (
        "drift: account of databaseuser:mysql/shop [mysql-user] differs" in refused.logs[0].stderr
    )
    assert login(mariadb, PASSWORD, "other")
    result = shop.apply(ChangeSet().save(USER), force=True)
    assert states(result) == ["success"]
    assert "REVOKE SELECT, GRANT OPTION ON `other`.* FROM `shop`@`%`" in result.logs[0].stdout
    assert not login(mariadb, PASSWORD, "other")


def test_suspend_locks_the_login_and_resume_gives_it_back(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    session = mariadb.connect("shop", PASSWORD, "shop_1")
    shop.suspend(True)

    result = shop.apply(ChangeSet().save(USER))

    assert states(result) == ["success"]
    assert not login(mariadb, PASSWORD)
    import pymysql

    # The open session was ended as well.
    with pytest.raises(pymysql.err.OperationalError), session.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert states(shop.apply(ChangeSet().save(USER))) == ["nothing"]

    shop.suspend(False)
    assert states(shop.apply(ChangeSet().save(USER))) == ["success"]
    assert login(mariadb, PASSWORD)
    assert states(shop.apply(ChangeSet().save(USER))) == ["nothing"]


def test_suspend_and_resume_give_back_the_account_record_exactly(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    # MariaDB writes "account_locked" into mysql.global_priv the first time a lock state is
    # set: an account created without one would come back from a resume with a new key.
    def record() -> list[tuple[str | None, ...]]:
        return mariadb.query("SELECT Priv FROM mysql.global_priv WHERE User = 'shop'")

    created = record()
    assert '"account_locked":false' in (created[0][0] or "")
    shop.suspend(True)
    assert states(shop.apply(ChangeSet().save(USER))) == ["success"]
    assert record() != created
    shop.suspend(False)
    assert states(shop.apply(ChangeSet().save(USER))) == ["success"]
    assert record() == created


def test_a_refused_statement_takes_back_those_before_it(
    shop: Driver, mariadb: MariaDBInstance, tmp_path: Path
) -> None:
    # Account statements are not transactional: the REVOKE on shop_1 ran before the server
    # refused the GRANT on stock_1, and the account was left half changed.
    panel = make_driver(mariadb.settings(defaults_file=str(restricted_admin(mariadb, tmp_path))))
    stock = Database(account="acme", name="stock_1")
    panel.objects = [DB, stock]
    before = live_state(mariadb)
    try:
        changed = DatabaseUser(
            account="acme", username="shop", databases=("shop_1", "stock_1"), privileges=("SELECT",)
        )
        result = panel.apply(ChangeSet().save(changed), known=[changed])
        assert states(result) == ["failure"]
        stderr = result.logs[0].stderr
        assert "Access denied for user 'panel'@'localhost' to database 'stock\\_1'" in stderr
        assert "orchestra-mysql: taken back: GRANT INSERT, UPDATE, DELETE, CREATE" in stderr
        assert live_state(mariadb) == before

        # A new account whose GRANT is refused is dropped again.
        newcomer = DatabaseUser(account="acme", username="newcomer", databases=("stock_1",))
        result = panel.apply(ChangeSet().save(newcomer), known=[newcomer])
        assert states(result) == ["failure"]
        assert "taken back: DROP USER `newcomer`@`%`" in result.logs[0].stderr
        assert ("newcomer", "%") not in mariadb.users()
    finally:
        panel.orchestra.close()


def test_a_user_created_while_suspended_is_locked(driver: Driver, mariadb: MariaDBInstance) -> None:
    driver.objects = [DB, USER]
    driver.suspend(True)
    result = driver.apply(ChangeSet().save(DB).save(USER).set_password(USER, Secret(PASSWORD)))
    assert states(result) == ["success"] * 3
    assert not login(mariadb, PASSWORD)
    driver.suspend(False)
    driver.apply(ChangeSet().save(USER))
    assert login(mariadb, PASSWORD)


def test_set_password_replaces_the_old_one(shop: Driver, mariadb: MariaDBInstance) -> None:
    result = shop.apply(ChangeSet().set_password(USER, Secret("n3w-Passw0rd")))
    assert states(result) == ["success"]
    assert login(mariadb, "n3w-Passw0rd")
    assert not login(mariadb, PASSWORD)


def test_delete_drops_both_and_deleting_again_succeeds(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    result = shop.apply(ChangeSet().delete(USER).delete(DB))
    assert sorted(states(result)) == ["success", "success"]
    assert mariadb.databases() == set()
    assert ("shop", "%") not in mariadb.users()
    assert not login(mariadb, PASSWORD, None)
    assert states(shop.apply(ChangeSet().delete(USER).delete(DB))) == ["nothing", "nothing"]


def test_delete_dumps_the_database_first(mariadb: MariaDBInstance, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    driver = make_driver(mariadb.settings(dump_dir=str(dumps)))
    driver.objects = [DB]
    assert states(driver.apply(ChangeSet().save(DB))) == ["success"]
    mariadb.query(
        "CREATE TABLE t (v VARCHAR(20)); INSERT INTO t VALUES ('keep me')", database="shop_1"
    )

    result = driver.apply(ChangeSet().delete(DB))

    assert states(result) == ["success"]
    (dump,) = dumps.iterdir()
    assert dump.name.startswith("shop_1-") and dump.name.endswith(".sql.gz")
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
    assert "keep me" in gzip.decompress(dump.read_bytes()).decode()
    assert mariadb.databases() == set()


def test_a_failed_dump_keeps_the_database(mariadb: MariaDBInstance, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    driver = make_driver(mariadb.settings(dump_dir=str(blocked / "dumps")))
    driver.objects = [DB]
    driver.apply(ChangeSet().save(DB))
    result = driver.apply(ChangeSet().delete(DB))
    assert states(result) == ["failure"]
    assert mariadb.databases() == {"shop_1"}


def test_charset_and_collation_follow_the_object(driver: Driver, mariadb: MariaDBInstance) -> None:
    def schema() -> tuple[str | None, ...]:
        (row,) = mariadb.query(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_1'"
        )
        return row

    latin = Database(account="acme", name="shop_1", charset="latin1", collation="latin1_bin")
    assert states(driver.apply(ChangeSet().save(latin))) == ["success"]
    assert schema() == ("latin1", "latin1_bin")
    assert states(driver.apply(ChangeSet().save(latin))) == ["nothing"]
    assert states(driver.apply(ChangeSet().save(DB))) == ["success"]
    assert schema()[0] == "utf8mb4"
    assert states(driver.apply(ChangeSet().save(DB))) == ["nothing"]
    bad = Database(account="acme", name="shop_1", charset="nosuchcharset")
    result = driver.apply(ChangeSet().save(bad))
    assert states(result) == ["failure"]
    assert "nosuchcharset" in result.logs[0].stderr


def test_character_set_aliases_are_compared_as_the_server_names_them(
    driver: Driver, mariadb: MariaDBInstance
) -> None:
    # MariaDB 10.6 and later store utf8 as utf8mb3: compared by name, utf8 was a change forever.
    legacy = Database(account="acme", name="legacy", charset="utf8")
    binary = Database(account="acme", name="legacy_bin", charset="utf8", collation="utf8_bin")
    assert states(driver.apply(ChangeSet().save(legacy).save(binary))) == ["success"] * 2
    assert states(driver.apply(ChangeSet().save(legacy).save(binary))) == ["nothing"] * 2
    assert sorted(
        mariadb.query(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'legacy%'"
        )
    ) == [("legacy", "utf8mb3", "utf8mb3_general_ci"), ("legacy_bin", "utf8mb3", "utf8mb3_bin")]


def test_a_collation_the_server_refuses_changes_nothing(shop: Driver) -> None:
    wrong = Database(account="acme", name="shop_1", collation="latin1_bin")
    result = shop.apply(ChangeSet().save(wrong))
    # Its user names it, so it renders with it: saved after it, and aborted behind it.
    assert states(result) == ["failure", "aborted"]
    assert (
        "COLLATION 'latin1_bin' is not valid for CHARACTER SET 'utf8mb4'" in result.logs[0].stderr
    )
    assert "ALTER DATABASE" not in result.logs[0].stdout  # refused while reading, before it
    assert states(shop.apply(ChangeSet().save(DB))) == ["nothing"]


def test_an_upper_case_user_host_is_the_account_the_server_keeps(mariadb: MariaDBInstance) -> None:
    # The server lower-cases the host part; looked up as written, the account was never found
    # again and the second apply failed on CREATE USER.
    driver = make_driver(mariadb.settings(user_host="LocalHost"))
    try:
        user = DatabaseUser(account="acme", username="shop")
        driver.objects = [user]
        assert states(driver.apply(ChangeSet().save(user))) == ["success"]
        assert ("shop", "localhost") in mariadb.users()
        assert states(driver.apply(ChangeSet().save(user))) == ["nothing"]
    finally:
        driver.orchestra.close()


def test_a_server_with_a_password_policy_takes_new_accounts(
    mariadb_factory: MariaDBFactory,
) -> None:
    # simple_password_check wants a digit, both cases and another character: the random
    # password of a new account has them all.
    server = mariadb_factory("policy")
    try:
        server.query("INSTALL SONAME 'simple_password_check'")
    except MariaDBError as exc:  # pragma: no cover - the plugin ships with mariadb-server
        pytest.skip(f"simple_password_check is not available: {exc.stderr}")
    driver = make_driver(server.settings())
    try:
        driver.objects = [DB, USER]
        result = driver.apply(ChangeSet().save(DB).save(USER))
        assert states(result) == ["success", "success"], result.logs[-1].stderr
        # A hash cannot be held against a policy: with strict_password_validation (MariaDB's
        # default), the server refuses one, and the step says so.
        refused = driver.apply(ChangeSet().set_password(USER, Secret(PASSWORD)))
        assert states(refused) == ["failure"]
        said = refused.logs[0].stdout + refused.logs[0].stderr
        assert "running with the --strict-password-validation option" in said, said
        server.query("SET GLOBAL strict_password_validation = OFF")
        assert states(driver.apply(ChangeSet().set_password(USER, Secret(PASSWORD)))) == ["success"]
        assert server.can_login("shop", PASSWORD, "shop_1")
    finally:
        driver.orchestra.close()


HOSTILE_PASSWORDS = {
    "quotes": 'it\'s "quoted"',
    "backtick": "pass`word`",
    "semicolon_comment": "x'; DROP USER root; -- ",
    "wildcards": "100%_sure",
    "backslash": "back\\slash\\",
    "newline": "two\nlines",
    "shell": "$(touch {canary}) `touch {canary}`",
    "unicode": "pässwörd ✓ 日本",
    "long": "p" * 65,
}


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS.values(), ids=HOSTILE_PASSWORDS.keys())
def test_hostile_passwords_work_exactly(
    shop: Driver, mariadb: MariaDBInstance, password: str, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    password = password.format(canary=canary)
    result = shop.apply(ChangeSet().set_password(USER, Secret(password)))
    assert states(result) == ["success"], result.logs[0].stderr
    assert login(mariadb, password)
    assert not login(mariadb, password[:-1])
    assert not canary.exists()
    assert ("root", "localhost") in {
        (u, h) for u, h in mariadb.query("SELECT User, Host FROM mysql.user")
    }


def _watch_argv(
    needles: tuple[bytes, bytes], stop: threading.Event, seen: tuple[list[bytes], list[bytes]]
) -> None:
    """Until ``stop``: every argv holding ``needles[k]`` goes to ``seen[k]``."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read()
                except OSError:
                    continue
                for needle, found in zip(needles, seen, strict=True):
                    if needle in argv:
                        found.append(argv)
        time.sleep(0.001)


def test_the_password_never_reaches_argv_logs_or_store(
    shop: Driver, mariadb: MariaDBInstance
) -> None:
    secret = "Zebra-Unicorn-77"
    stop = threading.Event()
    seen: list[bytes] = []
    clients: list[bytes] = []  # the mysql client runs: proof that the watcher saw the step
    needles = (secret.encode(), str(mariadb.admin_file).encode())
    watcher = threading.Thread(target=_watch_argv, args=(needles, stop, (seen, clients)))
    watcher.start()
    try:
        changes = ChangeSet().set_password(USER, Secret(secret))
        plan = shop.orchestra.plan(changes, index=shop.index())
        result = shop.orchestra.apply(plan)
    finally:
        stop.set()
        watcher.join()
    assert states(result) == ["success"]
    assert login(mariadb, secret)
    assert clients, "the watcher never saw the step's mysql client"
    assert seen == []
    stored = shop.orchestra.store.list_logs()
    from orchestra_mysql.sql import native_password_hash

    hashed = native_password_hash(secret)
    for text in [
        plan.render_text(),
        str(plan.to_dict()),
        *map(str, stored),
        *map(str, result.logs),
    ]:
        assert secret not in text
        assert hashed not in text


@pytest.mark.parametrize("plugin", ["mysql_native_password", "ed25519"])
def test_a_refused_password_stays_out_of_the_logs(mariadb: MariaDBInstance, plugin: str) -> None:
    # The account was never created, so the server refuses the ALTER USER. MariaDB's client
    # used to repeat the failed statement on stderr, and with it the password (ed25519) or
    # its hash, into the logs and the store.
    driver = make_driver(mariadb.settings(auth_plugin=plugin))
    try:
        driver.objects = [DB, USER]
        secret = "Never-Logged-42"
        result = driver.apply(ChangeSet().set_password(USER, Secret(secret)))
        assert states(result) == ["failure"]
        assert "ERROR" in result.logs[0].stderr  # the server's words are still there
        from orchestra_mysql.sql import native_password_hash

        hashed = native_password_hash(secret)
        for text in [*map(str, result.logs), *map(str, driver.orchestra.store.list_logs())]:
            assert secret not in text
            assert hashed not in text
    finally:
        driver.orchestra.close()


def test_monitor_reports_each_database_size(shop: Driver, mariadb: MariaDBInstance) -> None:
    mariadb.query(
        "CREATE TABLE t (v VARCHAR(200)) ENGINE=InnoDB; INSERT INTO t VALUES (REPEAT('x', 200))",
        database="shop_1",
    )
    mariadb.query("CREATE DATABASE empty_one")
    monitor = MySQLDatabaseSize()
    objects = [
        DB,
        Database(account="acme", name="empty_one"),
        Database(account="acme", name="gone"),
    ]
    server = Server(name="db1", transport="local")
    steps = monitor.render(objects, server, _settings(mariadb))
    op = PlannedOperation(
        id="m", server="db1", backend="monitor", action="save", object_keys=(), steps=tuple(steps)
    )
    batch = compile_batch(ServerPlan(server=server, operations=(op,)))
    result = LocalTransport().run(server, batch, timeout=60)
    (raw,) = result.steps
    assert raw.status == "changed", raw.stderr

    from datetime import UTC, datetime

    now = datetime(2026, 11, 1, tzinfo=UTC)
    samples = {s.object_key: s.value for s in monitor.parse(raw.stdout, objects, now)}
    assert set(samples) == {"database:mysql/shop_1", "database:mysql/empty_one"}
    assert samples["database:mysql/shop_1"] >= 16384  # one InnoDB page at least
    assert samples["database:mysql/empty_one"] == 0


def _settings(mariadb: MariaDBInstance) -> object:
    from orchestra_mysql.settings import MySQLSettings

    from orchestra_core.backends.settings import build_settings

    return build_settings(MySQLSettings, mariadb.settings(), where="the test")


def test_everything_works_over_ssh(ssh_hosts: list[SSHHost], mariadb: MariaDBInstance) -> None:
    driver = make_driver(mariadb.settings(), ssh_hosts[0].server())
    try:
        driver.objects = [DB, USER]
        changes = ChangeSet().save(DB).save(USER).set_password(USER, Secret(PASSWORD))
        assert states(driver.apply(changes)) == ["success"] * 3
        assert login(mariadb, PASSWORD)
        assert states(driver.apply(ChangeSet().save(DB).save(USER))) == ["nothing", "nothing"]
        result = driver.apply(ChangeSet().delete(USER).delete(DB))
        assert sorted(states(result)) == ["success", "success"]
        assert mariadb.databases() == set()
    finally:
        driver.orchestra.close()


def test_the_example_inventory_applies_and_reapplies(
    mariadb: MariaDBInstance, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    import yaml

    example = Path(__file__).resolve().parents[3] / "examples" / "mysql.yaml"
    inventory = yaml.safe_load(example.read_text())
    (server,) = inventory["servers"]
    settings = mariadb.settings(dump_dir=str(tmp_path / "dumps"))
    server["settings"] = {"mysql-database": settings, "mysql-user": settings}
    path = tmp_path / "mysql.yaml"
    path.write_text(yaml.safe_dump(inventory))
    orchestra = str(Path(sys.executable).with_name("orchestra"))

    def apply() -> list[str]:
        done = subprocess.run(
            [orchestra, "apply", str(path), "--yes", "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return sorted(log["state"] for log in json.loads(done.stdout))

    assert apply() == ["success"] * 6
    assert mariadb.databases() == {"acme_shop", "acme_wiki", "globex_crm"}
    assert {"acme_shop", "acme_report", "globex_crm"} <= {u for u, _ in mariadb.users()}
    (row,) = mariadb.query("SHOW CREATE USER `globex_crm`@`%`")
    assert "ACCOUNT LOCK" in (row[0] or "")
    assert apply() == []  # nothing new, nothing changed: nothing planned

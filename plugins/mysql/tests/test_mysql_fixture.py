"""The MariaDB test servers of orchestra_mysql.testing, against a real mariadbd."""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from orchestra_mysql import testing
from orchestra_mysql.settings import MySQLSettings
from orchestra_mysql.testing import (
    MariaDBError,
    MariaDBFactory,
    MariaDBInstance,
    start_mariadb,
)

from orchestra_core.testing.daemon import DaemonError, port_open

pytestmark = pytest.mark.daemon


def pids_for(conf: Path) -> list[int]:
    """PIDs of live processes whose command line names ``conf`` (in ``--defaults-file=``)."""
    wanted = f"--defaults-file={conf}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in argv:
            pids.append(int(entry.name))
    return pids


def listening_addresses(port: int) -> set[str]:
    """The local addresses of every listening TCP socket on ``port`` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
            else:
                found.add(f"ipv6:{address}")
    return found


def test_server_answers_a_query(mariadb: MariaDBInstance) -> None:
    [(version,)] = mariadb.query("SELECT VERSION()")
    assert version is not None
    assert "MariaDB" in version
    assert mariadb.process.running
    assert mariadb.socket.is_socket()
    assert mariadb.socket.is_relative_to(mariadb.dir)
    assert "ready for connections" in mariadb.log_text()
    assert mariadb.databases() == set()  # the test database is gone
    assert mariadb.users() == set()
    assert ("root", "localhost") in mariadb.initial_users
    assert not any(user == "" for user, _ in mariadb.initial_users)  # no anonymous account


def test_admin_file_is_private_and_logs_in_as_root(mariadb: MariaDBInstance) -> None:
    assert stat.S_IMODE(mariadb.admin_file.stat().st_mode) == 0o600
    assert f"socket = {mariadb.socket}" in mariadb.admin_file.read_text()

    settings = mariadb.settings()
    assert settings == {
        "client": "mysql",
        "defaults_file": str(mariadb.admin_file),
        "flavor": "mariadb",
    }
    assert mariadb.settings(user_host="localhost")["user_host"] == "localhost"
    MySQLSettings(**settings)
    run = subprocess.run(
        [settings["client"], f"--defaults-file={settings['defaults_file']}", "--batch"],
        input="SELECT CURRENT_USER()",
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.split() == ["CURRENT_USER()", "root@localhost"]


def test_listens_on_its_port_on_loopback_only(mariadb: MariaDBInstance) -> None:
    assert mariadb.address == "127.0.0.1"
    assert mariadb.port != 3306
    assert listening_addresses(mariadb.port) == {"127.0.0.1"}
    assert port_open("127.0.0.1", mariadb.port)
    assert not port_open("127.0.0.2", mariadb.port)
    assert mariadb.query("SELECT @@port, @@bind_address, @@socket") == [
        (str(mariadb.port), "127.0.0.1", str(mariadb.socket))
    ]


def test_query_returns_rows_as_strings_and_null_as_none(mariadb: MariaDBInstance) -> None:
    mariadb.query(
        "CREATE DATABASE shop; CREATE TABLE shop.t (a VARCHAR(20), b INT);"
        "INSERT INTO shop.t VALUES ('tab\\there', 1), ('line\\nbreak\\\\', NULL), ('', 3)"
    )
    rows = mariadb.query("SELECT a, b FROM t ORDER BY b IS NULL, b", database="shop")
    assert rows == [("tab\there", "1"), ("", "3"), ("line\nbreak\\", None)]
    assert mariadb.query("DO 1") == []

    with pytest.raises(MariaDBError) as caught:
        mariadb.query("SELECT * FROM shop.missing")
    assert "doesn't exist" in caught.value.stderr
    assert "doesn't exist" in str(caught.value)


def test_created_user_logs_in_with_its_password_only(mariadb: MariaDBInstance) -> None:
    mariadb.query(
        "CREATE DATABASE shop; CREATE DATABASE other;"
        "CREATE USER 'app'@'%' IDENTIFIED BY 's3cret''pw';"
        "GRANT ALL ON shop.* TO 'app'@'%'"
    )
    assert mariadb.users() == {("app", "%")}

    assert mariadb.can_login("app", "s3cret'pw")
    assert mariadb.can_login("app", "s3cret'pw", "shop")
    assert not mariadb.can_login("app", "wrong")
    assert not mariadb.can_login("app", "s3cret'pw", "other")  # no grant there
    assert not mariadb.can_login("nobody", "s3cret'pw")
    connection = mariadb.connect("app", "s3cret'pw", "shop")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER(), DATABASE()")
            assert cursor.fetchone() == ("app@%", "shop")
    finally:
        connection.close()

    mariadb.query("ALTER USER 'app'@'%' ACCOUNT LOCK")
    assert not mariadb.can_login("app", "s3cret'pw")


def test_reset_drops_databases_and_users_but_keeps_root(mariadb: MariaDBInstance) -> None:
    mariadb.query(
        "CREATE DATABASE `odd``name`; CREATE DATABASE shop; CREATE TABLE shop.t (x INT);"
        "CREATE USER 'app'@'localhost' IDENTIFIED BY 'pw'; CREATE USER 'o''k'@'%';"
        "CREATE ROLE reader; GRANT SELECT ON shop.* TO reader"
    )
    assert mariadb.databases() == {"odd`name", "shop"}
    assert mariadb.users() == {("app", "localhost"), ("o'k", "%")}
    # A session left open in a transaction on shop.t would make DROP DATABASE wait.
    idle = mariadb.connect("root", "", "shop")
    with idle.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("INSERT INTO t VALUES (1)")

    mariadb.reset()

    assert mariadb.databases() == set()
    assert mariadb.users() == set()
    assert mariadb.query("SELECT user FROM mysql.user WHERE is_role = 'Y'") == []
    assert ("root", "localhost") in mariadb.initial_users
    assert mariadb.query("SELECT CURRENT_USER()") == [("root@localhost",)]
    assert not mariadb.can_login("app", "pw")
    idle.close()


def test_factory_starts_an_independent_second_server(
    mariadb: MariaDBInstance, mariadb_factory: MariaDBFactory
) -> None:
    other = mariadb_factory("second")

    assert other.port != mariadb.port
    assert other.dir != mariadb.dir
    assert other.socket != mariadb.socket
    other.query("CREATE DATABASE only_there")
    assert other.databases() == {"only_there"}
    assert mariadb.databases() == set()
    assert mariadb_factory.instances == [other]


def test_stop_closes_the_port_and_ends_the_process(mariadb_factory: MariaDBFactory) -> None:
    server = mariadb_factory("stopped")
    pid = server.process.pid
    assert pids_for(server.conf) == [pid]

    assert server.stop() == 0
    assert not server.process.running
    assert not port_open("127.0.0.1", server.port)
    assert pids_for(server.conf) == []
    assert not server.socket.exists()
    assert "Shutdown complete" in server.log_text()
    with pytest.raises(MariaDBError):
        server.query("SELECT 1")


def test_taken_port_fails_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(DaemonError, match="mariadbd did not come up") as caught:
            start_mariadb(tmp_path, port=port, timeout=15)
    assert "Address already in use" in str(caught.value)
    assert caught.value.exit_code not in (None, 0)
    assert pids_for(tmp_path.resolve() / "my.cnf") == []


def test_missing_mariadb_skips_or_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(testing, "SBIN_PATH", str(tmp_path))
    with pytest.raises(DaemonError, match=r"install mariadb-server \(scripts/install-system"):
        start_mariadb(tmp_path)

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="mariadbd"):
        testing._require_mariadb()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and .*mariadbd"):
        testing._require_mariadb()


def test_fixtures_in_a_session_reset_and_stop_their_servers(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids.txt"
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            def test_leaves_state(mariadb, mariadb_factory):
                mariadb.query("CREATE DATABASE leftover; CREATE USER 'left'@'%'")
                extra = mariadb_factory("extra")
                with open({str(pid_file)!r}, "w") as f:
                    f.write(f"{{mariadb.process.pid}} {{extra.process.pid}}")
                assert False, "on purpose"

            def test_sees_a_reset_server(mariadb):
                assert mariadb.databases() == set()
                assert mariadb.users() == set()
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(set(pids)) == 2
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()


def test_plugin_is_registered_as_pytest11_entry_point() -> None:
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert found.get("orchestra_mysql") == "orchestra_mysql.testing"


def test_loading_the_plugin_imports_neither_orchestra_core_nor_pymysql() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import orchestra_mysql.testing
        print(json.dumps(sorted(
            m for m in sys.modules if m.split(".")[0] in ("orchestra_core", "pymysql")
        )))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout) == []

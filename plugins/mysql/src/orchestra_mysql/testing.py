"""Real MariaDB servers for tests: one per temp dir, on a free loopback port and its own socket.

:func:`start_mariadb` writes a ``my.cnf`` (datadir, socket, port on 127.0.0.1 only, small
memory), creates the system tables with ``mariadb-install-db``, runs ``mariadbd`` in the
foreground through :class:`~orchestra_core.testing.daemon.DaemonProcess` and returns once a
query through its socket answers. root@localhost has an empty password there, and the client
option file ``admin.cnf`` logs in as root over the socket, whatever OS user runs the tests. The
:class:`MariaDBInstance` it returns runs SQL as root, logs in as other users with PyMySQL, and
gives the settings the mysql backends take to drive it.

:class:`MariaDBKind` describes the server to orchestra's generic test-daemon factory
(:class:`~orchestra_core.testing.factory.InstanceFactory`): how to start one, what a reset is
(:meth:`MariaDBInstance.reset`) and how to stop it. This module is also the pytest plugin
``orchestra_mysql`` (``pytest11`` entry point): it offers the ``mariadb_server``, ``mariadb``
and ``mariadb_factory`` fixtures. :func:`make_driver` gives a :class:`Driver`: an Orchestra
whose one server is routed to the mysql backends, for tests of the backends against a server.
It imports orchestra and PyMySQL inside functions only, so that loading the plugin costs
nothing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from pymysql.connections import Connection  # type: ignore[import-untyped, unused-ignore]

    from orchestra_core.driver import Server
    from orchestra_core.testing.daemon import DaemonProcess
    from orchestra_core.testing.driving import Driver, states
    from orchestra_core.testing.factory import InstanceFactory, MakeDir, SharedDaemons

    #: What ``mariadb_factory`` is: orchestra's generic factory, of :class:`MariaDBKind`.
    MariaDBFactory = InstanceFactory["MariaDBKind"]

__all__ = [
    "BACKENDS",
    "Driver",
    "MariaDBError",
    "MariaDBFactory",
    "MariaDBInstance",
    "MariaDBKind",
    "make_driver",
    "mariadb",
    "mariadb_factory",
    "mariadb_server",
    "restricted_admin",
    "start_mariadb",
    "states",
]

#: Loopback address every test server listens on (servers differ by port and socket).
ADDRESS = "127.0.0.1"
#: Databases the server keeps for itself: never listed by :meth:`MariaDBInstance.databases`,
#: never dropped by :meth:`MariaDBInstance.reset`.
SYSTEM_DATABASES = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
#: Seconds one ``mysql`` client run (a query) may take.
QUERY_TIMEOUT = 30.0
#: Where the programs are looked for after ``PATH``: ``mariadbd`` is in /usr/sbin on Debian,
#: which is not in a normal user's ``PATH``.
SBIN_PATH = "/usr/sbin:/usr/local/sbin:/sbin"
#: What to do when the server programs are missing.
INSTALL_HINT = "install mariadb-server (scripts/install-system-packages)"
#: Server errors that mean "these credentials do not log in": access denied (1045), no access
#: to that database (1044), socket-only account (1698), account locked (MySQL 3118, MariaDB
#: 4151).
LOGIN_REFUSED = frozenset({1044, 1045, 1698, 3118, 4151})

MY_CNF = """\
[mysqld]
datadir = {datadir}
socket = {socket}
pid-file = {dir}/mariadbd.pid
port = {port}
bind-address = {address}
skip-name-resolve
log-error = {error_log}
skip-log-bin
# As Debian's mariadb-server configures it (50-server.cnf).
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
# Small: many of these may run at once, and their data need not survive a crash.
innodb_buffer_pool_size = 16M
innodb_log_file_size = 8M
innodb_flush_log_at_trx_commit = 0
performance_schema = OFF
key_buffer_size = 1M
max_connections = 50
"""

ADMIN_CNF = """\
[client]
user = root
password =
socket = {socket}
default-character-set = utf8mb4

[mysqldump]
user = root
password =
socket = {socket}
default-character-set = utf8mb4
"""


class MariaDBError(subprocess.CalledProcessError):
    """A query run through the ``mysql`` client failed; ``stderr`` holds the server's error."""

    def __str__(self) -> str:
        stderr = self.stderr.strip() if isinstance(self.stderr, str) else ""
        return f"{super().__str__()}\n{stderr}" if stderr else super().__str__()


@attrs.frozen(eq=False, kw_only=True)
class MariaDBInstance:
    """A running mariadbd started by :func:`start_mariadb`, and how to talk to it.

    Everything lives in ``dir``: ``conf`` (my.cnf), the data in ``dir/data``, ``socket``,
    ``error_log`` and ``admin_file`` (client option file: root over the socket, mode 0600).
    It answers on ``127.0.0.1:port`` and on ``socket``. ``initial_users`` are the accounts the
    server had right after start (root, mariadb.sys...): :meth:`users` leaves them out and
    :meth:`reset` keeps them.
    """

    dir: Path
    port: int
    socket: Path
    address: str = ADDRESS
    process: DaemonProcess
    admin_file: Path
    conf: Path
    error_log: Path
    initial_users: frozenset[tuple[str, str]] = frozenset()

    def __repr__(self) -> str:
        return f"<MariaDBInstance port={self.port} dir={self.dir}>"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The settings the mysql backends take to drive this instance (see
        :class:`orchestra_mysql.settings.MySQLSettings`), with ``overrides``."""
        settings: dict[str, Any] = {
            "client": "mysql",
            "defaults_file": str(self.admin_file),
            "flavor": "mariadb",
        }
        settings.update(overrides)
        return settings

    # -- SQL as root ------------------------------------------------------------------------------

    def query(self, sql: str, *, database: str | None = None) -> list[tuple[str | None, ...]]:
        """Run ``sql`` (one or more statements) as root; the rows of every result set.

        The SQL goes to the ``mysql`` client on stdin, never on its command line. Values come
        back as strings, NULL as None (so does the string ``'NULL'``: the client prints both
        alike). Raises :class:`MariaDBError` with the client's stderr when a statement fails;
        the statements before it have run.
        """
        return _run_sql(self.admin_file, sql, database=database)

    def databases(self) -> set[str]:
        """Names of the databases on the server, without the server's own ones."""
        return {row[0] for row in self.query("SHOW DATABASES") if row[0] is not None} - set(
            SYSTEM_DATABASES
        )

    def users(self) -> set[tuple[str, str]]:
        """The accounts ``(user, host)`` created since start (roles left out)."""
        return _accounts(self.admin_file) - self.initial_users

    def reset(self) -> None:
        """Bring the server back to its state after start: running (started again, on the
        same data, if a test stopped it), every database and every account (user or role)
        created since dropped, after killing other sessions, which could hold locks on those
        databases.

        The session-scoped ``mariadb_server`` is reset before each test that uses ``mariadb``.
        Server variables set with ``SET GLOBAL`` and changes to root stay.
        """
        if not self.process.running:
            self.process.stop()
            self.process.start(timeout=30.0)
        sessions = self.query(
            "SELECT id FROM information_schema.processlist"
            " WHERE id <> CONNECTION_ID() AND command <> 'Daemon' AND user <> 'system user'"
        )
        for (session_id,) in sessions:
            try:
                self.query(f"KILL CONNECTION {int(session_id or 0)}")
            except MariaDBError as exc:
                if "Unknown thread id" not in str(exc.stderr):  # it ended meanwhile
                    raise
        statements = ["SET SESSION lock_wait_timeout = 10"]
        statements += [
            f"DROP DATABASE IF EXISTS {_identifier(name)}" for name in sorted(self.databases())
        ]
        for user, host, is_role in self.query("SELECT user, host, is_role FROM mysql.user"):
            account = (user or "", host or "")
            if account in self.initial_users:
                continue
            kind = "ROLE" if is_role == "Y" else "USER"
            name = _literal(account[0]) if kind == "ROLE" else _account(*account)
            statements.append(f"DROP {kind} IF EXISTS {name}")
        statements.append("FLUSH PRIVILEGES")
        self.query(";\n".join(statements) + ";")

    # -- logging in as a user ---------------------------------------------------------------------

    def connect(self, user: str, password: str, database: str | None = None) -> Connection[Any]:
        """A PyMySQL connection as ``user`` over TCP to ``127.0.0.1:port``; close it after use.

        Raises ``pymysql.err.OperationalError`` when the server refuses the login.
        """
        import pymysql  # type: ignore[import-untyped, unused-ignore]

        connection: Connection[Any] = pymysql.connect(
            host=self.address,
            port=self.port,
            user=user,
            # UTF-8, as the mysql client and PHP send it (PyMySQL would send latin-1).
            password=password.encode("utf-8"),
            database=database,
            connect_timeout=10,
            charset="utf8mb4",
        )
        return connection

    def can_login(self, user: str, password: str, database: str | None = None) -> bool:
        """True when ``user`` logs in with ``password`` (into ``database``) and runs
        ``SELECT 1``; False when the server refuses the login (wrong password, no such user, no
        access to the database, locked account). Other errors raise."""
        import pymysql  # type: ignore[import-untyped, unused-ignore]

        try:
            connection = self.connect(user, password, database)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in LOGIN_REFUSED:
                return False
            raise
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return bool(cursor.fetchone() == (1,))
        finally:
            connection.close()

    # -- life -------------------------------------------------------------------------------------

    def stop(self) -> int | None:
        """Stop mariadbd (SIGTERM: a clean shutdown; SIGKILL after 5 s); its exit code, None if
        never started."""
        return self.process.stop()

    def log_text(self) -> str:
        """mariadbd's error log so far ("" before it wrote any)."""
        try:
            return self.error_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


def start_mariadb(
    dir: Path | str, *, port: int | None = None, timeout: float = 30.0
) -> MariaDBInstance:
    """Configure, initialise and start a MariaDB server in ``dir`` (created if missing) on
    ``port`` (a free one when None); returns once a query through its socket answers.

    Anonymous accounts and the ``test`` database are removed. As root (euid 0) the server runs
    as root too: the mysql user could not reach a temp dir under /tmp/pytest-of-root (0700).
    Raises :class:`~orchestra_core.testing.daemon.DaemonError` when a program is not
    installed, ``mariadb-install-db`` fails, or mariadbd exits or does not answer within
    ``timeout`` seconds; the error quotes the end of the server's error log.
    """
    from orchestra_core.testing.daemon import DaemonError, DaemonProcess, free_port, write_config

    deadline = time.monotonic() + timeout
    install_db, mariadbd = _program("mariadb-install-db"), _program("mariadbd")
    _program("mysql")
    dir = Path(dir).resolve()
    dir.mkdir(parents=True, exist_ok=True)
    port = free_port(ADDRESS) if port is None else port
    sock = dir / "mysqld.sock"
    error_log = dir / "error.log"
    fields = {
        "dir": dir,
        "datadir": dir / "data",
        "socket": sock,
        "port": port,
        "address": ADDRESS,
        "error_log": error_log,
    }
    conf = write_config(dir, "my.cnf", MY_CNF.format(**fields))
    admin_file = write_config(dir, "admin.cnf", ADMIN_CNF.format(**fields), mode=0o600)
    as_root = ["--user=root"] if os.geteuid() == 0 else []

    def error_log_tail() -> str:
        try:
            text = error_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-20:])

    install_argv = [
        install_db,
        f"--defaults-file={conf}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        *as_root,
    ]
    try:
        install = subprocess.run(
            install_argv,
            cwd=dir,
            capture_output=True,
            text=True,
            check=False,
            timeout=max(deadline - time.monotonic(), 1.0),
        )
    except subprocess.TimeoutExpired as exc:
        raise DaemonError(
            f"mariadb-install-db did not finish within {timeout:g}s",
            argv=install_argv,
            stderr_tail=error_log_tail(),
        ) from exc
    if install.returncode != 0:
        output = "\n".join((install.stdout + install.stderr).strip().splitlines()[-20:])
        raise DaemonError(
            "mariadb-install-db could not create the system tables",
            argv=install_argv,
            exit_code=install.returncode,
            stderr_tail="\n".join(part for part in (output, error_log_tail()) if part),
        )

    def answers() -> bool:
        # The socket appears just before "ready for connections"; while the port is open only
        # because something else holds it, mariadbd exits and never creates the socket.
        if not sock.exists():
            return False
        try:
            _run_sql(admin_file, "SELECT 1", timeout=5.0)
        except (MariaDBError, subprocess.TimeoutExpired):
            return False
        return True

    # mariadbd stays in the foreground by itself (no --daemonize), so DaemonProcess can stop it.
    process = DaemonProcess(
        [mariadbd, f"--defaults-file={conf}", *as_root], cwd=dir, ready=answers, name="mariadbd"
    )
    try:
        process.start(timeout=max(deadline - time.monotonic(), 1.0))
    except DaemonError as exc:
        raise DaemonError(
            f"mariadbd did not come up ({exc.message})",
            argv=exc.argv,
            exit_code=exc.exit_code,
            stderr_tail=error_log_tail() or exc.stderr_tail,
        ) from exc

    instance = MariaDBInstance(
        dir=dir,
        port=port,
        socket=sock,
        process=process,
        admin_file=admin_file,
        conf=conf,
        error_log=error_log,
    )
    try:
        # mariadb-install-db may create ''@localhost and ''@HOSTNAME (its hostname, which is
        # the server's): drop those and any other anonymous account.
        [(hostname,)] = instance.query("SELECT @@hostname")
        anonymous = {("", "localhost"), ("", hostname or "")}
        anonymous |= {
            (user or "", host or "")
            for user, host in instance.query("SELECT user, host FROM mysql.user WHERE user = ''")
        }
        instance.query(
            "".join(f"DROP USER IF EXISTS {_account(*a)};\n" for a in sorted(anonymous))
            + "DROP DATABASE IF EXISTS test;\nFLUSH PRIVILEGES;"
        )
        initial_users = frozenset(_accounts(admin_file))
    except BaseException:
        process.stop()
        raise
    return attrs.evolve(instance, initial_users=initial_users)


class MariaDBKind:
    """MariaDB as a :class:`~orchestra_core.testing.factory.DaemonKind`: what orchestra's
    generic factory needs to start, reset and stop test servers.

    ``start(make_dir, name="mariadb", *, port=None, timeout=30.0)`` is :func:`start_mariadb`
    in a new folder ``mariadb-NAME``; reset is :meth:`MariaDBInstance.reset`; stop
    :meth:`MariaDBInstance.stop`.
    """

    name = "mariadb"

    def start(
        self,
        make_dir: MakeDir,
        /,
        name: str = "mariadb",
        *,
        port: int | None = None,
        timeout: float = 30.0,
    ) -> MariaDBInstance:
        return start_mariadb(make_dir(f"mariadb-{name}"), port=port, timeout=timeout)

    def reset(self, instance: MariaDBInstance, /) -> None:
        instance.reset()

    def stop(self, instance: MariaDBInstance, /) -> None:
        instance.stop()


#: Names of orchestra imported on first use, so that loading this plugin imports nothing of
#: orchestra: MariaDBFactory is orchestra's generic factory, Driver and states its driven
#: engine (``orchestra_core.testing.driving``).
_LAZY = {
    "MariaDBFactory": ("orchestra_core.testing.factory", "InstanceFactory"),
    "Driver": ("orchestra_core.testing.driving", "Driver"),
    "states": ("orchestra_core.testing.driving", "states"),
}

if not TYPE_CHECKING:  # mypy reads these names above, and checks every other one

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            import importlib

            module, attribute = _LAZY[name]
            return getattr(importlib.import_module(module), attribute)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the mysql backends, driven -------------------------------------------------------------------

#: The backends of this driver, as :func:`make_driver` routes them.
BACKENDS = ("mysql-database", "mysql-user")


def make_driver(settings: dict[str, Any], server: Server | None = None) -> Driver:
    """A :class:`~orchestra_core.testing.driving.Driver` (an Orchestra and the objects it
    knows) whose one server (local by default) takes ``settings`` for both backends
    (``mariadb.settings()`` points them at a test server). ``states(result)`` lists the
    states of an apply's logs."""
    from orchestra_core.testing.driving import make_driver as driving

    return driving(BACKENDS, settings, server)


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


# -- helpers ---------------------------------------------------------------------------------------

_UNESCAPES = {"0": "\0", "t": "\t", "n": "\n", "\\": "\\"}


def _run_sql(
    admin_file: Path, sql: str, *, database: str | None = None, timeout: float = QUERY_TIMEOUT
) -> list[tuple[str | None, ...]]:
    """Run ``sql`` through the mysql client as ``admin_file`` says; the rows it prints.

    Batch mode without ``--raw``: the client escapes NUL, tab, newline and backslash in
    values, so a row is one line and its values are split at tabs, then unescaped.
    """
    argv = [
        _program("mysql"),
        f"--defaults-file={admin_file}",
        "--batch",
        "--skip-column-names",
    ]
    if database is not None:
        argv.append(f"--database={database}")
    # Bytes, not text: text mode would turn a carriage return in a value into a newline.
    run = subprocess.run(
        argv, input=sql.encode("utf-8"), capture_output=True, check=False, timeout=timeout
    )
    if run.returncode != 0:
        raise MariaDBError(
            run.returncode,
            argv,
            output=run.stdout.decode("utf-8", errors="replace"),
            stderr=run.stderr.decode("utf-8", errors="replace"),
        )
    lines = run.stdout.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [tuple(_value(field) for field in line.split("\t")) for line in lines]


def _value(field: str) -> str | None:
    """One value as the client printed it in batch mode: NULL is None, escapes undone."""
    if field == "NULL":
        return None
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(0)), field)


def _accounts(admin_file: Path) -> set[tuple[str, str]]:
    """Every user account ``(user, host)`` on the server (roles left out)."""
    rows = _run_sql(admin_file, "SELECT user, host FROM mysql.user WHERE is_role = 'N'")
    return {(user or "", host or "") for user, host in rows}


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _account(user: str, host: str) -> str:
    return f"{_literal(user)}@{_literal(host)}"


def _program(name: str) -> str:
    """The path of the MariaDB program ``name``; DaemonError saying how to install it if
    missing."""
    found = shutil.which(name) or shutil.which(name, path=SBIN_PATH)
    if found is None:
        from orchestra_core.testing.daemon import DaemonError

        raise DaemonError(f"{name} is not installed: {INSTALL_HINT}", argv=[name])
    return found


def _missing_programs() -> list[str]:
    names = ("mariadb-install-db", "mariadbd", "mysql")
    return [n for n in names if not (shutil.which(n) or shutil.which(n, path=SBIN_PATH))]


def _require_mariadb() -> None:
    """Skip the test when MariaDB is not installed, unless CI=true: there it fails."""
    missing = _missing_programs()
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed: {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


# -- pytest fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mariadb_server(shared_daemons: SharedDaemons) -> MariaDBInstance:
    """One real MariaDB server for the whole test session (session scope), as a started
    :class:`MariaDBInstance`.

    Started by :func:`start_mariadb` in a temp dir the first time a test asks for it (by
    orchestra's ``shared_daemons``), stopped at the end of the session. Tests share it and
    see each other's databases and users: use ``mariadb`` for a server reset before the
    test. The test is skipped when MariaDB is not installed, unless the environment has
    CI=true: there it fails. Override it with a ``mariadb_server`` fixture of your own in
    ``conftest.py``.
    """
    _require_mariadb()
    return shared_daemons(MariaDBKind()).shared("server", "server")


@pytest.fixture
def mariadb(mariadb_server: MariaDBInstance) -> MariaDBInstance:
    """The session's ``mariadb_server`` (function scope) as a :class:`MariaDBInstance`, reset
    before the test: running, no database and no account but the server's own (see
    :meth:`MariaDBInstance.reset`).

    It starts nothing itself: the server starts once per session, and what a test leaves
    behind stays until the next test's reset, for a look after a failure. Override it with a
    ``mariadb`` fixture of your own in ``conftest.py``.
    """
    mariadb_server.reset()
    return mariadb_server


@pytest.fixture
def mariadb_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBFactory]:
    """A callable that starts more real MariaDB servers (function scope): orchestra's
    :class:`~orchestra_core.testing.factory.InstanceFactory` of :class:`MariaDBKind`.

    ``mariadb_factory("name")`` returns a started :class:`MariaDBInstance` in a new temp dir,
    on its own free port and socket, for tests that need a server of their own (a second one,
    one to stop). Every server it started is stopped at the end of the test, whether it passed
    or not. Skipped like ``mariadb_server`` when MariaDB is not installed. Override it with a
    ``mariadb_factory`` fixture of your own in ``conftest.py``.
    """
    _require_mariadb()
    from orchestra_core.testing.factory import InstanceFactory

    with InstanceFactory(MariaDBKind(), tmp_path_factory) as factory:
        yield factory

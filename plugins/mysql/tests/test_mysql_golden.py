"""Golden renders of the mysql backends: the scripts a plan would run, kept under
``golden/test_mysql_golden/`` and compared on every run (``pytest --update-golden`` rewrites
them for review in ``git diff``).

Plans only: nothing runs and no server is needed. The settings are fixed (no temp path, no
port), and nothing random is rendered (a new account's random password is drawn on the
server), so the files are the same on every machine. A user's save probes, then reconciles:
its golden files are the probe (``probes/``) and the steps reconcile decides for a server
that does not have the account yet (``commands/``), and for one whose account holds other
grants (``changed/``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from orchestra_mysql.sql import native_password_hash

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server
from orchestra_core.backends.steps import Command, Reconcile
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.secret import REDACTED
from orchestra_core.planning.plan import Plan
from orchestra_core.testing.golden import Golden, rendered_files

BACKENDS = ("mysql-database", "mysql-user")
SETTINGS = {"defaults_file": "/etc/mysql/debian.cnf", "dump_dir": "/var/backups/mysql"}

DATABASE = Database(account="acme", name="shop_1", collation="utf8mb4_unicode_ci")
LOGS = Database(account="acme", name="shop_logs", charset="latin1")
USER = DatabaseUser(
    account="acme",
    username="shop",
    databases=("shop_1", "shop_logs"),
    privileges=("SELECT", "INSERT", "UPDATE", "DELETE", "create temporary tables"),
)
OWNER = DatabaseUser(account="acme", username="shop_admin", databases=("shop_1",))
OBJECTS = [DATABASE, LOGS, USER, OWNER]

#: mysql.db's columns on MariaDB 10.11, as the probe prints them.
COLUMNS = (
    "Host Db User Select_priv Insert_priv Update_priv Delete_priv Create_priv Drop_priv "
    "Grant_priv References_priv Index_priv Alter_priv Create_tmp_table_priv Lock_tables_priv "
    "Create_view_priv Show_view_priv Create_routine_priv Alter_routine_priv Execute_priv "
    "Event_priv Trigger_priv Delete_history_priv"
)
#: What the probe prints on a server without the account.
ABSENT = f"cols\t{COLUMNS}\n"


def _row(db: str, user: str, *granted: str) -> str:
    cols = COLUMNS.split(" ")
    values = ["%", db, user, *("Y" if c in granted else "N" for c in cols[3:])]
    return "row\t" + "\t".join(values) + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60]


def probed_files(planned: Plan, outputs: dict[str, str]) -> dict[str, str]:
    """The probes of ``planned`` (``probes/``) and, for each folder of ``outputs`` (the probe
    output of every account there), the steps reconcile decides from it (``FOLDER/``)."""
    files = rendered_files(planned)
    number = 0
    for op in planned.operations():
        for step in op.steps:
            if not isinstance(step, Reconcile):
                continue
            number += 1
            name = f"{number:02d}-{_slug(step.description)}.sh"
            files[f"probes/{name}"] = step.probe
            for folder, output in outputs.items():
                decided = step.decide(output)
                files[f"{folder}/{name}"] = (
                    "".join(s.script for s in decided if isinstance(s, Command))
                    or "# nothing to do\n"
                )
    return files


@pytest.fixture
def orchestra() -> Iterator[Orchestra]:
    """One server that both backends go to, reached by the recording transport (nothing
    could run even by mistake)."""
    server = Server(
        name="db1",
        transport="recording",
        settings={backend: SETTINGS for backend in BACKENDS},
    )
    engine = Orchestra(
        servers=[server], routes=[Route(backend=b, servers=("db1",)) for b in BACKENDS]
    )
    yield engine
    engine.close()


def plan(
    orchestra: Orchestra,
    changes: ChangeSet,
    *,
    suspended: bool = False,
    exceeded: dict[str, frozenset[str]] | None = None,
) -> Plan:
    index = ServiceIndex([Account(name="acme", is_active=not suspended)], OBJECTS)
    return orchestra.plan(changes, index=index, exceeded=exceeded or {})


def test_databases(orchestra: Orchestra, golden: Golden) -> None:
    changes = ChangeSet().save(DATABASE).save(LOGS)
    golden.check("databases", rendered_files(plan(orchestra, changes)))


def test_users_with_privileges(orchestra: Orchestra, golden: Golden) -> None:
    changes = ChangeSet().save(USER).save(OWNER)
    # The account with SELECT and DROP on shop_1 and ALL on an old database: reconcile keeps
    # SELECT, grants what is missing, revokes DROP and everything on the old one.
    other = (
        ABSENT
        + "user\t0\n"
        + _row("shop\\_1", "shop", "Select_priv", "Drop_priv")
        + _row("old", "shop", *COLUMNS.split(" ")[3:])
    )
    files = probed_files(plan(orchestra, changes), {"commands": ABSENT, "changed": other})
    golden.check("users", files)


def test_a_suspended_user(orchestra: Orchestra, golden: Golden) -> None:
    changes = ChangeSet().save(USER)
    planned = plan(orchestra, changes, suspended=True)
    active = ABSENT + "user\t0\n"
    golden.check("user-suspended", probed_files(planned, {"commands": ABSENT, "changed": active}))


def test_users_of_a_database_over_quota(orchestra: Orchestra, golden: Golden) -> None:
    # shop_1 is over its size allocation: both of its users hold their privileges there
    # without INSERT, CREATE, INDEX and ALTER (the owner's ALL spelled out without them, as
    # the server has them); shop_logs is not, and keeps everything.
    over = {DATABASE.key: frozenset({"mysql-database-size"}), LOGS.key: frozenset({"other"})}
    planned = plan(orchestra, ChangeSet().save(USER).save(OWNER), exceeded=over)
    described = [
        step.description
        for op in planned.operations()
        for step in op.steps
        if not step.description.startswith("observe ")
    ]
    assert described == [
        "database user shop@% (SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES on "
        "shop_1, shop_logs), without INSERT, CREATE, INDEX, ALTER on shop_1 (over quota)",
        "database user shop_admin@% (ALL on shop_1), without INSERT, CREATE, INDEX, ALTER on "
        "shop_1 (over quota)",
    ]
    golden.check("user-over-quota", probed_files(planned, {"commands": ABSENT}))


def test_delete(orchestra: Orchestra, golden: Golden) -> None:
    changes = ChangeSet().delete(USER).delete(DATABASE)
    golden.check("delete", rendered_files(plan(orchestra, changes)))


def test_set_password(orchestra: Orchestra, golden: Golden) -> None:
    secret = "Golden-S3cret it's `x`"
    planned = plan(orchestra, ChangeSet().set_password(USER, Secret(secret)))
    files = rendered_files(planned)
    # The statement travels on stdin, which the plan shows only as the redaction marker.
    files["plan.txt"] = planned.render_text()
    assert f"stdin: {REDACTED}" in files["plan.txt"]
    for text in files.values():
        assert secret not in text
        assert native_password_hash(secret) not in text
    golden.check("set-password", files)

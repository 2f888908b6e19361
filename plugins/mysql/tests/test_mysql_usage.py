"""Database sizes measured, held against allocations and billed, through the engine as an
operator's cron run does it (``orchestra monitor``: measure, then evaluate and react), against
the real MariaDB of the ``mariadb`` fixture, locally and over SSH.

Objects reach the servers as ``orchestra apply`` sends them (an incremental plan against the
store's applied state, which also starts their lifetimes); measuring and evaluating then run
on the store's world, as the command line does. The customer is PyMySQL logged in as the
database user, as an application would be.

InnoDB refreshes the table statistics that ``information_schema.TABLES`` shows in the
background, about ten seconds after a tenth of a table's rows changed: the tests run
``ANALYZE TABLE`` (as root) after loading data, so that the size the monitor reads is the
one the data has, at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pymysql  # type: ignore[import-untyped, unused-ignore]
import pytest
from orchestra_mysql.monitor import DATABASE_SIZE, DATABASE_STORAGE, MySQLDatabaseSize
from orchestra_mysql.settings import MySQLSettings
from orchestra_mysql.testing import MariaDBInstance

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server, ValidationError
from orchestra_core.backends.settings import build_settings
from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.errors import ConfigurationError
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.hookspecs import hookimpl
from orchestra_core.model.index import ServiceIndex
from orchestra_core.registry import Registry
from orchestra_core.resources.evaluation import ResourceEvent
from orchestra_core.resources.measure import Measurer
from orchestra_core.resources.periods import Period
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.sshd import SSHHost

RESOURCE = DATABASE_SIZE.name
GIB = 2**30
MIB = 2**20

SHOP = Database(account="acme", name="shop_1")
SPARE = Database(account="acme", name="shop_2")
#: Owns both databases (ALL); the server keeps ALL as its full list of columns.
OWNER = DatabaseUser(account="acme", username="shop", databases=("shop_1", "shop_2"))
#: Reads shop_1 only: nothing of what a full database takes away is its to lose.
READER = DatabaseUser(
    account="acme", username="reader", databases=("shop_1",), privileges=("SELECT",)
)
OBJECTS = [SHOP, SPARE, OWNER, READER]
PASSWORD = "Over-Quota-Pa55 it's"

#: When the cron runs (any time: samples carry the time they are given).
T1 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

#: The statements the reaction runs on shop_1 for the owner, and the one that lifts it (the
#: privileges in the order of mysql.db's columns).
REVOKE = "REVOKE INSERT, CREATE, INDEX, ALTER ON `shop\\_1`.* FROM `shop`@`%`;"
REGRANT = "GRANT INSERT, CREATE, INDEX, ALTER ON `shop\\_1`.* TO `shop`@`%`;"

#: The server refuses a statement the account holds no privilege for:
#: ER_TABLEACCESS_DENIED_ERROR ("INSERT command denied to user ...").
ACCESS_DENIED = 1142


class Recorder:
    """Every crossing the engine tells the plugins."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def orchestra_resource_exceeded(self, event: ResourceEvent) -> None:
        self.seen.append(("exceeded", event.object_key, event.resource))

    @hookimpl
    def orchestra_resource_recovered(self, event: ResourceEvent) -> None:
        self.seen.append(("recovered", event.object_key, event.resource))


@attrs.define
class Operator:
    """An engine over a memory store, one database server, and what an operator runs."""

    engine: Orchestra
    recorder: Recorder
    #: How many operation logs the first apply made (what created the objects).
    created: int = 0

    def apply(self, objects: Sequence[Any], *, full: bool = False) -> ApplyResult:
        """``orchestra apply``: the objects that differ from the applied state (all of them
        with ``full``), and the owner's password on the first run."""
        store = self.engine.store
        first = not store.applied()
        plan = self.engine.plan_inventory([Account(name="acme")], objects, full=full)
        result = self.engine.apply(plan)
        if first:
            password = ChangeSet().set_password(OWNER, Secret(PASSWORD))
            result.logs += self.engine.apply(self.engine.plan(password)).logs
        if first:
            self.created = len(store.list_logs())
        return result

    def statements(self) -> list[str]:
        """Every GRANT and REVOKE the logs show as run since the first apply, oldest first."""
        logs = self.engine.store.list_logs()  # newest first
        return [
            line
            for log in reversed(logs[: len(logs) - self.created])
            for line in log.stdout.splitlines()
            if line.startswith(("GRANT ", "REVOKE "))
        ]


def make_operator(
    mariadb: MariaDBInstance, server: Server | None = None, **user_settings: Any
) -> Operator:
    """An operator's engine with one server (local by default) for both backends, the
    ``mysql-user`` one with ``user_settings`` too."""
    base = server or Server(name="db1", transport="local")
    settings = {
        "mysql-database": mariadb.settings(),
        "mysql-user": mariadb.settings(**user_settings),
    }
    server = attrs.evolve(base, settings={**base.settings, **settings})
    recorder = Recorder()
    engine = Orchestra(
        servers=[server],
        routes=[Route(backend=backend, servers=(server.name,)) for backend in settings],
        registry=Registry.load(extra={"recorder": recorder}),
        store=MemoryStore(),
    )
    return Operator(engine=engine, recorder=recorder)


@pytest.fixture
def operator(mariadb: MariaDBInstance) -> Iterator[Operator]:
    """The objects applied to the per-test MariaDB through the local transport."""
    made = make_operator(mariadb)
    try:
        result = made.apply(OBJECTS)
        assert result.ok, [log.stderr for log in result.logs]
        yield made
    finally:
        made.engine.close()


def load(mariadb: MariaDBInstance, database: str, rows: int, *, first: int = 1) -> int:
    """A table ``t`` of rows of 1000 bytes in ``database`` (more rows if it exists), with fresh
    statistics; the database's size as ``information_schema`` then says."""
    mariadb.query(
        "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB; "
        f"INSERT INTO t SELECT seq, REPEAT('x', 1000) FROM seq_{first}_to_{first + rows - 1}; "
        "ANALYZE TABLE t",
        database=database,
    )
    return size(mariadb, database)


def size(mariadb: MariaDBInstance, database: str) -> int:
    """Bytes of data and indexes of ``database``, as ``information_schema`` says."""
    ((value,),) = mariadb.query(
        "SELECT IFNULL(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = '{database}'"
    )
    return int(value or 0)


def privilege_rows(mariadb: MariaDBInstance) -> list[tuple[str | None, ...]]:
    """The accounts' privileges on databases, as the server records them."""
    return mariadb.query("SELECT * FROM mysql.db WHERE User IN ('shop', 'reader') ORDER BY 1, 2, 3")


def run(connection: Any, statement: str) -> int | None:
    """Run ``statement`` as the customer: None when it worked, else the server's error code."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
        connection.commit()
    except pymysql.err.MySQLError as exc:
        return int(exc.args[0])
    return None


#: What a database over quota no longer lets its users do, each proven refused.
GROWING = {
    "insert a row": "INSERT INTO t (id, v) VALUES (0, 'new')",
    "replace a row": "REPLACE INTO t (id, v) VALUES (1, 'again')",
    "create a table": "CREATE TABLE more (id INT)",
    "copy a table": "CREATE TABLE t2 AS SELECT * FROM t",
    "add an index": "CREATE INDEX by_v ON t (v)",
    "add a column": "ALTER TABLE t ADD COLUMN w TEXT",
}
#: What it still lets them do: read, change rows in place, and free space.
ALLOWED = {
    "read": "SELECT COUNT(*) FROM t",
    "update a row": "UPDATE t SET v = 'changed' WHERE id = 1",
    "delete rows": "DELETE FROM t WHERE id > 1000",
    "use a temporary table": "CREATE TEMPORARY TABLE scratch (id INT)",
}


# -- the resource, its metric and the settings (no server) ----------------------------------------


def test_the_plugin_registers_the_monitor_resource_and_metric() -> None:
    registry = Registry.load()
    assert registry.monitors["mysql-database-size"] is MySQLDatabaseSize
    assert MySQLDatabaseSize.backend == "mysql-database"
    resource = registry.resources[RESOURCE]
    assert resource == DATABASE_SIZE
    assert (resource.service_kind, resource.aggregation, resource.unit) == (
        "database",
        "last",
        "GiB",
    )
    assert resource.scale == 1 / GIB and resource.window == "1d"
    metric = registry.billing_metrics["mysql_database_gib_month"]
    assert metric == DATABASE_STORAGE
    assert (metric.resource, metric.aggregation, metric.unit) == (RESOURCE, "average", "GiB-month")


def test_allocations_out_of_bounds_are_refused() -> None:
    engine = Orchestra(servers=[], routes=[], store=MemoryStore())
    engine.allocate(SHOP.key, RESOURCE, 0.5)
    engine.allocate(SHOP.key, RESOURCE, 1024)
    for wrong in (-1, 2048, 5 * GIB):  # 2 GiB given in MiB, or in bytes
        with pytest.raises(ValidationError) as raised:
            engine.allocate(SHOP.key, RESOURCE, wrong)
        assert f"allocations[{RESOURCE}]" in str(raised.value)
    ((_, allocation),) = engine.store.usage.allocations().items()
    assert allocation == 1024


def test_the_monitor_goes_where_the_database_backend_sends_databases() -> None:
    # Two servers; databases live on db2 only, through a route with its own client.
    servers = [
        Server(name="db1", transport="recording"),
        Server(
            name="db2",
            transport="recording",
            settings={"mysql-database": {"defaults_file": "/etc/mysql/debian.cnf"}},
        ),
    ]
    routes = [
        Route(backend="mysql-database", servers=("db2",), settings={"client": "mariadb"}),
        Route(backend="mysql-user", servers=("db1",)),
    ]
    engine = Orchestra(servers=servers, routes=routes, store=MemoryStore())
    measurer = Measurer(
        engine.registry.monitors,
        {name: info.cls for name, info in engine.registry.backends.items()},
        engine.servers,
        engine.planner.router,
        engine.transport,
    )
    (planned,) = measurer.plan(ServiceIndex((), OBJECTS), ["mysql-database-size"])
    assert planned.server.name == "db2"
    assert planned.objects == (SHOP, SPARE)
    assert planned.settings == MySQLSettings(
        client="mariadb", defaults_file="/etc/mysql/debian.cnf"
    )
    (step,) = planned.steps
    assert isinstance(step, Command)
    assert "mariadb --defaults-file=/etc/mysql/debian.cnf" in step.script


def test_over_quota_revoke_is_checked_and_canonical() -> None:
    assert MySQLSettings().over_quota_revoke == ("INSERT", "CREATE", "INDEX", "ALTER")
    assert MySQLSettings(over_quota_revoke=["update", "insert"]).over_quota_revoke == (
        "INSERT",
        "UPDATE",
    )
    assert MySQLSettings(over_quota_revoke=[]).over_quota_revoke == ()
    for wrong, words in (
        (["ALL"], "cannot be ALL"),
        (["SUPER"], "'SUPER' is not a database privilege"),
        ("INSERT", "must be a list of strings, got 'INSERT'"),  # one string, not a list
    ):
        with pytest.raises(ConfigurationError, match=words):
            build_settings(MySQLSettings, {"over_quota_revoke": wrong}, where="backend mysql-user")


# -- measuring, evaluating and reacting against the real server -----------------------------------


@pytest.mark.daemon
def test_a_database_over_its_size_takes_no_more_data_until_it_recovers(
    operator: Operator, mariadb: MariaDBInstance
) -> None:
    engine, recorder = operator.engine, operator.recorder
    baseline = privilege_rows(mariadb)
    expected = load(mariadb, "shop_1", 3000)
    assert expected > 2 * MIB

    # The cron run measures: the size is in the samples and in the store.
    measured = engine.measure(at=T1)
    assert measured.ok, measured.failures
    samples = {s.object_key: s for s in measured.samples}
    assert set(samples) == {SHOP.key, SPARE.key}
    assert samples[SHOP.key].value == expected
    assert samples[SPARE.key].value == size(mariadb, "shop_2") == 0
    assert (
        samples[SHOP.key].idempotency_key == f"db1/mysql-database-size:{SHOP.key}:{T1.isoformat()}"
    )
    assert measured.ingested is not None and measured.ingested.added == 2
    ((key, monitor, points),) = engine.store.usage.iter_series(
        ["mysql-database-size"], T1, T1 + timedelta(seconds=1), object_keys=[SHOP.key]
    )
    assert (key, monitor) == (SHOP.key, "mysql-database-size")
    assert [(p.at, p.value) for p in points] == [(T1, expected)]  # type: ignore[union-attr]

    # An allocation of 1 MiB for each database: shop_1 is over it, shop_2 is not.
    engine.allocate(SHOP.key, RESOURCE, 1 / 1024)
    engine.allocate(SPARE.key, RESOURCE, 1 / 1024)
    app = mariadb.connect("shop", PASSWORD, "shop_1")  # a pooled connection, open meanwhile
    first = engine.evaluate(at=T1)
    assert [(e.kind, e.object_key) for e in first.events] == [("exceeded", SHOP.key)]
    assert recorder.seen == [("exceeded", SHOP.key, RESOURCE)]
    assert first.applied is not None and first.applied.ok
    outcome = {log.object_keys: log.state.value for log in first.applied.logs}
    assert outcome == {
        (SHOP.key,): "nothing",
        (OWNER.key,): "success",
        (READER.key,): "nothing",  # SELECT only: nothing to take
    }
    state = engine.store.usage.resource_states()[(SHOP.key, RESOURCE)]
    assert state.exceeded and state.usage == expected / GIB and state.allocation == 1 / 1024
    assert engine.exceeded() == {SHOP.key: frozenset({RESOURCE})}
    assert operator.statements() == [REVOKE]

    # The connection open before the crossing was ended: it cannot go on writing.
    assert run(app, "INSERT INTO t (id, v) VALUES (0, 'pooled')") is not None
    app.close()
    customer = mariadb.connect("shop", PASSWORD, "shop_1")
    try:
        refused = {what: run(customer, sql) for what, sql in GROWING.items()}
        assert refused == dict.fromkeys(GROWING, ACCESS_DENIED)
        allowed = {what: run(customer, sql) for what, sql in ALLOWED.items()}
        assert allowed == dict.fromkeys(ALLOWED, None)
    finally:
        customer.close()
    other = mariadb.connect("shop", PASSWORD, "shop_2")  # not over its allocation
    try:
        assert run(other, "CREATE TABLE fine (id INT)") is None
        assert run(other, "INSERT INTO fine VALUES (1)") is None
    finally:
        other.close()
    # The user's own privileges are what they were; only the grant on shop_1 differs.
    assert engine.store.applied()[OWNER.key].data["privileges"] == ["ALL"]

    # The next cron run, same usage: no crossing, no hook, nothing applied.
    later = T1 + timedelta(hours=1)
    assert engine.measure(at=later).ok
    again = engine.evaluate(at=later)
    assert again.events == () and again.applied is None
    assert recorder.seen == [("exceeded", SHOP.key, RESOURCE)]
    # A full resync meanwhile keeps the restriction: nothing to change.
    resync = operator.apply(OBJECTS, full=True)
    assert sorted(log.state.value for log in resync.logs) == ["nothing"] * 4
    assert operator.statements() == [REVOKE]

    # The customer frees space (DROP is kept: TRUNCATE works); the next run recovers.
    customer = mariadb.connect("shop", PASSWORD, "shop_1")
    try:
        assert run(customer, "TRUNCATE TABLE t") is None
    finally:
        customer.close()
    stuck = mariadb.connect("shop", PASSWORD, "shop_1")  # pooled while over quota
    assert size(mariadb, "shop_1") < MIB
    t2 = later + timedelta(hours=1)
    assert engine.measure(at=t2).ok
    recovered = engine.evaluate(at=t2)
    assert [(e.kind, e.object_key) for e in recovered.events] == [("recovered", SHOP.key)]
    assert recorder.seen == [
        ("exceeded", SHOP.key, RESOURCE),
        ("recovered", SHOP.key, RESOURCE),
    ]
    assert recovered.applied is not None and recovered.applied.ok
    assert engine.exceeded() == {}
    # A session keeps its database's privileges until its next USE: the one that started
    # while the database was over quota was ended too, so that the pool reconnects with them.
    assert run(stuck, "SELECT 1") is not None
    stuck.close()
    customer = mariadb.connect("shop", PASSWORD, "shop_1")
    try:
        assert run(customer, "INSERT INTO t (id, v) VALUES (1, 'back')") is None
        assert run(customer, "CREATE TABLE more (id INT)") is None
        assert run(customer, "ALTER TABLE more ADD COLUMN w TEXT") is None
    finally:
        customer.close()
    assert privilege_rows(mariadb) == baseline

    # And the run after that: nothing. Taken once, given back once.
    t3 = t2 + timedelta(hours=1)
    assert engine.measure(at=t3).ok
    last = engine.evaluate(at=t3)
    assert last.events == () and last.applied is None
    assert operator.statements() == [REVOKE, REGRANT]
    assert len(recorder.seen) == 2


@pytest.mark.daemon
def test_a_trigger_writes_no_more_than_its_definer_may(
    operator: Operator, mariadb: MariaDBInstance
) -> None:
    # The customer's own trigger logs every update into another table of the same database.
    load(mariadb, "shop_1", 2000)
    customer = mariadb.connect("shop", PASSWORD, "shop_1")
    try:
        assert run(customer, "CREATE TABLE log (id INT)") is None
        trigger = (
            "CREATE TRIGGER logged AFTER UPDATE ON t FOR EACH ROW INSERT INTO log VALUES (NEW.id)"
        )
        assert run(customer, trigger) is None
    finally:
        customer.close()
    operator.engine.allocate(SHOP.key, RESOURCE, 1 / 1024)
    assert operator.engine.measure(at=T1).ok
    assert [e.kind for e in operator.engine.evaluate(at=T1).events] == ["exceeded"]
    customer = mariadb.connect("shop", PASSWORD, "shop_1")
    try:
        # The trigger runs with its definer's privileges, the user's, now without INSERT.
        assert run(customer, "UPDATE t SET v = 'y' WHERE id = 1") == ACCESS_DENIED
        assert mariadb.query("SELECT COUNT(*) FROM log", database="shop_1") == [("0",)]
        assert run(customer, "DROP TRIGGER logged") is None  # TRIGGER is kept
        assert run(customer, "UPDATE t SET v = 'y' WHERE id = 1") is None
    finally:
        customer.close()


@pytest.mark.daemon
def test_without_over_quota_revoke_an_allocation_is_only_reported(
    mariadb: MariaDBInstance,
) -> None:
    made = make_operator(mariadb, over_quota_revoke=[])
    try:
        assert made.apply(OBJECTS).ok
        load(mariadb, "shop_1", 2000)
        made.engine.allocate(SHOP.key, RESOURCE, 1 / 1024)
        assert made.engine.measure(at=T1).ok
        evaluation = made.engine.evaluate(at=T1)
        assert [e.kind for e in evaluation.events] == ["exceeded"]
        assert made.recorder.seen == [("exceeded", SHOP.key, RESOURCE)]
        assert made.statements() == []
        customer = mariadb.connect("shop", PASSWORD, "shop_1")
        try:
            assert run(customer, "INSERT INTO t (id, v) VALUES (0, 'still')") is None
        finally:
            customer.close()
    finally:
        made.engine.close()


@pytest.mark.daemon
def test_over_ssh_raising_the_allocation_gives_the_privileges_back(
    ssh_host: SSHHost, mariadb: MariaDBInstance
) -> None:
    made = make_operator(mariadb, ssh_host.server("db1"))
    engine = made.engine
    try:
        assert made.apply(OBJECTS).ok
        expected = load(mariadb, "shop_1", 2000)
        engine.allocate(SHOP.key, RESOURCE, 1 / 1024)
        measured = engine.measure(at=T1)
        assert measured.ok, measured.failures
        assert {s.object_key: s.value for s in measured.samples}[SHOP.key] == expected
        exceeded = engine.evaluate(at=T1)
        assert [(e.kind, e.object_key) for e in exceeded.events] == [("exceeded", SHOP.key)]
        assert exceeded.applied is not None and exceeded.applied.ok
        customer = mariadb.connect("shop", PASSWORD, "shop_1")
        try:
            assert run(customer, GROWING["insert a row"]) == ACCESS_DENIED
            assert run(customer, ALLOWED["read"]) is None
        finally:
            customer.close()

        # The customer buys more: the next run finds the same usage within the new allocation.
        engine.allocate(SHOP.key, RESOURCE, 1)
        later = T1 + timedelta(hours=1)
        assert engine.measure(at=later).ok
        recovered = engine.evaluate(at=later)
        assert [(e.kind, e.object_key) for e in recovered.events] == [("recovered", SHOP.key)]
        customer = mariadb.connect("shop", PASSWORD, "shop_1")
        try:
            assert run(customer, GROWING["insert a row"]) is None
        finally:
            customer.close()
        assert engine.evaluate(at=later + timedelta(hours=1)).events == ()
        assert made.statements() == [REVOKE, REGRANT]
        assert made.recorder.seen == [
            ("exceeded", SHOP.key, RESOURCE),
            ("recovered", SHOP.key, RESOURCE),
        ]
    finally:
        engine.close()


# -- billing -------------------------------------------------------------------------------------


@pytest.mark.daemon
def test_storage_is_billed_by_its_time_weighted_average(
    operator: Operator, mariadb: MariaDBInstance
) -> None:
    engine = operator.engine
    # The database exists from when the apply created it (its lifetime in the store).
    (life,) = [
        life
        for life in engine.store.usage.lifetimes(
            T1 - timedelta(days=3650), T1 + timedelta(days=3650)
        )
        if life.object_key == SHOP.key
    ]
    born = life.started_at
    assert life.ended_at is None and life.kind == "database" and life.account == "acme"
    # A two-day period that began half a day before the database did.
    period = Period(born - timedelta(hours=12), born + timedelta(hours=36))

    small = load(mariadb, "shop_1", 1000)
    assert engine.measure(at=born + timedelta(hours=1)).ok
    big = load(mariadb, "shop_1", 3000, first=1001)
    assert big > small
    assert engine.measure(at=born + timedelta(hours=13)).ok

    records = {(r.metric, r.object_key): r for r in engine.bill(period)}
    assert set(records) == {
        ("mysql_database_gib_month", SHOP.key),
        ("mysql_database_gib_month", SPARE.key),
    }
    record = records[("mysql_database_gib_month", SHOP.key)]
    # Nothing before it existed or was first measured; then `small` for 12 hours and `big`
    # for the last 23, over the whole period's 48 hours.
    hour = 3600
    expected = (small * 12 * hour + big * 23 * hour) / (48 * hour) / GIB
    assert record.quantity == pytest.approx(expected, rel=1e-12)
    assert record.quantity < big / GIB * (36 / 48)  # not the last value, prorated
    assert (record.account, record.unit) == ("acme", "GiB-month")
    assert (record.start, record.end) == (period.start, period.end)
    assert (record.used_from, record.used_until) == (born, period.end)
    assert record.idempotency_key == f"mysql_database_gib_month:{SHOP.key}:" + (
        period.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert records[("mysql_database_gib_month", SPARE.key)].quantity == 0
    # Billing again makes the same records (a billing system takes each once).
    assert {(r.idempotency_key, r.quantity) for r in engine.bill(period)} == {
        (r.idempotency_key, r.quantity) for r in records.values()
    }

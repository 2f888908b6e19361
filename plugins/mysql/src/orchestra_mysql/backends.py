"""The mysql backends: databases and database users on MySQL and MariaDB servers.

Each operation runs the server's ``mysql`` client through the transport (so SSH works like
the local sandbox). A database's steps are one :class:`~orchestra_core.driver.Command` whose
``unless`` half reads the live state (``information_schema``) and exits 0 when it already
matches, so an unchanged object reports "nothing". A user's save probes, then reconciles: its
:class:`~orchestra_core.driver.Probe` is one client run reading the account (whether it
exists, its lock state, its rows of ``mysql.db``), which :func:`parse_account` makes an
:class:`AccountState`, and :meth:`MySQLUser.reconcile` compares it with the object in Python
and returns one step with only the statements needed, or none (the operation reports
"nothing"). Privileges are compared as the set of ``mysql.db`` columns set to ``Y``: ``ALL``
expanded by the server is the same set as ``ALL``, and is never seen as a change. A database
over its size allocation is granted without the privileges that make it grow: the same
comparison takes them away, and gives them back, exactly once.

Every name and value reaches SQL through :mod:`orchestra_mysql.sql` and the shell through
the quoting templates. A password is hashed here for ``mysql_native_password`` (only the hash
travels) and otherwise travels as a string literal; in both cases it is on the client's stdin
in a sensitive step: never in argv, the plan, the logs or the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from orchestra_core.driver import (
    Backend,
    Command,
    Database,
    DatabaseUser,
    FieldError,
    Observation,
    Probe,
    RenderContext,
    Step,
    Templates,
)
from orchestra_mysql import sql
from orchestra_mysql.monitor import DATABASE_SIZE
from orchestra_mysql.settings import MySQLSettings

__all__ = [
    "AccountState",
    "MySQLDatabase",
    "MySQLUser",
    "over_quota",
    "parse_account",
    "password_statement",
]

#: What the database backend renders with.
DatabaseContext = RenderContext[Database, MySQLSettings]
#: What the user backend renders with.
UserContext = RenderContext[DatabaseUser, MySQLSettings]

#: Longest user name each server family takes.
USERNAME_LENGTH = {"mariadb": 80, "mysql": 32}
#: Seconds one step's mysql client (its check and its statements) may take: a server that
#: hangs, or a lock that is never released, ends the step ``timeout`` instead of the batch.
CLIENT_TIMEOUT = 120.0


def _command(templates: Templates, template: str, description: str, /, **values: Any) -> Command:
    """A step whose ``unless`` is the template in check mode, and whose script applies it."""
    return Command(
        description=description,
        script=templates.shell(template, check=False, **values),
        unless=templates.shell(template, check=True, **values),
        timeout=CLIENT_TIMEOUT,
    )


def _type_error(errors: list[FieldError], key: str, type_: str) -> None:
    if type_ != "mysql":
        errors.append(
            FieldError(key, "type", f"the mysql backends take type 'mysql', not {type_!r}")
        )


def _reserved(errors: list[FieldError], key: str, field: str, name: str) -> None:
    if name.lower() in sql.RESERVED_DATABASES:
        errors.append(FieldError(key, field, f"{name!r} is reserved for the server itself"))


class MySQLDatabase(Backend[Database, MySQLSettings]):
    """Creates a database with its character set and collation; drops it on delete (after a
    dump into ``dump_dir`` when that is set)."""

    name = "mysql-database"
    service_type = Database
    tools = ("mysql", "mysqldump", "gzip")
    settings_class = MySQLSettings

    def check(self, obj: Database, settings: MySQLSettings) -> list[FieldError]:
        """Reserved names and engines other than mysql are refused."""
        errors: list[FieldError] = []
        _type_error(errors, obj.key, obj.type)
        _reserved(errors, obj.key, "name", obj.name)
        return errors

    def render_delete(self, ctx: DatabaseContext) -> Sequence[Step]:
        """One step: dump (when ``dump_dir`` is set) and drop."""
        db, settings = ctx.obj, ctx.settings
        return [
            _command(
                self.templates,
                "database-delete.sh.j2",
                f"drop database {db.name}",
                **settings.shell_values(),
                name=db.name,
                query="SELECT 1 " + _schema_where(db),
                drop=f"DROP DATABASE {sql.identifier(db.name)}",
                dump_dir=settings.dump_dir and ctx.path(settings.dump_dir),
                dump_client=settings.dump_client,
            )
        ]

    def render_save(self, ctx: DatabaseContext) -> Sequence[Step]:
        """One step: create, or alter its character set and collation. A suspended
        database stays as it is (its users are locked)."""
        db, settings = ctx.obj, ctx.settings
        name = sql.identifier(db.name)
        collate = f" COLLATE {db.collation}" if db.collation else ""
        return [
            _command(
                self.templates,
                "database-save.sh.j2",
                f"database {db.name} ({db.charset})",
                **settings.shell_values(),
                name=db.name,
                query=_read_database(db),
                create=f"CREATE DATABASE {name} CHARACTER SET {db.charset}{collate}",
                alter=f"ALTER DATABASE {name} CHARACTER SET {db.charset}{collate}",
            )
        ]

    def observe(self, ctx: DatabaseContext) -> Sequence[Observation]:
        """The database's character set and collation as the server has them (drift)."""
        db = ctx.obj
        query = (
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            f"FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {sql.literal(db.name)}"
        )
        return [
            _observation(self.templates, ctx.settings, "database", f"database {db.name}", query)
        ]


@attrs.frozen(kw_only=True)
class AccountState:
    """What the user probe read of one account: the columns of ``mysql.db`` in the server's
    order, whether the account exists and is locked, and by ``mysql.db.Db`` (a database as
    GRANT escapes it) the privilege columns set to ``Y`` there."""

    columns: tuple[str, ...]
    exists: bool = False
    locked: bool = False
    privileges: Mapping[str, frozenset[str]] = attrs.field(factory=dict)

    @property
    def privilege_columns(self) -> tuple[str, ...]:
        """The server's privilege columns (``*_priv``), in its order."""
        return tuple(c for c in self.columns if c.endswith("_priv"))


def parse_account(output: str) -> AccountState:
    """The :class:`AccountState` of the probe's output (``cols``, ``user`` and ``row``
    lines, tab-separated); a ``ValueError`` when it is not what the probe prints."""
    columns: tuple[str, ...] | None = None
    exists = locked = False
    rows: list[str] = []
    for line in output.split("\n"):
        tag, _, rest = line.partition("\t")
        if tag == "cols":
            columns = tuple(rest.split(" ")) if rest else ()
        elif tag == "user":
            if rest not in ("0", "1"):
                raise ValueError(f"the account's lock state reads {rest!r}, not 0 or 1")
            exists, locked = True, rest == "1"
        elif tag == "row":
            rows.append(rest)
    if not columns or "Db" not in columns:
        raise ValueError("the probe printed no columns of mysql.db (is this a MySQL server?)")
    have: dict[str, frozenset[str]] = {}
    for row in rows:
        values = dict(zip(columns, row.split("\t"), strict=False))
        db = values.get("Db", "")
        if db:
            have[db] = frozenset(c for c, v in values.items() if c.endswith("_priv") and v == "Y")
    return AccountState(columns=columns, exists=exists, locked=locked, privileges=have)


def _privilege_name(column: str) -> str:
    """The privilege a ``mysql.db`` column records, as GRANT names it."""
    if column == "Grant_priv":
        return "GRANT OPTION"
    for name, col in sql.PRIVILEGE_COLUMNS.items():
        if col == column:
            return name
    return column.removesuffix("_priv").replace("_", " ").upper()


class MySQLUser(Backend[DatabaseUser, MySQLSettings, AccountState]):
    """Creates an account with its privileges on its databases, locks it while suspended, sets
    its password, and drops it on delete.

    On a database over its ``mysql-database-size`` allocation (``ctx.exceeded``), the account
    holds its privileges without those of the ``over_quota_revoke`` setting (INSERT, CREATE,
    INDEX, ALTER: what makes data grow), and gets them back once the database recovers; its
    ``privileges`` field stays as it is. The engine applies every user of a database again
    when the database crosses its allocation, either way.
    """

    name = "mysql-user"
    service_type = DatabaseUser
    actions = frozenset({"save", "delete", "set_password"})
    after = ("mysql-database",)
    tools = ("mysql",)
    settings_class = MySQLSettings

    def check(self, obj: DatabaseUser, settings: MySQLSettings) -> list[FieldError]:
        """Name length for the server family, the server's own accounts, reserved databases,
        databases too long to grant, and unknown privileges."""
        errors: list[FieldError] = []
        key = obj.key
        _type_error(errors, key, obj.type)
        if obj.username.lower() in sql.RESERVED_USERS:
            errors.append(
                FieldError(key, "username", f"{obj.username!r} is the server's own account")
            )
        limit = USERNAME_LENGTH[settings.flavor]
        if len(obj.username) > limit:
            errors.append(
                FieldError(
                    key,
                    "username",
                    f"is {len(obj.username)} characters long; {settings.flavor} takes at "
                    f"most {limit}",
                )
            )
        for i, name in enumerate(obj.databases):
            _reserved(errors, key, f"databases[{i}]", name)
            pattern = sql.grant_pattern(name)
            if len(pattern) > sql.NAME_LENGTH:
                # The server keeps the escaped name (mysql.db.Db), and refuses a GRANT whose
                # pattern is longer than a name may be.
                errors.append(
                    FieldError(
                        key,
                        f"databases[{i}]",
                        f"cannot be granted: with its '_' and '%' escaped for GRANT it is "
                        f"{len(pattern)} characters long; the server takes at most "
                        f"{sql.NAME_LENGTH}",
                    )
                )
        for i, privilege in enumerate(obj.privileges):
            try:
                sql.canonical_privileges([privilege])
            except ValueError as exc:
                errors.append(FieldError(key, f"privileges[{i}]", str(exc)))
        return errors

    def render_delete(self, ctx: UserContext) -> Sequence[Step]:
        """One step: end its sessions and drop the account."""
        account, label, common = _account_values(ctx)
        return [
            _command(
                self.templates,
                "user-delete.sh.j2",
                f"drop database user {label}",
                **common,
                exists_query="SELECT COUNT(*) FROM mysql.user " + _account_where(ctx),
                drop=f"DROP USER {account}",
            )
        ]

    def render_set_password(self, ctx: UserContext) -> Sequence[Step]:
        """One sensitive step: the statement setting the password goes on the client's
        stdin (hashed here for ``mysql_native_password``)."""
        assert ctx.secret is not None, "set_password renders with a secret"
        account, label, common = _account_values(ctx)
        settings = ctx.settings
        statement = password_statement(account, ctx.secret.reveal(), settings.auth_plugin)
        return [
            Command(
                description=f"set the password of database user {label}",
                script=self.templates.shell(
                    "user-password.sh.j2", **common, plugin=settings.auth_plugin
                ),
                stdin=statement,
                sensitive=True,
                timeout=CLIENT_TIMEOUT,
            )
        ]

    def render_save(self, ctx: UserContext) -> Sequence[Step]:
        """Nothing up front: a save probes the account (:meth:`probe`) and its steps are
        decided from what the server has (:meth:`reconcile`)."""
        return ()

    def probe(self, ctx: UserContext) -> Probe[AccountState] | None:
        """For a save (active or suspended): one client run reading ``mysql.db``'s columns,
        the account with its lock state (MariaDB keeps it in ``mysql.global_priv``, MySQL in
        ``mysql.user``) and its rows of ``mysql.db``."""
        if ctx.action != "save":
            return None
        user, settings = ctx.obj, ctx.settings
        _, _, common = _account_values(ctx)
        return Probe(
            description=_save_description(ctx),
            script=self.templates.shell(
                "user-probe.sh.j2", **common, query=_read_account(user.username, settings)
            ),
            parse=parse_account,
            timeout=CLIENT_TIMEOUT,
            # It prints what the "account" observation prints: the drift check and the
            # read after an unchanged save are this one client run.
            observation="account",
        )

    def reconcile(self, ctx: UserContext, observed: AccountState) -> Sequence[Step]:
        """The account created or brought to its lock state and to exactly its privileges on
        its databases (without those withheld over quota), compared column by column with
        what the probe read: one step with only the statements needed, or none."""
        user, settings = ctx.obj, ctx.settings
        account, _, common = _account_values(ctx)
        statements: list[tuple[str, str]] = []
        if observed.exists and observed.locked == ctx.active:
            lock, relock = ("UNLOCK", "LOCK") if ctx.active else ("LOCK", "UNLOCK")
            statements.append(
                (f"ALTER USER {account} ACCOUNT {lock}", f"ALTER USER {account} ACCOUNT {relock}")
            )
        columns = observed.privilege_columns
        every = [c for c in columns if c != "Grant_priv"]
        wanted = sql.canonical_privileges(user.privileges)
        full = over_quota(user, ctx)
        revoked = {sql.PRIVILEGE_COLUMNS[p] for p in settings.over_quota_revoke}
        want: dict[str, list[str] | None] = {}
        withheld: dict[str, set[str]] = {}
        for db in user.databases:
            pattern = sql.grant_pattern(db)
            want[pattern] = (
                None if wanted == (sql.ALL,) else [sql.PRIVILEGE_COLUMNS[p] for p in wanted]
            )
            if db in full and revoked:
                withheld[pattern] = revoked
        regranted = False
        for db in sorted({*want, *observed.privileges}):
            asked = want.get(db, [])
            cols = every if asked is None else asked
            cols = [c for c in cols if c not in withheld.get(db, ())]
            for c in cols:
                if c not in every:
                    raise ValueError(f"orchestra-mysql: this server has no privilege {c}")
            have = observed.privileges.get(db, frozenset())
            grant = [_privilege_name(c) for c in columns if c in cols and c not in have]
            revoke = [_privilege_name(c) for c in columns if c in have and c not in cols]
            regranted = regranted or bool(grant or revoke)
            target = sql.identifier(db)
            if revoke:
                names = ", ".join(revoke)
                statements.append(
                    (
                        f"REVOKE {names} ON {target}.* FROM {account}",
                        f"GRANT {names} ON {target}.* TO {account}",
                    )
                )
            if asked is None and db in want and not have and not withheld.get(db):
                grant = ["ALL PRIVILEGES"]
            if grant:
                names = ", ".join(grant)
                statements.append(
                    (
                        f"GRANT {names} ON {target}.* TO {account}",
                        f"REVOKE {names} ON {target}.* FROM {account}",
                    )
                )
        if observed.exists and not statements:
            return ()
        return [
            Command(
                description=_save_description(ctx),
                script=self.templates.shell(
                    "user-apply.sh.j2",
                    **common,
                    active=ctx.active,
                    create=None if observed.exists else f"CREATE USER {account}",
                    # Said either way: MariaDB records the lock state of an account only once
                    # it was set, so an account created without it would not come back
                    # identical after a suspend and resume ("account_locked": false in
                    # mysql.global_priv).
                    create_tail=" ACCOUNT UNLOCK" if ctx.active else " ACCOUNT LOCK",
                    drop=f"DROP USER {account}",
                    statements=statements,
                    end_sessions=not ctx.active or regranted,
                ),
                timeout=CLIENT_TIMEOUT,
            )
        ]

    def observe(self, ctx: UserContext) -> Sequence[Observation]:
        """Whether the account exists and is locked, and its rows of ``mysql.db`` (its
        privileges on each database): what a GRANT by hand changes. Never its password."""
        user = ctx.obj
        query = _read_account(user.username, ctx.settings)
        label = f"account {user.username}@{ctx.settings.user_host}"
        return [_observation(self.templates, ctx.settings, "account", label, query)]


def _observation(
    templates: Templates, settings: MySQLSettings, name: str, what: str, query: str
) -> Observation:
    return Observation(
        name=name,
        script=templates.shell("observe.sh.j2", **settings.shell_values(), query=query, what=what),
    )


def _save_description(ctx: UserContext) -> str:
    """How plans and logs name a user's save: its privileges, where, what is withheld over
    quota, and whether it is locked."""
    user, settings = ctx.obj, ctx.settings
    _, label, _ = _account_values(ctx)
    wanted = sql.canonical_privileges(user.privileges)
    full = over_quota(user, ctx)
    withheld = bool(settings.over_quota_revoke) and any(db in full for db in user.databases)
    return (
        f"database user {label} ({', '.join(wanted)} on "
        f"{', '.join(user.databases) or 'no database'})"
        + (
            f", without {', '.join(settings.over_quota_revoke)} on "
            f"{', '.join(db for db in user.databases if db in full)} (over quota)"
            if withheld
            else ""
        )
        + ("" if ctx.active else ", locked")
    )


def over_quota(user: DatabaseUser, ctx: UserContext) -> set[str]:
    """The databases of ``user`` that are over their ``mysql-database-size`` allocation, as
    the last evaluation found (``ctx.exceeded``)."""
    return {
        name
        for name in user.databases
        if DATABASE_SIZE.name in ctx.exceeded(Database.key_of(name, user.type))
    }


def _account_values(ctx: UserContext) -> tuple[str, str, dict[str, Any]]:
    """The account (``'user'@'host'`` in SQL), how descriptions name it, and the template
    values every user step shares (the client, the query finding its sessions)."""
    user, settings = ctx.obj, ctx.settings
    account = sql.account(user.username, settings.user_host)
    common = {
        **settings.shell_values(),
        "account": account,
        "sessions_query": (
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = "
            + sql.literal(user.username)
        ),
    }
    return account, f"{user.username}@{settings.user_host}", common


def _account_where(ctx: UserContext) -> str:
    """The ``WHERE`` of the account's row in ``mysql.user``."""
    return (
        f"WHERE User = {sql.literal(ctx.obj.username)} AND Host = "
        f"{sql.literal(ctx.settings.user_host)}"
    )


def _schema_where(db: Database) -> str:
    """The ``FROM ... WHERE`` of the database's row in ``information_schema.SCHEMATA``."""
    return "FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME = " + sql.literal(db.name)


def _read_database(db: Database) -> str:
    """One client run's SQL telling the ``database-save`` step what it compares, as one row:
    1 if the database exists (else 0), its character set and collation (``-`` if absent), and
    the ones the object asks for, as the server names them.

    The server resolves the object's names itself: an alias (``utf8`` is ``utf8mb3`` on
    MariaDB 10.6 and later, ``utf8_bin`` is ``utf8mb3_bin``) would otherwise never equal what
    it stores, and a pair it refuses fails here, before anything changes. Without a
    collation, the character set's default is wanted."""
    value = f"CONVERT('' USING {db.charset})"  # charset and collation: checked lower-case words
    if db.collation:
        wanted = f"COLLATION({value} COLLATE {db.collation})"
    else:
        wanted = "c.DEFAULT_COLLATE_NAME"
    return (
        "SELECT IF(s.SCHEMA_NAME IS NULL, 0, 1), IFNULL(s.DEFAULT_CHARACTER_SET_NAME, '-'), "
        "IFNULL(s.DEFAULT_COLLATION_NAME, '-'), w.charset, IFNULL(w.collation, '-') "
        f"FROM (SELECT CHARSET({value}) AS charset, {wanted} AS collation"
        " FROM information_schema.CHARACTER_SETS c"
        f" WHERE c.CHARACTER_SET_NAME = CHARSET({value})) w "
        "LEFT JOIN information_schema.SCHEMATA s "
        f"ON s.SCHEMA_NAME = {sql.literal(db.name)}"
    )


def _read_account(username: str, settings: MySQLSettings) -> str:
    """One client run's SQL telling the ``user-save`` step all it compares: the columns of
    ``mysql.db`` (a ``cols`` line), the account if it exists with 1 when it is locked (a
    ``user`` line; MariaDB keeps the lock in ``mysql.global_priv``, MySQL in ``mysql.user``)
    and its rows of ``mysql.db`` (``row`` lines, every column in order)."""
    where = f"WHERE User = {sql.literal(username)} AND Host = {sql.literal(settings.user_host)}"
    if settings.flavor == "mariadb":
        locked = (
            "SELECT 'user', IF(JSON_VALUE(Priv, '$.account_locked') IN ('true', '1'), 1, 0) "
            f"FROM mysql.global_priv {where}"
        )
    else:
        locked = f"SELECT 'user', IF(account_locked = 'Y', 1, 0) FROM mysql.user {where}"
    return (
        "SELECT 'cols', GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR ' ') "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'db'; "
        f"{locked}; "
        f"SELECT 'row', d.* FROM mysql.db d {where} ORDER BY d.Db"
    )


def password_statement(account: str, password: str, plugin: str) -> str:
    """The ``ALTER USER`` that gives ``account`` this password under ``plugin``: the native
    hash for ``mysql_native_password``, the password as a literal for the others."""
    if plugin == "mysql_native_password":
        hashed = sql.literal(sql.native_password_hash(password))
        auth = f"IDENTIFIED WITH mysql_native_password AS {hashed}"
    elif plugin == "caching_sha2_password":
        auth = f"IDENTIFIED WITH caching_sha2_password BY {sql.literal(password)}"
    elif plugin == "ed25519":
        auth = f"IDENTIFIED VIA ed25519 USING PASSWORD({sql.literal(password)})"
    else:
        raise ValueError(f"unknown authentication plugin {plugin!r}")
    return f"ALTER USER {account} {auth};\n"

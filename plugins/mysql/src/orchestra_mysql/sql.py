"""MySQL quoting and the canonical form of privileges, with no server involved.

Every name and value that reaches SQL goes through one of these functions; nothing is
formatted into a statement any other way. The batch's mysql client session runs with the
``sql_mode`` of :data:`SESSION_SQL_MODE` (no ``NO_BACKSLASH_ESCAPES``, no ``ANSI_QUOTES``),
which is what :func:`literal` and :func:`identifier` assume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = [
    "ALL",
    "NAME_LENGTH",
    "PRIVILEGE_COLUMNS",
    "RESERVED_DATABASES",
    "RESERVED_USERS",
    "SESSION_SQL_MODE",
    "account",
    "canonical_privileges",
    "grant_pattern",
    "identifier",
    "literal",
    "native_password_hash",
]

#: The session's sql_mode: strict, and string escapes as :func:`literal` writes them.
SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"

#: Databases that belong to the server itself: never created, granted or dropped by orchestra.
RESERVED_DATABASES = frozenset(
    {"mysql", "information_schema", "performance_schema", "sys", "test", "lost+found"}
)

#: Accounts that belong to the server or its packaging (root; ``mysql``, the unix-socket admin
#: of MariaDB 10.4 and later on Debian; ``debian-sys-maint``, its admin before that): never
#: created, given a password, granted or dropped by orchestra, whatever their host part.
RESERVED_USERS = frozenset({"root", "mysql", "debian-sys-maint"})

#: Longest database name (and ``mysql.db.Db`` value, which is what a GRANT's escaped pattern
#: becomes) the server takes.
NAME_LENGTH = 64

ALL = "ALL"

#: Database-level privileges and their column in ``mysql.db``, the server's own canonical
#: record of them (``Grant_priv`` is GRANT OPTION, which orchestra never gives). Not every
#: server has every column: ``DELETE HISTORY`` is MariaDB's, and a server without a column
#: refuses the privilege at apply time.
PRIVILEGE_COLUMNS: dict[str, str] = {
    "SELECT": "Select_priv",
    "INSERT": "Insert_priv",
    "UPDATE": "Update_priv",
    "DELETE": "Delete_priv",
    "CREATE": "Create_priv",
    "DROP": "Drop_priv",
    "REFERENCES": "References_priv",
    "INDEX": "Index_priv",
    "ALTER": "Alter_priv",
    "CREATE TEMPORARY TABLES": "Create_tmp_table_priv",
    "LOCK TABLES": "Lock_tables_priv",
    "CREATE VIEW": "Create_view_priv",
    "SHOW VIEW": "Show_view_priv",
    "CREATE ROUTINE": "Create_routine_priv",
    "ALTER ROUTINE": "Alter_routine_priv",
    "EXECUTE": "Execute_priv",
    "EVENT": "Event_priv",
    "TRIGGER": "Trigger_priv",
    "DELETE HISTORY": "Delete_history_priv",
}
_ALIASES = {"ALL PRIVILEGES": ALL}


def identifier(name: str) -> str:
    """``name`` as a quoted identifier: in backticks, a backtick doubled."""
    if "\x00" in name:
        raise ValueError("a MySQL identifier cannot hold NUL")
    return "`" + name.replace("`", "``") + "`"


_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\x1a": "\\Z",
}


def literal(value: str) -> str:
    """``value`` as a string literal: in single quotes, with backslash escapes.

    NUL is refused (no password or name holds one).
    """
    if "\x00" in value:
        raise ValueError("a MySQL string literal here cannot hold NUL")
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def account(user: str, host: str) -> str:
    """The account ``user@host``, both parts quoted as identifiers."""
    return f"{identifier(user)}@{identifier(host)}"


def grant_pattern(database: str) -> str:
    """The database as GRANT reads it: ``_`` and ``%`` are wildcards there, so they are
    escaped; otherwise a grant on ``shop_1`` would also give ``shopX1``. This is also the
    value the server keeps in ``mysql.db.Db``."""
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def canonical_privileges(names: Iterable[str]) -> tuple[str, ...]:
    """Privilege names upper-cased, aliases resolved and in a fixed order; ``("ALL",)`` when
    ALL is among them. Raises ``ValueError`` naming an unknown privilege."""
    wanted: set[str] = set()
    for name in names:
        upper = " ".join(str(name).upper().split())
        upper = _ALIASES.get(upper, upper)
        if upper == ALL:
            return (ALL,)
        if upper not in PRIVILEGE_COLUMNS:
            known = ", ".join([ALL, *PRIVILEGE_COLUMNS])
            raise ValueError(f"{name!r} is not a database privilege (known: {known})")
        wanted.add(upper)
    return tuple(p for p in PRIVILEGE_COLUMNS if p in wanted)


def native_password_hash(password: str) -> str:
    """The ``mysql_native_password`` hash of ``password`` (UTF-8): ``*`` and 40 hex digits,
    what the server stores, so the password itself never leaves this process."""
    stage1 = hashlib.sha1(password.encode("utf-8")).digest()
    return "*" + hashlib.sha1(stage1).hexdigest().upper()

"""Settings of the mysql backends, per server or route (defaults fit Debian's mariadb-server)."""

from __future__ import annotations

import re
from typing import Any

import attrs

from orchestra_mysql import sql

__all__ = ["AUTH_PLUGINS", "FLAVORS", "OVER_QUOTA_REVOKE", "MySQLSettings"]


# The core's validators, imported when first used: importing this package (its pytest fixtures
# in ``orchestra_mysql.testing`` do) must not import orchestra_core.
def absolute_path(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """See :func:`orchestra_core.driver.absolute_path`."""
    from orchestra_core import driver

    driver.absolute_path(instance, attribute, value)


def program(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """See :func:`orchestra_core.driver.program`."""
    from orchestra_core import driver

    driver.program(instance, attribute, value)


#: Server families: their SQL differs in a few places (authentication, name lengths).
FLAVORS = ("mariadb", "mysql")
#: How passwords are stored. ``mysql_native_password`` is hashed here and only its hash
#: travels; the others need the password itself, which travels on the mysql client's stdin.
AUTH_PLUGINS = ("mysql_native_password", "caching_sha2_password", "ed25519")
#: What a database over its size allocation no longer lets its users do: add rows (INSERT,
#: which also covers REPLACE, LOAD DATA, INSERT ... SELECT), add tables (CREATE, also CREATE
#: TABLE ... SELECT and RENAME TABLE), add columns or indexes (ALTER, INDEX: MariaDB runs
#: ALTER TABLE with the ALTER privilege alone, and CREATE INDEX with INDEX alone, and either
#: grows every row or an index; the copy an ALTER TABLE makes doubles the table for a while).
#: Kept: SELECT (the site stays readable), DELETE, DROP (TRUNCATE, DROP TABLE) and DELETE
#: HISTORY, which free space; UPDATE, which rewrites rows in place (it can grow a value, but
#: an application needs it to keep working on its rows, and it can shrink them too: add it
#: for a hard limit); CREATE TEMPORARY TABLES (they live in the server's tmpdir for one
#: session, outside the database's size); views, routines, triggers and events, which hold
#: no data (what they write is checked against their definer's privileges, those of a user of
#: the same database, reduced alike); LOCK TABLES, REFERENCES, EXECUTE, SHOW VIEW.
OVER_QUOTA_REVOKE = ("INSERT", "CREATE", "INDEX", "ALTER")
#: A user's host part: a name, an address, a netmask or a ``%`` / ``_`` pattern.
USER_HOST = re.compile(r"[A-Za-z0-9._%:/-]{1,255}")


def _lower(value: object) -> object:
    """A valid host part in lower case, as the server keeps it: it lower-cases the host part
    of every account it creates, so ``LocalHost`` would never be found again. An invalid one
    is left as written, for the validator's error to show."""
    if isinstance(value, str) and USER_HOST.fullmatch(value):
        return value.lower()
    return value


def _privileges(value: object) -> object:
    """Privilege names in their canonical form and order (``insert`` is ``INSERT``); what is
    not a list of known names is left as written, for the validator's error to show."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return value
    try:
        return sql.canonical_privileges(value)
    except ValueError:
        return tuple(value)


def _withheld(_: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    if not isinstance(value, tuple):
        raise ValueError(f"{attribute.name} must be a list of privilege names, not {value!r}")
    if value == (sql.ALL,):
        raise ValueError(
            f"{attribute.name} cannot be ALL: suspend the account to take everything away"
        )
    for name in value:
        sql.canonical_privileges([name])  # raises, naming an unknown one


def _user_host(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not USER_HOST.fullmatch(value):
        raise ValueError(
            f"{attribute.name} {value!r} is not a host name, address or pattern "
            "(letters, digits and . _ % : / -)"
        )


@attrs.frozen(kw_only=True)
class MySQLSettings:
    """How the backends reach the server's ``mysql`` client, and how they create users.

    The client runs on the server (over the transport, so SSH works) as the admin that
    ``defaults_file`` names (a client option file, e.g. ``/etc/mysql/debian.cnf``); without
    one it logs in as the system user that runs the batch (root over the unix socket on
    Debian).
    """

    #: The client program (``mariadb`` or ``mysql``); options go in ``defaults_file``.
    client: str = attrs.field(default="mysql", validator=program)
    #: Client option file holding the admin login (``--defaults-file``); None for the default.
    defaults_file: str | None = attrs.field(default=None, validator=absolute_path)
    flavor: str = attrs.field(default="mariadb", validator=attrs.validators.in_(FLAVORS))
    #: The host part of every account created (``user@host``): ``%`` (any), ``localhost``...
    #: in lower case, as the server keeps it.
    user_host: str = attrs.field(default="%", converter=_lower, validator=_user_host)
    auth_plugin: str = attrs.field(
        default="mysql_native_password", validator=attrs.validators.in_(AUTH_PLUGINS)
    )
    #: Where a database is dumped (``NAME-YYYYmmddTHHMMSSZ.sql.gz``) before it is dropped;
    #: None drops it without a dump.
    dump_dir: str | None = attrs.field(default=None, validator=absolute_path)
    dump_client: str = attrs.field(default="mysqldump", validator=program)
    #: Privileges every user of a database loses on it while the database is over its
    #: ``mysql-database-size`` allocation, and gets back when it recovers: what makes the data
    #: grow (see :data:`OVER_QUOTA_REVOKE`). Empty: an allocation is only reported.
    over_quota_revoke: tuple[str, ...] = attrs.field(
        default=OVER_QUOTA_REVOKE, converter=_privileges, validator=_withheld
    )

    def shell_values(self) -> dict[str, Any]:
        """What every template's ``lib.sh.j2`` (the ``__my`` client function) takes."""
        return {
            "client": self.client,
            "defaults_file": self.defaults_file,
            "init": f"SET SESSION sql_mode = {sql.literal(sql.SESSION_SQL_MODE)}",
        }

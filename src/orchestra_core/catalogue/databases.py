"""Databases and the users that may use them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import attrs

from orchestra_core.errors import FieldError
from orchestra_core.model import checks
from orchestra_core.model.service import Service

__all__ = ["Database", "DatabaseUser"]

# Engine names, character sets and collations: short lower-case words (mysql, utf8mb4_0900_ai_ci).
_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A privilege name: words of letters (SELECT, CREATE TEMPORARY TABLES, ALL).
_PRIVILEGE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+){0,3}")


def _word(errors: list[FieldError], key: str, field: str, value: str) -> None:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        shown = repr(value[:80]) if isinstance(value, str) else type(value).__name__
        errors.append(
            FieldError(
                key,
                field,
                f"{shown} must be 1 to 64 lower-case letters, digits or '_', "
                "starting with a letter",
            )
        )


@attrs.frozen(kw_only=True)
class Database(Service):
    """A database on the engine ``type`` (``mysql``); names are unique per engine.

    The core checks names generically (ASCII letters, digits, ``_ $ -``; at most 64
    characters); drivers add their engine's own rules. ``collation`` of None means the
    charset's default.
    """

    kind: ClassVar[str] = "database"
    plural: ClassVar[str] = "databases"

    name: str
    type: str = "mysql"
    charset: str = "utf8mb4"
    collation: str | None = None

    @property
    def identity(self) -> str:
        """``TYPE/NAME``."""
        return f"{self.type}/{self.name}"

    @classmethod
    def key_of(cls, name: str, type: str = "mysql") -> str:
        """The key of the database ``name`` on the engine ``type`` (``database:TYPE/NAME``),
        without building one: how a database user names the databases it is granted."""
        return f"{cls.kind}:{type}/{name}"

    def check(self) -> list[FieldError]:
        """Problems with the name, engine, charset and collation."""
        errors = super().check()
        key = self.key
        checks.identifier_field(errors, key, "name", self.name, max_length=64)
        _word(errors, key, "type", self.type)
        _word(errors, key, "charset", self.charset)
        if self.collation is not None:
            _word(errors, key, "collation", self.collation)
        return errors


@attrs.frozen(kw_only=True)
class DatabaseUser(Service):
    """A database login on the engine ``type`` with rights on ``databases`` (by name).

    ``privileges`` are what it may do on each of them: ``ALL`` (the default, what an owner
    gets), or the engine's privilege names (``SELECT``, ``INSERT``...), which its driver
    checks. The password is never a field: it travels in a ``set_password`` operation only.
    """

    kind: ClassVar[str] = "databaseuser"
    plural: ClassVar[str] = "databaseusers"

    username: str
    type: str = "mysql"
    databases: tuple[str, ...] = ()
    privileges: tuple[str, ...] = ("ALL",)

    @property
    def identity(self) -> str:
        """``TYPE/USERNAME``."""
        return f"{self.type}/{self.username}"

    def check(self) -> list[FieldError]:
        """Problems with the user name, engine and database names."""
        errors = super().check()
        key = self.key
        checks.identifier_field(errors, key, "username", self.username, max_length=80)
        _word(errors, key, "type", self.type)
        for i, name in enumerate(self.databases):
            checks.identifier_field(errors, key, f"databases[{i}]", name, max_length=64)
        checks.unique_items(errors, key, "databases", self.databases)
        if not self.privileges:
            errors.append(FieldError(key, "privileges", "must name at least one privilege"))
        for i, name in enumerate(self.privileges):
            if not isinstance(name, str) or len(name) > 40 or not _PRIVILEGE.fullmatch(name):
                shown = repr(name[:80]) if isinstance(name, str) else type(name).__name__
                errors.append(
                    FieldError(
                        key,
                        f"privileges[{i}]",
                        f"{shown} is not a privilege name "
                        "(one to four words of letters, 40 characters at most)",
                    )
                )
        checks.unique_items(
            errors, key, "privileges", tuple(str(p).upper() for p in self.privileges)
        )
        return errors

    def references(self) -> Sequence[tuple[str, str]]:
        """Every database it is granted (which must exist in the same account)."""
        return [
            (f"databases[{i}]", Database.key_of(name, self.type))
            for i, name in enumerate(self.databases)
        ]

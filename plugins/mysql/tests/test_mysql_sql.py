"""Quoting and canonical privileges, with no server (the server-side proofs are in
test_mysql_server.py)."""

from __future__ import annotations

import pytest
from orchestra_mysql import sql


def test_identifier_doubles_backticks() -> None:
    assert sql.identifier("shop") == "`shop`"
    assert sql.identifier("a`b") == "`a``b`"
    assert sql.account("u`", "%") == "`u```@`%`"
    with pytest.raises(ValueError, match="NUL"):
        sql.identifier("a\x00b")


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ('say "hi"', "'say \\\"hi\\\"'"),
        ("back\\slash", "'back\\\\slash'"),
        ("two\nlines\r", "'two\\nlines\\r'"),
        ("ctrl-z\x1a", "'ctrl-z\\Z'"),
        ("%_ stay", "'%_ stay'"),
        ("ünï", "'ünï'"),
    ],
)
def test_literal_escapes(value: str, quoted: str) -> None:
    assert sql.literal(value) == quoted


def test_literal_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        sql.literal("a\x00")


def test_grant_pattern_escapes_wildcards() -> None:
    assert sql.grant_pattern("shop_1") == "shop\\_1"
    assert sql.grant_pattern("plain") == "plain"
    assert sql.grant_pattern("a%b") == "a\\%b"


def test_canonical_privileges() -> None:
    assert sql.canonical_privileges(["all privileges"]) == ("ALL",)
    assert sql.canonical_privileges(["SELECT", "ALL"]) == ("ALL",)
    assert sql.canonical_privileges(["insert", "select", "Lock  Tables"]) == (
        "SELECT",
        "INSERT",
        "LOCK TABLES",
    )
    with pytest.raises(ValueError, match="'SUPER' is not a database privilege"):
        sql.canonical_privileges(["SUPER"])


def test_native_password_hash_is_the_servers() -> None:
    # PASSWORD('abc') on MariaDB 10.11 and MySQL 5.7.
    assert sql.native_password_hash("abc") == "*0D3CED9BEC10A777AEC23CCC353A8C08A633045E"

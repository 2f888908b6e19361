"""What ``orchestra validate`` passed and plan or apply then tripped on (issue 14): each is
refused at validation now, with the file, the line and the field, and never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from orchestra_core.catalogue import Mailbox
from orchestra_core.errors import FieldError, shown
from orchestra_core.inventory import located
from orchestra_core.model import checks
from orchestra_core.model.convert import structure_account
from orchestra_core.model.service import Account
from orchestra_core.registry import Registry
from tests.inventory.cli_run import example, line_of, orchestra, validate

HOSTING = "hosting.yaml"
DB1 = "    root: sandbox/db1"
MODE = '      file_mode: "0600"'


def with_db1_settings(settings: str) -> str:
    return example(HOSTING, DB1, f"{DB1}\n    settings:\n{settings}")


def test_an_unknown_transport(tmp_path: Path) -> None:
    text = example(
        HOSTING,
        "    transport: local\n    root: sandbox/web1",
        "    transport: carrier-pigeon\n    root: sandbox/web1",
    )
    said = validate(text, tmp_path)
    assert said.code == 2
    assert said.error() == (
        f"{line_of(HOSTING, '  - name: web1') + 1}: server:web1: transport: unknown transport "
        "'carrier-pigeon' (installed transports: local, recording, ssh)"
    )


def test_a_command_given_as_a_string(tmp_path: Path) -> None:
    # `checker: 'true'` would have been split into the letters t, r, u, e as argv
    text = example(HOSTING, '      file_mode: "0600"', "      checker: 'true'")
    said = validate(text, tmp_path)
    assert said.code == 2
    assert said.error() == (
        f"{line_of(HOSTING, MODE)}: route 'dummy-databaseuser[True]': "
        "settings: setting 'checker' must be a list of strings, got 'true'"
    )


def test_settings_under_a_name_that_is_no_backend(tmp_path: Path) -> None:
    said = validate(with_db1_settings("      dummy-databse: {file_mode: '0600'}"), tmp_path)
    assert said.code == 2
    assert said.error() == (
        f"{line_of(HOSTING, DB1) + 2}: server:db1: settings: unknown key 'dummy-databse' (did "
        "you mean 'dummy-database'?): a server's settings hold ssh, state_dir, timeouts and, "
        "under its name, the settings of an installed backend or monitor or of a driver's "
        "shared section (see `orchestra drivers`)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "settings.state_dir: must be an absolute path (a string), got 5"),
        ("", "settings.state_dir: must be an absolute path (a string), got null"),
        (
            "var/lib/orchestra",
            "settings.state_dir: 'var/lib/orchestra' is not an absolute path "
            "(it must start with '/')",
        ),
        ("/var/../etc", "settings.state_dir: '/var/../etc' must not contain '..'"),
    ],
)
def test_a_state_dir_that_is_not_an_absolute_path(tmp_path: Path, value: str, message: str) -> None:
    said = validate(with_db1_settings(f"      state_dir: {value}"), tmp_path)
    assert said.code == 2
    assert said.error() == f"{line_of(HOSTING, DB1) + 2}: server:db1: {message}"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("directory: var/dummy", "setting 'directory': 'var/dummy' is not an absolute path"),
        ("pid_file: run/dummy.pid", "setting 'pid_file': 'run/dummy.pid' is not an absolute path"),
    ],
)
def test_a_driver_path_setting_that_is_not_absolute(
    tmp_path: Path, setting: str, message: str
) -> None:
    # a relative directory failed to render (no line), a relative pid_file was a traceback
    run = validate(example(HOSTING, MODE, f"      {setting}"), tmp_path)
    assert run.code == 2
    assert run.error().startswith(
        f"{line_of(HOSTING, MODE)}: route 'dummy-databaseuser[True]': settings: {message}"
    )


def test_a_quota_no_daemon_can_hold(tmp_path: Path) -> None:
    text = example(HOSTING, "        quota: 1073741824", f"        quota: {10**40}")
    said = validate(text, tmp_path)
    assert said.code == 2
    assert said.error() == (
        f"{line_of(HOSTING, '        quota: 1073741824')}: mailbox:info@acme.example: quota: "
        "a number of more than 40 digits is out of range 1..9223372036854775807"
    )
    errors: list[FieldError] = []
    assert not checks.int_field(errors, "k", "f", 2**63)
    assert checks.int_field(errors, "k", "f", 2**63 - 1)


def test_a_privilege_the_driver_does_not_know_is_placed_at_its_line(tmp_path: Path) -> None:
    # the mysql backend's own check: the planner refused it with no file or line
    text = example("mysql.yaml", "privileges: [SELECT, SHOW VIEW]", "privileges: [SELECT, FLY]")
    said = validate(text, tmp_path)
    assert said.code == 2
    line = line_of("mysql.yaml", "        privileges: [SELECT, SHOW VIEW]")
    assert said.error().startswith(
        f"{line}: databaseuser:mysql/acme_report: privileges[1]: 'FLY' is not a database "
        "privilege (known: ALL, SELECT,"
    )


def test_a_setting_required_by_neither_server_nor_route_is_placed_at_the_route() -> None:
    from orchestra_core.inventory import Routable, parse_inventory

    @attrs.frozen
    class Needs:
        host: str

    text = "servers: [{name: s}]\nroutes:\n  - backend: b\n    servers: [s]\n"
    with pytest.raises(Exception) as info:
        parse_inventory(
            text, service_types={}, routables={"b": Routable("domain", Needs)}, transports=None
        )
    assert str(info.value) == (
        "<inventory>:3: route 'b[True]': settings on server s: setting 'host' is required "
        "(a string)"
    )


def test_a_backend_check_that_crashes_is_a_problem_at_the_object() -> None:
    from orchestra_core.inventory import Routable, parse_inventory

    def check(obj: object, settings: object) -> list[FieldError]:
        raise KeyError("oops")

    @attrs.frozen
    class Nothing:
        pass

    text = (
        "servers: [{name: s}]\nroutes: [{backend: b, servers: [s]}]\n"
        "accounts:\n  - name: a\n    domains:\n      - name: a.example\n"
    )
    with pytest.raises(Exception) as info:
        parse_inventory(
            text,
            service_types=Registry.load().by_plural(),
            routables={"b": Routable("domain", Nothing, check)},
            transports=None,
        )
    assert str(info.value) == (
        "<inventory>:6: domain:a.example: backend b's check failed (KeyError: 'oops'): a bug "
        "of its driver"
    )


@pytest.mark.parametrize(
    ("written", "said"),
    [
        (
            "0644",
            "routes[8].settings.file_mode: 0644 is read by YAML as the octal number 420: quote "
            'it ("0644") for text such as a file mode, or write the number without a leading '
            "zero",
        ),
        (
            "644",
            "route 'dummy-databaseuser[True]': settings: setting 'file_mode' must be a string, "
            'got 644 (a mode is octal text in quotes: write "0644")',
        ),
    ],
)
def test_an_unquoted_mode_is_refused_never_guessed(tmp_path: Path, written: str, said: str) -> None:
    text = example(HOSTING, '      file_mode: "0600"', f"      file_mode: {written}")
    run = validate(text, tmp_path)
    assert run.code == 2
    assert run.error() == f"{line_of(HOSTING, MODE)}: {said}"


def test_a_base_60_number_is_refused(tmp_path: Path) -> None:
    text = example(HOSTING, "        quota: 1073741824", "        quota: 1:30")
    run = validate(text, tmp_path)
    assert run.code == 2
    assert (
        "accounts[0].mailboxes[0].quota: 1:30 is read by YAML as the base-60 number 90"
        in run.error()
    )


# -- lone surrogates ------------------------------------------------------------------------------


def test_a_lone_surrogate_in_the_text_is_refused_at_its_line() -> None:
    from orchestra_core.inventory import parse_inventory

    text = "accounts:\n  - name: acme\n    description: 'a\udc80b'\n"
    with pytest.raises(Exception) as info:  # libyaml's parser raised UnicodeEncodeError
        parse_inventory(text, service_types=Registry.load().by_plural())
    assert str(info.value) == "<inventory>:3: a lone surrogate '\\udc80' is not a character"


@pytest.mark.parametrize("loader", ["C", "pure"])
def test_a_lone_surrogate_written_as_an_escape_is_refused(
    monkeypatch: pytest.MonkeyPatch, loader: str
) -> None:
    from orchestra_core.inventory import parse_inventory

    if loader == "pure":  # PyYAML without libyaml reads "\udc80" into the string
        monkeypatch.setattr(located, "_LOADER", located._DepthLimitedLoader)
    text = 'accounts:\n  - name: acme\n    description: "a\\udc80b"\n'
    with pytest.raises(Exception) as info:
        parse_inventory(text, service_types=Registry.load().by_plural())
    assert str(info.value).startswith("<inventory>:3: ")
    assert "surrogate" in str(info.value) or "escape" in str(info.value)


def test_a_lone_surrogate_from_plain_data_or_an_object_is_refused() -> None:
    data = json.loads('{"name": "acme", "description": "x\\udc80y"}')
    with pytest.raises(Exception) as info:
        structure_account(data)
    assert str(info.value) == (
        "account:acme: description: holds a lone surrogate '\\udc80', which is not a "
        "character: no file, script or log can hold it"
    )
    account = Account(name="acme", description="x\udc80y")
    assert [e.field for e in account.check()] == ["description"]
    assert Mailbox(account="acme", address="a@b.example").check() == []


# -- errors that had no file or line --------------------------------------------------------------


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    run = validate(b"servers:\n  - name: web1\n  - name: w\xffb\n", tmp_path)
    assert run.code == 2
    assert run.error() == "3: the inventory is not UTF-8 text: byte b'\\xff' (invalid start byte)"


@pytest.mark.parametrize("loader", ["C", "pure"])
@pytest.mark.parametrize("depth", [70, 900, 5000])
def test_deep_nesting_names_the_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loader: str, depth: int
) -> None:
    if loader == "pure":  # its composer recursed into a RecursionError: no line
        monkeypatch.setattr(located, "_LOADER", located._DepthLimitedLoader)
    elif getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML without libyaml")
    run = validate("servers:\n  - name: web1\n    settings: " + "[" * depth + "]" * depth, tmp_path)
    assert run.code == 2
    assert run.error().startswith("3: "), run.stderr
    assert "nest" in run.error()


def test_a_number_too_long_to_read_names_the_line(tmp_path: Path) -> None:
    text = example(HOSTING, "        quota: 1073741824", "        quota: " + "9" * 5000)
    run = validate(text, tmp_path)
    assert run.code == 2
    assert run.error() == (
        f"{line_of(HOSTING, '        quota: 1073741824')}: accounts[0].mailboxes[0].quota: "
        "'9999999999999999999999999999999999999999'... (5000 characters) is a number too long "
        "to read"
    )


def test_a_rendering_failure_names_the_objects_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A driver that fails on an object the inventory passed: the error is at the object's
    file and line, says whose bug it is, and is no traceback."""
    from orchestra_core.backends.base import RenderContext
    from orchestra_core.dummy.backend import DummyBackend

    def boom(self: DummyBackend, ctx: RenderContext[Any]) -> list[object]:
        if ctx.obj.kind == "mailbox":
            raise ValueError("no template for x")
        return []

    monkeypatch.setattr(DummyBackend, "render", boom)
    run = validate(example(HOSTING), tmp_path)
    assert run.code == 2
    assert run.error() == (
        f"{line_of(HOSTING, '      - address: info@acme.example')}: backend dummy-mailbox "
        "(mailbox:info@acme.example): rendering save failed: no template for x (a ValueError "
        "in the driver: the inventory passed validation, so report this to the driver's authors)"
    )


# -- names in messages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "acme\nerror: forged line",
        "acme\x1b[2J\x1b[31mred",
        "acme\x1b]0;title\x07",
        "acme\x00nul",
        "acme\u202eevil",
        "a" * 10_000,
    ],
)
def test_an_object_key_is_escaped_and_shortened(tmp_path: Path, name: str) -> None:
    text = example(HOSTING, "      - name: acme_shop\n", f"      - name: {json.dumps(name)}\n")
    run = validate(text, tmp_path)
    assert run.code == 2
    assert run.exception is None
    for line in run.stderr.splitlines():
        assert line.isprintable(), line
        assert len(line) < 700, len(line)
    assert run.stderr.startswith("error: "), run.stderr
    assert shown(f"database:mysql/{name}") in run.stderr
    as_json = orchestra("validate", run.file, "--json")
    assert as_json.code == 2
    [error] = [e for e in json.loads(as_json.stdout)["error"]["errors"] if e["field"] == "name"]
    assert error["object_key"] == f"database:mysql/{name}"  # JSON stays exact


def test_shown_leaves_a_plain_name_and_escapes_the_rest() -> None:
    assert shown("domain:acme.example") == "domain:acme.example"
    assert shown("domain:a\nb") == "'domain:a\\nb'"
    assert shown("x" * 101) == repr("x" * 100) + "... (101 characters)"
    assert shown("a\udc80") == "'a\\udc80'"
    assert str(FieldError("k\x1b[0m", "f\n", "m")) == "'k\\x1b[0m': 'f\\n': m"

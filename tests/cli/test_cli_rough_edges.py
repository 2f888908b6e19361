"""Rough edges an outside tester found: each is a clean error or a stable JSON document now."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra_core.storage import head_revision
from tests.cli.helpers import EXAMPLE, orchestra


def test_db_status_json(tmp_path: Path) -> None:
    db = str(tmp_path / "orchestra.sqlite")
    fresh = orchestra("--db", db, "db", "status", "--json", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout) == {
        "revision": None,
        "needed": head_revision(),
        "current": False,
    }
    assert orchestra("--db", db, "db", "upgrade", cwd=tmp_path).returncode == 0
    done = orchestra("--db", db, "db", "status", "--json", cwd=tmp_path)
    assert json.loads(done.stdout) == {
        "revision": head_revision(),
        "needed": head_revision(),
        "current": True,
    }


# -- orchestra validate reports what only apply or plan found before ----------------------------


def validate(workdir: Path, old: str, new: str) -> tuple[int, str]:
    path = workdir / "hosting.yaml"
    text = EXAMPLE.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    done = orchestra("--db", "memory", "validate", "hosting.yaml", cwd=workdir)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def line_of(text: str) -> int:
    """The line of ``text`` in the example inventory."""
    return EXAMPLE.read_text().splitlines().index(text) + 1


def test_validate_refuses_an_unknown_transport(tmp_path: Path) -> None:
    code, said = validate(
        tmp_path,
        "    transport: local\n    root: sandbox/web1",
        "    transport: sssh\n    root: sandbox/web1",
    )
    assert code == 2
    web1 = line_of("  - name: web1") + 1
    assert said == (
        f"error: hosting.yaml:{web1}: server:web1: transport: unknown transport 'sssh' "
        "(did you mean 'ssh'?; installed transports: local, recording, ssh)\n"
    )


def test_validate_places_a_route_setting_at_its_line(tmp_path: Path) -> None:
    line = line_of('      file_mode: "0600"')
    code, said = validate(tmp_path, 'file_mode: "0600"', 'file_mod: "0600"')
    assert code == 2
    assert said == (
        f"error: hosting.yaml:{line}: route 'dummy-databaseuser[True]': settings: unknown "
        "setting 'file_mod' of backend dummy-databaseuser (did you mean 'file_mode'?)\n"
    )
    code, said = validate(tmp_path, 'file_mode: "0600"', "file_mode: 0600")
    assert said == (
        f"error: hosting.yaml:{line}: routes[8].settings.file_mode: 0600 is read by YAML as the "
        'octal number 384: quote it ("0600") for text such as a file mode, or write the number '
        "without a leading zero\n"
    )
    code, said = validate(tmp_path, 'file_mode: "0600"', "file_mode: 600")
    assert said == (
        f"error: hosting.yaml:{line}: route 'dummy-databaseuser[True]': settings: setting "
        "'file_mode' must be a string, got 600 (a mode is octal text in quotes: write \"0600\")\n"
    )


def test_validate_places_a_server_setting_at_its_line(tmp_path: Path) -> None:
    root = "    root: sandbox/db1"
    code, said = validate(
        tmp_path, root, f"{root}\n    settings:\n      dummy-databaseuser:\n        file_mod: x"
    )
    assert code == 2
    assert said == (
        f"error: hosting.yaml:{line_of(root) + 3}: server:db1: settings[dummy-databaseuser]: "
        "unknown setting 'file_mod' of backend dummy-databaseuser (did you mean 'file_mode'?)\n"
    )


def test_validate_places_a_match_that_fails_at_its_line(tmp_path: Path) -> None:
    match = "    match: 'webapp.type == \"php\"'"
    code, said = validate(tmp_path, "webapp.type ==", "webapp.typ ==")
    assert code == 2
    assert said == (
        f"error: hosting.yaml:{line_of(match)}: route 'dummy-webapp[webapp.typ == \"php\"]': "
        "match: for webapp:acme/shop: webapp has no field 'typ' (did you mean 'type'?)\n"
    )

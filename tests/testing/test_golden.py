"""Golden renders: rendered_files names what a plan writes and runs; Golden compares it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_core import ChangeSet, Orchestra, Route, Secret, Server
from orchestra_core.backends.steps import Command
from orchestra_core.catalogue import Domain, SystemUser
from orchestra_core.model.secret import REDACTED
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.testing.golden import Golden, GoldenMismatch, rendered_files


def plan_of(*servers: str) -> Plan:
    engine = Orchestra(
        servers=[Server(name=name) for name in servers],
        routes=[
            Route(backend="dummy-domain", servers=servers),
            Route(backend="dummy-systemuser", servers=servers[:1]),
        ],
    )
    user = SystemUser(account="acme", name="u1")
    changes = ChangeSet().save(Domain(account="acme", name="example.com")).save(user)
    return engine.plan(changes.set_password(user, Secret("hunter2")))


def test_rendered_files_names_each_written_file_by_its_path() -> None:
    files = rendered_files(plan_of("box"))
    assert sorted(files) == [
        "var/lib/orchestra-dummy/domain/example.com.conf",
        "var/lib/orchestra-dummy/systemuser/u1.conf",
        "var/lib/orchestra-dummy/systemuser/u1.conf.secret",
    ]
    assert "key = domain:example.com\n" in files["var/lib/orchestra-dummy/domain/example.com.conf"]
    assert files["var/lib/orchestra-dummy/systemuser/u1.conf.secret"] == REDACTED + "\n"


def test_several_servers_get_a_folder_each() -> None:
    files = rendered_files(plan_of("a", "b"))
    assert "a/var/lib/orchestra-dummy/domain/example.com.conf" in files
    assert "b/var/lib/orchestra-dummy/domain/example.com.conf" in files


def test_commands_are_numbered_with_their_unless() -> None:
    steps = (
        Command(description="create the thing", script="make it", unless="test -e it"),
        Command(description="second!", script="again\n"),
    )
    op = PlannedOperation(
        id="x", server="box", backend="b", action="save", object_keys=("k",), steps=steps
    )
    plan = Plan(servers=(ServerPlan(server=Server(name="box"), operations=(op,)),))
    assert rendered_files(plan) == {
        "commands/01-create-the-thing.sh": "make it\n# unless:\ntest -e it\n",
        "commands/02-second.sh": "again\n",
    }


def test_update_writes_then_check_passes(tmp_path: Path) -> None:
    files = {"etc/a.conf": "one\n", "etc/sub/b.conf": "two\r\nno final newline"}
    Golden(tmp_path, update=True).check("snap", files)
    assert (tmp_path / "snap/etc/sub/b.conf").read_bytes() == b"two\r\nno final newline"
    Golden(tmp_path).check("snap", files)


def test_a_difference_is_shown_as_a_diff(tmp_path: Path) -> None:
    Golden(tmp_path, update=True).check("snap", {"a.conf": "one\ntwo\n", "gone.conf": "x"})
    with pytest.raises(GoldenMismatch) as raised:
        Golden(tmp_path).check("snap", {"a.conf": "one\nTWO\n", "new.conf": "y"})
    text = str(raised.value)
    assert "-two\n+TWO" in text
    assert "gone.conf: golden file no longer rendered" in text
    assert "new.conf: rendered but has no golden file" in text
    assert "--update-golden" in text


def test_update_removes_files_no_longer_rendered(tmp_path: Path) -> None:
    Golden(tmp_path, update=True).check("snap", {"a": "1", "b": "2"})
    Golden(tmp_path, update=True).check("snap", {"a": "1"})
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["a"]


def test_a_missing_snapshot_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(GoldenMismatch, match="run pytest --update-golden"):
        Golden(tmp_path).check("never", {"a": "1"})


@pytest.mark.parametrize("name", ["../up", "a/b", "", ".hidden"])
def test_snapshot_names_are_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="simple file names"):
        Golden(tmp_path).check(name, {})


@pytest.mark.parametrize("relative", ["/abs", "a/../../b"])
def test_file_names_stay_inside(tmp_path: Path, relative: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        Golden(tmp_path, update=True).check("snap", {relative: "x"})

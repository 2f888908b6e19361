"""The ``orchestra`` command, run as an operator runs it: a real process in a working folder."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import EXAMPLE, ORCHESTRA, ROOT, orchestra


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE, tmp_path / "hosting.yaml")
    return tmp_path


def test_drivers_lists_dummy_with_its_distribution() -> None:
    done = orchestra("drivers", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "DRIVER",
        "DISTRIBUTION",
        "VERSION",
        "BACKEND",
        "SERVICE",
        "TYPE",
        "ACTIONS",
        "CHECK",
        "OBSERVES",
    ]
    row = next(line.split() for line in lines if "dummy-mailbox" in line)
    assert row[0] == "dummy" and row[1] == "orchestra-core"
    assert row[4:] == ["mailbox", "delete,save,set_password", "files"]
    as_json = json.loads(orchestra("drivers", "--json", cwd=ROOT).stdout)
    [domain] = [d for d in as_json if d["backend"] == "dummy-domain"]
    assert domain["driver"] == "dummy" and domain["service_type"] == "domain"
    assert domain["actions"] == ["delete", "save"]
    assert domain["observes"] == "files"


def test_plan_shows_steps_per_server_with_full_file_content(workdir: Path) -> None:
    done = orchestra("plan", "hosting.yaml", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert f"server ns1 via local (root {workdir}/sandbox/ns1)" in done.stdout
    assert "+key = domain:acme.example" in done.stdout
    assert "+active = yes" in done.stdout
    assert not (workdir / "sandbox").exists(), "plan must not touch anything"


def test_plan_json_is_the_plan_as_data(workdir: Path) -> None:
    done = orchestra("plan", "hosting.yaml", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    servers = {s["server"]["name"]: s for s in data["servers"]}
    assert set(servers) == {"ns1", "mail1", "web1", "db1"}
    web = [(op["action"], op["backend"]) for op in servers["web1"]["operations"]]
    assert web == [
        ("save", "dummy-systemuser"),
        ("save", "dummy-webapp"),
        ("save", "dummy-website"),
        ("reload", "dummy-website"),
    ]
    write = servers["ns1"]["operations"][0]["steps"][1]
    assert write["kind"] == "write" and "key = domain:acme.example" in write["content"]


def test_apply_writes_into_the_sandbox_and_a_second_apply_changes_nothing(workdir: Path) -> None:
    first = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().splitlines()[-1] == "22 steps: 22 changed"
    conf = workdir / "sandbox/ns1/var/lib/orchestra-dummy/domain/acme.example.conf"
    assert "key = domain:acme.example" in conf.read_text()
    assert (
        oct(
            (workdir / "sandbox/db1/var/lib/orchestra-dummy/databaseuser/mysql%2Facme_shop.conf")
            .stat()
            .st_mode
            & 0o777
        )
        == "0o600"
    )
    second = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "changes: 0 new, 0 changed, 0 removed, 9 unchanged",
        "nothing to do",
    ]
    resync = orchestra("apply", "hosting.yaml", "--yes", "--all", cwd=workdir)
    assert resync.returncode == 0, resync.stderr
    assert resync.stdout.rstrip().splitlines()[-1] == "22 steps: 22 unchanged"
    reloads = workdir / "sandbox/ns1/var/lib/orchestra-dummy/reloads.log"
    assert len(reloads.read_text().splitlines()) == 1, "no reload when nothing changed"


def test_apply_json_prints_the_operation_logs(workdir: Path) -> None:
    done = orchestra("apply", "hosting.yaml", "--yes", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    logs = json.loads(done.stdout)
    assert len(logs) == 13
    assert {log["state"] for log in logs} == {"success"}
    assert all(step["state"] == "success" for log in logs for step in log["steps"])


def test_apply_without_yes_off_a_terminal_refuses_and_changes_nothing(workdir: Path) -> None:
    done = orchestra("apply", "hosting.yaml", cwd=workdir)
    assert done.returncode == 2
    assert "pass --yes" in done.stderr
    assert not (workdir / "sandbox").exists()


def test_a_failing_step_exits_1_and_aborts_the_rest_of_that_server(workdir: Path) -> None:
    blocker = workdir / "sandbox/web1/var/lib/orchestra-dummy/systemuser"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where a directory should be")
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert done.returncode == 1
    assert "web1: save systemuser:acme [dummy-systemuser] -> failure" in done.stdout
    assert "web1: save website:acme/main [dummy-website] -> aborted" in done.stdout
    assert "ns1: save domain:acme.example [dummy-domain] -> success" in done.stdout


def test_malformed_inventory_names_file_and_line_without_traceback(workdir: Path) -> None:
    text = (
        (workdir / "hosting.yaml").read_text().replace("name: acme.example", "name: acme..example")
    )
    (workdir / "bad.yaml").write_text(text)
    done = orchestra("plan", "bad.yaml", cwd=workdir)
    assert done.returncode == 2
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "acme..example" in row)
    assert f"bad.yaml:{line}:" in done.stderr
    assert "Traceback" not in done.stderr


def test_yaml_syntax_error_and_missing_file(workdir: Path) -> None:
    (workdir / "broken.yaml").write_text("servers:\n  - name: [unclosed\n")
    done = orchestra("plan", "broken.yaml", cwd=workdir)
    assert done.returncode == 2 and "broken.yaml:" in done.stderr and "Traceback" not in done.stderr
    done = orchestra("plan", "absent.yaml", cwd=workdir)
    assert done.returncode == 2 and "absent.yaml" in done.stderr and "Traceback" not in done.stderr


def _apply_on_a_terminal(workdir: Path, answer: bytes) -> tuple[int, str]:
    """Run ``orchestra apply`` with a pseudo-terminal as stdin and answer its question."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [ORCHESTRA, "apply", "hosting.yaml"],
            cwd=workdir,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        os.write(master, answer)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    return proc.returncode, out.decode()


def test_apply_on_a_terminal_asks_and_applies_on_yes(workdir: Path) -> None:
    code, out = _apply_on_a_terminal(workdir, b"y\n")
    assert code == 0, out
    assert "Apply this plan? [y/N]" in out
    assert out.rstrip().splitlines()[-1] == "22 steps: 22 changed"


def test_apply_on_a_terminal_does_nothing_on_no(workdir: Path) -> None:
    code, out = _apply_on_a_terminal(workdir, b"n\n")
    assert code == 2, out
    assert "not applied" in out
    assert not (workdir / "sandbox").exists()


def test_validate_counts_what_it_checked(workdir: Path) -> None:
    done = orchestra("validate", "hosting.yaml", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("hosting.yaml: 4 servers, 10 routes, 1 accounts, 9 services: valid\n")
    assert not (workdir / "sandbox").exists()


def test_an_error_shows_the_operator_no_python(workdir: Path) -> None:
    text = (workdir / "hosting.yaml").read_text()
    (workdir / "hosting.yaml").write_text(
        text.replace("databases: [acme_shop]", "databases: [nope]")
    )
    done = orchestra("validate", "hosting.yaml", cwd=workdir)
    assert done.returncode == 2
    assert (
        "databases[0]: names database:mysql/nope, which is neither in the inventory" in done.stderr
    )
    assert "ServiceIndex" not in done.stderr and "Traceback" not in done.stderr
    done = orchestra("--db", "memory", "db", "status", cwd=workdir)
    assert done.returncode == 2 and "MemoryStore" not in done.stderr

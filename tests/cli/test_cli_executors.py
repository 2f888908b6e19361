"""``apply --executor NAME`` (and ``monitor``'s) and the logs that ``orchestra monitor`` leaves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.helpers import EXAMPLE, applied_example, orchestra


def test_apply_runs_through_the_executor_it_names(tmp_path: Path) -> None:
    workdir = tmp_path
    shutil.copy(EXAMPLE, workdir / "hosting.yaml")
    done = orchestra("apply", "hosting.yaml", "--yes", "--executor", "threads", cwd=workdir)
    assert done.returncode == 0, done.stderr
    unknown = orchestra("apply", "hosting.yaml", "--yes", "--executor", "celery", cwd=workdir)
    assert unknown.returncode == 2
    assert "error: unknown executor 'celery'; installed executors: threads" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_monitor_run_leaves_logs_beside_the_applies(tmp_path: Path) -> None:
    workdir = applied_example(tmp_path)
    (workdir / "sandbox/web1/home/acme").mkdir(parents=True, exist_ok=True)
    applied = json.loads(orchestra("log", "--json", "--limit", "1000", cwd=workdir).stdout)
    refused = orchestra("monitor", "--executor", "nope", cwd=workdir)
    assert refused.returncode == 2 and "unknown executor 'nope'" in refused.stderr
    done = orchestra("monitor", "--json", "--executor", "threads", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr

    logs = json.loads(orchestra("log", "--json", "--limit", "1000", cwd=workdir).stdout)
    new = [entry for entry in logs if entry["id"] not in {e["id"] for e in applied}]
    assert new and all(entry["action"] == "monitor" for entry in new)
    assert {entry["state"] for entry in new} == {"nothing"}
    assert all(entry["steps"] and entry["finished_at"] for entry in new)
    table = orchestra("log", cwd=workdir).stdout
    assert "monitor" in table
    shown = orchestra("log", "show", new[0]["id"][:12], cwd=workdir)
    assert shown.returncode == 0 and "state nothing" in shown.stdout


def test_a_log_row_names_the_first_objects_and_counts_the_rest() -> None:
    from orchestra_core.cli.log_commands import _objects

    assert _objects(("a:1", "a:2")) == "a:1, a:2"
    keys = tuple(f"systemuser:u{n}" for n in range(12))
    assert _objects(keys) == ", ".join(keys[:5]) + " and 7 more"

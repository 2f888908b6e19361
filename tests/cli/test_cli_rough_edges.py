"""Rough edges an outside tester found: each is a clean error or a stable JSON document now."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra_core.storage import head_revision

from .test_cli import orchestra


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

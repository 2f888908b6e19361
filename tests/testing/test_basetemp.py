"""A session's temp dirs stay reachable for the daemons' own users whatever other pytest
sessions do: pytest takes its shared root (``/tmp/pytest-of-root``) back to mode 0700 each
time a session starts, which cut a CI run's Mailman (running as ``list``) off its database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra_core.testing.basetemp import KEEP, private_basetemp
from orchestra_core.testing.daemon import traversable

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the daemons run as other users as root")


@as_root
def test_another_pytest_session_does_not_cut_a_daemon_user_off(tmp_path: Path) -> None:
    data = tmp_path / "daemon" / "data.txt"
    data.parent.mkdir()
    data.write_text("mine\n")
    data.chmod(0o644)
    traversable(data.parent)
    assert _read_as_nobody(data) == "mine\n"
    # A plain pytest session (no orchestra plugin) that uses tmp_path, as a generated
    # driver's tests do in a subprocess.
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text("def test_tmp(tmp_path):\n    assert tmp_path.is_dir()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:orchestra", "-p", "no:cacheprovider"],
        cwd=inner,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _read_as_nobody(data) == "mine\n"


def _read_as_nobody(path: Path) -> str:
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "cat", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else f"refused: {done.stderr.strip()}"


def test_ended_sessions_beyond_the_newest_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    dead = _dead_pids(KEEP + 2)
    for i, pid in enumerate(dead):
        folder = root / f"s{pid}"
        folder.mkdir(parents=True)
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    running = root / f"s{os.getpid()}"
    running.mkdir()
    os.utime(running, (1, 1))  # the oldest, but its session runs: kept
    (root / "notes").mkdir()  # not a session's: kept
    made = private_basetemp(root)
    assert made == root / f"s{os.getpid()}"
    kept = {p.name for p in root.iterdir()}
    assert kept == {running.name, "notes", *(f"s{pid}" for pid in dead[-KEEP:])}
    assert oct(root.stat().st_mode & 0o777) == "0o711"


def test_a_root_someone_else_made_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "root"
    link.symlink_to(target)
    with pytest.raises(OSError, match="is not a folder"):
        private_basetemp(link)


def _dead_pids(count: int) -> list[int]:
    """Ids of processes that ran and ended (and are not reused yet)."""
    pids = []
    for _ in range(count):
        child = subprocess.Popen(["true"])
        child.wait()
        pids.append(child.pid)
    time.sleep(0.01)
    return pids

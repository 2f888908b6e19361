"""``orchestra new-driver``, run as a driver author runs it: a real process in a working folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ORCHESTRA = str(Path(sys.executable).with_name("orchestra"))


def orchestra(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ORCHESTRA, *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def test_new_driver_writes_the_driver_here_and_says_what_next(tmp_path: Path) -> None:
    done = orchestra("new-driver", "mydaemon", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "orchestra-mydaemon"
    assert (target / "src" / "orchestra_mydaemon" / "backend.py").is_file()
    assert "the mydaemon-domain backend for domain objects" in done.stdout
    assert f"cd {target}" in done.stdout
    assert ".venv/bin/pytest" in done.stdout
    # It needs no store: the cli group's session must not open (and so create) one.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orchestra-mydaemon"]


def test_kind_and_directory(tmp_path: Path) -> None:
    done = orchestra("new-driver", "exim", "--kind", "mailbox", "-d", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    backend = tmp_path / "out" / "orchestra-exim" / "src" / "orchestra_exim" / "backend.py"
    assert 'name: ClassVar[str] = "exim-mailbox"' in backend.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_bad_name_is_a_clear_error(tmp_path: Path) -> None:
    done = orchestra("new-driver", "My Daemon", cwd=tmp_path)
    assert done.returncode == 2
    assert "error: driver name 'My Daemon' is not valid" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    done = orchestra("new-driver", "mydaemon", "--kind", "zone", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown service kind 'zone'" in done.stderr
    assert "domain, mailbox" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_named_and_kept(tmp_path: Path) -> None:
    (tmp_path / "orchestra-mydaemon").mkdir()
    done = orchestra("new-driver", "mydaemon", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'orchestra-mydaemon'} already exists" in done.stderr
    assert list((tmp_path / "orchestra-mydaemon").iterdir()) == []


def test_help_lists_the_command(tmp_path: Path) -> None:
    done = orchestra("--help", cwd=tmp_path)
    assert "new-driver" in done.stdout
    done = orchestra("new-driver", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "--kind" in done.stdout and "--directory" in done.stdout

"""no_io: what it refuses, what it lets through, and that it stays in its thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from orchestra_core.rendering.templates import Templates
from orchestra_core.testing.purity import ImpureCall, no_io


@pytest.mark.parametrize(
    ("label", "action"),
    [
        ("process", lambda p: subprocess.run(["true"], check=False)),
        ("system", lambda p: os.system("true")),
        ("read outside the code", lambda p: Path("/etc/hostname").read_bytes()),
        ("write", lambda p: p.write_text("x")),
        ("append", lambda p: open(p, "a").close()),
        ("os.open for writing", lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT))),
        ("mkdir", lambda p: p.mkdir()),
        ("remove", lambda p: os.remove(p)),
        ("rename", lambda p: os.rename(p, str(p) + ".2")),
        ("chmod", lambda p: os.chmod(p, 0o600)),
        ("connect", lambda p: socket.create_connection(("127.0.0.1", 9), timeout=0.1)),
        ("name lookup", lambda p: socket.getaddrinfo("localhost", 80)),
    ],
)
def test_io_is_refused_and_recorded(label: str, action: object, tmp_path: Path) -> None:
    target = tmp_path / "file"
    with no_io() as guard, pytest.raises(ImpureCall):
        action(target)  # type: ignore[operator]
    assert len(guard.events) == 1, label
    assert not (tmp_path / "file").exists() or label in ("remove", "rename", "chmod")


def test_swallowed_io_is_still_recorded() -> None:
    # Code that swallows errors, as a careless backend might.
    with no_io() as guard, contextlib.suppress(ImpureCall):
        subprocess.run(["true"], check=False)
    assert [event for event, _ in guard.events] == ["subprocess.Popen"]


def test_templates_and_computation_are_allowed() -> None:
    templates = Templates.for_package("orchestra_core.dummy")
    with no_io() as guard:
        text = templates.shell("reload.sh.j2", log="/var/log/x")
        data = sorted({"b": 1, "a": 2}.items())
    assert guard.events == []
    assert "'/var/log/x'" in text or "/var/log/x" in text
    assert data == [("a", 2), ("b", 1)]


def test_other_threads_and_code_after_the_block_are_free(tmp_path: Path) -> None:
    done: list[int] = []

    def elsewhere() -> None:
        done.append(subprocess.run(["true"], check=False).returncode)

    with no_io():
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert done == [0]
    (tmp_path / "after").write_text("free again")
    assert subprocess.run(["true"], check=False).returncode == 0

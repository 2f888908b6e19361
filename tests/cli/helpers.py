"""Helpers of the command-line tests: run ``orchestra`` as an operator does, on the example.

A plain module, imported by the tests (a test never imports another test module).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["EXAMPLE", "ORCHESTRA", "ROOT", "applied_example", "edit", "orchestra"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hosting.yaml"
ORCHESTRA = str(Path(sys.executable).with_name("orchestra"))


def orchestra(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ORCHESTRA, *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def applied_example(tmp_path: Path) -> Path:
    """``tmp_path`` with the example inventory as ``hosting.yaml``, applied."""
    shutil.copy(EXAMPLE, tmp_path / "hosting.yaml")
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def edit(workdir: Path, old: str, new: str) -> None:
    """Replace the first ``old`` of ``workdir``'s ``hosting.yaml`` with ``new``."""
    path = workdir / "hosting.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))

"""The docs are tested: the Python examples run, and the README's commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(doc: str) -> list[str]:
    return BLOCK.findall((ROOT / "docs" / doc).read_text())


@pytest.mark.parametrize("doc", ["embedding.md"])
def test_python_examples_run(doc: str, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(doc)
    assert blocks, f"{doc} has no Python example"
    namespace: dict[str, object] = {"__name__": f"docs.{doc}"}
    for block in blocks:
        exec(compile(block, f"docs/{doc}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "server ns1 via local" in out and "********" in out


def test_readme_quick_start_is_two_commands_that_the_makefile_has() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "make test"

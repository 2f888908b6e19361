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
    assert "2 new, 0 changed, 0 removed, 0 unchanged" in out
    assert "[('ns1', 'delete'), ('ns2', 'save')]" in out and "['mail1', 'ns2']" in out
    assert "home-disk exceeded" in out and '"code": "home_disk_gib_month"' in out


def test_readme_quick_start_is_two_commands_that_the_makefile_has() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "make test"


def test_testing_doc_gives_every_fixture_its_scope() -> None:
    from orchestra_core.testing import pytest_plugin

    doc = (ROOT / "docs" / "testing.md").read_text()
    rows = {
        cells[0].strip("` "): cells[1].strip()
        for cells in (line.strip("|").split("|") for line in doc.splitlines())
        if len(cells) > 2 and cells[0].strip().startswith("`")
    }
    fixtures = list(pytest_plugin.__all__)
    assert fixtures
    for name in fixtures:
        fixture = getattr(pytest_plugin, name)
        scope = fixture._fixture_function_marker.scope
        assert rows.get(name) == scope, f"docs/testing.md: {name} should be listed as {scope}"


def test_contract_doc_explains_every_contract_test() -> None:
    from orchestra_core.testing.contract import BackendContract

    doc = (ROOT / "docs" / "contract.md").read_text()
    headings = "\n".join(line for line in doc.splitlines() if line.startswith("### "))
    tests = [name for name in dir(BackendContract) if name.startswith("test_")]
    assert len(tests) >= 9
    for name in tests:
        assert f"`{name}`" in headings, f"docs/contract.md has no section for {name}"

"""The tests import no conftest and no other test module, and run under importlib mode.

Under ``--import-mode=importlib`` pytest imports each test file and conftest by its path, puts
nothing on ``sys.path``, and two plugins may hold test files of the same name. A test that
imports a conftest or another test module then gets a second copy of it, or nothing at all.
What tests share lives in plain helper modules (``tests/execution/helpers.py``, imported as
``tests.execution.helpers``), in fixtures, or in a driver's own testing module.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_files() -> list[Path]:
    files = sorted((ROOT / "tests").rglob("*.py"))
    files += sorted(ROOT.glob("plugins/*/tests/**/*.py"))
    return [f for f in files if "golden" not in f.parts]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``path``; a relative import starts with dots."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_no_test_imports_a_conftest_or_another_test_module() -> None:
    bad = []
    for path in python_files():
        for line, module in imported_modules(path):
            last = module.rsplit(".", 1)[-1]
            if last == "conftest" or last.startswith("test_") or module.startswith("."):
                bad.append(f"{path.relative_to(ROOT)}:{line}: import {module}")
    assert bad == [], "import helpers from a plain module (tests.x.helpers) or use a fixture"


def test_helpers_are_imported_through_the_tests_package() -> None:
    # A bare "import mysql_helpers" works only when pytest puts the test folder on sys.path.
    helpers = {p.stem for p in python_files() if not p.name.startswith(("test_", "conftest"))}
    bad = [
        f"{path.relative_to(ROOT)}:{line}: import {module}"
        for path in python_files()
        for line, module in imported_modules(path)
        if module.split(".")[0] in helpers - {"__init__"}
    ]
    assert bad == []


def test_pytest_runs_in_importlib_mode_with_the_checkout_on_its_path() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = config["ini_options"]
    assert "--import-mode=importlib" in options["addopts"].split()
    assert options["pythonpath"] == ["."]
    for folder in sorted({p.parent for p in (ROOT / "tests").rglob("test_*.py")}):
        assert (folder / "__init__.py").is_file(), f"{folder} is not a package of tests"

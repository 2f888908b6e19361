"""Drivers import orchestra only through its face, ``orchestra_core.driver`` (and their pytest
fixtures through ``orchestra_core.testing``): the distributions under ``plugins/``, the
built-in dummy driver, and the driver the ``new-driver`` template generates."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import orchestra_core.driver as face
from orchestra_core.scaffold.generate import FACE_NAMES

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "orchestra_core"
#: What a driver's pytest fixtures (its ``testing`` module) may import besides the face.
TESTING = "orchestra_core.testing"


#: How the template's placeholders are filled in to read it as Python.
FILLED = {
    "Kind": "Domain",
    "Class": "Example",
    "face_imports": "".join(f"    {name},\n" for name in (*FACE_NAMES, "Domain")),
}
#: The built-in dummy driver's own package, which it may import.
DUMMY = "orchestra_core.dummy"


def driver_modules() -> Iterator[tuple[str, Path, str]]:
    """(label, path, source) of every module of a driver: each plugin's ``src``, the dummy,
    and the template's Python files with their placeholders filled in."""
    for path in sorted(ROOT.glob("plugins/*/src/**/*.py")):
        yield str(path.relative_to(ROOT)), path, path.read_text(encoding="utf-8")
    for path in sorted((CORE / "dummy").glob("*.py")):
        yield str(path.relative_to(ROOT)), path, path.read_text(encoding="utf-8")
    for path in sorted((CORE / "scaffold" / "driver" / "src").rglob("*.py.tmpl")):
        text = re.sub(
            r"@@(\w+)@@", lambda m: FILLED.get(m.group(1), f"x_{m.group(1)}"), path.read_text()
        )
        yield str(path.relative_to(ROOT)), path, text


def core_imports(source: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import of an ``orchestra_core`` module, at any depth
    (inside functions and ``if TYPE_CHECKING:`` too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "orchestra_core":
                yield node.lineno, node.module, tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "orchestra_core":
                    yield node.lineno, alias.name, ()


MODULES = list(driver_modules())


def test_the_drivers_are_all_looked_at() -> None:
    labels = [label for label, _, _ in MODULES]
    for expected in ("bind9/backends.py", "mysql/backends.py", "dummy/backend.py"):
        assert any(label.endswith(expected) for label in labels), expected
    assert any(label.endswith("backend.py.tmpl") for label in labels)


@pytest.mark.parametrize(("label", "path", "source"), MODULES, ids=[m[0] for m in MODULES])
def test_a_driver_imports_only_the_face(label: str, path: Path, source: str) -> None:
    testing = path.name.startswith("testing.py")
    wrong = [
        f"{label}:{line}: imports {module}"
        for line, module, names in core_imports(source)
        if not (
            module == "orchestra_core.driver"
            or (module == "orchestra_core" and names == ("driver",))
            or (testing and (module == TESTING or module.startswith(TESTING + ".")))
            or (label.startswith("src/orchestra_core/dummy/") and module.startswith(DUMMY + "."))
        )
    ]
    assert not wrong, "drivers import orchestra_core.driver only:\n" + "\n".join(wrong)
    for line, module, names in core_imports(source):
        if module == "orchestra_core.driver":
            missing = sorted(set(names) - set(face.__all__))
            assert not missing, f"{label}:{line}: {missing} are not part of the face"


def test_the_face_holds_what_it_lists() -> None:
    for name in face.__all__:
        assert hasattr(face, name), name
    assert {"Backend", "RenderContext", "Step", "WriteFile", "FieldError", "Templates"} <= set(
        face.__all__
    )
    assert {"hookimpl", "Monitor", "ResourceDefinition", "BillingMetric", "checks"} <= set(
        face.__all__
    )

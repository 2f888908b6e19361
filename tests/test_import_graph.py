"""The core's packages import each other one way: no loop between them, nothing in the core
imports the layers on top, and the packages that storage serves never import storage.

A *package* is the first level under ``orchestra_core``: a folder (``storage``,
``execution``...) or a top-level module (``engine``, ``registry``...). Every import counts:
at the top of a module, under ``if TYPE_CHECKING:``, inside a function, relative ones, and
``importlib.import_module("orchestra_core....")`` with a literal name. ``orchestra_core/
__init__.py`` (the public face, which reaches everything) is the top: nothing in the core
imports it. ``cli``, ``testing`` and ``scaffold`` sit on top of the core: they may import
anything, and nothing in the core imports them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import orchestra_core

ROOT = Path(orchestra_core.__file__).parent
FACE = "orchestra_core"
ON_TOP = frozenset({"cli", "testing", "scaffold"})
#: Packages whose needs of a store are declared by themselves (storage implements them).
SERVED_BY_STORAGE = ("execution", "resources", "billing", "planning", "model", "backends")

#: (importing package, imported package) -> the files of the first that import the second.
Edges = dict[tuple[str, str], set[str]]


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    if parts == ("__init__.py",):
        return FACE
    return parts[0].removesuffix(".py")


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ["orchestra_core", *parts]


def _subpackages() -> set[str]:
    return {p.name.removesuffix(".py") for p in ROOT.iterdir() if p.suffix == ".py" or p.is_dir()}


def _imported(path: Path, tree: ast.Module) -> Iterator[str]:
    """Every dotted name ``path`` imports (``from A import B`` gives ``A.B``: B may be a
    module)."""
    here = _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield from (f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def edges() -> Edges:
    """Every import between two packages of the core."""
    found: Edges = {}
    names = _subpackages()
    for path in sorted(ROOT.rglob("*.py")):
        me = _package(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for dotted in _imported(path, tree):
            parts = dotted.split(".")
            if parts[0] != "orchestra_core":
                continue
            target = parts[1] if len(parts) > 1 and parts[1] in names else FACE
            if target != me:
                found.setdefault((me, target), set()).add(str(path.relative_to(ROOT.parent)))
    return found


def loops(found: Edges) -> list[list[str]]:
    """The loops (``[a, b, ..., a]``) of packages that import each other: for each import
    that lies on one, the shortest loop through it."""
    graph: dict[str, set[str]] = {}
    for a, b in found:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                item = stack.pop()
                group.add(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for group in groups:
        # Every import inside the group lies on a loop: the shortest one through each.
        for a in sorted(group):
            for b in sorted(graph[a] & group):
                cycle = [a, *_shortest(graph, group, b, a)]
                ring = tuple(cycle[:-1])
                turn = ring.index(min(ring))
                key = ring[turn:] + ring[:turn]
                if key not in seen:
                    seen.add(key)
                    out.append([*key, key[0]])
    return out


def _shortest(graph: dict[str, set[str]], group: set[str], start: str, end: str) -> list[str]:
    """The shortest path from ``start`` to ``end`` inside ``group`` (both included)."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == end:
            return paths[node]
        for nxt in sorted(graph[node] & group):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"{end} is not reachable from {start} in {sorted(group)}")


def describe(cycle: list[str], found: Edges) -> str:
    hops = "; ".join(f"{a} -> {b} in {', '.join(sorted(found[a, b]))}" for a, b in pairwise(cycle))
    return f"{' -> '.join(cycle)} ({hops})"


def test_no_import_loop_between_core_packages() -> None:
    found = edges()
    assert ("engine", "storage") in found  # the walk sees imports at all
    problems = [describe(cycle, found) for cycle in loops(found)]
    assert not problems, "import loops between packages of orchestra_core:\n" + "\n".join(problems)


def test_nothing_in_the_core_imports_the_face_or_the_layers_on_top() -> None:
    found = edges()
    core = _subpackages() - ON_TOP - {"__init__"}
    wrong = sorted(
        f"{a} -> {b} in {', '.join(sorted(files))}"
        for (a, b), files in found.items()
        if a in core and (b in ON_TOP or b == FACE)
    )
    assert not wrong, "the core imports what sits on top of it:\n" + "\n".join(wrong)


def test_the_packages_storage_serves_never_import_storage() -> None:
    found = edges()
    wrong = sorted(
        f"{a} -> storage in {', '.join(sorted(found[a, 'storage']))}"
        for a in SERVED_BY_STORAGE
        if (a, "storage") in found
    )
    assert not wrong, "declare a Protocol of what is needed instead:\n" + "\n".join(wrong)


def test_the_check_names_a_loop_with_its_files() -> None:
    found: Edges = {
        ("storage", "execution"): {"orchestra_core/storage/protocol.py"},
        ("execution", "storage"): {"orchestra_core/execution/executor.py"},
        ("execution", "model"): {"orchestra_core/execution/results.py"},
    }
    [cycle] = loops(found)
    assert cycle == ["execution", "storage", "execution"]
    found["billing", "storage"] = {"orchestra_core/billing/run.py"}
    found["storage", "billing"] = {"orchestra_core/storage/usage.py"}
    assert loops(found) == [
        ["billing", "storage", "billing"],
        ["execution", "storage", "execution"],
    ]
    assert describe(cycle, found) == (
        "execution -> storage -> execution (execution -> storage in "
        "orchestra_core/execution/executor.py; storage -> execution in "
        "orchestra_core/storage/protocol.py)"
    )


def test_imports_of_every_kind_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from orchestra_core.storage.protocol import Store\n"
        "def later():\n"
        "    import orchestra_core.billing.run\n"
        "    from .. import resources\n"
        "    importlib.import_module('orchestra_core.engine')\n"
    )
    path = ROOT / "execution" / "example.py"
    got = set(_imported(path, ast.parse(source)))
    assert {
        "orchestra_core.storage.protocol.Store",
        "orchestra_core.billing.run",
        "orchestra_core.resources",
        "orchestra_core.engine",
    } <= got

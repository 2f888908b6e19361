"""Fixtures of the scaffold tests: generated drivers in temp dirs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestra_core.scaffold import new_driver


@pytest.fixture
def generate(tmp_path: Path) -> Callable[..., Path]:
    """Write a driver with :func:`~orchestra_core.scaffold.new_driver` into ``tmp_path``."""

    def make(name: str = "mydaemon", kind: str = "domain") -> Path:
        return new_driver(name, kind, tmp_path)

    return make


@pytest.fixture
def import_generated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """``import_generated(folder)`` makes the driver in ``folder`` importable (its ``src``
    first on ``sys.path``) for this test only; its modules are forgotten afterwards."""
    added: list[Path] = []

    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder / "src"))
        added.append(folder / "src")

    yield add
    for name in list(sys.modules):
        module = sys.modules[name]
        where = getattr(module, "__file__", None) or ""
        if any(where.startswith(str(src)) for src in added):
            del sys.modules[name]

"""Fixtures for planner tests: the small backends of ``tests.planning.helpers``."""

from __future__ import annotations

from typing import Any

import pytest

from orchestra_core.backends import Backend
from tests.planning.helpers import BACKENDS


@pytest.fixture
def backends() -> dict[str, type[Backend[Any]]]:
    return dict(BACKENDS)

"""Settings for the orchestra-bind9 tests.

The named fixtures themselves (``named_master``, ``named_slave``, ``named_factory``) come from
the ``orchestra_bind9`` pytest plugin; pytester runs inner sessions that use them.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    # The root pyproject registers it too; here so that these tests also run on their own.
    config.addinivalue_line("markers", "daemon: starts a real daemon process")

"""Fixtures of the orchestra-mysql tests.

The MariaDB fixtures themselves (``mariadb_server``, ``mariadb``, ``mariadb_factory``) come
from the ``orchestra_mysql`` pytest plugin (``orchestra_mysql.testing``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orchestra_mysql.testing import Driver, MariaDBInstance, make_driver


def pytest_configure(config: pytest.Config) -> None:
    # The root pyproject registers it too; here so that these tests also run on their own.
    config.addinivalue_line("markers", "daemon: starts a real daemon process")


@pytest.fixture
def driver(mariadb: MariaDBInstance) -> Iterator[Driver]:
    """Orchestra driving the per-test MariaDB through the local transport."""
    made = make_driver(mariadb.settings())
    yield made
    made.orchestra.close()

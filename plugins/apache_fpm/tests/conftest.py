"""Fixtures of the orchestra-apache-fpm tests.

The web-server fixtures themselves (``web_server``, ``web_server_factory``) come from the
``orchestra_apache_fpm`` pytest plugin (``orchestra_apache_fpm.testing``).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The root pyproject registers it too; here so that these tests also run on their own.
    config.addinivalue_line("markers", "daemon: starts a real daemon process")

"""Fixtures of the orchestra-postfix tests.

The mail-server fixtures themselves (``mail_server``, ``mail_secondary``,
``mail_server_factory``, ``smtp_sink``) come from the ``orchestra_postfix`` pytest plugin
(``orchestra_postfix.testing``).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The root pyproject registers it too; here so that these tests also run on their own.
    config.addinivalue_line("markers", "daemon: starts a real daemon process")

"""Fixtures for the tests of orchestra_core.testing: pytester runs inner pytest sessions."""

pytest_plugins = ["pytester"]

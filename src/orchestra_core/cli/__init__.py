"""The ``orchestra`` command line."""

from orchestra_core.cli.app import cli, main

__all__ = ["cli", "main"]

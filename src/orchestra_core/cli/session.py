"""What the commands of one ``orchestra`` run share: the store, the plugins, exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from orchestra_core.registry import Registry
from orchestra_core.storage.protocol import Store

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_OK",
    "Session",
    "fail",
    "pass_session",
]

#: Exit codes: all good; some step failed; bad input; a server was busy with another apply.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 0, 1, 2, 3


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``."""
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(code)


class Session:
    """Opens the store (``--db`` / ``ORCHESTRA_DB``) and loads the plugins on first use."""

    def __init__(self, db: str | None) -> None:
        self.db = db
        self._store: Store | None = None
        self._registry: Registry | None = None

    @property
    def store(self) -> Store:
        """The store: SQLite ``orchestra.sqlite`` here by default, or ``--db``."""
        if self._store is None:
            from orchestra_core.storage import open_store

            self._store = open_store(self.db)
        return self._store

    @property
    def registry(self) -> Registry:
        """Every installed plugin."""
        if self._registry is None:
            self._registry = Registry.load()
        return self._registry

    def close(self) -> None:
        """Release the store's connections."""
        close = getattr(self._store, "close", None)
        if callable(close):
            close()


pass_session = click.make_pass_decorator(Session)

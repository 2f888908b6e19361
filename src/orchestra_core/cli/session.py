"""What the commands of one ``orchestra`` run share: the store, the plugins, exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:  # imported when first used: `orchestra --help` needs neither
    from orchestra_core.registry import Registry
    from orchestra_core.storage.protocol import Store

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUSY",
    "EXIT_DRIFT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_STALE",
    "EXIT_UNROUTED",
    "Session",
    "colour",
    "executor_option",
    "fail",
    "json_output",
    "pass_session",
    "printable",
]

#: Exit codes (docs/operators.md lists them): all good; some step failed; bad input (or a
#: refused confirmation or guard); a server stayed busy with another apply; objects that no
#: route sends anywhere (without ``--allow-unrouted``); drift found by ``check``; the applied
#: state changed while ``apply --yes`` waited for its locks.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 0, 1, 2, 3
EXIT_UNROUTED, EXIT_DRIFT, EXIT_STALE = 4, 5, 6

#: What an exit code is called in a JSON error (``{"error": {"code": ..., "kind": ...}}``).
EXIT_NAMES = {
    EXIT_FAILED: "failed",
    EXIT_BAD_INPUT: "bad-input",
    EXIT_BUSY: "busy",
    EXIT_UNROUTED: "unrouted",
    EXIT_DRIFT: "drift",
    EXIT_STALE: "stale-plan",
}


#: Set by :func:`orchestra_core.cli.app.main` when the command line holds ``--json``: an error
#: raised after the command's context is gone is JSON too.
JSON_REQUESTED = False


def json_output() -> bool:
    """True when the running command was given ``--json``: errors are then JSON too."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return JSON_REQUESTED


def colour() -> bool | None:
    """False when ``NO_COLOR`` is set (https://no-color.org), else None: colours on a
    terminal only, click's default."""
    return False if os.environ.get("NO_COLOR") else None


def fail(
    message: str, code: int = EXIT_BAD_INPUT, details: Mapping[str, object] | None = None
) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``.

    Under ``--json`` the error goes to stdout as ``{"error": {"message", "code", "kind",
    ...details}}`` instead, so that a script reads one JSON document whatever happened.
    """
    if json_output():
        import json

        body = {"message": message, "code": code, "kind": EXIT_NAMES.get(code, "error")}
        body.update(details or {})
        click.echo(json.dumps({"error": body}, indent=2, ensure_ascii=False, default=str))
    else:
        text = click.style("error: ", fg="red", bold=True) + printable(message)
        click.echo(text, err=True, color=colour())
    sys.exit(code)


def printable(message: str) -> str:
    """``message`` with every character a terminal would act on (an escape sequence, a
    carriage return, NUL, a line separator) escaped as ``\\x1b``; its line breaks kept. Names
    in messages are already escaped (:func:`orchestra_core.errors.shown`): this is for what
    was not, such as a driver's own words."""
    if message.isprintable():
        return message
    return "\n".join(
        "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
        for line in message.split("\n")
    )


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
            from orchestra_core.registry import Registry

            self._registry = Registry.load()
        return self._registry

    def close(self) -> None:
        """Release the store's connections."""
        close = getattr(self._store, "close", None)
        if callable(close):
            close()


pass_session = click.make_pass_decorator(Session)

#: ``--executor NAME`` of the commands that run batches (apply, monitor).
executor_option = click.option(
    "--executor",
    default="threads",
    show_default=True,
    metavar="NAME",
    help="What runs the servers' batches (an orchestra.executors entry point).",
)

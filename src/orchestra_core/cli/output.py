"""Terminal output of the CLI: tables, step results, colours only on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import click

from orchestra_core.errors import shown
from orchestra_core.execution.results import OperationLog, State, StepResult

if TYPE_CHECKING:
    from orchestra_core.planning.plan import Plan

__all__ = ["LogPrinter", "echo_json", "log_to_dict", "per_server_line", "table"]

#: How a step's state reads to an operator.
LABELS = {
    State.SUCCESS: "changed",
    State.NOTHING: "unchanged",
    State.FAILURE: "FAILED",
    State.ERROR: "ERROR",
    State.TIMEOUT: "TIMEOUT",
    State.ABORTED: "aborted",
    State.UNKNOWN: "UNKNOWN",
    State.INTERRUPTED: "INTERRUPTED",
    State.RECEIVED: "pending",
    State.STARTED: "running",
}
COLOURS = {
    State.SUCCESS: "green",
    State.NOTHING: None,
    State.FAILURE: "red",
    State.ERROR: "red",
    State.TIMEOUT: "red",
    State.ABORTED: "yellow",
    State.UNKNOWN: "magenta",
    State.INTERRUPTED: "red",
}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table; cells may be styled (colours do not count for width)."""

    def width(cell: str) -> int:
        return len(click.unstyle(cell))

    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, width(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, State):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def log_to_dict(log: OperationLog) -> dict[str, Any]:
    """Plain data for one operation log (its script is already redacted)."""
    return {k: _plain(v) for k, v in attrs.asdict(log, recurse=True).items()}


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def per_server_line(plan: Plan) -> list[str]:
    """The summary shown right before ``[y/N]``: per server, what it adds, changes, saves
    again and deletes (deletes in red on a terminal), then the whole."""
    lines = []
    totals = {"add": 0, "change": 0, "resync": 0, "delete": 0}
    for server, counts in sorted(plan.per_server().items()):
        for name in totals:
            totals[name] += counts[name]
        lines.append(f"  {server}: {_counts(counts)}")
    return [*lines, f"in all: {_counts(totals)}"]


def _counts(counts: dict[str, int]) -> str:
    parts = [
        click.style(f"{counts['add']} to add", fg="green" if counts["add"] else None),
        click.style(f"{counts['change']} to change", fg="yellow" if counts["change"] else None),
    ]
    if counts["resync"]:
        parts.append(f"{counts['resync']} to save again")
    parts.append(
        click.style(
            f"{counts['delete']} to delete",
            fg="red" if counts["delete"] else None,
            bold=bool(counts["delete"]),
        )
    )
    return ", ".join(parts)


def state_label(state: State) -> str:
    """The coloured (on a terminal) label of a state."""
    return click.style(LABELS[state].ljust(9), fg=COLOURS.get(state), bold=not state.is_ok)


class LogPrinter:
    """Prints each operation's step results as soon as the operation is final.

    Called from the executor's worker threads; a lock keeps an operation's lines together. On
    a terminal, an apply of more than :attr:`BAR_FROM` operations shows a progress bar and
    prints only the operations that did not end well. ``quiet`` prints nothing (``--json``).
    """

    BAR_FROM = 20

    def __init__(self, total: int = 0, *, quiet: bool = False) -> None:
        self._lock = threading.Lock()
        self.steps: dict[State, int] = {}
        self.quiet = quiet
        self._bar: Any = None
        if not quiet and total > self.BAR_FROM and sys.stdout.isatty():
            self._bar = click.progressbar(length=total, label="applying", show_pos=True)
            self._bar.__enter__()

    def __call__(self, log: OperationLog) -> None:
        with self._lock:
            for step in log.steps:
                self.steps[step.state] = self.steps.get(step.state, 0) + 1
            if self.quiet:
                return
            if self._bar is not None:
                self._bar.update(1)
                if log.state.is_ok:
                    return
                click.echo("")
            keys = ", ".join(shown(key) for key in log.object_keys)
            click.echo(
                f"{shown(log.server)}: {log.action} {keys} [{shown(log.backend)}] "
                f"-> {log.state.value}"
            )
            for step in log.steps:
                self._step(step)

    def _step(self, step: StepResult) -> None:
        click.echo(f"  {state_label(step.state)} {step.description}")
        if not step.state.is_ok and step.state is not State.ABORTED:
            for stream in (step.stdout, step.stderr):
                for line in stream.strip().splitlines()[-20:]:
                    click.echo(f"      | {line}")

    def close(self) -> None:
        """End the progress bar, if there is one."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def summary(self) -> str:
        """``N steps: a changed, b unchanged...`` for the end of an apply."""
        total = sum(self.steps.values())
        parts = [f"{n} {LABELS[state]}" for state, n in sorted(self.steps.items()) if n]
        return f"{total} steps: " + (", ".join(parts) if parts else "none")


def report(printer: LogPrinter, logs: Sequence[OperationLog], *, as_json: bool) -> bool:
    """Print the outcome of an apply or a retry (logs as JSON, or the step summary); True when
    every operation ended well."""
    if as_json:
        echo_json([log_to_dict(log) for log in logs])
    else:
        click.echo(printer.summary())
    return all(log.state.is_ok for log in logs)

"""``log``, ``log show``, ``log prune`` and ``retry``: what ran, and running it again."""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from orchestra_core.cli.durations import Duration
from orchestra_core.cli.output import (
    COLOURS,
    LogPrinter,
    echo_json,
    log_to_dict,
    report,
    state_label,
    table,
)
from orchestra_core.cli.session import EXIT_BUSY, EXIT_FAILED, Session, fail, pass_session
from orchestra_core.engine import Orchestra
from orchestra_core.errors import shown
from orchestra_core.execution.results import OperationLog, State, utcnow
from orchestra_core.storage.protocol import NotFound, ServerBusy

__all__ = ["log", "retry"]

#: Object keys a row of ``orchestra log`` shows (a monitor run names every object it measured).
_KEYS_SHOWN = 5


def _objects(keys: tuple[str, ...]) -> str:
    """The row's objects: the first few, and how many more (``log show`` has them all)."""
    shown_keys = ", ".join(shown(key) for key in keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return f"{shown_keys} and {more} more" if more > 0 else shown_keys


def find_log(session: Session, ident: str) -> OperationLog:
    """The log whose id is ``ident`` or starts with it (unique prefix)."""
    try:
        return session.store.get_log(ident)
    except NotFound:
        pass
    found = [entry for entry in session.store.list_logs() if entry.id.startswith(ident)]
    if len(found) == 1:
        return found[0]
    if not found:
        fail(f"no operation log with id {ident!r} (see `orchestra log`)")
    fail(f"{ident!r} matches {len(found)} operation logs: give more of the id")


@click.group(invoke_without_command=True)
@click.option(
    "--state", type=click.Choice([s.value for s in State]), help="Only operations in this state."
)
@click.option("--server", help="Only operations on this server.")
@click.option("--object", "object_key", help="Only operations on this object (domain:x.example).")
@click.option(
    "--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def log(
    ctx: click.Context,
    state: str | None,
    server: str | None,
    object_key: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Recent operations, newest first (``log show ID`` for one, ``log prune`` to forget)."""
    if ctx.invoked_subcommand is not None:
        return
    session = ctx.find_object(Session)
    assert session is not None
    logs = session.store.list_logs(
        state=State(state) if state else None, server=server, object_key=object_key, limit=limit
    )
    if as_json:
        echo_json([log_to_dict(entry) for entry in logs])
        return
    if not logs:
        click.echo("no operations")
        return
    rows = [
        [
            entry.id[:12],
            f"{entry.created_at:%Y-%m-%d %H:%M:%S}",
            shown(entry.server),
            shown(entry.backend),
            entry.action,
            _objects(entry.object_keys),
            click.style(entry.state.value, fg=COLOURS.get(entry.state)),
        ]
        for entry in logs
    ]
    click.echo(
        table(["ID", "CREATED (UTC)", "SERVER", "BACKEND", "ACTION", "OBJECTS", "STATE"], rows)
    )


@log.command("show")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def show(session: Session, ident: str, as_json: bool) -> None:
    """One operation: its steps, the script that ran (secrets redacted), output, timings."""
    entry = find_log(session, ident)
    if as_json:
        echo_json(log_to_dict(entry))
        return
    click.echo(f"operation {entry.id}")
    keys = ", ".join(shown(key) for key in entry.object_keys)
    click.echo(f"  {entry.action} {keys} [{shown(entry.backend)}] on {shown(entry.server)}")
    click.echo(f"  state {entry.state.value}, exit code {entry.exit_code}")
    click.echo(f"  created {entry.created_at:%Y-%m-%d %H:%M:%S.%f} UTC")
    if entry.started_at and entry.finished_at:
        start, end = entry.started_at, entry.finished_at
        seconds = (end - start).total_seconds()
        click.echo(f"  ran {start:%H:%M:%S.%f} to {end:%H:%M:%S.%f} ({seconds:.3f} s)")
    if entry.retry_of:
        click.echo(f"  retry of {entry.retry_of}")
    click.echo("steps:")
    for step in entry.steps:
        took = f" ({step.duration:.3f} s)" if step.duration is not None else ""
        code = f" exit {step.exit_code}" if step.exit_code is not None else ""
        click.echo(f"  {step.index}. {state_label(step.state)} {step.description}{code}{took}")
    for title, text in (
        ("stdout", entry.stdout),
        ("stderr", entry.stderr),
        ("script", entry.script),
    ):
        click.echo(f"{title}:")
        for line in text.rstrip().splitlines() or ["(empty)"]:
            click.echo(f"  | {line}")


@log.command("prune")
@click.option(
    "--older-than",
    "age",
    type=Duration(),
    required=True,
    metavar="DURATION",
    help="An age like 30d, 12h, 2w, 1d12h (m is minutes; 0 forgets every log).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def prune(session: Session, age: timedelta, as_json: bool) -> None:
    """Forget operation logs older than an age."""
    cutoff = utcnow() - age
    removed = session.store.prune_logs(older_than=cutoff)
    if as_json:
        echo_json({"removed": removed, "older_than": cutoff.isoformat()})
        return
    click.echo(f"removed {removed} operation logs older than {cutoff:%Y-%m-%d %H:%M:%S} UTC")


@click.command()
@click.argument("ident", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Retry without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the new operation logs as JSON.")
@click.option(
    "--wait", type=float, default=60.0, show_default=True, help="Seconds to wait for busy servers."
)
@pass_session
def retry(session: Session, ident: str, yes: bool, as_json: bool, wait: float) -> None:
    """Run a failed operation again with its objects as last asked for, linked to the original."""
    original = find_log(session, ident)
    orchestra = Orchestra(
        servers=session.store.servers(),
        routes=session.store.routes(),
        registry=session.registry,
        store=session.store,
    )
    try:
        if not yes:
            if not sys.stdin.isatty():
                fail("refusing to retry without confirmation: not on a terminal, pass --yes")
            keys = ", ".join(shown(key) for key in original.object_keys)
            label = f"{original.action} {keys} on {shown(original.server)}"
            if not click.confirm(f"Retry {label}?", default=False):
                fail("not retried")
        printer = LogPrinter(quiet=as_json)
        try:
            result = orchestra.retry(original.id, on_finished=printer, lock_wait=wait)
        except ServerBusy as exc:
            fail(str(exc), EXIT_BUSY)
        if not report(printer, result.logs, as_json=as_json):
            sys.exit(EXIT_FAILED)
    finally:
        orchestra.close()

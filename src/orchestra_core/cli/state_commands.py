"""``check`` and ``unlock``: what the servers hold against what was applied, and stuck locks."""

from __future__ import annotations

import difflib
import sys

import click

from orchestra_core.cli.inventory_commands import load
from orchestra_core.cli.output import echo_json
from orchestra_core.cli.session import EXIT_DRIFT, EXIT_FAILED, Session, colour, fail, pass_session
from orchestra_core.engine import Orchestra
from orchestra_core.execution.drift import DriftReport, Finding
from orchestra_core.execution.results import utcnow

__all__ = ["check", "unlock"]

#: Lines of a diff shown per finding (``--json`` has everything).
_DIFF_LINES = 40


def _engine(session: Session, inventory: str | None) -> Orchestra:
    if inventory is not None:
        return load(session, inventory)[0]
    return Orchestra(
        servers=session.store.servers(),
        routes=session.store.routes(),
        registry=session.registry,
        store=session.store,
    )


def _describe(finding: Finding) -> list[str]:
    key = finding.placement
    what = "file" if finding.what == "file" else "state"
    words = {
        "changed": "changed on the server since the last apply",
        "missing": "missing on the server",
        "not-a-file": "no longer the regular file orchestra wrote",
        "unreadable": "could not be read",
    }[finding.state]
    head = f"{key.server}: {key.object_key} [{key.backend}]: {what} {finding.name}: {words}"
    lines = [click.style(head, fg="red")]
    if finding.state == "changed" and finding.live is not None:
        if finding.applied is not None:
            diff = list(
                difflib.unified_diff(
                    finding.applied.splitlines(),
                    finding.live.splitlines(),
                    fromfile=f"{finding.name} (last applied)",
                    tofile=f"{finding.name} (on {key.server})",
                    lineterm="",
                )
            )
        else:
            diff = [f"now: {line}" for line in finding.live.splitlines()]
        shown = diff[:_DIFF_LINES]
        lines += ["    " + line for line in shown]
        if len(diff) > len(shown):
            lines.append(f"    ... {len(diff) - len(shown)} more lines (--json has them all)")
    return lines


def _print(report: DriftReport) -> None:
    for finding in report.findings:
        for line in _describe(finding):
            click.echo(line, color=colour())
    for server, message in report.errors:
        click.echo(click.style(f"{server}: could not be checked: {message}", fg="red"))
    if report.unobserved:
        click.echo(
            f"{len(report.unobserved)} placements have nothing kept to compare "
            "(applied before orchestra kept files, or by backends that observe nothing): "
            "`orchestra apply --all` records them"
        )
    state = "clean" if report.clean else f"{len(report.findings)} drifted"
    click.echo(f"checked {report.checked} placements: {state}")


@click.command()
@click.argument("inventory", required=False, type=click.Path(dir_okay=False))
@click.option("--server", "servers", multiple=True, metavar="NAME", help="Only this server.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_session
def check(session: Session, inventory: str | None, servers: tuple[str, ...], as_json: bool) -> None:
    """Compare what the servers hold with what orchestra last applied there (drift).

    One read-only batch per server: the files each placement wrote (their content), and what
    its backend observes (databases, accounts, live zones). INVENTORY gives the servers to
    reach (by default those of the latest apply). Exit 0 when clean, 5 when something drifted,
    1 when a server could not be read.
    """
    orchestra = _engine(session, inventory)
    try:
        known = {p.server for p in session.store.placements()}
        unknown = [name for name in servers if name not in known]
        if unknown:
            fail(
                f"no placement on server {unknown[0]!r} (servers with placements: "
                f"{', '.join(sorted(known)) or 'none'})"
            )
        report = orchestra.check(servers=servers or None)
    finally:
        orchestra.close()
    if as_json:
        echo_json(report.to_dict())
    else:
        _print(report)
    if report.findings:
        sys.exit(EXIT_DRIFT)
    if report.errors:
        sys.exit(EXIT_FAILED)


@click.command()
@click.argument("server")
@click.option("--yes", "-y", is_flag=True, help="Remove the lock without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print the removed lock as JSON.")
@pass_session
def unlock(session: Session, server: str, yes: bool, as_json: bool) -> None:
    """Remove the lock an apply holds on SERVER: for a holder that is gone, on another host,
    before its lease runs out (a dead holder's lock is taken over by itself once it has)."""
    locks = {lock.server: lock for lock in session.store.locks()}
    lock = locks.get(server)
    if lock is None:
        held = ", ".join(sorted(locks)) or "none"
        fail(f"server {server} is not locked (locked now: {held})")
    now = utcnow()
    state = "expired" if lock.is_dead(now) else f"lease until {lock.expires_at:%H:%M:%S} UTC"
    told = (
        f"server {server} is locked by {lock.holder} since "
        f"{lock.acquired_at:%Y-%m-%d %H:%M:%S} UTC ({state})"
    )
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to unlock without confirmation: not on a terminal, pass --yes")
        click.echo(told)
        if not click.confirm(
            f"Remove the lock of {lock.holder} on {server}? If that apply still runs, another "
            "could run beside it",
            default=False,
        ):
            fail("not unlocked")
    if not session.store.break_lock(server, lock.holder):
        fail(f"the lock on {server} changed hands meanwhile: see `orchestra unlock {server}` again")
    if as_json:
        echo_json(
            {
                "server": server,
                "holder": lock.holder,
                "acquired_at": lock.acquired_at.isoformat(),
                "expires_at": lock.expires_at.isoformat(),
            }
        )
    else:
        click.echo(f"{told}: removed")

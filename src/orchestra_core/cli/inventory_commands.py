"""``validate``, ``plan`` and ``apply``: an inventory against the last applied state."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestra_core.cli.output import LogPrinter, echo_json, report
from orchestra_core.cli.session import EXIT_BUSY, EXIT_FAILED, Session, fail, pass_session
from orchestra_core.engine import Orchestra
from orchestra_core.inventory import Inventory, load_inventory
from orchestra_core.planning.incremental import Changes, compare
from orchestra_core.planning.plan import Plan
from orchestra_core.storage.protocol import ServerBusy

__all__ = ["apply", "plan", "validate"]

_ALL = click.option("--all", "full", is_flag=True, help="Re-apply every object (a full resync).")
_RENAMES = click.option(
    "--allow-renames", is_flag=True, help="Apply renames as a delete of the old and a new object."
)


def _load(
    session: Session, path: str, *, full: bool = False, allow_renames: bool = False
) -> tuple[Orchestra, Inventory, Changes, Plan]:
    registry = session.registry
    inventory = load_inventory(
        path,
        service_types=registry.by_plural(),
        backends=registry.routable(),
        base_dir=Path.cwd(),
    )
    orchestra = Orchestra(
        servers=inventory.servers,
        routes=inventory.routes,
        registry=registry,
        store=session.store,
    )
    changes = compare(
        session.store.applied(),
        inventory.accounts,
        inventory.services,
        registry.service_types,
        full=full,
        allow_renames=allow_renames,
    )
    return orchestra, inventory, changes, orchestra.plan(changes.changeset, index=changes.index)


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@pass_session
def validate(session: Session, inventory: str) -> None:
    """Check an inventory: load, validate and plan it, without touching any server."""
    _, inv, _, _ = _load(session, inventory, full=True, allow_renames=True)
    click.echo(
        f"{inventory}: {len(inv.servers)} servers, {len(inv.routes)} routes, "
        f"{len(inv.accounts)} accounts, {len(inv.services)} services: valid"
    )


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@_ALL
@_RENAMES
@pass_session
def plan(session: Session, inventory: str, as_json: bool, full: bool, allow_renames: bool) -> None:
    """Show what applying the inventory would change, on which server, with full file contents.

    Only objects that are new, changed or gone since the last apply are planned (``--all``
    plans every object).
    """
    _, _, changes, the_plan = _load(session, inventory, full=full, allow_renames=allow_renames)
    if as_json:
        echo_json({"changes": _changes_dict(changes), **the_plan.to_dict()})
    else:
        click.echo(f"changes: {changes.summary()}")
        click.echo(the_plan.render_text(), nl=False)


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the operation logs as JSON.")
@click.option(
    "--wait",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for servers another apply is using.",
)
@_ALL
@_RENAMES
@pass_session
def apply(
    session: Session,
    inventory: str,
    yes: bool,
    as_json: bool,
    wait: float,
    full: bool,
    allow_renames: bool,
) -> None:
    """Apply an inventory: show the plan, confirm, run it and print one result per step."""
    orchestra, _, changes, the_plan = _load(
        session, inventory, full=full, allow_renames=allow_renames
    )
    try:
        if not as_json:
            click.echo(f"changes: {changes.summary()}")
            click.echo(the_plan.render_text(), nl=False)
        if the_plan.is_empty:
            # Nothing runs, but objects with nothing to do (or only deletes of nothing) count.
            orchestra.store.record_applied(changes.touched)
            orchestra.store.forget_applied(list(changes.removed))
            if as_json:
                echo_json([])
            return
        if not yes:
            if not sys.stdin.isatty():
                fail("refusing to apply without confirmation: not on a terminal, pass --yes")
            if not click.confirm("Apply this plan?", default=False):
                fail("not applied")
        printer = LogPrinter(total=sum(1 for _ in the_plan.operations()), quiet=as_json)
        try:
            result = orchestra.apply(the_plan, changes=changes, on_finished=printer, lock_wait=wait)
        except ServerBusy as exc:
            fail(str(exc), EXIT_BUSY)
        finally:
            printer.close()
        if not report(printer, result.logs, as_json=as_json):
            sys.exit(EXIT_FAILED)
    finally:
        orchestra.close()


def _changes_dict(changes: Changes) -> dict[str, object]:
    return {
        "new": list(changes.new),
        "changed": list(changes.changed),
        "removed": list(changes.removed),
        "unchanged": changes.unchanged,
    }

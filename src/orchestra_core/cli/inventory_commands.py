"""``validate``, ``plan`` and ``apply``: an inventory against the applied placements."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from orchestra_core.cli.output import LogPrinter, echo_json, per_server_line, report
from orchestra_core.cli.session import (
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_STALE,
    EXIT_UNROUTED,
    Session,
    executor_option,
    fail,
    pass_session,
)
from orchestra_core.engine import Orchestra
from orchestra_core.errors import shown
from orchestra_core.inventory import Inventory, load_inventory
from orchestra_core.planning.guards import DeleteLimit, EmptyInventory, StalePlan, TooManyDeletes
from orchestra_core.planning.incremental import RenameRefused
from orchestra_core.planning.plan import Plan
from orchestra_core.storage.protocol import ServerBusy

__all__ = ["apply", "load", "plan", "plan_options", "validate"]

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen(kw_only=True)
class PlanOptions:
    """How ``plan`` and ``apply`` compare the inventory with the applied state."""

    full: bool = False
    force: bool = False
    allow_renames: bool = False
    allow_deletes: bool = False
    allow_unrouted: bool = False
    max_deletes: str | None = None

    def limit(self) -> DeleteLimit:
        """The delete limit ``--max-deletes`` sets (``25`` objects or ``5%``)."""
        if self.max_deletes is None:
            return DeleteLimit()
        text = self.max_deletes.strip()
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                if not 0 <= percent <= 100:
                    raise ValueError
                return DeleteLimit(objects=0, percent=percent)
            count = int(text)
            if count < 0:
                raise ValueError
            return DeleteLimit(objects=count, percent=0)
        except ValueError:
            fail(f"--max-deletes {text!r}: give a number of objects (25) or a percentage (5%)")


def plan_options(func: F) -> F:
    """The options ``plan`` and ``apply`` share."""
    options = [
        click.option("--all", "full", is_flag=True, help="Save every object again (a resync)."),
        click.option(
            "--force",
            is_flag=True,
            help="Overwrite what was changed on the servers by hand (see `orchestra check`).",
        ),
        click.option(
            "--allow-renames",
            is_flag=True,
            help="Apply renames as a delete of the old and a new object.",
        ),
        click.option(
            "--allow-deletes",
            is_flag=True,
            help="Allow more deletes than --max-deletes, or an inventory with nothing in it.",
        ),
        click.option(
            "--max-deletes",
            metavar="N|P%",
            help="Objects a plan may delete without --allow-deletes "
            "[default: 10 or 10% of the applied ones, whichever is larger].",
        ),
        click.option(
            "--allow-unrouted",
            is_flag=True,
            help="Go on when objects are routed to no server (they are not applied).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load(session: Session, path: str, *, executor: str = "threads") -> tuple[Orchestra, Inventory]:
    """The inventory at ``path`` and an engine on its servers and routes and the store, whose
    batches run through the executor called ``executor``."""
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
        sources=inventory.sources,
        executor=executor,
    )
    return orchestra, inventory


def make_plan(orchestra: Orchestra, inventory: Inventory, options: PlanOptions) -> Plan:
    """The inventory's plan against the store; a refused one ends the command (exit 2) with
    what to do."""
    try:
        return orchestra.plan_inventory(
            inventory.accounts,
            inventory.services,
            full=options.full,
            force=options.force,
            allow_renames=options.allow_renames,
            allow_deletes=options.allow_deletes,
            delete_limit=options.limit(),
        )
    except RenameRefused as exc:
        fail(str(exc), EXIT_BAD_INPUT, {"pairs": exc.pairs})
    except TooManyDeletes as exc:
        fail(
            f"{exc}: pass --allow-deletes (or raise --max-deletes)",
            EXIT_BAD_INPUT,
            {"deleted": list(exc.deleted), "allowed": exc.allowed, "applied": exc.applied},
        )
    except EmptyInventory as exc:
        fail(f"{exc}: pass --allow-deletes", EXIT_BAD_INPUT, {"applied": exc.applied})


def _baseline(orchestra: Orchestra, the_plan: Plan, refresh: bool) -> dict[tuple[str, str], Any]:
    try:
        return dict(orchestra.baseline(the_plan, refresh=refresh))
    except Exception as exc:  # a server that cannot be read: say which, never a traceback
        from orchestra_core.errors import OrchestraError

        if isinstance(exc, OrchestraError):
            fail(f"plan --refresh: {exc}", EXIT_FAILED)
        raise


def _show(the_plan: Plan, baseline: dict[tuple[str, str], Any] | None) -> None:
    if the_plan.summary is not None:
        click.echo(f"changes: {the_plan.summary}")
    click.echo(the_plan.render_text(baseline), nl=False)


def _unrouted(the_plan: Plan, options: PlanOptions) -> None:
    if the_plan.unrouted and not options.allow_unrouted:
        fail(
            f"{_count(len(the_plan.unrouted), 'object is', 'objects are')} routed to no server "
            "and not applied: "
            f"{', '.join(shown(key) for key in the_plan.unrouted[:10])}"
            + (" ..." if len(the_plan.unrouted) > 10 else "")
            + ": add a route for them, or pass --allow-unrouted",
            EXIT_UNROUTED,
            {"unrouted": list(the_plan.unrouted)},
        )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _plan_json(the_plan: Plan) -> dict[str, Any]:
    summary = the_plan.summary.to_dict() if the_plan.summary is not None else None
    return {"changes": summary, **the_plan.to_dict()}


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print what was found as JSON.")
@pass_session
def validate(session: Session, inventory: str, as_json: bool) -> None:
    """Check an inventory: load, validate and plan it, without touching any server or the
    store (objects routed nowhere are listed, not refused)."""
    orchestra, inv = load(session, inventory)
    try:
        the_plan = orchestra.plan_inventory(
            inv.accounts, inv.services, full=True, allow_renames=True, allow_deletes=True
        )
    finally:
        orchestra.close()
    counts = {
        "servers": len(inv.servers),
        "routes": len(inv.routes),
        "accounts": len(inv.accounts),
        "services": len(inv.services),
    }
    if as_json:
        echo_json(
            {"inventory": inventory, "valid": True, **counts, "unrouted": list(the_plan.unrouted)}
        )
        return
    click.echo(
        f"{inventory}: {counts['servers']} servers, {counts['routes']} routes, "
        f"{counts['accounts']} accounts, {counts['services']} services: valid"
    )
    if the_plan.unrouted:
        click.echo(
            "warning: routed to no server (plan and apply refuse them without "
            "--allow-unrouted): " + ", ".join(the_plan.unrouted)
        )


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Diff files against what the servers hold now (one read-only batch per server), "
    "not against what was last applied.",
)
@plan_options
@pass_session
def plan(session: Session, /, inventory: str, as_json: bool, refresh: bool, **flags: Any) -> None:
    """Show what applying the inventory would change, on which server, each file as a diff.

    Only placements (an object on a server, by a backend) that are new, changed or gone since
    the last apply are planned (``--all`` plans every one). Files are diffed against what was
    last applied there (``--refresh``: against what the server holds).
    """
    options = PlanOptions(**flags)
    orchestra, inv = load(session, inventory)
    try:
        the_plan = make_plan(orchestra, inv, options)
        if as_json:
            # One document: the plan lists what is unrouted; the exit code says it.
            echo_json(_plan_json(the_plan))
            if the_plan.unrouted and not options.allow_unrouted:
                sys.exit(EXIT_UNROUTED)
        else:
            _show(the_plan, _baseline(orchestra, the_plan, refresh))
            _unrouted(the_plan, options)
    finally:
        orchestra.close()


def _digest(the_plan: Plan) -> str:
    return json.dumps(the_plan.to_dict(), sort_keys=True, default=str)


def _confirm(the_plan: Plan, question: str) -> None:
    if not sys.stdin.isatty():
        fail("refusing to apply without confirmation: not on a terminal, pass --yes")
    for line in per_server_line(the_plan):
        click.echo(line)
    if not click.confirm(question, default=False):
        fail("not applied")


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the operation logs as JSON.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for servers another apply is using.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=86400),
    default=None,
    help="Seconds each server's batch may take, whatever the servers' timeouts settings say "
    "(default: their settings.timeouts.batch, else 600).",
)
@executor_option
@plan_options
@pass_session
def apply(
    session: Session,
    /,
    inventory: str,
    yes: bool,
    as_json: bool,
    wait: float,
    timeout: float | None,
    executor: str,
    **flags: Any,
) -> None:
    """Apply an inventory: show the plan, confirm, run it and print one result per step.

    The plan is checked again once the servers' locks are held: if another apply changed
    them meanwhile, the new plan is shown and asked for again (with --yes: refused, exit 6).
    """
    options = PlanOptions(**flags)
    orchestra, inv = load(session, inventory, executor=executor)
    try:
        the_plan = make_plan(orchestra, inv, options)
        if not as_json:
            _show(the_plan, _baseline(orchestra, the_plan, False))
        _unrouted(the_plan, options)
        if the_plan.is_empty and not the_plan.has_state_changes:
            if as_json:
                echo_json([])
            return
        if not yes and not the_plan.is_empty:
            _confirm(the_plan, "Apply this plan?")
        for _ in range(3):
            printer = LogPrinter(total=sum(1 for _ in the_plan.operations()), quiet=as_json)
            try:
                result = orchestra.apply(
                    the_plan, on_finished=printer, lock_wait=wait, timeout=timeout
                )
                break
            except ServerBusy as exc:
                fail(str(exc), EXIT_BUSY)
            except StalePlan as exc:
                again = make_plan(orchestra, inv, options)
                if _digest(again) == _digest(the_plan):
                    the_plan = again  # the same work against the new state: go on
                    continue
                if yes:
                    fail(f"{exc} (refused under --yes: run apply again)", EXIT_STALE)
                click.echo("the applied state changed while waiting; the plan is now:")
                _show(again, _baseline(orchestra, again, False))
                _unrouted(again, options)
                the_plan = again
                if the_plan.is_empty and not the_plan.has_state_changes:
                    return
                _confirm(the_plan, "Apply this new plan?")
            finally:
                printer.close()
        else:
            fail("the applied state kept changing while waiting for the servers", EXIT_STALE)
        if not report(printer, result.logs, as_json=as_json):
            sys.exit(EXIT_FAILED)
    finally:
        orchestra.close()

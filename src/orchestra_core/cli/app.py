"""The ``orchestra`` command: plan and apply inventories, list drivers.

Exit codes: 0 all good, 1 some step failed, 2 bad input (a malformed inventory, an invalid
object, an unknown backend, a refused confirmation).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from orchestra_core.cli.output import LogPrinter, echo_json, log_to_dict, table
from orchestra_core.engine import Orchestra
from orchestra_core.errors import OrchestraError
from orchestra_core.inventory import Inventory, load_inventory
from orchestra_core.planning.plan import Plan
from orchestra_core.registry import Registry

__all__ = ["cli", "main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)
    sys.exit(EXIT_BAD_INPUT)


def _load(path: str) -> tuple[Orchestra, Inventory, Plan]:
    registry = Registry.load()
    inventory = load_inventory(
        path,
        service_types=registry.by_plural(),
        backends=set(registry.backends),
        base_dir=Path.cwd(),
    )
    orchestra = Orchestra(servers=inventory.servers, routes=inventory.routes, registry=registry)
    changes, index = orchestra.save_all(inventory.services, accounts=inventory.accounts)
    return orchestra, inventory, orchestra.plan(changes, index=index)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestra-core", prog_name="orchestra")
def cli() -> None:
    """Turn hosting accounts and their services into what the servers run."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def drivers(as_json: bool) -> None:
    """List the installed drivers: backends, service types and actions."""
    registry = Registry.load()
    rows: list[dict[str, Any]] = []
    for plugin, backends in registry.drivers():
        for backend in backends:
            rows.append(
                {
                    "driver": plugin.name,
                    "distribution": plugin.distribution or "-",
                    "version": plugin.version or "-",
                    "backend": backend.name,
                    "service_type": backend.service_kind,
                    "actions": sorted(backend.cls.actions),
                }
            )
    if as_json:
        echo_json(rows)
        return
    headers = ["DRIVER", "DISTRIBUTION", "VERSION", "BACKEND", "SERVICE TYPE", "ACTIONS"]
    cells = [
        [str(r[k]) for k in ("driver", "distribution", "version", "backend", "service_type")]
        + [",".join(r["actions"])]
        for r in rows
    ]
    click.echo(table(headers, cells))


@cli.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
def validate(inventory: str) -> None:
    """Check an inventory: load, validate and plan it, without touching any server."""
    _, inv, _ = _load(inventory)
    click.echo(
        f"{inventory}: {len(inv.servers)} servers, {len(inv.routes)} routes, "
        f"{len(inv.accounts)} accounts, {len(inv.services)} services: valid"
    )


@cli.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(inventory: str, as_json: bool) -> None:
    """Show which steps would run on which server, with every file's full content."""
    _, _, the_plan = _load(inventory)
    if as_json:
        echo_json(the_plan.to_dict())
    else:
        click.echo(the_plan.render_text(), nl=False)


@cli.command()
@click.argument("inventory", type=click.Path(dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the operation logs as JSON.")
def apply(inventory: str, yes: bool, as_json: bool) -> None:
    """Apply an inventory: show the plan, confirm, run it and print one result per step."""
    orchestra, _, the_plan = _load(inventory)
    try:
        if not as_json:
            click.echo(the_plan.render_text(), nl=False)
        if the_plan.is_empty:
            if as_json:
                echo_json([])
            return
        if not yes:
            if not sys.stdin.isatty():
                _fail("refusing to apply without confirmation: not on a terminal, pass --yes")
            if not click.confirm("Apply this plan?", default=False):
                _fail("not applied")
        printer = LogPrinter()
        result = orchestra.apply(the_plan, on_finished=None if as_json else printer)
        if as_json:
            echo_json([log_to_dict(log) for log in result.logs])
        else:
            click.echo(printer.summary())
        if not result.ok:
            sys.exit(EXIT_FAILED)
    finally:
        orchestra.close()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI, turning orchestra errors into exit code 2."""
    try:
        cli.main(args=argv, prog_name="orchestra", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted")
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except OrchestraError as exc:
        _fail(str(exc))

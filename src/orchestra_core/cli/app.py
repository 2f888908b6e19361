"""The ``orchestra`` command.

Exit codes: 0 all good, 1 some step failed (or a server could not be read), 2 bad input (a
malformed inventory, an invalid object, an unknown backend, an unusable database, a refused
confirmation or guard), 3 a server was busy with another apply for longer than ``--wait``, 4
objects routed to no server (without ``--allow-unrouted``), 5 drift found by ``check``, 6 the
applied state changed while ``apply --yes`` waited for its servers.
"""

from __future__ import annotations

import sys

import click

from orchestra_core.cli import session
from orchestra_core.cli.db_commands import db
from orchestra_core.cli.inventory_commands import apply, plan, validate
from orchestra_core.cli.log_commands import log, retry
from orchestra_core.cli.scaffold_commands import new_driver
from orchestra_core.cli.session import Session, colour, fail
from orchestra_core.cli.state_commands import check, unlock
from orchestra_core.cli.topology_commands import drivers, routes, servers
from orchestra_core.cli.usage_commands import allocate, allocations, monitor, usage
from orchestra_core.errors import OrchestraError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestra-core", prog_name="orchestra")
@click.option(
    "--db",
    envvar="ORCHESTRA_DB",
    metavar="URL",
    help="The store: a SQLite file or URL, or postgresql://... "
    "[default: orchestra.sqlite here; env ORCHESTRA_DB]",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Turn hosting accounts and their services into what the servers run."""
    session = Session(db)
    ctx.obj = session
    ctx.call_on_close(session.close)


for command in (
    validate,
    plan,
    apply,
    check,
    unlock,
    log,
    retry,
    drivers,
    servers,
    routes,
    db,
    new_driver,
    monitor,
    usage,
    allocate,
    allocations,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI, turning orchestra errors into exit code 2 (JSON on
    stdout under ``--json``; no colours under ``NO_COLOR``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    words = args[: args.index("--")] if "--" in args else args
    session.JSON_REQUESTED = "--json" in words
    try:
        cli.main(args=args, prog_name="orchestra", standalone_mode=False, color=colour())
    except click.exceptions.Abort:
        fail("aborted")
    except click.ClickException as exc:
        if session.JSON_REQUESTED:
            fail(exc.format_message(), exc.exit_code if exc.exit_code > 1 else 2)
        exc.show()
        raise SystemExit(2) from None
    except OrchestraError as exc:
        fail(str(exc), details=_details(exc))


def _details(exc: OrchestraError) -> dict[str, object]:
    """The structured fields of an error, for a JSON error: object keys, fields, file, line."""
    out: dict[str, object] = {"type": type(exc).__name__}
    for name in ("object_key", "field", "server", "backend", "path", "line", "route"):
        value = getattr(exc, name, None)
        if value is not None:
            out[name] = value
    errors = getattr(exc, "errors", None)
    if errors:
        out["errors"] = [
            {"object_key": e.object_key, "field": e.field, "message": e.message} for e in errors
        ]
    return out

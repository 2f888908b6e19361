"""The ``orchestra`` command.

Exit codes: 0 all good, 1 some step failed, 2 bad input (a malformed inventory, an invalid
object, an unknown backend, an unusable database, a refused confirmation), 3 a server was busy
with another apply for longer than ``--wait``.
"""

from __future__ import annotations

import click

from orchestra_core.cli.db_commands import db
from orchestra_core.cli.inventory_commands import apply, plan, validate
from orchestra_core.cli.log_commands import log, retry
from orchestra_core.cli.scaffold_commands import new_driver
from orchestra_core.cli.session import Session, fail
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
    """Console entry point: runs the CLI, turning orchestra errors into exit code 2."""
    try:
        cli.main(args=argv, prog_name="orchestra", standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted")
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(2) from None
    except OrchestraError as exc:
        fail(str(exc))

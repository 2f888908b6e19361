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
from orchestra_core.cli.session import colour, fail
from orchestra_core.errors import OrchestraError

__all__ = ["COMMANDS", "cli", "main"]

#: Every command: its name, the module and attribute that define it, and its one-line help
#: (what ``orchestra --help`` lists without importing the command: the modules import the
#: engine, the planner and the store, which a help or a typo does not need).
#: The one-line help is also the command's ``short_help`` once imported;
#: ``tests/cli/test_lazy_commands.py`` checks that every command is here.
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    (
        "validate",
        "inventory_commands",
        "validate",
        "Check an inventory: load, validate, plan; no server touched.",
    ),
    (
        "plan",
        "inventory_commands",
        "plan",
        "Show what applying an inventory would change, and where.",
    ),
    (
        "apply",
        "inventory_commands",
        "apply",
        "Apply an inventory: show the plan, confirm, run, report.",
    ),
    (
        "check",
        "state_commands",
        "check",
        "Compare what the servers hold with what orchestra applied.",
    ),
    ("unlock", "state_commands", "unlock", "Remove the lock an apply holds on a server."),
    ("log", "log_commands", "log", "Recent operations, newest first (show one, prune)."),
    ("retry", "log_commands", "retry", "Run a failed operation again."),
    (
        "drivers",
        "topology_commands",
        "drivers",
        "List the installed drivers, their backends and types.",
    ),
    ("servers", "topology_commands", "servers", "The servers of the latest apply (test them)."),
    ("routes", "topology_commands", "routes", "The routes of the latest apply."),
    ("db", "db_commands", "db", "The store's database: its schema revision and upgrades."),
    (
        "new-driver",
        "scaffold_commands",
        "new_driver",
        "Write a working driver for a daemon, to adapt.",
    ),
    ("monitor", "usage_commands", "monitor", "Run the monitors once and keep what they measured."),
    ("usage", "usage_commands", "usage", "An account's usage, or a period's usage records."),
    ("allocate", "usage_commands", "allocate", "Give an object an allocation of a resource."),
    ("allocations", "usage_commands", "allocations", "Every allocation, with its last usage."),
)


class LazyGroup(click.Group):
    """A group whose commands are imported when one runs (or its help is asked for), and
    whose help lists them from :data:`COMMANDS` without importing any."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, *_ in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for name, module, attribute, summary in COMMANDS:
            if name == cmd_name:
                from importlib import import_module

                command = getattr(import_module(f"orchestra_core.cli.{module}"), attribute)
                assert isinstance(command, click.Command), (module, attribute)
                command.short_help = summary
                return command
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, _, _, short in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from orchestra_core.cli.session import Session

    session = Session(db)
    ctx.obj = session
    ctx.call_on_close(session.close)


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

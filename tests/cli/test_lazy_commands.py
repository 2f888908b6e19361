"""The ``orchestra`` group imports a command's module only when that command runs: its help
and a mistyped command load neither the engine nor the store (``orchestra --help`` went from
0.55 s to 0.10 s here), and the table it lists them from names every command there is."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import click
from click.testing import CliRunner

import orchestra_core.cli
from orchestra_core.cli.app import COMMANDS, cli

#: What a help must not import (each costs tens of milliseconds or more).
HEAVY = (
    "orchestra_core.engine",
    "orchestra_core.registry",
    "orchestra_core.planning",
    "orchestra_core.execution",
    "orchestra_core.storage",
    "orchestra_core.inventory",
    "sqlalchemy",
    "jinja2",
    "yaml",
)


def _imported_by(*args: str) -> list[str]:
    code = (
        "import json, sys\n"
        "from orchestra_core.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    return list(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_command_module() -> None:
    for args in (["--help"], ["no-such-command"]):
        loaded = _imported_by(*args)
        heavy = [m for m in loaded if m.startswith(HEAVY)]
        assert heavy == [], (args, heavy)


def test_every_command_is_in_the_table_and_each_line_fits() -> None:
    defined: set[tuple[str, str]] = set()
    for info in pkgutil.iter_modules(orchestra_core.cli.__path__):
        if not info.name.endswith("_commands"):
            continue
        module = importlib.import_module(f"orchestra_core.cli.{info.name}")
        subcommands = {
            id(sub)
            for value in vars(module).values()
            if isinstance(value, click.Group)
            for sub in value.commands.values()
        }
        for attribute, value in vars(module).items():
            if isinstance(value, click.Command) and id(value) not in subcommands:
                defined.add((info.name, attribute))
    listed = {(module, attribute) for _, module, attribute, _ in COMMANDS}
    assert listed == defined
    width = 80 - 6 - max(len(name) for name, *_ in COMMANDS)
    for name, module, attribute, summary in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.name == name, (name, module, attribute)
        assert len(summary) <= width and summary.endswith("."), summary


def test_a_command_runs_and_a_typo_is_refused() -> None:
    runner = CliRunner()
    ran = runner.invoke(cli, ["drivers", "--help"])
    assert ran.exit_code == 0 and "List the installed drivers" in ran.output
    typo = runner.invoke(cli, ["drivres"])
    assert typo.exit_code == 2 and "No such command 'drivres'" in typo.output

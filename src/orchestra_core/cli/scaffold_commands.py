"""``new-driver``: write a new driver distribution to adapt (it needs no store, opens none)."""

from __future__ import annotations

from pathlib import Path

import click

from orchestra_core.cli.session import fail

__all__ = ["new_driver"]


@click.command("new-driver")
@click.argument("name")
@click.option(
    "--kind",
    default="domain",
    show_default=True,
    help="The catalogue service kind the driver's backend provisions "
    "(domain, mailbox, website...).",
)
@click.option(
    "--directory",
    "-d",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the new orchestra-NAME folder.",
)
def new_driver(name: str, kind: str, directory: Path) -> None:
    """Write DIRECTORY/orchestra-NAME: a working driver for the daemon NAME, to adapt.

    It holds the NAME-KIND backend, a stub daemon its tests start for real, the contract
    suite, golden renders and a README saying how to make it drive your daemon.
    """
    from orchestra_core.scaffold import ScaffoldError
    from orchestra_core.scaffold import new_driver as generate

    try:
        target = generate(name, kind, directory)
    except ScaffoldError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the driver: {exc}")
    backend = f"{name}-{kind}"
    click.echo(f"created {target}: the {backend} backend for {kind} objects")
    click.echo("next, to run its tests:")
    click.echo(f"  cd {target}")
    click.echo("  python3 -m venv .venv")
    click.echo(f"  .venv/bin/pip install -e {_core_requirement()} -e '.[test,dev]'")
    click.echo("  .venv/bin/pytest")
    click.echo("then read its README.md: 'Adapting it to your daemon'")


def _core_requirement() -> str:
    """This orchestra-core's checkout when it runs from one (a new venv should use the same
    code), else the distribution's name."""
    import orchestra_core

    root = Path(orchestra_core.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "orchestra-core"' in pyproject.read_text("utf-8"):
        return str(root)
    return "orchestra-core"

"""``drivers``, ``servers`` and ``routes``: what is installed and where things go."""

from __future__ import annotations

from typing import Any

import attrs
import click

from orchestra_core.cli.output import echo_json, table
from orchestra_core.cli.session import Session, pass_session

__all__ = ["drivers", "routes", "servers"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.command()
@_JSON
@pass_session
def drivers(session: Session, as_json: bool) -> None:
    """List the installed drivers: backends, service types and actions."""
    rows: list[dict[str, Any]] = []
    for plugin, backends in session.registry.drivers():
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


@click.command()
@_JSON
@pass_session
def servers(session: Session, as_json: bool) -> None:
    """The servers of the latest apply, as the store knows them."""
    found = session.store.servers()
    if as_json:
        echo_json([attrs.asdict(server) for server in found])
        return
    if not found:
        click.echo("no servers yet: they are stored by `orchestra apply`")
        return
    rows = [
        [s.name, s.address, s.transport, s.root or "-", ", ".join(sorted(s.settings)) or "-"]
        for s in found
    ]
    click.echo(table(["NAME", "ADDRESS", "TRANSPORT", "ROOT", "SETTINGS FOR"], rows))


@click.command()
@_JSON
@pass_session
def routes(session: Session, as_json: bool) -> None:
    """The routes of the latest apply, as the store knows them."""
    found = session.store.routes()
    if as_json:
        echo_json([attrs.asdict(route) for route in found])
        return
    if not found:
        click.echo("no routes yet: they are stored by `orchestra apply`")
        return
    rows = [
        [
            r.name or "-",
            r.backend,
            ", ".join(r.servers),
            r.match,
            ", ".join(sorted(r.settings)) or "-",
        ]
        for r in found
    ]
    click.echo(table(["NAME", "BACKEND", "SERVERS", "MATCH", "SETTINGS"], rows))

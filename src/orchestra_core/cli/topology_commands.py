"""``drivers``, ``servers`` and ``routes``: what is installed and where things go."""

from __future__ import annotations

from typing import Any

import attrs
import click

from orchestra_core.cli.output import echo_json, table
from orchestra_core.cli.session import EXIT_FAILED, Session, pass_session
from orchestra_core.errors import OrchestraError, shown

__all__ = ["drivers", "routes", "servers"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.command()
@_JSON
@pass_session
def drivers(session: Session, as_json: bool) -> None:
    """List the installed drivers: backends, service types, actions, and what ``orchestra
    check`` can observe of their objects (the files they write, and the state of the objects
    themselves for backends that declare probes)."""
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
                    "observes": "files and state" if backend.cls.observes() else "files",
                }
            )
    if as_json:
        echo_json(rows)
        return
    headers = [
        "DRIVER",
        "DISTRIBUTION",
        "VERSION",
        "BACKEND",
        "SERVICE TYPE",
        "ACTIONS",
        "CHECK OBSERVES",
    ]
    cells = [
        [str(r[k]) for k in ("driver", "distribution", "version", "backend", "service_type")]
        + [",".join(r["actions"]), r["observes"]]
        for r in rows
    ]
    click.echo(table(headers, cells))


@click.group(invoke_without_command=True)
@_JSON
@click.pass_context
def servers(ctx: click.Context, as_json: bool) -> None:
    """The servers of the latest apply, as the store knows them (``servers test`` checks them)."""
    if ctx.invoked_subcommand is not None:
        return
    session = ctx.find_object(Session)
    assert session is not None
    found = session.store.servers()
    if as_json:
        echo_json([attrs.asdict(server) for server in found])
        return
    if not found:
        click.echo("no servers yet: they are stored by `orchestra apply`")
        return
    rows = [
        [
            shown(s.name),
            shown(s.address),
            shown(s.transport),
            shown(s.root) if s.root else "-",
            ", ".join(shown(name) for name in sorted(s.settings)) or "-",
        ]
        for s in found
    ]
    click.echo(table(["NAME", "ADDRESS", "TRANSPORT", "ROOT", "SETTINGS FOR"], rows))


@servers.command("test")
@click.argument("inventory", required=False, type=click.Path(dir_okay=False))
@_JSON
@pass_session
def test_servers(session: Session, inventory: str | None, as_json: bool) -> None:
    """Check that each server is reachable, lets orchestra in, and has the tools of the backends
    routed to it (the servers and routes of INVENTORY, or of the latest apply)."""
    if inventory is not None:
        from pathlib import Path

        from orchestra_core.inventory import load_inventory

        inv = load_inventory(
            inventory,
            service_types=session.registry.by_plural(),
            backends=session.registry.routable(),
            base_dir=Path.cwd(),
        )
        found, routed = list(inv.servers), list(inv.routes)
    else:
        found, routed = session.store.servers(), session.store.routes()
    from orchestra_core.engine import Orchestra
    from orchestra_core.execution.transport import Probe

    engine = Orchestra(servers=found, routes=routed, registry=session.registry, store=session.store)
    results = []
    try:
        for server in found:
            tools = sorted(
                {
                    tool
                    for route in routed
                    if server.name in route.servers
                    for tool in session.registry.tools(route.backend)
                }
            )
            try:
                probe = engine.transport(server.transport).probe(server, tools)
            except OrchestraError as exc:
                probe = Probe(reachable=False, error=str(exc))
            results.append((server, tools, probe))
    finally:
        engine.close()
    if as_json:
        echo_json(
            [
                {"server": s.name, "tools": tools, **attrs.asdict(probe), "ok": probe.ok}
                for s, tools, probe in results
            ]
        )
    else:
        yes = click.style("yes", fg="green")
        no = click.style("NO", fg="red", bold=True)
        rows = [
            [
                shown(s.name),
                shown(f"{s.transport} {s.address}"),
                yes if probe.reachable else no,
                yes if probe.authenticated else no,
                ", ".join(shown(t) for t in probe.missing_tools)
                or ("-" if probe.authenticated else "?"),
                shown(probe.error or "", 200),
            ]
            for s, _, probe in results
        ]
        click.echo(table(["SERVER", "VIA", "REACHABLE", "LOGIN", "MISSING TOOLS", "ERROR"], rows))
    if not all(probe.ok for _, _, probe in results):
        raise SystemExit(EXIT_FAILED)


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
            shown(r.name) if r.name else "-",
            shown(r.backend),
            ", ".join(shown(name) for name in r.servers),
            shown(r.match),
            ", ".join(shown(name) for name in sorted(r.settings)) or "-",
        ]
        for r in found
    ]
    click.echo(table(["NAME", "BACKEND", "SERVERS", "MATCH", "SETTINGS"], rows))

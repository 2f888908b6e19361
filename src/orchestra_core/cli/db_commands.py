"""``db upgrade`` and ``db status``: the store's schema."""

from __future__ import annotations

import click

from orchestra_core.cli.output import echo_json
from orchestra_core.cli.session import Session, pass_session

__all__ = ["db"]


@click.group()
def db() -> None:
    """The store's database: its schema revision and upgrades."""


@db.command()
@pass_session
def upgrade(session: Session) -> None:
    """Bring the database's schema up to this orchestra's (creating it if new)."""
    from orchestra_core.storage import upgrade as run_upgrade

    before, after = run_upgrade(session.db)
    if before == after:
        click.echo(f"the database is up to date (revision {after})")
    else:
        click.echo(f"upgraded the database from revision {before or 'none'} to {after}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_session
def status(session: Session, as_json: bool) -> None:
    """The database's schema revision, and the one this orchestra needs."""
    from orchestra_core.storage import current_revision, head_revision

    revision, needed = current_revision(session.db), head_revision()
    if as_json:
        echo_json({"revision": revision, "needed": needed, "current": revision == needed})
        return
    click.echo(f"database revision {revision or 'none'}, needed {needed}")

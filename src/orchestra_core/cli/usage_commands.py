"""``monitor``, ``usage``, ``allocate`` and ``allocations``: measuring, and what it adds up to.

``orchestra monitor`` runs every monitor once, keeps the samples, compares usage with the
allocations (applying again what crossed one) and compacts old samples: run it from cron or a
systemd timer, there is no scheduler daemon. ``orchestra usage ACCOUNT`` shows an account's
usage over a period; ``orchestra usage export`` writes a period's usage records for a billing
system.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import click

from orchestra_core.billing.export import FORMATS, to_csv, to_jsonl, to_lago
from orchestra_core.cli.durations import Duration
from orchestra_core.cli.output import echo_json, table
from orchestra_core.cli.session import EXIT_FAILED, Session, executor_option, fail, pass_session
from orchestra_core.engine import Orchestra
from orchestra_core.errors import ConfigurationError, FieldError, ValidationError
from orchestra_core.execution.results import utcnow
from orchestra_core.inventory.wording import close_matches, did_you_mean, quote, suggest
from orchestra_core.resources.periods import Period, utc
from orchestra_core.resources.report import account_usage, sparkline

__all__ = ["allocate", "allocations", "monitor", "usage"]

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _engine(session: Session, executor: str = "threads") -> Orchestra:
    """An engine on the stored servers and routes (those of the latest apply), whose batches
    run through the executor called ``executor``."""
    return Orchestra(
        servers=session.store.servers(),
        routes=session.store.routes(),
        registry=session.registry,
        store=session.store,
        executor=executor,
    )


def _moment(text: str | None) -> datetime:
    if text is None:
        return utcnow()
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        fail(f"--at {text!r}: {exc} (give an ISO 8601 time with its zone, e.g. 2026-11-30T12:00Z)")


def _period(text: str | None, now: datetime) -> Period:
    if text is None:
        return Period.month(now.year, now.month)
    try:
        return Period.parse(text)
    except ConfigurationError as exc:
        fail(str(exc))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@click.command()
@click.option("--monitor", "names", multiple=True, metavar="NAME", help="Only these monitors.")
@click.option("--at", "at_text", metavar="TIME", help="The time of the run [default: now].")
@click.option(
    "--keep-samples",
    type=Duration(),
    default="35d",
    show_default=True,
    metavar="DURATION",
    help="Compact samples older than this (30d, 2w, 1d12h...) into daily summaries "
    "('0' keeps everything).",
)
@click.option("--no-react", is_flag=True, help="Record crossings, apply nothing.")
@executor_option
@_JSON
@pass_session
def monitor(
    session: Session,
    names: tuple[str, ...],
    at_text: str | None,
    keep_samples: timedelta,
    no_react: bool,
    executor: str,
    as_json: bool,
) -> None:
    """Run the monitors once: measure every applied object where its routes say, keep the
    samples, compare usage with allocations, apply again what crossed one, compact old
    samples. Exit 1 when a monitor or a reaction failed."""
    at = _moment(at_text)
    horizon = None
    if keep_samples:  # a zero duration keeps every sample
        try:
            horizon = at - keep_samples
        except OverflowError:
            fail(f"--keep-samples: {keep_samples.days} days before --at is before the year 1")
    engine = _engine(session, executor)
    try:
        engine.reconcile_lifetimes(at)
        measured = engine.measure(monitors=names or None, at=at)
        evaluation = engine.evaluate(at=at, react=not no_react)
        compacted = session.store.usage.compact(horizon) if horizon is not None else 0
    finally:
        engine.close()
    applied = evaluation.applied
    ingested = measured.ingested
    report: dict[str, Any] = {
        "at": at.isoformat(),
        "samples": len(measured.samples),
        "ingested": attrs.asdict(ingested) if ingested is not None else None,
        "failures": [attrs.asdict(f) for f in measured.failures],
        "events": [{**attrs.asdict(e), "at": e.at.isoformat()} for e in evaluation.events],
        "reaction_ok": applied is None or applied.ok,
        "compacted": compacted,
    }
    if as_json:
        echo_json(report)
    else:
        counts: dict[str, int] = {}
        for sample in measured.samples:
            counts[sample.monitor] = counts.get(sample.monitor, 0) + 1
        for name in sorted(counts):
            click.echo(f"{name}: {counts[name]} samples")
        if ingested is not None:
            click.echo(
                f"kept: {ingested.added} new, {ingested.replaced} replaced, "
                f"{ingested.unchanged} unchanged, {ingested.too_old} too old"
            )
        for failure in measured.failures:
            click.echo(click.style("FAILED ", fg="red", bold=True) + str(failure))
        for event in evaluation.events:
            colour = "yellow" if event.kind == "exceeded" else "green"
            click.echo(click.style(event.kind.upper(), fg=colour) + f" {event}")
        if applied is not None:
            states = ", ".join(f"{n} {s.value}" for s, n in applied.counts().items())
            click.echo(f"applied again: {states}")
        if compacted:
            click.echo(f"compacted {compacted} samples into daily summaries")
    if measured.failures or not report["reaction_ok"]:
        raise SystemExit(EXIT_FAILED)


class _UsageGroup(click.Group):
    """``usage ACCOUNT`` shows; ``usage export`` exports: an unknown word is an account."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


@click.group(cls=_UsageGroup)
def usage() -> None:
    """An account's usage (``usage ACCOUNT``), or a period's usage records (``usage export``)."""


@usage.command("show")
@click.argument("account")
@click.option(
    "--period", metavar="PERIOD", help="YYYY-MM, YYYY-MM-DD or A/B [default: this month]."
)
@_JSON
@pass_session
def show(session: Session, account: str, period: str | None, as_json: bool) -> None:
    """ACCOUNT's usage over PERIOD: per object and resource, the value, the allocation and a
    chart of the days."""
    now = utcnow()
    span = _period(period, now)
    lines = account_usage(session.store.usage, session.registry.resources, account, span, now=now)
    if not lines:
        _known_account(session, account)
    if as_json:
        echo_json([attrs.asdict(line) for line in lines])
        return
    if not lines:
        click.echo(f"no usage of account {account} in {span}")
        return
    rows = []
    for line in lines:
        value = _number(line.value)
        if line.exceeded:
            value = click.style(value, fg="red", bold=True)
        rows.append(
            [
                line.object_key,
                line.resource,
                value,
                _number(line.allocation),
                line.unit,
                sparkline(line.daily),
            ]
        )
    click.echo(f"usage of {account}, {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d} (UTC)")
    click.echo(table(["OBJECT", "RESOURCE", "USAGE", "ALLOCATION", "UNIT", "DAILY"], rows))


@usage.command("export")
@click.option(
    "--period", metavar="PERIOD", help="YYYY-MM, YYYY-MM-DD or A/B [default: last month]."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--account", help="Only this account's records.")
@click.option(
    "--subscription",
    default="{account}",
    show_default=True,
    help="Lago: the external_subscription_id of a record ({account} is its account).",
)
@click.option(
    "--partial",
    is_flag=True,
    help="Allow a period that has not ended: its records up to now, not kept (not for Lago).",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="A file to write."
)
@pass_session
def export(
    session: Session,
    period: str | None,
    fmt: str,
    account: str | None,
    subscription: str,
    partial: bool,
    output: str | None,
) -> None:
    """Make PERIOD's usage records (again: the same records, the same idempotency keys) and
    write them as JSON lines, CSV, or Lago events, on standard output or to --output."""
    now = utcnow()
    span = _period(period, now) if period is not None else _last_month(now)
    ongoing = span.end > now
    if ongoing and not partial:
        fail(
            f"the period {span} has not ended: its records are not final (a billing system "
            "keeps the first quantity it gets for a record); wait, or pass --partial to look"
        )
    if ongoing and fmt == "lago":
        fail("partial records are not for Lago: it would keep them as final")
    if account is not None:
        _known_account(session, account)
    target = _Output(output) if output is not None else None
    try:
        engine = _engine(session)
        try:
            records = engine.bill(span, account=account, until=now if ongoing else None)
        finally:
            engine.close()
        if fmt == "jsonl":
            lines = to_jsonl(records)
        elif fmt == "csv":
            lines = to_csv(records)
        else:
            lines = to_lago(
                records,
                session.registry.billing_metrics,
                subscription=lambda r: subscription.format(account=r.account),
            )
        if target is None:
            for line in lines:
                click.echo(line, nl=False)
            return
        target.write(lines)
    finally:
        if target is not None:
            target.discard()
    click.echo(f"{len(records)} records of {span} written to {output}", err=True)


class _Output:
    """A file that ``usage export`` writes: through a temporary file beside it, created before
    any record is made (a path that cannot be written fails first) and renamed over the file
    once complete, so that a failure never leaves a file half written."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        self.done = False
        try:
            # 0o666 less the umask: the permissions open() would give the file itself
            self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            fail(f"cannot write {quote(path, limit=1024)}: {exc.strerror or exc}")

    def write(self, lines: Iterable[str]) -> None:
        """Write ``lines`` and put the file in place; fail naming the file and the reason."""
        try:
            with os.fdopen(self.fd, "w", encoding="utf-8") as out:
                self.fd = -1  # closed with ``out``
                out.writelines(lines)
            os.replace(self.temp, self.path)
        except OSError as exc:
            fail(f"cannot write {quote(str(self.path), limit=1024)}: {exc.strerror or exc}")
        self.done = True

    def discard(self) -> None:
        """Remove the temporary file, unless it became the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self.done:
            self.temp.unlink(missing_ok=True)


#: Every lifetime overlaps this: which accounts ever had an object.
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


def _known_account(session: Session, account: str) -> None:
    """Fail unless ``account`` owns an applied object or ever had one measured."""
    known = {
        str(snap.data["account"])
        for snap in session.store.applied().values()
        if snap.data.get("account")
    }
    if account in known:
        return
    known |= {life.account for life in session.store.usage.lifetimes(*_ALL_TIME)}
    if account not in known:
        fail(
            f"unknown account {quote(account)}: no applied object belongs to it and none "
            f"was ever measured{did_you_mean(account, known)}"
        )


def _last_month(now: datetime) -> Period:
    """The last calendar month that has ended."""
    this = Period.month(now.year, now.month)
    previous = this.start - timedelta(days=1)
    return Period.month(previous.year, previous.month)


@click.command()
@click.argument("object_key")
@click.argument("resource")
@click.argument("value")
@_JSON
@pass_session
def allocate(session: Session, object_key: str, resource: str, value: str, as_json: bool) -> None:
    """Give OBJECT_KEY an allocation of RESOURCE (a number in the resource's unit), or
    'default' to take it back; the next `orchestra monitor` compares usage with it."""
    if value == "default":
        amount: float | None = None
    else:
        try:
            amount = float(value)
        except ValueError:
            fail(f"allocation {quote(value)} is not a number (or 'default')")
        if not math.isfinite(amount):
            fail(f"allocation {quote(value)} is not a finite number (or 'default')")
    errors = _allocation_target(session, object_key, resource, taking_back=amount is None)
    if errors:
        fail("\n".join(str(e) for e in errors))
    engine = _engine(session)
    try:
        engine.allocate(object_key, resource, amount)
    except ValidationError as exc:
        fail(str(exc))
    finally:
        engine.close()
    if as_json:
        definition = session.registry.resources[resource]
        echo_json(
            {
                "object_key": object_key,
                "resource": resource,
                "allocation": session.store.usage.allocations().get((object_key, resource)),
                "default_allocation": definition.default_allocation,
                "unit": definition.unit,
            }
        )
        return
    click.echo(f"{object_key}: {resource} allocation {'default' if amount is None else value}")


def _allocation_target(
    session: Session, object_key: str, resource: str, *, taking_back: bool
) -> list[FieldError]:
    """Problems with giving ``object_key`` an allocation of ``resource``: the object must be
    applied and of the kind the resource measures. Taking back an allocation that is set
    needs neither (the object may be gone)."""
    resources = session.registry.resources
    key = _shown(object_key)
    field = f"allocations[{_shown(resource)}]"
    if taking_back and (object_key, resource) in session.store.usage.allocations():
        return []
    errors: list[FieldError] = []
    definition = resources.get(resource)
    if definition is None:
        known = ", ".join(sorted(resources)) or "none"
        errors.append(
            FieldError(
                key,
                field,
                f"no such resource {quote(resource)}{did_you_mean(resource, resources)} "
                f"(resources: {known})",
            )
        )
    applied = session.store.applied()
    snapshot = applied.get(object_key)
    if snapshot is None:
        # Keys of the same kind share their prefix: compare what follows it.
        kind, _, identity = object_key.partition(":")
        same_kind = {k.partition(":")[2]: k for k in applied if k.startswith(f"{kind}:")}
        if same_kind:
            close = [same_kind[i] for i in close_matches(identity, same_kind)]
        else:
            close = close_matches(object_key, applied)
        errors.append(
            FieldError(
                key,
                field,
                f"no applied object {quote(object_key)}"
                + (
                    suggest(close)
                    or " (an object has allocations once `orchestra apply` applied it)"
                ),
            )
        )
    elif definition is not None and definition.service_kind != snapshot.kind:
        fitting = sorted(n for n, d in resources.items() if d.service_kind == snapshot.kind)
        errors.append(
            FieldError(
                key,
                field,
                f"resource {quote(resource)} measures {definition.service_kind} objects, "
                f"not a {snapshot.kind} (resources of a {snapshot.kind}: "
                f"{', '.join(fitting) or 'none'})",
            )
        )
    return errors


def _shown(text: str) -> str:
    """``text`` as typed when it is short and printable, else quoted."""
    return text if text.isprintable() and len(text) <= 80 else quote(text)


@click.command()
@_JSON
@pass_session
def allocations(session: Session, as_json: bool) -> None:
    """Every allocation set, with the last usage and whether it is exceeded."""
    states = session.store.usage.resource_states()
    found = sorted(session.store.usage.allocations().items())
    rows: list[dict[str, Any]] = []
    for (key, resource), value in found:
        state = states.get((key, resource))
        rows.append(
            {
                "object_key": key,
                "resource": resource,
                "allocation": value,
                "usage": state.usage if state else None,
                "exceeded": bool(state and state.exceeded),
            }
        )
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no allocation set: `orchestra allocate OBJECT RESOURCE VALUE` sets one")
        return
    click.echo(
        table(
            ["OBJECT", "RESOURCE", "ALLOCATION", "USAGE", "EXCEEDED"],
            [
                [
                    r["object_key"],
                    r["resource"],
                    _number(r["allocation"]),
                    _number(r["usage"]),
                    "yes" if r["exceeded"] else "no",
                ]
                for r in rows
            ],
        )
    )

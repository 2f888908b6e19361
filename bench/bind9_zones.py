"""Benchmark: N bind9 master zones on a real named, through the embedding API.

Run by hand, never by the test suite::

    .venv/bin/python bench/bind9_zones.py --zones 1000 --repeat 3
    .venv/bin/python bench/bind9_zones.py --zones 200 --json

It starts a named in a temp dir (``orchestra_bind9.testing.start_named``), routes
``bind9-master`` to it through one local-transport server, and times with
``time.perf_counter``:

a. planning (validating, routing, rendering) all N zones;
b. applying them: zone files and stanzas written, the zones loaded by one ``rndc reconfig``;
c. (not timed) dnspython asks named for a sample of the zones;
d. planning and applying all N again, unchanged: a full resync, every operation "nothing";
e. one record of one zone changed, a change set holding just that domain (the index holding
   all of them): plan and apply, named answers the new value, only that zone was reloaded;
f. for reference, one new zone applied on its own into the populated server;
g. ``Orchestra.check`` of every zone, nothing drifted (one read-only batch);
h. one live zone edited by hand and reloaded: check finds it, and only it.

e, f and g run ``--repeat`` times and report the median; a, b and d run once. Peak RSS is
``ru_maxrss`` of this Python process (named and the batch shells are not counted).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
from orchestra_bind9.testing import NamedInstance, start_named

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.execution.script import compile_batch
from orchestra_core.planning.plan import Plan

ACCOUNT = Account(name="bench")
NAMESERVERS = ["ns1.dns.test", "ns2.dns.test"]
SERVER = "ns1"
#: How many zones phase c asks named about.
SAMPLE = 25

T = TypeVar("T")


class BenchError(Exception):
    """A phase did not do what it should have: the figures would mean nothing."""


# -- data ------------------------------------------------------------------------------------------


from machine import machine  # noqa: E402 - bench/ is the script's path


def zone_name(i: int, width: int) -> str:
    return f"zone{i:0{width}d}.example.test"


def a_value(i: int, bump: int = 0) -> str:
    """A distinct private address per zone (and per bump of phase e)."""
    n = i + bump * 7919
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def make_domain(name: str, i: int) -> Domain:
    """A zone with six record sets: A, AAAA, MX, TXT at the apex, CNAME www, A mail."""
    return Domain(
        account=ACCOUNT.name,
        name=name,
        records=(
            Record(type="A", values=(a_value(i),)),
            Record(type="AAAA", values=(f"2001:db8::{i:x}",)),
            Record(type="MX", values=(f"10 mail.{name}",)),
            Record(type="TXT", values=("v=spf1 mx -all",)),
            Record(name="www", type="CNAME", values=(name,)),
            Record(name="mail", type="A", values=("192.0.2.25",), ttl=300),
        ),
    )


def with_a(domain: Domain, value: str) -> Domain:
    """``domain`` with its apex A set replaced by ``value``."""
    records = tuple(
        attrs.evolve(r, values=(value,)) if (r.name, r.type) == ("@", "A") else r
        for r in domain.records
    )
    return attrs.evolve(domain, records=records)


# -- measuring -------------------------------------------------------------------------------------


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def peak_rss_mib() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plan_counts(plan: Plan) -> dict[str, int]:
    operations = sum(len(sp.operations) for sp in plan.servers)
    steps = sum(len(sp.steps) for sp in plan.servers)
    return {"operations": operations, "steps": steps}


def result_counts(result: ApplyResult) -> dict[str, dict[str, Any]]:
    """Operations and steps by final state, and the seconds the steps themselves took by kind
    (what the batch spends besides: unpacking payloads, reporting, bash reading the script)."""
    ops = Counter(log.state.value for log in result.logs)
    steps = Counter(step.state.value for log in result.logs for step in log.steps)
    seconds: dict[str, float] = {}
    for log in result.logs:
        for step in log.steps:
            seconds[step.kind] = seconds.get(step.kind, 0.0) + (step.duration or 0.0)
    return {
        "operation_states": dict(sorted(ops.items())),
        "step_states": dict(sorted(steps.items())),
        "step_seconds": {k: round(v, 3) for k, v in sorted(seconds.items())},
    }


def require_ok(result: ApplyResult, phase: str) -> None:
    if result.ok:
        return
    bad = [log for log in result.logs if not log.state.is_ok][:3]
    details = "\n".join(
        f"  {log.operation_id}: {log.state.value}\n{(log.stdout + log.stderr)[-2000:]}"
        for log in bad
    )
    raise BenchError(f"phase {phase}: {len(bad)}+ operations failed\n{details}")


def loaded_counts(named: NamedInstance) -> Counter[str]:
    """How many times named logged "loaded serial" for each zone."""
    return Counter(re.findall(r"zone (\S+)/IN: loaded serial", named.log_text()))


def reconfigs(named: NamedInstance) -> int:
    return named.log_text().count("received control channel command 'reconfig'")


@contextmanager
def running_named(directory: Path) -> Iterator[NamedInstance]:
    named = start_named(directory, name="bench-master", timeout=30)
    try:
        yield named
    finally:
        named.stop()


# -- the phases ------------------------------------------------------------------------------------


@attrs.define
class Figures:
    zones: int
    repeat: int
    phases: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def add(self, phase: str, **figures: Any) -> None:
        self.phases[phase] = {**figures, "peak_rss_mib": round(peak_rss_mib(), 1)}


def run(zones: int, repeat: int, batch_timeout: float, keep: Path | None) -> Figures:
    figures = Figures(zones=zones, repeat=repeat)
    width = max(4, len(str(zones)))
    with tempfile.TemporaryDirectory(prefix="bench-bind9-") as tmp:
        directory = keep if keep is not None else Path(tmp)
        with running_named(directory / "named") as named:
            orchestra = Orchestra(
                servers=[
                    Server(
                        name=SERVER,
                        transport="local",
                        settings={"bind9-master": named.settings(nameservers=NAMESERVERS)},
                    )
                ],
                routes=[Route(backend="bind9-master", servers=(SERVER,))],
                batch_timeout=batch_timeout,
            )
            try:
                phases(orchestra, named, figures, width)
            finally:
                orchestra.close()
    return figures


def phases(orchestra: Orchestra, named: NamedInstance, figures: Figures, width: int) -> None:
    n, repeat = figures.zones, figures.repeat
    domains = [make_domain(zone_name(i, width), i) for i in range(1, n + 1)]
    figures.add("setup", seconds=None)

    # a. plan all N
    def plan_all() -> Plan:
        changes = ChangeSet()
        for domain in domains:
            changes.save(domain)
        return orchestra.plan(changes, index=ServiceIndex([ACCOUNT], domains))

    plan, seconds = timed(plan_all)
    script_bytes = sum(len(compile_batch(sp).script) for sp in plan.servers)
    figures.add("a_plan_all", seconds=seconds, **plan_counts(plan), batch_script_bytes=script_bytes)

    # b. first apply
    result, seconds = timed(lambda: orchestra.apply(plan))
    require_ok(result, "b")
    loaded = loaded_counts(named)
    if sorted(loaded) != sorted(d.name for d in domains) or set(loaded.values()) != {1}:
        raise BenchError(f"phase b: named loaded {len(loaded)} zones, expected {n} once each")
    figures.add(
        "b_apply_all_first",
        seconds=seconds,
        **plan_counts(plan),
        **result_counts(result),
        reconfigs=reconfigs(named),
    )
    del plan, result

    # c. verify a sample (not timed)
    sample = random.Random(n).sample(range(n), min(SAMPLE, n))
    for k in sample:
        domain = domains[k]
        if named.answers(domain.name, "A") != [a_value(k + 1)]:
            raise BenchError(f"phase c: {domain.name} A is {named.answers(domain.name, 'A')}")
        if named.answers(f"www.{domain.name}", "CNAME") != [f"{domain.name}."]:
            raise BenchError(f"phase c: www.{domain.name} CNAME is wrong")
        if named.serial(domain.name) is None:
            raise BenchError(f"phase c: {domain.name} is not served authoritatively")
    figures.add("c_verify", seconds=None, sampled_zones=len(sample))

    # d. full resync, nothing changed
    plan, plan_seconds = timed(plan_all)
    result, apply_seconds = timed(lambda: orchestra.apply(plan))
    require_ok(result, "d")
    counts = result_counts(result)
    if set(counts["operation_states"]) != {"nothing"}:
        raise BenchError(f"phase d: a resync changed something: {counts}")
    if loaded_counts(named) != loaded:
        raise BenchError("phase d: a resync reloaded zones")
    figures.add(
        "d_resync_all",
        seconds=plan_seconds + apply_seconds,
        plan_seconds=plan_seconds,
        apply_seconds=apply_seconds,
        **plan_counts(plan),
        **counts,
    )
    del plan, result

    # e. one record of one zone, a change set of one domain, the index of all of them
    target = n // 2
    samples_e: list[dict[str, Any]] = []
    for r in range(1, repeat + 1):
        changed = with_a(domains[target], a_value(target + 1, bump=r))
        domains[target] = changed
        before, reconfigs_before = loaded_counts(named), reconfigs(named)

        def plan_one(domain: Domain = changed) -> Plan:
            index = ServiceIndex([ACCOUNT], domains)
            return orchestra.plan(ChangeSet().save(domain), index=index)

        plan, plan_seconds = timed(plan_one)
        result, apply_seconds = timed(partial(orchestra.apply, plan))
        require_ok(result, "e")
        answer = named.answers(changed.name, "A")
        if answer != [a_value(target + 1, bump=r)]:
            raise BenchError(f"phase e: {changed.name} answers {answer} after the change")
        delta = loaded_counts(named) - before
        if delta != Counter({changed.name: 1}):
            raise BenchError(f"phase e: zones reloaded by a one-zone change: {dict(delta)}")
        if reconfigs(named) != reconfigs_before:
            raise BenchError("phase e: a record change ran rndc reconfig")
        samples_e.append(
            {
                "plan_seconds": plan_seconds,
                "apply_seconds": apply_seconds,
                "seconds": plan_seconds + apply_seconds,
                **plan_counts(plan),
                **result_counts(result),
                "zones_reloaded": sum(delta.values()),
            }
        )
    figures.add("e_one_change", **median_of(samples_e), samples=samples_e)

    # f. one new zone on its own into the populated server
    samples_f: list[dict[str, Any]] = []
    for r in range(1, repeat + 1):
        fresh = make_domain(f"new{r:02d}.example.test", n + r)
        domains.append(fresh)
        reconfigs_before = reconfigs(named)

        def plan_new(domain: Domain = fresh) -> Plan:
            index = ServiceIndex([ACCOUNT], domains)
            return orchestra.plan(ChangeSet().save(domain), index=index)

        plan, plan_seconds = timed(plan_new)
        result, apply_seconds = timed(partial(orchestra.apply, plan))
        require_ok(result, "f")
        answer = named.answers(fresh.name, "A")
        if answer != [a_value(n + r)]:
            raise BenchError(f"phase f: {fresh.name} answers {answer}")
        samples_f.append(
            {
                "plan_seconds": plan_seconds,
                "apply_seconds": apply_seconds,
                "seconds": plan_seconds + apply_seconds,
                **plan_counts(plan),
                **result_counts(result),
                "reconfigs": reconfigs(named) - reconfigs_before,
            }
        )
    figures.add("f_one_new_zone", **median_of(samples_f), samples=samples_f)

    # g. orchestra check of every zone, nothing drifted: one read-only batch
    samples_g: list[dict[str, Any]] = []
    for _ in range(repeat):
        report, seconds = timed(orchestra.check)
        if not report.clean or report.checked != len(domains):
            raise BenchError(f"phase g: a clean check found {report.to_dict()}")
        samples_g.append({"seconds": seconds, "checked": report.checked})
    figures.add("g_check_clean", **median_of_seconds(samples_g), samples=samples_g)

    # h. one live zone edited by hand and reloaded: check names it and nothing else
    hand_edit_zone(named, domains[target].name)
    report, seconds = timed(orchestra.check)
    found = [(f.placement.object_key, f.name) for f in report.findings]
    if found != [(domains[target].key, "live zone")]:
        raise BenchError(f"phase h: check of one edited zone file found {found}")
    figures.add("h_check_one_drift", seconds=seconds, checked=report.checked, findings=found)


def hand_edit_zone(named: NamedInstance, zone: str) -> None:
    """Add a record to ``zone``'s live file and reload it, as an operator's hand would."""
    live = named.zone_dir / f"{zone}.zone"
    live.write_text(live.read_text() + "hand 300 IN A 192.0.2.66\n")
    named.rndc("reload", zone)


def median_of_seconds(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median run of ``samples`` by seconds."""
    return dict(sorted(samples, key=lambda s: s["seconds"])[len(samples) // 2])


def median_of(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median of each timing over the samples; the other figures of the median run."""
    out: dict[str, Any] = {
        key: statistics.median(s[key] for s in samples)
        for key in ("seconds", "plan_seconds", "apply_seconds")
    }
    middle = sorted(samples, key=lambda s: s["seconds"])[len(samples) // 2]
    out.update({k: v for k, v in middle.items() if k not in out})
    return out


# -- output ----------------------------------------------------------------------------------------

LABELS = {
    "a_plan_all": "a  plan all N",
    "b_apply_all_first": "b  first apply of all N",
    "d_resync_all": "d  resync all N (unchanged)",
    "e_one_change": "e  one record of one zone",
    "f_one_new_zone": "f  one new zone",
}


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(figures: Figures) -> str:
    rows = [("phase", "total s", "plan s", "apply s", "ops", "steps", "step states", "RSS MiB")]
    for key, label in LABELS.items():
        p = figures.phases[key]
        if key == "a_plan_all":
            plan_s, apply_s = p["seconds"], None
        elif key == "b_apply_all_first":
            plan_s, apply_s = None, p["seconds"]
        else:
            plan_s, apply_s = p["plan_seconds"], p["apply_seconds"]
        states = ", ".join(f"{k} {v}" for k, v in p.get("step_states", {}).items()) or "-"
        rows.append(
            (
                label,
                fmt_seconds(p["seconds"]),
                fmt_seconds(plan_s),
                fmt_seconds(apply_s),
                str(p["operations"]),
                str(p["steps"]),
                states,
                f"{p['peak_rss_mib']:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i in (0, 6) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    e, f = figures.phases["e_one_change"], figures.phases["f_one_new_zone"]
    b, d = figures.phases["b_apply_all_first"], figures.phases["d_resync_all"]
    script_mb = figures.phases["a_plan_all"]["batch_script_bytes"] / 1e6
    lines += [
        "",
        f"zones {figures.zones}, repeat {figures.repeat} (e and f: median), "
        f"first-apply batch script {script_mb:.1f} MB",
        f"one change / one new zone: {e['seconds'] / f['seconds']:.2f}x; "
        f"one change / first apply per zone: {e['seconds'] / (b['seconds'] / figures.zones):.1f}x; "
        f"resync / one change: {d['seconds'] / e['seconds']:.0f}x",
        f"zones reloaded by the one change: {e['zones_reloaded']}; "
        f"reconfigs by one new zone: {f['reconfigs']}",
        f"g  check, nothing drifted: {figures.phases['g_check_clean']['seconds']:.3f} s "
        f"for {figures.phases['g_check_clean']['checked']} placements (median); "
        f"h  check, one live zone edited by hand: "
        f"{figures.phases['h_check_one_drift']['seconds']:.3f} s, found "
        f"{len(figures.phases['h_check_one_drift']['findings'])}",
        "seconds inside the steps, by kind (the rest of apply is batch overhead):",
    ]
    for key in ("b_apply_all_first", "d_resync_all", "e_one_change", "f_one_new_zone"):
        p = figures.phases[key]
        inside = ", ".join(f"{k} {v:.3f}" for k, v in p["step_seconds"].items())
        total = sum(p["step_seconds"].values())
        apply_s = p.get("apply_seconds", p["seconds"])
        lines.append(f"  {key[0]}: {inside}; overhead {apply_s - total:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--zones", type=int, default=1000, help="zones to create (default 1000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the cheap phases e and f (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--batch-timeout",
        type=float,
        default=3600,
        help="seconds one server's batch may take (default 3600)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="put named's folder here and leave it"
    )
    args = parser.parse_args(argv)
    if args.zones < 1 or args.repeat < 1:
        parser.error("--zones and --repeat must be at least 1")
    try:
        figures = run(args.zones, args.repeat, args.batch_timeout, args.keep)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"machine": machine(), **attrs.asdict(figures)}, indent=2))
    else:
        print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

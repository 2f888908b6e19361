"""Benchmark: N mailboxes and N addresses on a real Postfix and Dovecot, through the embedding API.

Run by hand, never by the test suite::

    .venv/bin/python bench/postfix_mailboxes.py                  # 2000 + 2000, against 10 + 10
    .venv/bin/python bench/postfix_mailboxes.py --count 500 --repeat 5
    .venv/bin/python bench/postfix_mailboxes.py --json           # the figures as JSON

It starts Postfix and Dovecot in a temp dir (``orchestra_postfix.testing.start_mail_server``),
routes ``postfix-mailbox`` and ``postfix-address`` to it through one local-transport server,
and builds N mailboxes ``box0001@dNNN.example.test`` (ten per domain, a quota each) and N
addresses ``alias0001@...``, each delivering to its mailbox and forwarding to an outside
address. It runs the phases twice, on a fresh server each time: once with ``--small`` objects
of each type (default 10) and once with ``--count`` (default 2000), and times with
``time.perf_counter``:

a. planning (validating, routing, rendering) all of them;
b. applying that plan: fragments written, the eight tables and two passwd-files assembled,
   checked and swapped in, one ``postfix reload`` and one ``doveadm reload``;
c. (not timed) smtpd asked at RCPT about a sample: mailboxes and addresses accepted, an
   unknown recipient refused;
p. every password set (``doveadm pw`` on the server, read from stdin, per mailbox); a sample
   logs in over IMAP;
d. planning and applying all of them again, unchanged: every operation "nothing", no reload;
e. one address's forward changed, a change set holding just that address (the index holding
   all of them): plan and apply, ``postmap -q`` gives the new value, one postfix reload.

Then, on the large server, the hand-written floor: one bash script that writes the same four
Postfix tables and Dovecot's users file orchestra wrote (their bytes taken from the live files),
runs ``postmap`` on each, one ``postfix reload`` and one ``doveadm reload`` (x-b); the same for
the passwords (one ``doveadm pw`` per mailbox, x-p); and the one-change floor: one table
rewritten, ``postmap``, one ``postfix reload`` (x-e).

e and the floors run ``--repeat`` times and report the median; the rest run once. Peak RSS is
``ru_maxrss`` of this Python process (the daemons and the batch's shells are not counted). A
phase that did not do its work raises, so the figures never lie.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
from machine import machine
from orchestra_postfix.testing import MailServer, start_mail_server

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server, ServiceIndex
from orchestra_core.catalogue import MailAddress, Mailbox
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.planning.plan import Plan

ACCOUNT = Account(name="bench")
SERVER = "mx1"
SENDER = "someone@outside.test"
#: Mailboxes per domain.
PER_DOMAIN = 10
#: How many recipients phase c asks smtpd about, and how many mailboxes log in after p.
SAMPLE = 20
#: The files orchestra assembles that the floor writes too (tables in maps_dir, then users).
FLOOR_TABLES = (
    "virtual_domains",
    "virtual_mailboxes",
    "virtual_aliases",
    "virtual_mailbox_aliases",
)

T = TypeVar("T")


class BenchError(Exception):
    """A phase did not do what it should have: the figures would mean nothing."""


# -- data ------------------------------------------------------------------------------------------


@attrs.define
class Work:
    """The objects of one run and the passwords of the mailboxes."""

    mailboxes: list[Mailbox]
    addresses: list[MailAddress]
    passwords: dict[str, str]

    @property
    def services(self) -> list[Mailbox | MailAddress]:
        return [*self.mailboxes, *self.addresses]

    def index(self) -> ServiceIndex:
        return ServiceIndex([ACCOUNT], self.services)


def make_work(n: int) -> Work:
    width = max(4, len(str(n)))
    mailboxes, addresses, passwords = [], [], {}
    for i in range(1, n + 1):
        domain = f"d{(i - 1) // PER_DOMAIN:0{width - 1}d}.example.test"
        box = f"box{i:0{width}d}@{domain}"
        mailboxes.append(Mailbox(account=ACCOUNT.name, address=box, quota=(1 + i % 4) << 30))
        addresses.append(
            MailAddress(
                account=ACCOUNT.name,
                address=f"alias{i:0{width}d}@{domain}",
                mailboxes=(box,),
                forwards=(forward(i, 0),),
            )
        )
        passwords[box] = f"pw-{i}-{random.Random(i).getrandbits(64):x}"
    return Work(mailboxes=mailboxes, addresses=addresses, passwords=passwords)


def forward(i: int, bump: int) -> str:
    return f"fwd{i}.{bump}@outside.test"


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
    """Operations and steps by final state, and the seconds the steps took by kind."""
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


def reloads(mail: MailServer) -> tuple[int, int]:
    """How many times Postfix and Dovecot logged a reload so far."""
    postfix = mail.postfix_log.read_text(errors="replace").count("reload -- version")
    dovecot = mail.dovecot_log.read_text(errors="replace").count("reloading configuration")
    return postfix, dovecot


def median_of(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median of each timing over the samples; the other figures of the median run."""
    keys = [k for k in ("seconds", "plan_seconds", "apply_seconds") if k in samples[0]]
    out: dict[str, Any] = {key: statistics.median(s[key] for s in samples) for key in keys}
    middle = sorted(samples, key=lambda s: s["seconds"])[len(samples) // 2]
    out.update({k: v for k, v in middle.items() if k not in out})
    return out


# -- the phases ------------------------------------------------------------------------------------


@attrs.define
class Figures:
    count: int
    small: int
    repeat: int
    phases: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)

    def add(self, size: str, phase: str, **figures: Any) -> None:
        self.phases.setdefault(size, {})[phase] = {
            **figures,
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


def run(figures: Figures, batch_timeout: float) -> Figures:
    for size, n in (("small", figures.small), ("large", figures.count)):
        with tempfile.TemporaryDirectory(prefix=f"bench-postfix-{size}-") as tmp:
            mail = start_mail_server(Path(tmp), name=f"bench-{size}", timeout=60)
            orchestra = Orchestra(
                servers=[
                    Server(name=SERVER, transport="local", settings={"postfix": mail.settings()})
                ],
                routes=[
                    Route(backend="postfix-mailbox", servers=(SERVER,)),
                    Route(backend="postfix-address", servers=(SERVER,)),
                ],
                batch_timeout=batch_timeout,
            )
            try:
                work = make_work(n)
                phases(orchestra, mail, work, figures, size)
                if size == "large":
                    floors(mail, work, figures)
            finally:
                orchestra.close()
                mail.stop()
    return figures


def phases(orchestra: Orchestra, mail: MailServer, work: Work, figures: Figures, size: str) -> None:
    repeat = figures.repeat

    def plan_all(passwords: bool = False) -> Plan:
        changes = ChangeSet()
        for service in work.services:
            changes.save(service)
        if passwords:
            for box in work.mailboxes:
                changes.set_password(box, Secret(work.passwords[box.address]))
        return orchestra.plan(changes, index=work.index())

    # a, b: plan and apply every save
    plan, seconds = timed(plan_all)
    figures.add(size, "a_plan_all", seconds=seconds, **plan_counts(plan))
    before = reloads(mail)
    result, seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "b")
    delta = tuple(a - b for a, b in zip(reloads(mail), before, strict=True))
    if delta != (1, 1):
        raise BenchError(f"phase b: (postfix, dovecot) reloaded {delta} times, not once each")
    figures.add(
        size, "b_apply_all_first", seconds=seconds, **plan_counts(plan), **result_counts(result)
    )
    del plan, result

    # c: smtpd accepts a sample of mailboxes and addresses, refuses an unknown one
    rng = random.Random(len(work.mailboxes))
    sample = rng.sample(range(len(work.mailboxes)), min(SAMPLE, len(work.mailboxes)))
    for k in sample:
        for recipient in (work.mailboxes[k].address, work.addresses[k].address):
            code, text = mail.rcpt(SENDER, recipient)
            if code != 250:
                raise BenchError(f"phase c: RCPT {recipient} answered {code} {text}")
    unknown = "nobody@" + work.mailboxes[0].domain
    code, _ = mail.rcpt(SENDER, unknown)
    if code < 500:
        raise BenchError(f"phase c: RCPT {unknown} answered {code}, not a refusal")

    # p: every password
    plan, plan_seconds = timed(partial(plan_all, passwords=True))
    result, apply_seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "p")
    for k in sample[:5]:
        box = work.mailboxes[k].address
        mail.imap_login(box, work.passwords[box]).logout()
    figures.add(
        size,
        "p_passwords",
        seconds=plan_seconds + apply_seconds,
        plan_seconds=plan_seconds,
        apply_seconds=apply_seconds,
        **plan_counts(plan),
        **result_counts(result),
    )
    del plan, result

    # d: unchanged re-apply
    before = reloads(mail)
    plan, plan_seconds = timed(plan_all)
    result, apply_seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "d")
    counts = result_counts(result)
    if set(counts["operation_states"]) != {"nothing"}:
        raise BenchError(f"phase d: an unchanged re-apply changed something: {counts}")
    if reloads(mail) != before:
        raise BenchError("phase d: an unchanged re-apply reloaded a daemon")
    figures.add(
        size,
        "d_reapply_unchanged",
        seconds=plan_seconds + apply_seconds,
        plan_seconds=plan_seconds,
        apply_seconds=apply_seconds,
        **plan_counts(plan),
        **counts,
    )
    del plan, result

    # e: one address's forward changed, a change set of one, the index of all
    target = len(work.addresses) // 2
    samples: list[dict[str, Any]] = []
    for r in range(1, repeat + 1):
        changed = attrs.evolve(work.addresses[target], forwards=(forward(target + 1, r),))
        work.addresses[target] = changed
        before = reloads(mail)

        def plan_one(address: MailAddress = changed) -> Plan:
            return orchestra.plan(ChangeSet().save(address), index=work.index())

        plan, plan_seconds = timed(plan_one)
        result, apply_seconds = timed(partial(orchestra.apply, plan))
        require_ok(result, "e")
        got = postmap_query(mail, "virtual_aliases", changed.address)
        if forward(target + 1, r) not in got.split(","):
            raise BenchError(f"phase e: {changed.address} maps to {got!r} after the change")
        delta = tuple(a - b for a, b in zip(reloads(mail), before, strict=True))
        if delta != (1, 0):
            raise BenchError(f"phase e: (postfix, dovecot) reloaded {delta} times, not (1, 0)")
        samples.append(
            {
                "plan_seconds": plan_seconds,
                "apply_seconds": apply_seconds,
                "seconds": plan_seconds + apply_seconds,
                **plan_counts(plan),
                **result_counts(result),
            }
        )
    figures.add(size, "e_one_change", **median_of(samples), samples=samples)


def postmap_query(mail: MailServer, table: str, key: str) -> str:
    out = subprocess.run(
        ["postmap", "-c", str(mail.config_dir), "-q", key, f"hash:{mail.maps_dir / table}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


# -- the hand-written floor ------------------------------------------------------------------------


def heredoc(path: Path, content: str) -> str:
    if "\nEOF\n" in f"\n{content}":
        raise BenchError(f"{path} holds a line EOF")
    return f"cat > {path}.new <<'EOF'\n{content}EOF\nmv {path}.new {path}\n"


def floor_script(mail: MailServer, tables: Sequence[str], users: bool, dovecot: bool) -> str:
    """Write ``tables`` (and the users file) as orchestra left them, postmap each, reload."""
    conf = mail.config_dir
    lines = ["set -euo pipefail"]
    for name in tables:
        path = mail.maps_dir / name
        lines.append(heredoc(Path(f"{path}.src"), path.read_text()))
        lines.append(f"postmap -c {conf} hash:{path}.src && mv {path}.src.db {path}.db")
    if users:
        path = mail.dovecot_dir / "users"
        lines.append(heredoc(path, path.read_text()))
    lines.append(f"postfix -c {conf} reload 2>/dev/null")
    if dovecot:
        lines.append(f"doveadm -c {mail.dovecot_conf} reload")
    return "\n".join(lines) + "\n"


def passwords_script(mail: MailServer, work: Work) -> str:
    """One ``doveadm pw`` per mailbox, the password on stdin, into a file of its own."""
    folder = mail.dir / "floor-passwords"
    lines = ["set -euo pipefail", f"mkdir -p {folder}"]
    for box in work.mailboxes:
        password = work.passwords[box.address]
        file = folder / box.address
        lines.append(
            f"printf '%s\\n%s\\n' '{password}' '{password}' | doveadm -c {mail.dovecot_conf} "
            f"pw -s SHA512-CRYPT > {file}.new && mv {file}.new {file}"
        )
    return "\n".join(lines) + "\n"


def run_script(script: str, phase: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(["bash"], input=script, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"floor {phase}: exit {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def floors(mail: MailServer, work: Work, figures: Figures) -> None:
    scripts = {
        "x_b_full": floor_script(mail, FLOOR_TABLES, users=True, dovecot=True),
        "x_p_passwords": passwords_script(mail, work),
        "x_e_one_change": floor_script(mail, ("virtual_aliases",), users=False, dovecot=False),
    }
    for phase, script in scripts.items():
        before = reloads(mail)
        samples = [{"seconds": run_script(script, phase)} for _ in range(figures.repeat)]
        postfix, _ = (a - b for a, b in zip(reloads(mail), before, strict=True))
        if phase != "x_p_passwords" and postfix != figures.repeat:
            raise BenchError(f"floor {phase}: postfix reloaded {postfix} times")
        figures.add("large", phase, **median_of(samples), samples=samples, script_bytes=len(script))
    # The floor left the tables as they were: smtpd still answers for the last address.
    code, text = mail.rcpt(SENDER, work.addresses[-1].address)
    if code != 250:
        raise BenchError(f"floor: RCPT {work.addresses[-1].address} answered {code} {text}")


# -- output ----------------------------------------------------------------------------------------

LABELS = {
    "a_plan_all": "a  plan all",
    "b_apply_all_first": "b  first apply of all",
    "p_passwords": "p  every password",
    "d_reapply_unchanged": "d  re-apply all, unchanged",
    "e_one_change": "e  one address changed",
}
FLOOR_LABELS = {
    "x_b_full": "x-b  script: 4 tables + users, postmap, 2 reloads",
    "x_p_passwords": "x-p  script: doveadm pw per mailbox",
    "x_e_one_change": "x-e  script: 1 table, postmap, postfix reload",
}


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def ratio(phases: dict[str, dict[str, Any]], key: str, floor: str) -> float:
    return float(phases[key]["seconds"] / phases[floor]["seconds"])


def table(figures: Figures) -> str:
    header = (
        "phase",
        f"{figures.small}+{figures.small} s",
        f"{figures.count}+{figures.count} s",
        "plan s",
        "apply s",
        "ops",
        "steps",
        "RSS MiB",
    )
    rows = [header]
    small, large = figures.phases["small"], figures.phases["large"]
    for key, label in LABELS.items():
        p = large[key]
        plan_s = p.get("plan_seconds", p["seconds"] if key == "a_plan_all" else None)
        apply_s = p.get("apply_seconds", p["seconds"] if key == "b_apply_all_first" else None)
        rows.append(
            (
                label,
                fmt(small[key]["seconds"]),
                fmt(p["seconds"]),
                fmt(plan_s),
                fmt(apply_s),
                str(p["operations"]),
                str(p["steps"]),
                f"{p['peak_rss_mib']:.0f}",
            )
        )
    for key, label in FLOOR_LABELS.items():
        rows.append((label, "-", fmt(large[key]["seconds"]), "-", "-", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    e_small, e_large = small["e_one_change"]["seconds"], large["e_one_change"]["seconds"]
    lines += [
        "",
        f"repeat {figures.repeat} (e and the floors: median)",
        f"one change among {figures.count} / among {figures.small}: {e_large / e_small:.2f}x",
        f"first apply / floor: {ratio(large, 'b_apply_all_first', 'x_b_full'):.1f}x; "
        f"passwords / floor: {ratio(large, 'p_passwords', 'x_p_passwords'):.1f}x; "
        f"one change / floor: {ratio(large, 'e_one_change', 'x_e_one_change'):.1f}x",
        "seconds inside the steps, by kind (the rest of apply is batch overhead):",
    ]
    for size in ("small", "large"):
        for key in ("b_apply_all_first", "p_passwords", "d_reapply_unchanged", "e_one_change"):
            p = figures.phases[size][key]
            inside = ", ".join(f"{k} {v:.3f}" for k, v in p["step_seconds"].items())
            apply_s = p.get("apply_seconds", p["seconds"])
            overhead = apply_s - sum(p["step_seconds"].values())
            lines.append(f"  {size} {key[0]}: {inside}; overhead {overhead:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000, help="mailboxes, and addresses (2000)")
    parser.add_argument("--small", type=int, default=10, help="the small run's count (10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of e and the floors (3)")
    parser.add_argument(
        "--json", action="store_true", help="print the figures as JSON (the table on stderr)"
    )
    parser.add_argument(
        "--batch-timeout", type=float, default=3600, help="seconds one batch may take (3600)"
    )
    args = parser.parse_args(argv)
    if min(args.count, args.small, args.repeat) < 1:
        parser.error("--count, --small and --repeat must be at least 1")
    figures = Figures(count=args.count, small=args.small, repeat=args.repeat)
    try:
        run(figures, args.batch_timeout)
    except (BenchError, OSError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        print(json.dumps(attrs.asdict(figures), indent=2), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"machine": machine(), **attrs.asdict(figures)}, indent=2))
        print(table(figures), file=sys.stderr)
    else:
        print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: one change among N objects through the ``orchestra`` command line (SQLite store).

Run by hand, never by the test suite::

    .venv/bin/python bench/cli_one_change.py                        # N = 10, 1000, 10000
    .venv/bin/python bench/cli_one_change.py --objects 10 10000 --repeat 5
    .venv/bin/python bench/cli_one_change.py --profile              # and where the largest N goes
    .venv/bin/python bench/cli_one_change.py --json

For each N, in a temp folder: an inventory of N domains (ten per account, two record sets
each) routed by ``dummy-domain`` to one local-transport server with a sandbox root, and the
default store (``orchestra.sqlite`` in that folder). Each figure is a whole ``orchestra``
process, timed from outside with ``time.perf_counter`` (start-up, the inventory read, the
store, the plan and the apply included); its peak memory is the process's own ``ru_maxrss``:

0. (once) ``orchestra apply --yes`` of all N on an empty store: the first apply;
1. ``orchestra plan``, nothing changed: "nothing to do";
2. the A record of one domain changed in the file: ``orchestra plan`` (one change);
3. ``orchestra apply --yes`` of that change (the file on the server holds the new value);
4. ``orchestra check``: every placement read back, nothing drifted.

1 to 4 run ``--repeat`` times (2 and 3 with a new value each time) and the table shows the
median. After the runs, ``orchestra plan --json`` must plan nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from machine import machine  # bench/ is the script's path

ORCHESTRA = str(Path(sys.executable).with_name("orchestra"))
PER_ACCOUNT = 10
ZONES = "sandbox/ns1/var/lib/orchestra-dummy/domain"


class BenchError(Exception):
    """A run did not do what it should have: the figures would mean nothing."""


def a_value(i: int, bump: int = 0) -> str:
    n = i + bump * 7919
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def inventory(n: int, bumps: dict[int, int]) -> dict[str, Any]:
    """N domains, ``bumps`` giving the domains whose A record moved (and how many times)."""
    accounts = []
    for a in range(0, n, PER_ACCOUNT):
        domains = [
            {
                "name": f"zone{i:05d}.example.test",
                "records": [
                    {"type": "A", "values": [a_value(i, bumps.get(i, 0))]},
                    {"name": "www", "type": "CNAME", "values": [f"zone{i:05d}.example.test."]},
                ],
            }
            for i in range(a, min(a + PER_ACCOUNT, n))
        ]
        accounts.append({"name": f"acct{a // PER_ACCOUNT:05d}", "domains": domains})
    return {
        "servers": [{"name": "ns1", "transport": "local", "root": "sandbox/ns1"}],
        "routes": [{"backend": "dummy-domain", "servers": ["ns1"]}],
        "accounts": accounts,
    }


def orchestra(cwd: Path, *args: str, profile: Path | None = None) -> tuple[float, float, str]:
    """Run one ``orchestra`` command in ``cwd``: its seconds, its peak RSS (MiB) and its
    output; a non-zero exit raises."""
    argv = [ORCHESTRA, *args]
    if profile is not None:
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), ORCHESTRA, *args]
    with tempfile.TemporaryFile(mode="w+") as output:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        out = output.read()
    if proc.returncode != 0:
        raise BenchError(f"orchestra {' '.join(args)} exited {proc.returncode}:\n{out[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def run_one(n: int, repeat: int, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-cli-{n}-") as tmp:
        cwd = Path(tmp)
        path = cwd / "hosting.yaml"
        bumps: dict[int, int] = {}
        path.write_text(yaml.safe_dump(inventory(n, bumps), sort_keys=False))
        seconds, rss, _ = orchestra(cwd, "apply", "hosting.yaml", "--yes")
        zones = list((cwd / ZONES).glob("*.conf"))
        if len(zones) != n:
            raise BenchError(f"first apply of {n}: {len(zones)} zone files on the server")
        figures: dict[str, Any] = {"objects": n, "first_apply": {"seconds": seconds, "rss": rss}}
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("plan0", "plan1", "apply1")}
        runs["check"] = []
        target = n // 2
        # With --profile, one more round whose apply runs under cProfile and counts for none.
        for r in range(1, repeat + 1 + profile):
            counted = r <= repeat
            s, m, out = orchestra(cwd, "plan", "hosting.yaml")
            if "nothing to do" not in out.lower():
                raise BenchError(f"plan with nothing changed printed:\n{out[-2000:]}")
            if counted:
                runs["plan0"].append((s, m))
            bumps[target] = r
            path.write_text(yaml.safe_dump(inventory(n, bumps), sort_keys=False))
            s, m, out = orchestra(cwd, "plan", "hosting.yaml", "--json")
            changed = [
                op["object_keys"][0]
                for server in json.loads(out)["servers"]
                for op in server["operations"]
                if op["action"] == "save"
            ]
            if changed != [f"domain:zone{target:05d}.example.test"]:
                raise BenchError(f"one change planned {changed[:5]}... ({len(changed)})")
            if counted:
                runs["plan1"].append((s, m))
            prof = None if counted else cwd / "apply.prof"
            s, m, out = orchestra(cwd, "apply", "hosting.yaml", "--yes", profile=prof)
            text = (cwd / ZONES / f"zone{target:05d}.example.test.conf").read_text()
            if a_value(target, r) not in text:
                raise BenchError(f"apply {r}: the zone file does not hold {a_value(target, r)}")
            if counted:
                runs["apply1"].append((s, m))
                s, m, out = orchestra(cwd, "check")
                runs["check"].append((s, m))
            else:
                figures["profile"] = top_functions(cwd / "apply.prof")
        _, _, out = orchestra(cwd, "plan", "hosting.yaml", "--json")
        if any(s["operations"] for s in json.loads(out)["servers"]):
            raise BenchError("after the runs, plan still plans something")
        for key, values in runs.items():
            figures[key] = {
                "seconds": statistics.median(s for s, _ in values),
                "runs": [round(s, 3) for s, _ in values],
                "rss": max(m for _, m in values),
            }
        return figures


def top_functions(path: Path, count: int = 12) -> list[str]:
    """The functions with the most cumulative time in a profile, as pstats prints them."""
    buffer = io.StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.sort_stats("cumulative").print_stats(r"orchestra_core|sqlalchemy|yaml|cattrs", count)
    lines = buffer.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return [line for line in lines[start:] if line.strip()]


LABELS = {
    "first_apply": "0  first apply of all N",
    "plan0": "1  plan, nothing changed",
    "plan1": "2  plan, one domain changed",
    "apply1": "3  apply --yes, that change",
    "check": "4  check, nothing drifted",
}


def table(results: Sequence[dict[str, Any]], repeat: int) -> str:
    header = ["step", *(f"N={r['objects']:,}" for r in results)]
    rows = [header]
    for key, label in LABELS.items():
        rows.append(
            [label, *(f"{r[key]['seconds']:.2f} s / {r[key]['rss']:.0f} MiB" for r in results)]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for j, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", f"seconds (median of {repeat}) / peak RSS of the orchestra process"]
    for r in results:
        runs = ", ".join(
            f"{key} {' '.join(map(str, r[key]['runs']))}" for key in LABELS if key != "first_apply"
        )
        lines.append(f"N={r['objects']:,} runs: {runs}")
    for r in results:
        if "profile" in r:
            lines += ["", f"profile of one apply --yes, N={r['objects']:,} (cumulative):"]
            lines += [f"  {line}" for line in r["profile"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of steps 1-4 (default 3)")
    parser.add_argument("--profile", action="store_true", help="profile the largest N's last apply")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if min(args.objects) < 1 or args.repeat < 1:
        parser.error("--objects and --repeat must be at least 1")
    largest = max(args.objects)
    try:
        results = [run_one(n, args.repeat, args.profile and n == largest) for n in args.objects]
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}, indent=2))
    else:
        print(table(results, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())

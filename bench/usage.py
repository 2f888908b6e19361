"""One million samples for 10,000 objects: ingest them, then a month's usage and records.

For each store (memory, SQLite file, PostgreSQL schema), the script:

a. ingests SAMPLES samples: OBJECTS system users with SAMPLES/OBJECTS gauge samples each,
   spread evenly over November 2026, run by run (each run one sample of every object, as
   ``orchestra monitor`` makes them), in batches of BATCH (``store.usage.add_samples``);
b. ingests the same samples again: every one must come back unchanged;
c. computes the month's ``home-disk`` value of every object (``resource_usages``: the series
   streamed from the store and folded, object by object);
d. makes the month's usage records for every object (``make_records`` with the
   ``home_disk_gib_month`` metric: time-weighted average, prorated), and keeps them;
e. compacts the month's samples into day summaries and computes c again: the values must be
   identical.

Each phase is timed with ``time.perf_counter``; peak memory (RSS) is read from
``/proc/self/status`` after each store. Figures go to stdout as a table (``--json`` for data).

    .venv/bin/python bench/usage.py                              # 1,000,000 samples, 10,000 objects
    .venv/bin/python bench/usage.py --samples 100000 --objects 1000 --stores sqlite
    ORCHESTRA_BENCH_POSTGRES=postgresql://user@host/db .venv/bin/python bench/usage.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine

from orchestra_core.billing.run import make_records
from orchestra_core.monitors.plugin import HOME_DISK
from orchestra_core.registry import Registry
from orchestra_core.resources import Period, Sample
from orchestra_core.resources.evaluation import resource_usages
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import Store

NOVEMBER = Period.month(2026, 11)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def samples(objects: int, per_object: int) -> Iterator[list[Sample]]:
    """Samples run by run, as ``orchestra monitor`` makes them: each run measures every
    user's home once; ``per_object`` runs spread over the month, each home growing a little
    every run."""
    step = NOVEMBER.seconds / per_object
    for i in range(per_object):
        at = NOVEMBER.start + timedelta(seconds=i * step)
        yield [
            Sample(
                monitor="disk-usage",
                object_key=f"systemuser:user{n:05d}",
                value=float((n % 97 + 1) * 2**20 + i * 4096),
                measured_at=at,
                idempotency_key=f"web1/disk-usage:systemuser:user{n:05d}:{i}",
            )
            for n in range(objects)
        ]


@contextmanager
def store_named(name: str, workdir: Path) -> Iterator[Store]:
    """A fresh, empty store of that kind (a PostgreSQL schema of its own, dropped after)."""
    if name == "memory":
        yield MemoryStore()
        return
    from orchestra_core.storage.sql import SQLStore

    if name == "sqlite":
        store = SQLStore(str(workdir / "bench.sqlite"))
        try:
            yield store
        finally:
            store.close()
        return
    import sqlalchemy as sa

    base = os.environ.get("ORCHESTRA_BENCH_POSTGRES") or DEFAULT_POSTGRES
    schema = f"orchestra_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    store = SQLStore(url.render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def timed(phases: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    phases[name] = round(time.perf_counter() - started, 2)
    return result


def run(name: str, objects: int, per_object: int, batch: int, workdir: Path) -> dict[str, Any]:
    phases: dict[str, float] = {}
    metric = Registry.load().billing_metrics["home_disk_gib_month"]
    with store_named(name, workdir) as store:
        usage = store.usage
        for n in range(objects):
            usage.object_started(f"systemuser:user{n:05d}", "systemuser", "acme", NOVEMBER.start)

        def ingest() -> tuple[int, int]:
            added = unchanged = 0
            pending: list[Sample] = []
            for chunk in samples(objects, per_object):
                pending += chunk
                if len(pending) >= batch:
                    report = usage.add_samples(pending)
                    added, unchanged = added + report.added, unchanged + report.unchanged
                    pending = []
            if pending:
                report = usage.add_samples(pending)
                added, unchanged = added + report.added, unchanged + report.unchanged
            return added, unchanged

        added, _ = timed(phases, "a ingest", ingest)
        assert added == objects * per_object, added
        _, unchanged = timed(phases, "b ingest again", ingest)
        assert unchanged == objects * per_object, unchanged

        def values() -> dict[str, float | None]:
            return {
                key: HOME_DISK.value(found)
                for key, found in resource_usages(usage, HOME_DISK, NOVEMBER)
            }

        before = timed(phases, "c month of all", values)
        assert len(before) == objects
        records = timed(
            phases,
            "d records",
            lambda: make_records(usage, [metric], {HOME_DISK.name: HOME_DISK}, NOVEMBER),
        )
        assert len(records) == objects
        removed = timed(phases, "e compact", lambda: usage.compact(NOVEMBER.end))
        assert removed == objects * per_object, removed
        after = timed(phases, "e month again", values)
        assert after == before, "compaction changed a result"
    return {"store": name, **phases, "peak_rss_mib": round(peak_rss_mib())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--stores", default="memory,sqlite,postgresql")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a single store, in this process
    args = parser.parse_args()
    per_object = args.samples // args.objects
    if args.one:
        with tempfile.TemporaryDirectory(prefix="orchestra-bench-usage-") as folder:
            print(json.dumps(run(args.one, args.objects, per_object, args.batch, Path(folder))))
        return
    rows = []
    for name in args.stores.split(","):
        # One process per store, so that its peak memory is its own.
        argv = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--samples",
            str(args.samples),
            "--objects",
            str(args.objects),
            "--batch",
            str(args.batch),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{name}: {done.stderr.strip()}")
        rows.append(json.loads(done.stdout))
        if not args.json:
            print(json.dumps(rows[-1]), file=sys.stderr)
    result = {
        "machine": machine(),
        "samples": args.objects * per_object,
        "objects": args.objects,
        "batch": args.batch,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    phases = [k for k in rows[0] if k not in ("store", "peak_rss_mib")]
    print(f"{result['samples']:,} samples, {args.objects:,} objects, batches of {args.batch:,}")
    print("store".ljust(11) + "".join(p.rjust(16) for p in phases) + "peak RSS MiB".rjust(14))
    for row in rows:
        print(
            row["store"].ljust(11)
            + "".join(f"{row[p]:>15.2f}s" for p in phases)
            + f"{row['peak_rss_mib']:>14}"
        )


if __name__ == "__main__":
    main()

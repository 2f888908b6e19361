"""The operator's usage commands on the demo inventory and a SQLite store: monitor, allocate,
allocations, usage ACCOUNT, usage export."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestra_core.resources import Sample
from orchestra_core.storage import open_store

from .test_cli import EXAMPLE, orchestra

HOME = "sandbox/web1/home/acme"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE, tmp_path / "hosting.yaml")
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / HOME).mkdir(parents=True)
    (tmp_path / HOME / "site.tar").write_bytes(b"x" * 300_000)
    return tmp_path


def run(workdir: Path, *args: str, code: int = 0) -> str:
    done = orchestra(*args, cwd=workdir)
    assert done.returncode == code, (done.stdout, done.stderr)
    return done.stdout + done.stderr


def test_monitor_measures_and_an_allocation_is_crossed_once(workdir: Path) -> None:
    first = json.loads(run(workdir, "monitor", "--json"))
    assert first["samples"] == 1 and first["failures"] == [] and first["events"] == []
    assert first["ingested"]["added"] == 1

    run(workdir, "allocate", "systemuser:acme", "home-disk", "0.0001")
    crossed = run(workdir, "monitor")
    assert "EXCEEDED systemuser:acme: home-disk exceeded" in crossed
    assert "applied again: 3 success" in crossed  # the user, its web app, the reload
    conf = workdir / "sandbox/web1/var/lib/orchestra-dummy/webapp/acme%2Fshop.conf"
    assert "exceeded[systemuser:acme] = home-disk" in conf.read_text()

    quiet = run(workdir, "monitor")
    assert "EXCEEDED" not in quiet and "applied again" not in quiet

    listed = json.loads(run(workdir, "allocations", "--json"))
    assert listed == [
        {
            "object_key": "systemuser:acme",
            "resource": "home-disk",
            "allocation": 0.0001,
            "usage": listed[0]["usage"],
            "exceeded": True,
        }
    ]
    assert listed[0]["usage"] > 0.0001

    run(workdir, "allocate", "systemuser:acme", "home-disk", "default")
    back = run(workdir, "monitor")
    assert "RECOVERED systemuser:acme: home-disk recovered" in back
    assert "exceeded" not in conf.read_text()


def test_usage_shows_each_object_with_a_chart(workdir: Path) -> None:
    run(workdir, "monitor")
    shown = run(workdir, "usage", "acme")
    assert "usage of acme" in shown
    [line] = [row for row in shown.splitlines() if row.startswith("systemuser:acme")]
    assert "home-disk" in line and "GiB" in line and line.rstrip().endswith("█")
    data = json.loads(run(workdir, "usage", "show", "acme", "--json"))
    disk = next(d for d in data if d["resource"] == "home-disk")
    assert disk["value"] == pytest.approx(disk["daily"][-1])
    assert "no usage of account nobody" in run(workdir, "usage", "nobody")


def test_bad_input_is_named(workdir: Path) -> None:
    assert "no such resource" in run(workdir, "allocate", "systemuser:acme", "nope", "1", code=2)
    assert "allocations[home-disk]" in run(
        workdir, "allocate", "--", "systemuser:acme", "home-disk", "-5", code=2
    )
    assert "is not a number" in run(
        workdir, "allocate", "systemuser:acme", "home-disk", "x", code=2
    )
    assert "is not YYYY-MM" in run(workdir, "usage", "acme", "--period", "November", code=2)
    assert "--keep-samples" in run(workdir, "monitor", "--keep-samples", "a while", code=2)


def test_an_ongoing_period_is_not_exported_as_final(workdir: Path) -> None:
    run(workdir, "monitor")
    month = datetime.now(UTC).strftime("%Y-%m")
    refused = run(workdir, "usage", "export", "--period", month, code=2)
    assert "has not ended" in refused
    assert "not for Lago" in run(
        workdir, "usage", "export", "--period", month, "--partial", "--format", "lago", code=2
    )
    lines = run(workdir, "usage", "export", "--period", month, "--partial").splitlines()
    assert [json.loads(line)["object_key"] for line in lines] == ["systemuser:acme"]


def test_a_finished_month_exports_for_a_billing_system(tmp_path: Path) -> None:
    # A store filled as an embedding application would: a home that existed from the
    # 11th of October, 3 GiB all along; a site with two hours of traffic.
    start = datetime(2026, 10, 11, tzinfo=UTC)
    store = open_store(str(tmp_path / "orchestra.sqlite"))
    try:
        usage = store.usage
        usage.object_started("systemuser:acme", "systemuser", "acme", start)
        usage.object_started("website:acme/main", "website", "acme", start)
        usage.add_samples(
            [
                Sample(
                    monitor="disk-usage",
                    object_key="systemuser:acme",
                    value=3 * 2**30,
                    measured_at=start,
                    idempotency_key="d1",
                ),
                Sample(
                    monitor="web-traffic",
                    object_key="website:acme/main",
                    value=2**29,
                    measured_at=start + timedelta(days=2),
                    idempotency_key="t1",
                ),
                Sample(
                    monitor="web-traffic",
                    object_key="website:acme/main",
                    value=2**29,
                    measured_at=start + timedelta(days=3),
                    idempotency_key="t2",
                ),
            ]
        )
    finally:
        store.close()
    lines = run(tmp_path, "usage", "export", "--period", "2026-10", "--format", "lago")
    events = {e["event"]["code"]: e["event"] for e in map(json.loads, lines.splitlines())}
    assert events["home_disk_gib_month"]["properties"]["quantity"] == pytest.approx(3 * 21 / 31)
    assert events["web_traffic_gib"]["properties"]["quantity"] == 1.0
    assert events["web_traffic_gib"]["external_subscription_id"] == "acme"
    assert events["web_traffic_gib"]["transaction_id"] == (
        "web_traffic_gib:website:acme/main:2026-10-01T00:00:00Z"
    )
    # Made again, written as CSV to a file: the same records, the same keys.
    out = tmp_path / "october.csv"
    said = run(
        tmp_path, "usage", "export", "--period", "2026-10", "--format", "csv", "-o", str(out)
    )
    assert "2 records" in said
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["idempotency_key"] for r in rows} == {e["transaction_id"] for e in events.values()}
    subs = run(
        tmp_path,
        "usage",
        "export",
        "--period",
        "2026-10",
        "--format",
        "lago",
        "--subscription",
        "sub-{account}-hosting",
    )
    assert json.loads(subs.splitlines()[0])["event"]["external_subscription_id"] == (
        "sub-acme-hosting"
    )

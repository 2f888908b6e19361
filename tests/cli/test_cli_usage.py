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

from orchestra_core.resources import Allocation, Sample
from orchestra_core.storage import open_store
from tests.cli.helpers import EXAMPLE, orchestra

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
    assert "no usage of account acme in 2020-01" in run(
        workdir, "usage", "acme", "--period", "2020-01"
    )


def test_an_unknown_account_is_an_error_with_close_matches(workdir: Path) -> None:
    refused = run(workdir, "usage", "acmee", code=2)
    assert "error: unknown account 'acmee'" in refused
    assert "(did you mean 'acme'?)" in refused
    assert "did you mean" not in run(workdir, "usage", "nobody", code=2)
    hostile = run(workdir, "usage", "a\x1b[2Jb" + "x" * 200, code=2)
    assert "'a\\x1b[2Jb" in hostile and "(206 characters)" in hostile
    assert "\x1b[2J" not in hostile
    assert "unknown account 'bob'" in run(
        workdir, "usage", "export", "--period", "2026-10", "--account", "bob", code=2
    )
    # An account known only by what was measured of it (its objects deleted) is known.
    store = open_store(str(workdir / "orchestra.sqlite"))
    try:
        store.usage.object_started("mailbox:x@gone.example", "mailbox", "gone", datetime.now(UTC))
    finally:
        store.close()
    # Known: its usage is listed (nothing measured), not refused as an unknown account.
    shown = run(workdir, "usage", "gone")
    assert "unknown account" not in shown
    assert "no usage of account gone" in shown or (
        "usage of gone" in shown and "mailbox:x@gone.example" in shown
    )


def test_allocate_refuses_an_object_that_is_not_applied(workdir: Path) -> None:
    refused = run(workdir, "allocate", "systemuser:acmee", "home-disk", "1", code=2)
    assert refused.startswith(
        "error: systemuser:acmee: allocations[home-disk]: no applied object "
        "'systemuser:acmee' (did you mean 'systemuser:acme'?)"
    )
    far = run(workdir, "allocate", "systemuser:zzz", "home-disk", "1", code=2)
    assert "no applied object 'systemuser:zzz' (an object has allocations once" in far
    assert json.loads(run(workdir, "allocations", "--json")) == []


def test_allocate_refuses_a_resource_of_another_kind(workdir: Path) -> None:
    refused = run(workdir, "allocate", "domain:acme.example", "home-disk", "1", code=2)
    assert (
        "error: domain:acme.example: allocations[home-disk]: resource 'home-disk' measures "
        "systemuser objects, not a domain (resources of a domain: none)"
    ) in refused
    web = run(workdir, "allocate", "website:acme/main", "home-disk", "1", code=2)
    # Every installed plugin's website resources, sorted (the core's and the drivers').
    from orchestra_core.registry import Registry

    kinds = Registry.load().resources.values()
    listed = ", ".join(sorted(r.name for r in kinds if r.service_kind == "website"))
    assert "web-disk" in listed and "web-traffic" in listed
    assert f"(resources of a website: {listed})" in web
    misspelt = run(workdir, "allocate", "systemuser:acme", "home-dsk", "1", code=2)
    assert "no such resource 'home-dsk' (did you mean 'home-disk'" in misspelt
    assert "is not a finite number" in run(
        workdir, "allocate", "systemuser:acme", "home-disk", "inf", code=2
    )
    assert json.loads(run(workdir, "allocations", "--json")) == []


def test_allocate_json_prints_what_was_stored(workdir: Path) -> None:
    stored = json.loads(run(workdir, "allocate", "systemuser:acme", "home-disk", "2", "--json"))
    assert stored == {
        "object_key": "systemuser:acme",
        "resource": "home-disk",
        "allocation": 2.0,
        "default_allocation": None,
        "unit": "GiB",
    }
    back = json.loads(run(workdir, "allocate", "systemuser:acme", "home-disk", "default", "--json"))
    assert back["allocation"] is None
    # Taking back what is set works when its object is gone too.
    store = open_store(str(workdir / "orchestra.sqlite"))
    try:
        store.usage.set_allocations(
            [Allocation(object_key="systemuser:gone", resource="home-disk", value=1.0)]
        )
    finally:
        store.close()
    run(workdir, "allocate", "systemuser:gone", "home-disk", "default")
    assert json.loads(run(workdir, "allocations", "--json")) == []


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


@pytest.mark.parametrize(
    ("where", "reason"),
    [("missing/dir/x.csv", "No such file or directory"), ("hosting.yaml/x.csv", "Not a directory")],
)
def test_export_to_a_path_that_cannot_be_written(workdir: Path, where: str, reason: str) -> None:
    before = sorted(p.name for p in workdir.iterdir())
    target = str(workdir / where)
    said = run(workdir, "usage", "export", "--period", "2026-10", "-o", target, code=2)
    assert said == f"error: cannot write {target!r}: {reason}\n"
    assert sorted(p.name for p in workdir.iterdir()) == before


def test_export_replaces_a_file_whole(workdir: Path) -> None:
    out = workdir / "october.jsonl"
    out.write_text("old\n")
    run(workdir, "usage", "export", "--period", "2026-10", "-o", str(out))
    assert out.read_text() == ""  # no records in October: the old content is gone
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []

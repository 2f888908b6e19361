"""``orchestra log`` and ``log prune``: bad numbers are usage errors, not tracebacks; prune
speaks JSON; and ``log prune --older-than`` reads durations as ``monitor --keep-samples`` does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestra_core.cli.app import cli
from orchestra_core.resources import Sample
from orchestra_core.storage import open_store
from tests.cli.helpers import applied_example, orchestra


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return applied_example(tmp_path)


def test_a_negative_limit_is_a_usage_error(tmp_path: Path) -> None:
    done = orchestra("log", "--limit", "-1", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Invalid value for '--limit': -1 is not in the range x>=0" in done.stderr
    assert orchestra("log", "--limit", "0", cwd=tmp_path).stdout == "no operations\n"


def test_prune_json_says_how_many_and_before_when(workdir: Path) -> None:
    logs = json.loads(orchestra("log", "--json", "--limit", "1000", cwd=workdir).stdout)
    assert logs
    before = datetime.now(UTC)
    done = orchestra("log", "prune", "--older-than", "0", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["removed"] == len(logs)
    assert before <= datetime.fromisoformat(out["older_than"]) <= datetime.now(UTC)
    again = orchestra("log", "prune", "--older-than", "1d12h", "--json", cwd=workdir)
    out = json.loads(again.stdout)
    assert out["removed"] == 0
    cutoff = datetime.fromisoformat(out["older_than"])
    assert timedelta(hours=35) < datetime.now(UTC) - cutoff < timedelta(hours=37)


# -- one grammar for both commands ----------------------------------------------------------------

GOOD = {
    "45s": timedelta(seconds=45),
    "90m": timedelta(minutes=90),
    "12h": timedelta(hours=12),
    "30d": timedelta(days=30),
    "2w": timedelta(weeks=2),
    "1d12h": timedelta(days=1, hours=12),
    "1w 2d": timedelta(days=9),
    "0": timedelta(0),
}
BAD = {
    "soon": "'soon' is not an age like 30d, 12h, 90m, 2w, 45s or 1d12h",
    "3mo": "(months and years have no unit: say 30d or 365d)",
    "12": "(a number needs a unit: w, d, h, m for minutes, s)",
    "5 days": "(say 5d)",
    "1h1h": "'1h1h' gives 'h' twice",
    "-5d": "'-5d' is not an age like",
    "1d12": "'1d12' is not an age like",
    "99999999w": "'99999999w' is longer than 36525 days",
    "x" * 200: "'" + "x" * 80 + "'... (200 characters) is not an age",
}
AT = datetime(2026, 11, 30, 12, tzinfo=UTC)
#: One sample an hour through November, before AT.
HOURS = [AT - timedelta(hours=h) for h in range(1, 30 * 24)]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    # a usage error exits; anything else raised is a traceback an operator would see
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("text", GOOD)
def test_prune_takes_each_duration(text: str) -> None:
    code, out = invoke("--db", "memory", "log", "prune", "--older-than", text, "--json")
    assert code == 0, out
    cutoff = datetime.fromisoformat(json.loads(out)["older_than"])
    assert abs(datetime.now(UTC) - GOOD[text] - cutoff) < timedelta(seconds=30)


@pytest.mark.parametrize("text", GOOD)
def test_keep_samples_takes_each_duration(text: str, tmp_path: Path) -> None:
    db = str(tmp_path / "orchestra.sqlite")
    store = open_store(db)
    try:
        store.usage.add_samples(
            [
                Sample(
                    monitor="disk-usage",
                    object_key="systemuser:acme",
                    value=1.0,
                    measured_at=at,
                    idempotency_key=f"s{i}",
                )
                for i, at in enumerate(HOURS)
            ]
        )
    finally:
        store.close()
    args = ["--db", db, "monitor", "--at", AT.isoformat(), "--keep-samples", text, "--json"]
    code, out = invoke(*args)
    assert code == 0, out
    keep = GOOD[text]
    # Whole days before the horizon are compacted; a zero duration keeps every sample.
    midnight = (AT - keep).replace(hour=0, minute=0, second=0, microsecond=0)
    expected = sum(1 for at in HOURS if at < midnight) if keep else 0
    assert json.loads(out)["compacted"] == expected


@pytest.mark.parametrize("text", BAD)
@pytest.mark.parametrize(
    "command", [("log", "prune", "--older-than"), ("monitor", "--keep-samples")]
)
def test_both_refuse_the_same_bad_durations(command: tuple[str, ...], text: str) -> None:
    code, out = invoke("--db", "memory", *command, text)
    assert code == 2, out
    assert f"Invalid value for '{command[-1]}': " in out
    assert BAD[text] in out
    assert "Traceback" not in out

"""Route ``match`` expressions run bounded: every hostile match of the corpus is refused by
``orchestra validate`` at the route's file and line, promptly and with little memory.

Each run is a real ``orchestra validate`` process, measured by a small wrapper process (its
only child, so its children's peak memory is that run's); the 60 s timeout only guards
against a hang (jinja2's plain sandbox folded ``10**(10**8)`` for ever while loading).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_core.testing.hostile import hostile_matches
from tests.inventory.cli_run import example, line_of, validate

ORCHESTRA = str(Path(sys.executable).with_name("orchestra"))
WEBAPP_MATCH = "    match: 'webapp.type == \"php\"'"
#: Far above what validating the example takes (about 60 MB), far below the gigabyte a
#: hostile match used to allocate.
MAX_RSS_KB = 400_000

_MEASURE = """
import json, resource, subprocess, sys
try:
    done = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=60)
    code, stderr = done.returncode, done.stderr
except subprocess.TimeoutExpired:
    code, stderr = "timeout", ""
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "stderr": stderr, "maxrss_kb": peak}, out)
"""


def _inventory(tmp_path: Path, match: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(example("hosting.yaml", WEBAPP_MATCH, f"    match: {json.dumps(match)}"))
    return path


def _measured_validate(tmp_path: Path, path: Path) -> dict[str, object]:
    report = tmp_path / "report.json"
    command = [sys.executable, "-c", _MEASURE, str(report), ORCHESTRA, "--db", "memory"]
    subprocess.run([*command, "validate", str(path)], check=True, timeout=120, env=os.environ)
    result: dict[str, object] = json.loads(report.read_text())
    return result


@pytest.mark.parametrize("hostile", hostile_matches(), ids=lambda h: h.name)
def test_a_hostile_match_is_refused_at_its_line_promptly_and_small(
    hostile: object, tmp_path: Path
) -> None:
    match = hostile.value  # type: ignore[attr-defined]
    path = _inventory(tmp_path, match)
    result = _measured_validate(tmp_path, path)
    assert result["code"] == 2, result
    stderr = str(result["stderr"])
    line = line_of("hosting.yaml", WEBAPP_MATCH)
    assert stderr.startswith(f"error: {path}:{line}: route "), stderr
    assert ": match: " in stderr and "Traceback" not in stderr, stderr
    assert int(str(result["maxrss_kb"])) < MAX_RSS_KB, result


@pytest.mark.parametrize(
    ("match", "said"),
    [
        ("10**(10**8) > 0", "refused: the ** operator would make a number of 300,000,000 bits"),
        ("'x' * 10**9 != ''", "refused: the * operator would build more than 1,000,000"),
        ("'{0:>999999999}'.format(1) != ''", "refused: a format field would build more than"),
        ("'%0999999999d' % 1 != ''", "refused: the % operator would build more than"),
        ("'a'.center(10**9) != ''", "refused: center() would build more than 1,000,000"),
        ("'a'.rjust(10**9) != ''", "refused: rjust() would build more than 1,000,000"),
        ("lipsum(n=10**6)", "'lipsum' is undefined"),
        ("obj.options.update({'tier': 'gold'}) or True", "not allowed: access to attribute"),
        ("obj.options.tier", "'dict object' has no attribute 'tier'"),
    ],
)
def test_what_a_refused_match_says(match: str, said: str, tmp_path: Path) -> None:
    run = validate(
        example("hosting.yaml", WEBAPP_MATCH, f"    match: {json.dumps(match)}"), tmp_path
    )
    assert run.code == 2
    line = line_of("hosting.yaml", WEBAPP_MATCH)
    assert run.error().startswith(f"{line}: route "), run.stderr
    assert f": match: for webapp:acme/shop: {said}" in run.error(), run.stderr


def test_a_filter_that_lays_out_text_is_not_a_match_filter(tmp_path: Path) -> None:
    run = validate(example("hosting.yaml", WEBAPP_MATCH, "    match: \"'x'|center(9)\""), tmp_path)
    line = line_of("hosting.yaml", WEBAPP_MATCH)
    assert run.code == 2
    assert run.error().endswith("is not a valid expression: No filter named 'center'.")
    assert run.error().startswith(f"{line}: route ")


def test_a_match_cannot_change_the_object_it_routes(tmp_path: Path) -> None:
    """jinja2's plain sandbox let ``dict.update`` through: the webapp routed had options it
    was never given."""
    text = example(
        "hosting.yaml", WEBAPP_MATCH, "    match: \"webapp.options.update({'x': 'y'}) or True\""
    )
    run = validate(text, tmp_path)
    assert run.code == 2
    assert "not allowed: access to attribute 'update' of 'dict' object is unsafe" in run.stderr


@pytest.mark.parametrize(
    "match", ["(" * 400 + "1" + ")" * 400, "-" * 1000 + "1"], ids=["parentheses", "signs"]
)
def test_a_match_nested_too_deeply_to_compile_is_invalid_at_its_line(
    match: str, tmp_path: Path
) -> None:
    """Python's parser gave up on jinja2's code for these: a traceback and exit 1."""
    run = validate(example("hosting.yaml", WEBAPP_MATCH, f"    match: '{match}'"), tmp_path)
    assert run.exception is None and run.code == 2, run.stderr
    assert run.error().startswith(f"{line_of('hosting.yaml', WEBAPP_MATCH)}: route ")
    assert run.error().endswith("is not a valid expression: it nests too deeply")

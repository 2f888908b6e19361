"""A driver made by ``orchestra new-driver`` installs into a new virtualenv and passes its own
tests there, and its code passes ruff and mypy: the template is itself tested.

How it is installed, decided by measurement (2 cores): a new venv with ``pip install -e
CHECKOUT -e 'DRIVER[test]'``, exactly what the generated README and the command's output tell
an author, takes 17-26 s (warm pip cache, linters running beside it); the faster variant (a
venv whose site-packages ``.pth`` adds this venv's, then ``pip install --no-deps -e DRIVER``)
takes 4 s. The generated suite takes about 18 s (its contract suite runs over SSH too), so the
whole test takes about 45 s, against about 25 s with the faster variant. The full install is
kept: 20 s more on a CI run of about three minutes buys a clean venv where only orchestra-core
of this checkout and the new driver are installed (not bind9 and mysql), so that a dependency
or an entry point missing from the generated pyproject fails here. Nothing is installed into
this venv: the test checks that its distributions are the same after.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

pytestmark = pytest.mark.daemon

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Seconds an install or the generated test run may take.
TIMEOUT = 900


def clean_env() -> dict[str, str]:
    """This environment without what would tie a child to this venv or this pytest run."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(argv: Sequence[str | Path], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to the end (``TIMEOUT`` at most), its output captured."""
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
    )


def shown(done: subprocess.CompletedProcess[str], lines: int = 60) -> str:
    """The command and the end of its output, for an assertion message."""
    output = "\n".join((done.stdout + done.stderr).splitlines()[-lines:])
    return f"{' '.join(done.args)} exited {done.returncode}:\n{output}"


def distributions(site: Path) -> set[str]:
    """The distributions installed in a site-packages folder."""
    return {p.name for p in site.glob("*.dist-info")}


def site_packages(venv: Path) -> Path:
    [site] = (venv / "lib").glob("python3*/site-packages")
    return site


@pytest.fixture
def timed(request: pytest.FixtureRequest) -> Callable[[str, float], None]:
    """``timed(label, since)``: print the seconds since ``since`` (``pytest -rP`` shows them)
    and keep them in the test's properties (``--junitxml`` writes them)."""

    def record(label: str, since: float) -> None:
        seconds = round(time.monotonic() - since, 1)
        print(f"{label}: {seconds} s")
        request.node.user_properties.append((f"seconds {label}", seconds))

    return record


def test_a_generated_driver_installs_and_passes_its_own_tests(
    tmp_path: Path, timed: Callable[[str, float], None]
) -> None:
    ours = distributions(site_packages(Path(sys.prefix)))

    start = time.monotonic()
    made = run([BIN / "orchestra", "new-driver", "mydaemon", "-d", tmp_path], cwd=tmp_path)
    assert made.returncode == 0, shown(made)
    driver = tmp_path / "orchestra-mydaemon"
    timed("generation", start)

    # The linters run on the generated code (with this venv's ruff and mypy, the project's
    # versions) while the new venv is made.
    lints = [
        subprocess.Popen(
            [str(BIN / tool), *args],
            cwd=driver,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tool, args in (
            ("ruff", ["check", "--no-cache", "."]),
            ("ruff", ["format", "--no-cache", "--check", "."]),
            ("mypy", ["--cache-dir", str(tmp_path / "mypy-cache")]),
        )
    ]

    start = time.monotonic()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    made = run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    assert made.returncode == 0, shown(made)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    installed = run([*pip, "-e", ROOT, "-e", f"{driver}[test]"], cwd=tmp_path)
    assert installed.returncode == 0, shown(installed)
    timed("install", start)
    # orchestra-core comes from this checkout, not from PyPI.
    where = run([python, "-c", "import orchestra_core; print(orchestra_core.__file__)"], cwd=driver)
    checkout = ROOT / "src" / "orchestra_core" / "__init__.py"
    assert where.stdout.strip() == str(checkout), shown(where)
    assert {d.split("-")[0] for d in distributions(site_packages(venv))} >= {
        "orchestra_core",
        "orchestra_mydaemon",
        "pytest",
    }

    start = time.monotonic()
    report = tmp_path / "report.xml"
    tested = run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}"], cwd=driver
    )
    timed("generated tests", start)
    assert tested.returncode == 0, shown(tested)
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] > 0 and counts == {**counts, "failures": 0, "errors": 0, "skipped": 0}
    names = [case.get("name", "") for case in suite.iter("testcase")]
    assert any(n.startswith("test_hostile_values") and "[ssh]" in n for n in names), names
    assert any(n.startswith("test_change_the_daemon_refuses") for n in names), names
    assert any(n.startswith("test_unreachable_daemon") and "[ssh]" in n for n in names), names

    # pytest --fixtures in the new package lists its daemon fixtures and orchestra's, each
    # with its doc under it.
    listed = run([python, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"], cwd=driver)
    assert listed.returncode == 0, shown(listed)
    lines = listed.stdout.splitlines()
    for name in ("mydaemon_server", "mydaemon", "orchestra", "ssh_host", "golden"):
        found = [
            i for i, line in enumerate(lines) if re.match(rf"{name}( \[\w+ scope\])? -- ", line)
        ]
        assert found, f"pytest --fixtures does not list {name}:\n{listed.stdout}"
        assert all(lines[i + 1].startswith("    ") and lines[i + 1].strip() for i in found)

    for lint in lints:
        output, _ = lint.communicate(timeout=TIMEOUT)
        assert lint.returncode == 0, f"{' '.join(map(str, lint.args))}:\n{output}"

    assert distributions(site_packages(Path(sys.prefix))) == ours, "installed into this venv"

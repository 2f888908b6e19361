"""Timeouts from the command line and the inventory: ``apply --timeout`` and a server's
``settings.timeouts`` bound a hung step, and the driver defaults bound checkers and reloads."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from orchestra_core import Account, Orchestra, Route, Server
from orchestra_core.catalogue import Domain
from tests.cli.helpers import ORCHESTRA, orchestra

#: A dummy domain whose checker never ends: the apply would wait for the default 600 s.
HUNG = """\
servers:
  - name: web1
    root: sandbox/web1
{settings}
routes:
  - backend: dummy-domain
    servers: [web1]
    settings:
      checker: [sleep, "300"]
{route}
accounts:
  - name: acme
    domains:
      - name: acme.example
"""


def _apply(
    tmp_path: Path, settings: str, *args: str, route: str = ""
) -> tuple[int, list[dict[str, object]], float]:
    (tmp_path / "hosting.yaml").write_text(HUNG.format(settings=settings, route=route))
    started = time.monotonic()
    # Bounded here: without the timeouts, the apply would wait 300 s for the checker.
    done = subprocess.run(
        [ORCHESTRA, "--db", "memory", "apply", "hosting.yaml", "--yes", "--json", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    took = time.monotonic() - started
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout), took


def test_apply_timeout_bounds_every_batch(tmp_path: Path) -> None:
    code, logs, took = _apply(tmp_path, "", "--timeout", "1.5")
    assert code == 1
    save = next(log for log in logs if log["action"] == "save")
    assert save["state"] == "timeout"
    assert took < 20, took


def test_a_servers_step_timeout_kills_the_hung_step(tmp_path: Path) -> None:
    code, logs, took = _apply(tmp_path, "    settings:\n      timeouts: {step: 1}")
    assert code == 1
    save = next(log for log in logs if log["action"] == "save")
    assert save["state"] == "timeout"
    assert any(step["state"] == "timeout" for step in save["steps"])
    assert took < 20, took


def test_a_servers_batch_timeout_bounds_its_batch_and_the_option_wins(tmp_path: Path) -> None:
    code, logs, took = _apply(tmp_path, "    settings:\n      timeouts: {batch: 1}")
    assert code == 1 and took < 20, took
    assert next(log for log in logs if log["action"] == "save")["state"] == "timeout"
    # --timeout overrides the server's own: 0.5 s is well below the checker's 300 s too.
    code, logs, took = _apply(
        tmp_path, "    settings:\n      timeouts: {batch: 250}", "--timeout", "0.5"
    )
    assert code == 1 and took < 20, took


@pytest.mark.parametrize("value", ["0", "-1", "abc", "100000"])
def test_apply_refuses_a_timeout_that_is_not_a_duration(tmp_path: Path, value: str) -> None:
    (tmp_path / "hosting.yaml").write_text(HUNG.format(settings="", route=""))
    done = orchestra(
        "--db", "memory", "apply", "hosting.yaml", "--yes", "--timeout", value, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "--timeout" in done.stderr


def test_a_routes_step_timeout_kills_the_hung_step_before_the_servers(tmp_path: Path) -> None:
    code, logs, took = _apply(
        tmp_path,
        "    settings:\n      timeouts: {step: 250}",
        route="      timeouts: {step: 1}",
    )
    assert code == 1
    save = next(log for log in logs if log["action"] == "save")
    assert save["state"] == "timeout"
    assert took < 20, took


def test_a_routes_batch_timeout_bounds_the_batch_of_its_operations(tmp_path: Path) -> None:
    code, logs, took = _apply(tmp_path, "", route="      timeouts: {batch: 1}")
    assert code == 1 and took < 20, took
    assert next(log for log in logs if log["action"] == "save")["state"] == "timeout"


def test_the_plan_shows_each_steps_timeout(tmp_path: Path) -> None:
    """Route before server before the reload default; a driver's own timeout is kept."""
    (tmp_path / "hosting.yaml").write_text(
        HUNG.format(
            settings="    settings:\n      timeouts: {step: 40}",
            route="      timeouts: {step: 7, batch: 900}",
        )
    )
    done = orchestra("--db", "memory", "plan", "hosting.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [server] = json.loads(done.stdout)["servers"]
    save, reload = server["operations"]
    assert reload["action"] == "reload"
    assert {step["timeout"] for step in save["steps"]} == {7}
    assert [step["timeout"] for step in reload["steps"]] == [40]
    assert save["batch_timeout"] == 900


@pytest.mark.parametrize(
    ("block", "field", "said"),
    [
        ("{step: -1}", "settings.timeouts.step", "above 0"),
        ("{step: abc}", "settings.timeouts.step", "number"),
        ("{stpe: 5}", "settings.timeouts.stpe", "did you mean 'step'"),
        ("5", "settings.timeouts", "mapping"),
    ],
)
def test_validate_refuses_a_bad_route_timeout_at_its_line(
    tmp_path: Path, block: str, field: str, said: str
) -> None:
    text = HUNG.format(settings="", route=f"      timeouts: {block}")
    (tmp_path / "hosting.yaml").write_text(text)
    done = orchestra("--db", "memory", "validate", "hosting.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    line = text.splitlines().index(f"      timeouts: {block}") + 1
    assert done.stderr.startswith(f"error: hosting.yaml:{line}: route:0: {field}"), done.stderr
    assert said in done.stderr, done.stderr


def test_drivers_bound_their_checkers_and_reloads() -> None:
    """bind9's checked files and zone publishing (named-checkzone, rndc reload) and mysql's
    client commands carry a timeout of their own; a reload the planner adds gets one too."""
    from orchestra_core.backends.steps import Command, Reload, WriteFile
    from orchestra_core.catalogue import Database
    from orchestra_core.execution.executor import with_step_timeouts
    from orchestra_core.planning.timeouts import Timeouts

    server = Server(name="ns1", root="/nonexistent/sandbox")
    engine = Orchestra(
        servers=[server],
        routes=[
            Route(backend="bind9-master", servers=("ns1",)),
            Route(backend="mysql-database", servers=("ns1",)),
        ],
    )
    plan = engine.plan_inventory(
        [Account(name="acme")],
        [Domain(account="acme", name="acme.example"), Database(account="acme", name="acme_shop")],
    )
    [sp] = plan.servers
    checked = [s for s in sp.steps if isinstance(s, WriteFile) and s.validate]
    assert checked and all(s.timeout is not None for s in checked)
    publish = [s for s in sp.steps if isinstance(s, Command) and "rndc" in s.script]
    assert publish and all(s.timeout is not None for s in publish)
    mysql = [s for s in sp.steps if isinstance(s, Command) and "mysql" in s.script]
    assert mysql and all(s.timeout is not None for s in mysql)
    timed = with_step_timeouts(sp, Timeouts())
    reloads = [s for s in timed.steps if isinstance(s, Reload)]
    assert reloads and all(s.timeout is not None for s in reloads)

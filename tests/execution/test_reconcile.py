"""Probe, then reconcile: a backend that decides its steps from what a read-only probe finds.

Real bash through the local transport: the plan shows the probe and decides nothing; the
apply sends each server one probe round trip, then its batch with the decided steps; an
account that already matches reports "nothing"; a probe that fails (or whose output the
backend cannot use) fails its operation with those words, leaves it unrecorded, and the
other server goes on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server
from orchestra_core.backends.steps import Reconcile
from orchestra_core.catalogue import Domain
from orchestra_core.driver import (
    Backend,
    Command,
    Observation,
    Probe,
    RenderContext,
    Step,
    hookimpl,
    quote,
)
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.results import State
from orchestra_core.execution.transport import Batch, BatchResult
from orchestra_core.model.state import content_hash
from orchestra_core.registry import Registry
from orchestra_core.storage.memory import MemoryStore

ABSENT = "-absent-"


@attrs.frozen(kw_only=True)
class StateSettings:
    directory: str = "/srv/state"
    #: Make the probe fail (as a server whose daemon is down would).
    fail: bool = False
    #: Make the probe print what parse refuses.
    garble: bool = False
    #: Make the probe outlast its timeout.
    slow: bool = False
    #: Give the probe no timeout of its own (only its batch's bounds it).
    unbounded: bool = False
    #: Observe the state too (``check``), with the probe standing for that observation.
    observed: bool = False


@attrs.frozen(kw_only=True)
class Held:
    """What the probe read: the file's content, or None when there is none."""

    value: str | None


def parse(output: str) -> Held:
    if output.startswith("garbled"):
        raise ValueError("the state file reads garbled, not a name")
    return Held(value=None if output == ABSENT else output)


class StateBackend(Backend[Domain, StateSettings, Held]):
    """Keeps one file per domain holding its name, decided from what the probe reads."""

    name = "probing-domain"
    service_type = Domain
    settings_class = StateSettings

    def render_save(self, ctx: RenderContext[Domain, StateSettings]) -> Sequence[Step]:
        return ()

    def render_delete(self, ctx: RenderContext[Domain, StateSettings]) -> Sequence[Step]:
        return [Command(description="forget", script=f"rm -f {quote(self._path(ctx))}\n")]

    def _path(self, ctx: RenderContext[Domain, StateSettings]) -> str:
        return ctx.path(f"{ctx.settings.directory}/{ctx.obj.name}")

    def probe(self, ctx: RenderContext[Domain, StateSettings]) -> Probe[Held] | None:
        if ctx.action != "save":
            return None
        path = quote(self._path(ctx))
        if ctx.settings.fail:
            script = "printf 'state store unreachable (port 9)\\n' >&2\nexit 3\n"
        elif ctx.settings.garble:
            script = "printf garbled\n"
        elif ctx.settings.slow:
            script = "sleep 30\n"
        else:
            script = f"if [ -f {path} ]; then cat {path}; else printf '%s' {ABSENT}; fi\n"
        return Probe(
            description=f"state of {ctx.obj.name}",
            script=script,
            parse=parse,
            timeout=None if ctx.settings.unbounded else 1.0,
            observation="state" if ctx.settings.observed else None,
        )

    def observe(self, ctx: RenderContext[Domain, StateSettings]) -> list[Observation]:
        if not ctx.settings.observed:
            return []
        path = quote(self._path(ctx))
        script = f"if [ -f {path} ]; then cat {path}; else printf '%s' {ABSENT}; fi\n"
        return [Observation(name="state", script=script)]

    def reconcile(self, ctx: RenderContext[Domain, StateSettings], observed: Held) -> list[Step]:
        if observed.value == ctx.obj.name:
            return []
        path = self._path(ctx)
        return [
            Command(
                description=f"state of {ctx.obj.name} was {observed.value!r}",
                script=(
                    f"mkdir -p {quote(str(Path(path).parent))}\n"
                    f"printf '%s' {quote(ctx.obj.name)} > {quote(path)}\n"
                ),
            )
        ]


class Plugin:
    @hookimpl
    def orchestra_backends(self) -> list[type[Backend[Any, Any, Any]]]:
        return [StateBackend]


class Counting(LocalTransport):
    """The local transport, counting the batches each server gets."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: dict[str, int] = {}

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        self.batches[server.name] = self.batches.get(server.name, 0) + 1
        return super().run(server, batch, timeout=timeout)


ACME = Account(name="acme")
ONE = Domain(account="acme", name="one.example")
TWO = Domain(account="acme", name="two.example")


def engine(
    tmp_path: Path, **second: object
) -> tuple[Orchestra, MemoryStore, Counting, dict[str, Path]]:
    roots = {name: tmp_path / name for name in ("a", "b")}
    servers = [
        Server(name="a", root=str(roots["a"])),
        Server(name="b", root=str(roots["b"]), settings={"probing-domain": second}),
    ]
    store = MemoryStore()
    transport = Counting()
    orchestra = Orchestra(
        servers=servers,
        routes=[Route(backend="probing-domain", servers=("a", "b"))],
        registry=Registry.load(extra={"probing": Plugin()}),
        store=store,
        transports={"local": transport},
    )
    return orchestra, store, transport, roots


def save(orchestra: Orchestra, *objects: Domain) -> Any:
    changes = ChangeSet()
    for obj in objects:
        changes.save(obj)
    return orchestra.plan(changes, accounts=[ACME])


def states(result: Any) -> dict[tuple[str, str], State]:
    return {(log.server, log.object_keys[0]): log.state for log in result.logs}


def test_the_plan_shows_the_probe_and_decides_nothing(tmp_path: Path) -> None:
    orchestra, _, transport, _ = engine(tmp_path)
    plan = save(orchestra, ONE)
    steps = [step for op in plan.operations() for step in op.steps]
    assert [type(step) for step in steps] == [Reconcile, Reconcile]
    text = plan.render_text()
    assert "probe - state of one.example" in text
    assert "then: the steps reconcile decides from what the probe reads" in text
    data = json.loads(json.dumps(plan.to_dict()))
    step = data["servers"][0]["operations"][0]["steps"][0]
    assert step["kind"] == "reconcile"
    assert step["steps"] is None
    assert "cat " in step["probe"]
    assert "decide" not in step
    assert transport.batches == {}  # planning touched no server


def test_changed_then_unchanged_reports_nothing(tmp_path: Path) -> None:
    orchestra, store, transport, roots = engine(tmp_path)
    result = orchestra.apply(save(orchestra, ONE, TWO))
    assert set(states(result).values()) == {State.SUCCESS}, [log.stderr for log in result.logs]
    assert (roots["a"] / "srv/state/one.example").read_text() == "one.example"
    assert (roots["b"] / "srv/state/two.example").read_text() == "two.example"
    # One probe round trip and one batch per server, whatever the number of probes.
    assert transport.batches == {"a": 2, "b": 2}
    first = next(log for log in result.logs if log.server == "a")
    assert "state of one.example was None" in first.script
    assert len(store.placements()) == 4

    again = orchestra.apply(save(orchestra, ONE, TWO))
    assert set(states(again).values()) == {State.NOTHING}
    assert transport.batches == {"a": 4, "b": 4}

    # Changed on the server: the probe sees it, reconcile puts it back.
    (roots["b"] / "srv/state/one.example").write_text("by hand")
    third = orchestra.apply(save(orchestra, ONE))
    assert states(third) == {("a", ONE.key): State.NOTHING, ("b", ONE.key): State.SUCCESS}
    log = next(log for log in third.logs if log.server == "b")
    assert "state of one.example was 'by hand'" in log.script
    assert (roots["b"] / "srv/state/one.example").read_text() == "one.example"


def test_a_failed_probe_fails_its_operation_and_not_the_other_server(tmp_path: Path) -> None:
    orchestra, store, _, roots = engine(tmp_path, fail=True)
    result = orchestra.apply(save(orchestra, ONE))
    assert states(result) == {("a", ONE.key): State.SUCCESS, ("b", ONE.key): State.FAILURE}
    failed = next(log for log in result.logs if log.server == "b")
    assert "state store unreachable (port 9)" in failed.stderr
    assert f"the probe of {ONE.key} [probing-domain] failed: exit status 3" in failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    assert not (roots["b"] / "srv/state").exists()
    assert {(p.server, p.object_key) for p in store.placements()} == {("a", ONE.key)}


def test_a_probe_output_the_backend_refuses_fails_with_its_words(tmp_path: Path) -> None:
    orchestra, store, _, _ = engine(tmp_path, garble=True)
    result = orchestra.apply(save(orchestra, ONE, TWO))
    by = states(result)
    assert by[("a", ONE.key)] is State.SUCCESS and by[("a", TWO.key)] is State.SUCCESS
    assert by[("b", ONE.key)] is State.FAILURE
    # A failed step stops its server's batch, as any failed step does.
    assert by[("b", TWO.key)] is State.ABORTED
    failed = next(log for log in result.logs if log.server == "b")
    assert (
        f"cannot reconcile {ONE.key} [probing-domain]: the state file reads garbled"
        in failed.stderr
    )
    assert "Traceback" not in failed.stderr
    assert {p.server for p in store.placements()} == {"a"}


def test_a_server_that_cannot_be_reached_fails_its_probes(tmp_path: Path) -> None:
    orchestra, store, _, _ = engine(tmp_path)
    broken = Server(name="b", root=str(tmp_path / "b"), transport="nowhere")
    orchestra.servers = (orchestra.servers[0], broken)
    orchestra.planner.router.servers["b"] = broken
    plan = save(orchestra, ONE)
    result = orchestra.apply(plan)
    by = states(result)
    assert by[("a", ONE.key)] is State.SUCCESS
    assert by[("b", ONE.key)] in (State.FAILURE, State.ERROR)
    failed = next(log for log in result.logs if log.server == "b")
    assert "nowhere" in failed.stderr
    assert {p.server for p in store.placements()} == {"a"}


@pytest.mark.parametrize(
    "bad", ["not a step", Reconcile(description="x", probe="true", decide=lambda _: ())]
)
def test_reconcile_must_return_steps(tmp_path: Path, bad: object, monkeypatch: Any) -> None:
    orchestra, store, _, _ = engine(tmp_path)
    monkeypatch.setattr(StateBackend, "reconcile", lambda self, ctx, observed: [bad])
    result = orchestra.apply(save(orchestra, ONE))
    assert set(states(result).values()) == {State.FAILURE}
    assert all("it returns steps" in log.stderr for log in result.logs)
    assert store.placements() == []


MISUSE = """
from collections.abc import Sequence

from orchestra_core.driver import Backend, Domain, NoSettings, Probe, RenderContext, Step


def parse(output: str) -> int:
    return len(output)


class Bad(Backend[Domain, NoSettings, str]):
    name = "bad"
    service_type = Domain

    def render_save(self, ctx: RenderContext[Domain, NoSettings]) -> Sequence[Step]:
        return ()

    def probe(self, ctx: RenderContext[Domain, NoSettings]) -> Probe[str] | None:
        return Probe(description="x", script="true", parse=parse)

    def reconcile(self, ctx: RenderContext[Domain, NoSettings], observed: str) -> Sequence[Step]:
        return observed.no_such_method()
"""


def test_mypy_catches_a_driver_misusing_what_its_probe_reads(tmp_path: Path) -> None:
    import subprocess
    import sys

    source = tmp_path / "bad_driver.py"
    source.write_text(MISUSE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    # A parse of the wrong type, and a use of the value its type does not allow.
    assert 'Argument "parse" to "Probe" has incompatible type' in done.stdout
    assert '"str" has no attribute "no_such_method"' in done.stdout


def test_a_probe_that_outlasts_its_timeout_fails_its_operation(tmp_path: Path) -> None:
    orchestra, store, _, _ = engine(tmp_path, slow=True)
    result = orchestra.apply(save(orchestra, ONE))
    assert states(result) == {("a", ONE.key): State.SUCCESS, ("b", ONE.key): State.FAILURE}
    failed = next(log for log in result.logs if log.server == "b")
    assert f"the probe of {ONE.key} [probing-domain] failed: timed out" in failed.stderr
    assert result.logs[0].finished_at is not None
    assert {p.server for p in store.placements()} == {"a"}


def test_apply_timeout_bounds_the_probe_batch_over_the_servers_settings(tmp_path: Path) -> None:
    """``apply --timeout`` bounds a server's probes as it bounds its batch, whatever the
    server's ``settings.timeouts.batch`` says (it let a probe run on for 300 s)."""
    import time

    orchestra, store, _, _ = engine(tmp_path, slow=True, unbounded=True)
    servers = [
        attrs.evolve(s, settings={**s.settings, "timeouts": {"batch": 300}})
        for s in orchestra.servers
    ]
    orchestra = Orchestra(
        servers=servers,
        routes=list(orchestra.routes),
        registry=orchestra.registry,
        store=store,
        transports={"local": Counting()},
    )
    started = time.monotonic()
    result = orchestra.apply(save(orchestra, ONE), timeout=1.5)
    assert time.monotonic() - started < 20
    assert states(result)[("b", ONE.key)] is not State.SUCCESS
    assert {p.server for p in store.placements()} == {"a"}


def test_a_probe_standing_for_an_observation_is_the_drift_check_and_the_read_after(
    tmp_path: Path,
) -> None:
    orchestra, store, _, roots = engine(tmp_path, observed=True)
    first = orchestra.apply(save(orchestra, ONE))
    assert set(states(first).values()) == {State.SUCCESS}
    on_b = {p.server: p for p in store.placements()}["b"]
    # Changed: learned by the read after the operation, as for any observation.
    assert on_b.observed == {"state": content_hash("one.example")}

    plan = save(orchestra, ONE)
    b_op = next(op for op in plan.operations() if op.server == "b")
    # The probe is the drift check: no guard step of its own.
    assert [type(step).__name__ for step in b_op.steps] == ["Reconcile", "Inspect"]
    again = orchestra.apply(plan)
    assert set(states(again).values()) == {State.NOTHING}
    b_log = next(log for log in again.logs if log.server == "b")
    assert [step.description for step in b_log.steps] == ["state of one.example: as wanted already"]
    assert {p.server: p for p in store.placements()}["b"].observed == on_b.observed
    assert orchestra.check().findings == ()

    # Changed by hand: the probe's output is drift, refused before anything is decided.
    (roots["b"] / "srv/state/one.example").write_text("by hand")
    refused = orchestra.apply(save(orchestra, ONE))
    assert states(refused)[("b", ONE.key)] is State.FAILURE
    b_log = next(log for log in refused.logs if log.server == "b")
    assert f"drift: state of {ONE.key} [probing-domain] differs from what orchestra" in (
        b_log.stderr
    )
    assert "--force" in b_log.stderr
    assert (roots["b"] / "srv/state/one.example").read_text() == "by hand"
    forced = orchestra.apply(orchestra.plan(ChangeSet().save(ONE), accounts=[ACME], force=True))
    assert states(forced)[("b", ONE.key)] is State.SUCCESS
    assert (roots["b"] / "srv/state/one.example").read_text() == "one.example"

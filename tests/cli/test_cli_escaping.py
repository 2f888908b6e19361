"""Names are escaped and cut wherever the CLI prints them (plans, apply results, the log, error
lines), so that a name cannot forge a line or reach the terminal with an escape sequence;
``--json`` keeps them exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestra_core.cli.app import cli
from orchestra_core.cli.output import LogPrinter
from orchestra_core.cli.session import printable
from orchestra_core.errors import shown
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.storage import open_store

HOSTILE = [
    "domain:a\nb.example [dummy-domain]\nerror: forged",
    "domain:a\x1b[2J\x1b[31m.example",
    "domain:a\x1b]0;owned\x07.example",
    "domain:a\x00.example",
    "domain:a\r.example",
    "domain:" + "a" * 10_000,
]


def plain(text: str, limit: int = 400) -> None:
    """Every line of ``text`` is printable and short."""
    for line in text.splitlines():
        assert line.isprintable(), repr(line)
        assert len(line) <= limit, len(line)


@pytest.mark.parametrize("key", HOSTILE)
def test_a_plan_shows_keys_escaped(key: str) -> None:
    op = PlannedOperation(
        id="1", server="ns1", backend="dummy-domain", action="save", object_keys=(key,), steps=()
    )
    plan = Plan(servers=(ServerPlan(server=Server(name="ns1"), operations=(op,)),), unrouted=(key,))
    text = plan.render_text()
    plain(text)
    assert f"  save {shown(key)} [dummy-domain]" in text.splitlines()
    assert plan.to_dict()["unrouted"] == [key]  # the JSON plan keeps the key exact


@pytest.mark.parametrize("key", HOSTILE)
def test_apply_results_show_keys_escaped(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    log = OperationLog(
        operation_id="1",
        server="ns1",
        backend="dummy-domain",
        action="save",
        object_keys=(key,),
        state=State.SUCCESS,
    )
    printer = LogPrinter()
    printer(log)
    out = capsys.readouterr().out
    plain(out)
    assert out.splitlines()[0] == f"ns1: save {shown(key)} [dummy-domain] -> success"


@pytest.mark.parametrize("key", HOSTILE)
def test_the_log_shows_keys_escaped_and_its_json_exact(tmp_path: Path, key: str) -> None:
    db = str(tmp_path / "orchestra.sqlite")
    store = open_store(db)
    try:
        store.save_log(
            OperationLog(
                operation_id="1",
                server="ns1",
                backend="dummy-domain",
                action="save",
                object_keys=(key,),
                state=State.FAILURE,
            )
        )
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    runner = CliRunner()
    listed = runner.invoke(cli, ["--db", db, "log"])
    assert listed.exit_code == 0, listed.output
    plain(listed.output)
    assert shown(key) in listed.output
    as_json = runner.invoke(cli, ["--db", db, "log", "--json"])
    [entry] = json.loads(as_json.output)
    assert entry["object_keys"] == [key]
    shown_one = runner.invoke(cli, ["--db", db, "log", "show", entry["id"]])
    assert shown_one.exit_code == 0, shown_one.output
    plain(shown_one.output)
    assert f"  save {shown(key)} [dummy-domain] on ns1" in shown_one.output.splitlines()


def test_an_error_line_escapes_what_a_message_still_holds() -> None:
    assert printable("plain words") == "plain words"
    assert printable("two\n  lines") == "two\n  lines"
    assert printable("a\x1b[31mred\x07 \r\x00 \u2028") == "a\\x1b[31mred\\x07 \\r\\x00 \\u2028"


@pytest.mark.parametrize("value", [*HOSTILE, "x" * 10_000])
def test_the_servers_and_routes_tables_show_names_escaped(tmp_path: Path, value: str) -> None:
    """What the store holds of the topology (names, addresses, roots, settings keys, match
    expressions) is shown escaped and cut; ``--json`` keeps it exact."""
    from orchestra_core.model.servers import Route

    db = str(tmp_path / "orchestra.sqlite")
    store = open_store(db)
    try:
        server = Server(name=value, address=value, root=value, settings={value: {}})
        route = Route(backend=value, servers=(value,), match=value, name=value, settings={value: 1})
        store.save_topology([server], [route])
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    runner = CliRunner()
    for command in ("servers", "routes"):
        listed = runner.invoke(cli, ["--db", db, command])
        assert listed.exit_code == 0, listed.output
        plain(listed.output, limit=1000)
        assert shown(value) in listed.output
        [row] = json.loads(runner.invoke(cli, ["--db", db, command, "--json"]).output)
        assert row["name"] == value


def test_the_unrouted_list_shows_keys_cut(tmp_path: Path) -> None:
    """Inventory keys are checked names, so only their length is at stake here."""
    name = ".".join(["b" * 60] * 4) + ".ex"
    path = tmp_path / "inv.yaml"
    path.write_text(
        "servers: [{name: ns1, transport: local, root: " + json.dumps(str(tmp_path / "r")) + "}]\n"
        "accounts:\n  - name: acme\n    domains:\n      - name: " + json.dumps(name) + "\n"
    )
    result = CliRunner().invoke(cli, ["--db", "memory", "plan", str(path)])
    assert result.exit_code == 4, result.output
    plain(result.output, limit=300)
    assert "1 object is routed to no server" in result.output
    assert shown("domain:" + name) in result.output

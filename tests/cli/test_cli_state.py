"""The operator's workflow with a store: incremental plans, logs, retry, topology, pruning."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli.helpers import applied_example, edit, orchestra


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return applied_example(tmp_path)


def planned(workdir: Path, *args: str) -> list[tuple[str, str, list[str]]]:
    done = orchestra("plan", "hosting.yaml", "--json", *args, cwd=workdir)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    return [
        (s["server"]["name"], op["action"], op["object_keys"])
        for s in plan["servers"]
        for op in s["operations"]
    ]


def test_the_store_is_a_sqlite_file_in_the_working_directory(workdir: Path) -> None:
    with sqlite3.connect(workdir / "orchestra.sqlite") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert {"operation_logs", "object_state", "servers", "routes"} <= tables


def test_an_edit_plans_only_that_change_and_a_removal_plans_its_delete(workdir: Path) -> None:
    assert planned(workdir) == []
    edit(workdir, "192.0.2.10", "192.0.2.11")
    assert planned(workdir) == [
        ("ns1", "save", ["domain:acme.example"]),
        ("ns1", "reload", ["domain:acme.example"]),
    ]
    text = (workdir / "hosting.yaml").read_text()
    (workdir / "hosting.yaml").write_text(text.split("    mailinglists:")[0])
    assert ("mail1", "delete", ["mailinglist:news@acme.example"]) in planned(workdir)
    assert len(planned(workdir, "--all")) == 13  # 8 saves, 1 delete, 4 reloads
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert not (
        workdir / "sandbox/mail1/var/lib/orchestra-dummy/mailinglist/news@acme.example.conf"
    ).exists()
    assert planned(workdir) == []


def test_a_failing_step_shows_in_the_log_and_retry_runs_it_again(workdir: Path) -> None:
    blocker = workdir / "sandbox/web1/var/lib/orchestra-dummy/webapp"
    shutil.rmtree(blocker)
    blocker.write_text("in the way")
    edit(workdir, 'php_version: "8.2"', 'php_version: "8.3"')
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert done.returncode == 1
    listed = orchestra("log", "--state", "failure", "--json", cwd=workdir)
    [failed] = json.loads(listed.stdout)
    assert (failed["server"], failed["backend"], failed["object_keys"]) == (
        "web1",
        "dummy-webapp",
        ["webapp:acme/shop"],
    )
    table = orchestra("log", "--state", "failure", cwd=workdir).stdout
    assert failed["id"][:12] in table and "failure" in table
    shown = orchestra("log", "show", failed["id"][:10], cwd=workdir)
    assert shown.returncode == 0
    assert "exists and is not a directory" in shown.stdout
    assert "# step 1 - mkdir: directory for webapp files" in shown.stdout
    assert planned(workdir)[0][2] == ["webapp:acme/shop"]  # still to do: not applied
    blocker.unlink()
    retried = orchestra("retry", failed["id"], "--yes", "--json", cwd=workdir)
    assert retried.returncode == 0, retried.stderr
    logs = json.loads(retried.stdout)
    assert [(log["action"], log["state"], log["retry_of"]) for log in logs] == [
        ("save", "success", failed["id"]),
        ("reload", "success", None),
    ]
    # The retry recorded the web app as applied; the website that names it was aborted
    # behind it in the failed batch, and is still to do.
    assert planned(workdir) == [
        ("web1", "save", ["website:acme/main"]),
        ("web1", "reload", ["website:acme/main"]),
    ]
    conf = workdir / "sandbox/web1/var/lib/orchestra-dummy/webapp/acme%2Fshop.conf"
    assert '"php_version": "8.3"' in conf.read_text()


def test_retry_refuses_what_did_not_fail_and_unknown_ids(workdir: Path) -> None:
    ok = json.loads(orchestra("log", "--json", "--limit", "1", cwd=workdir).stdout)[0]
    done = orchestra("retry", ok["id"], "--yes", cwd=workdir)
    assert done.returncode == 2 and "nothing to retry" in done.stderr
    done = orchestra("log", "show", "nope", cwd=workdir)
    assert done.returncode == 2 and "no operation log with id 'nope'" in done.stderr


def test_servers_and_routes_of_the_last_apply(workdir: Path) -> None:
    servers = orchestra("servers", cwd=workdir)
    assert servers.returncode == 0
    assert [line.split()[0] for line in servers.stdout.splitlines()[1:]] == [
        "ns1",
        "mail1",
        "web1",
        "db1",
    ]
    routes = json.loads(orchestra("routes", "--json", cwd=workdir).stdout)
    assert routes[8]["backend"] == "dummy-databaseuser" and routes[8]["settings"] == {
        "file_mode": "0600"
    }


def test_prune_forgets_old_logs(workdir: Path) -> None:
    done = orchestra("log", "prune", "--older-than", "30d", cwd=workdir)
    assert done.returncode == 0 and done.stdout.startswith("removed 0 operation logs")
    done = orchestra("log", "prune", "--older-than", "0s", cwd=workdir)
    assert done.stdout.startswith("removed 13 operation logs")
    assert orchestra("log", cwd=workdir).stdout == "no operations\n"
    bad = orchestra("log", "prune", "--older-than", "soon", cwd=workdir)
    assert bad.returncode == 2 and "is not an age like 30d" in bad.stderr


def test_a_rename_is_refused_and_changes_nothing(workdir: Path) -> None:
    edit(workdir, "address: info@acme.example", "address: hello@acme.example")
    edit(workdir, "mailboxes: [info@acme.example]", "mailboxes: [hello@acme.example]")
    done = orchestra("plan", "hosting.yaml", cwd=workdir)
    assert done.returncode == 2
    assert "renames mailbox:info@acme.example -> mailbox:hello@acme.example" in done.stderr
    assert "--allow-renames" in done.stderr
    assert (
        workdir / "sandbox/mail1/var/lib/orchestra-dummy/mailbox/info@acme.example.conf"
    ).exists()
    allowed = orchestra("plan", "hosting.yaml", "--allow-renames", cwd=workdir)
    assert allowed.returncode == 0 and "delete mailbox:info@acme.example" in allowed.stdout


def test_db_option_env_and_bad_databases(workdir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.sqlite"
    done = orchestra("--db", str(other), "plan", "hosting.yaml", cwd=workdir)
    assert done.returncode == 0 and "changes: 9 new" in done.stdout
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    before = junk.read_bytes()
    done = orchestra("--db", str(junk), "log", cwd=workdir)
    assert done.returncode == 2 and "is not an orchestra database" in done.stderr
    assert "Traceback" not in done.stderr and junk.read_bytes() == before
    done = orchestra("--db", "postgresql://nobody@127.0.0.1:1/none", "log", cwd=workdir)
    assert done.returncode == 2 and "127.0.0.1" in done.stderr and "Traceback" not in done.stderr
    status = orchestra("db", "status", cwd=workdir)
    assert status.returncode == 0 and status.stdout.startswith("database revision ")
    upgrade = orchestra("db", "upgrade", cwd=workdir)
    assert upgrade.returncode == 0 and "up to date" in upgrade.stdout


def test_an_apply_on_a_busy_server_waits_then_refuses_and_loses_nothing(workdir: Path) -> None:
    import os

    from orchestra_core.storage import holder_id, open_store

    store = open_store(str(workdir / "orchestra.sqlite"))
    other = holder_id("other-apply")  # this test's own process: alive, so the lock holds
    logs_before = len(store.list_logs(limit=None))
    store.lock_servers(["ns1"], other)
    try:
        edit(workdir, "192.0.2.10", "192.0.2.12")
        done = orchestra("apply", "hosting.yaml", "--yes", "--wait", "0.5", cwd=workdir)
        assert done.returncode == 3
        assert f"server ns1 is being applied by {other} since" in done.stderr
        assert f":{os.getpid()}:" in done.stderr
        assert len(store.list_logs(limit=None)) == logs_before  # nothing ran, nothing lost
    finally:
        store.unlock_servers(["ns1"], other)
        store.close()  # type: ignore[attr-defined]
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert planned(workdir) == []


def test_servers_test_reports_reachability_login_and_missing_tools(
    tmp_path: Path, ssh_host_factory: object
) -> None:
    [host] = ssh_host_factory(1)  # type: ignore[operator]
    ssh = host.server_settings()["ssh"]
    inventory = tmp_path / "servers.yaml"
    down = {**ssh, "port": 1, "connect_retries": 0}
    data = {
        "servers": [
            {"name": "up", "address": host.address, "transport": "ssh", "settings": {"ssh": ssh}},
            {
                "name": "down",
                "address": host.address,
                "transport": "ssh",
                "settings": {"ssh": down},
            },
            {"name": "here"},
        ],
        "routes": [
            {"backend": "bind9-master", "servers": ["up", "here"]},
            {"backend": "dummy-domain", "servers": ["down"]},
        ],
    }
    inventory.write_text(json.dumps(data))  # JSON is YAML
    done = orchestra("--db", "memory", "servers", "test", str(inventory), "--json", cwd=tmp_path)
    assert done.returncode == 1
    rows = {row["server"]: row for row in json.loads(done.stdout)}
    assert rows["up"]["ok"] and rows["up"]["tools"] == [
        "named-checkconf",
        "named-checkzone",
        "rndc",
    ]
    assert rows["here"]["ok"] and rows["here"]["missing_tools"] == []
    assert not rows["down"]["reachable"] and "cannot reach" in rows["down"]["error"]

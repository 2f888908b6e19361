"""What an operator relies on from the applied state, through the command line on SQLite:
moves, added servers, settings changes, unrouted objects, guards against mass deletion,
real diffs, drift, and stuck locks (each fails on the release before placements)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from tests.cli.helpers import applied_example, edit, orchestra

DUMMY = "var/lib/orchestra-dummy"
ZONE = f"{DUMMY}/domain/acme.example.conf"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return applied_example(tmp_path)


def planned(workdir: Path, *args: str) -> list[tuple[str, str, str]]:
    done = orchestra("plan", "hosting.yaml", "--json", *args, cwd=workdir)
    assert done.returncode in (0, 4), done.stderr
    return [
        (s["server"]["name"], op["action"], op["object_keys"][0])
        for s in json.loads(done.stdout)["servers"]
        for op in s["operations"]
        if op["action"] != "reload"
    ]


def add_server(workdir: Path, name: str) -> None:
    edit(
        workdir,
        "  - name: mail1\n",
        f"  - name: {name}\n    transport: local\n    root: sandbox/{name}\n  - name: mail1\n",
    )


def test_moving_a_domain_deletes_it_where_it_was(workdir: Path) -> None:
    add_server(workdir, "ns2")
    edit(
        workdir,
        "  - backend: dummy-domain\n    servers: [ns1]",
        "  - backend: dummy-domain\n    servers: [ns2]",
    )
    assert planned(workdir) == [
        ("ns1", "delete", "domain:acme.example"),
        ("ns2", "save", "domain:acme.example"),
    ]
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (workdir / "sandbox/ns2" / ZONE).exists()
    assert not (workdir / "sandbox/ns1" / ZONE).exists()
    assert planned(workdir) == []
    resync = planned(workdir, "--all")
    assert ("ns2", "save", "domain:acme.example") in resync
    assert not [entry for entry in resync if entry[0] == "ns1"]


def test_adding_a_server_to_a_route_applies_it_there(workdir: Path) -> None:
    add_server(workdir, "ns2")
    edit(workdir, "servers: [ns1]", "servers: [ns1, ns2]")
    assert planned(workdir) == [("ns2", "save", "domain:acme.example")]
    assert orchestra("apply", "hosting.yaml", "--yes", cwd=workdir).returncode == 0
    assert (workdir / "sandbox/ns2" / ZONE).exists()


def test_a_route_settings_change_applies_again_what_it_routes(workdir: Path) -> None:
    edit(workdir, 'file_mode: "0600"', 'file_mode: "0640"')
    assert planned(workdir) == [
        ("db1", "save", "databaseuser:mysql/acme_shop"),
    ]
    assert orchestra("apply", "hosting.yaml", "--yes", cwd=workdir).returncode == 0
    path = workdir / f"sandbox/db1/{DUMMY}/databaseuser/mysql%2Facme_shop.conf"
    assert path.stat().st_mode & 0o777 == 0o640


def test_an_unrouted_object_is_refused_and_applied_once_routed(workdir: Path) -> None:
    edit(workdir, "match: 'database.type == \"mysql\"'", "match: 'database.type == \"pgsql\"'")
    done = orchestra("plan", "hosting.yaml", cwd=workdir)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "routed to no server" in done.stderr and "database:mysql/acme_shop" in done.stderr
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert (
        done.returncode == 4
        and (workdir / f"sandbox/db1/{DUMMY}/database/mysql%2Facme_shop.conf").exists()
    )
    done = orchestra("apply", "hosting.yaml", "--yes", "--allow-unrouted", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert not (workdir / f"sandbox/db1/{DUMMY}/database/mysql%2Facme_shop.conf").exists()
    done = orchestra("plan", "hosting.yaml", cwd=workdir)
    assert done.returncode == 4 and "0 removed, 8 unchanged, 1 unrouted" in done.stdout
    edit(workdir, "match: 'database.type == \"pgsql\"'", "match: 'database.type == \"mysql\"'")
    assert planned(workdir) == [("db1", "save", "database:mysql/acme_shop")]


@pytest.mark.parametrize(
    "inventory",
    ["servers: []\nroutes: []\naccounts: []\n", "", "servers:\n  - name: ns1\n"],
    ids=["no-accounts", "empty-file", "cut-off"],
)
def test_an_empty_or_cut_off_inventory_deletes_nothing(workdir: Path, inventory: str) -> None:
    (workdir / "broken.yaml").write_text(inventory)
    for command in ("plan", "apply"):
        done = (
            orchestra(command, "broken.yaml", "--yes", cwd=workdir)
            if command == "apply"
            else orchestra(command, "broken.yaml", cwd=workdir)
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
    assert (workdir / "sandbox/ns1" / ZONE).exists()
    assert planned(workdir) == []


def test_a_plan_deleting_many_objects_needs_allow_deletes(workdir: Path) -> None:
    text = (workdir / "hosting.yaml").read_text()
    many = "".join(f"      - name: d{n}.example\n" for n in range(30))
    (workdir / "hosting.yaml").write_text(
        text.replace("    domains:\n", "    domains:\n" + many, 1)
    )
    assert orchestra("apply", "hosting.yaml", "--yes", cwd=workdir).returncode == 0
    (workdir / "hosting.yaml").write_text(text)
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert done.returncode == 2 and "deletes 30 of the 39 applied objects" in done.stderr
    assert "--allow-deletes" in done.stderr
    done = orchestra("apply", "hosting.yaml", "--yes", "--max-deletes", "30", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert planned(workdir) == []


def test_a_plan_diffs_each_file_against_what_was_applied_there(workdir: Path) -> None:
    edit(workdir, "192.0.2.10", "192.0.2.11")
    done = orchestra("plan", "hosting.yaml", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert f"--- {workdir}/sandbox/ns1/{ZONE} (last applied)" in done.stdout
    removed = [line for line in done.stdout.splitlines() if line.strip().startswith("-data")]
    assert len(removed) == 1 and "192.0.2.10" in removed[0]
    assert "+key = domain:acme.example" not in done.stdout  # not the whole file as new
    (workdir / "sandbox/ns1" / ZONE).write_text("edited by hand\n")
    refreshed = orchestra("plan", "hosting.yaml", "--refresh", cwd=workdir)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "-edited by hand" in refreshed.stdout and "--- /dev/null" not in refreshed.stdout


def test_check_reports_a_hand_edit_and_apply_refuses_it_without_force(workdir: Path) -> None:
    zone = workdir / "sandbox/ns1" / ZONE
    zone.write_text(zone.read_text() + "; by hand\n")
    done = orchestra("check", cwd=workdir)
    assert done.returncode == 5, done.stdout + done.stderr
    assert (
        f"ns1: domain:acme.example [dummy-domain]: file {zone}: changed on the server"
        in done.stdout
    )
    assert "+; by hand" in done.stdout
    report = json.loads(orchestra("check", "hosting.yaml", "--json", cwd=workdir).stdout)
    assert [(f["object_key"], f["state"]) for f in report["findings"]] == [
        ("domain:acme.example", "changed")
    ]
    edit(workdir, "192.0.2.10", "192.0.2.11")
    done = orchestra("apply", "hosting.yaml", "--yes", cwd=workdir)
    assert (
        done.returncode == 1
        and "was changed on the server since orchestra last applied it" in done.stdout
    )
    assert zone.read_text().endswith("; by hand\n")
    done = orchestra("apply", "hosting.yaml", "--yes", "--force", cwd=workdir)
    assert done.returncode == 0, done.stdout
    assert orchestra("check", cwd=workdir).returncode == 0


def test_unlock_removes_a_lock_left_by_a_holder_elsewhere(workdir: Path) -> None:
    from orchestra_core.storage import open_store

    store = open_store(str(workdir / "orchestra.sqlite"))
    store.lock_servers(["ns1"], "other-host:4242:abc")
    close = store.close
    close()
    edit(workdir, "192.0.2.10", "192.0.2.11")
    done = orchestra("apply", "hosting.yaml", "--yes", "--wait", "0", cwd=workdir)
    assert done.returncode == 3 and "other-host:4242:abc" in done.stderr
    refused = orchestra("unlock", "ns1", cwd=workdir)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    done = orchestra("unlock", "ns1", "--yes", cwd=workdir)
    assert done.returncode == 0 and "locked by other-host:4242:abc" in done.stdout
    assert orchestra("apply", "hosting.yaml", "--yes", cwd=workdir).returncode == 0
    assert orchestra("unlock", "ns1", "--yes", cwd=workdir).returncode == 2


def test_a_plan_that_changed_while_waiting_for_the_lock_is_refused_under_yes(
    workdir: Path,
) -> None:
    import subprocess
    import time

    from orchestra_core.storage import open_store
    from tests.cli.helpers import ORCHESTRA

    store = open_store(str(workdir / "orchestra.sqlite"))
    try:
        store.lock_servers(["ns1"], "other-host:4242:abc", lease=120)
        edit(workdir, "192.0.2.10", "192.0.2.11")
        waiting = subprocess.Popen(
            [ORCHESTRA, "apply", "hosting.yaml", "--yes", "--wait", "60"],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stdout is not None
        first = waiting.stdout.readline()  # planned and confirmed (--yes): it waits for ns1
        assert first.startswith("changes: 0 new, 1 changed, 0 removed"), first
        time.sleep(0.5)
        # Meanwhile the other apply puts another zone on ns1, which this inventory lacks.
        [zone] = store.placements(servers={"ns1"})
        other = attrs.evolve(
            zone,
            object_key="domain:other.example",
            snapshot=attrs.evolve(
                zone.snapshot,
                key="domain:other.example",
                data={**zone.snapshot.data, "name": "other.example"},
            ),
        )
        store.record_placements([other])
        store.unlock_servers(["ns1"], "other-host:4242:abc")
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 6, out + err
        assert "the applied state changed while this apply waited for servers ns1" in err
        assert "192.0.2.10" in (workdir / "sandbox/ns1" / ZONE).read_text()  # nothing ran
    finally:
        store.close()  # type: ignore[attr-defined]
    # Planned again, the plan deletes the other zone too.
    assert ("ns1", "delete", "domain:other.example") in planned(workdir)

"""The named test instances of orchestra_bind9.testing, against a real named."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from orchestra_bind9 import testing
from orchestra_bind9.testing import ADDRESS, NamedFactory, NamedInstance, start_named

from orchestra_core.testing.daemon import DaemonError, open_sockets

pytestmark = pytest.mark.daemon

ZONE = "orchestra.test"


def zone_text(serial: int, records: str) -> str:
    """A small master zone file for ZONE: SOA with ``serial``, NS ns1, then ``records``."""
    head = textwrap.dedent(
        f"""\
        $TTL 300
        @ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( {serial} 3600 900 1209600 300 )
        @ IN NS ns1
        ns1 IN A {ADDRESS}
        """
    )
    return head + textwrap.dedent(records)


def add_master_zone(
    named: NamedInstance, serial: int, records: str, stanza_extra: str = ""
) -> Path:
    """Write ZONE's file and a master stanza into the include file, then ``rndc reconfig``."""
    path = named.zone_dir / f"{ZONE}.zone"
    path.write_text(zone_text(serial, records), encoding="utf-8")
    named.include_file.write_text(
        f'zone "{ZONE}" {{ type master; file "{path}"; {stanza_extra}}};\n', encoding="utf-8"
    )
    named.rndc("reconfig")
    # rndc reconfig may answer before named has loaded the new zone.
    assert named.wait_for(lambda: named.serial(ZONE) == serial), named.log_text()[-2000:]
    return path


def named_pids_for(conf: Path) -> list[int]:
    """PIDs of live processes whose command line names ``conf``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(conf).encode() in argv:
            pids.append(int(entry.name))
    return pids


def test_named_master_is_running_and_answers_rndc(named_master: NamedInstance) -> None:
    status = named_master.rndc("status")
    assert "server is up and running" in status.stdout
    assert named_master.process.running
    assert named_master.port != named_master.control_port
    assert named_master.include_file.read_text() == ""
    for folder in (named_master.zone_dir, named_master.slave_dir, named_master.conf_dir):
        assert folder.is_dir()
        assert folder.is_relative_to(named_master.dir)
    assert "running" in named_master.log_text()


def test_master_and_slave_are_separate_instances(
    named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    assert named_master.dir != named_slave.dir
    ports = {named_master.port, named_master.control_port, named_slave.port}
    assert len(ports | {named_slave.control_port}) == 4
    assert (named_master.name, named_slave.name) == ("master", "slave")


def test_unknown_zone_is_refused(named_master: NamedInstance) -> None:
    assert named_master.rcode("nowhere.test", "SOA") == "REFUSED"
    assert named_master.query("nowhere.test", "SOA", tcp=True).rcode() == 5  # REFUSED
    assert named_master.answers("nowhere.test", "A") == []
    assert named_master.serial("nowhere.test") is None


def test_zone_in_include_file_is_served_after_reconfig(named_master: NamedInstance) -> None:
    add_master_zone(named_master, 2024010101, "www IN A 192.0.2.10\nwww IN A 192.0.2.11\n")

    assert named_master.answers(f"www.{ZONE}") == ["192.0.2.10", "192.0.2.11"]
    assert named_master.answers(f"{ZONE}", "NS") == [f"ns1.{ZONE}."]
    assert named_master.serial(ZONE) == 2024010101
    assert named_master.rcode(f"missing.{ZONE}") == "NXDOMAIN"
    assert named_master.rcode(f"www.{ZONE}", "MX") == "NOERROR"
    assert named_master.answers(f"www.{ZONE}", "MX") == []


def test_slave_transfers_from_master_and_follows_its_notify(
    named_master: NamedInstance, named_slave: NamedInstance
) -> None:
    master_stanza = (
        f"notify explicit; also-notify {{ {ADDRESS} port {named_slave.port}; }}; "
        f"allow-transfer {{ {ADDRESS}; }}; "
    )
    path = add_master_zone(named_master, 1, "www IN A 192.0.2.1\n", master_stanza)
    named_slave.include_file.write_text(
        f'zone "{ZONE}" {{ type slave; file "{named_slave.slave_dir / (ZONE + ".db")}"; '
        f"masters {{ {ADDRESS} port {named_master.port}; }}; }};\n",
        encoding="utf-8",
    )
    named_slave.rndc("reconfig")

    assert named_slave.wait_for(lambda: named_slave.serial(ZONE) == 1)
    assert named_slave.answers(f"www.{ZONE}") == ["192.0.2.1"]
    # named writes the transferred zone to its file in the background.
    assert named_slave.wait_for((named_slave.slave_dir / f"{ZONE}.db").exists)

    # The slave refreshes hourly: only the master's notify can bring serial 2 in time.
    path.write_text(zone_text(2, "www IN A 192.0.2.2\n"), encoding="utf-8")
    named_master.rndc("reload", ZONE)
    assert named_slave.wait_for(lambda: named_slave.serial(ZONE) == 2)
    assert named_slave.answers(f"www.{ZONE}") == ["192.0.2.2"]
    assert f"zone {ZONE}/IN: sending notifies (serial 2)" in named_master.log_text()
    assert f"zone {ZONE}/IN: notify from {ADDRESS}#" in named_slave.log_text()
    assert "Transfer completed: 1 messages, 5 records" in named_slave.log_text()


def test_stop_leaves_no_named_process(named_factory: NamedFactory) -> None:
    named = named_factory("stopped")
    pid = named.process.pid
    assert pid is not None
    assert named_pids_for(named.conf) == [pid]

    assert named.stop() == 0
    assert not named.process.running
    assert named_pids_for(named.conf) == []
    assert not Path(f"/proc/{pid}").exists()
    assert named.rndc("status", check=False).returncode != 0


def test_extra_options_go_into_the_options_block(named_factory: NamedFactory) -> None:
    named = named_factory("ixfr", options="ixfr-from-differences yes;\n  minimal-responses yes;")
    conf = named.conf.read_text()
    assert (
        "    notify-delay 0;\n    ixfr-from-differences yes;\n    minimal-responses yes;\n};"
        in conf
    )
    assert "server is up and running" in named.rndc("status").stdout


def test_settings_point_the_backends_at_the_instance(named_master: NamedInstance) -> None:
    settings = named_master.settings()
    assert settings == {
        "zone_dir": str(named_master.zone_dir),
        "slave_dir": str(named_master.slave_dir),
        "conf_dir": str(named_master.conf_dir),
        "include_file": str(named_master.include_file),
        "rndc": ["rndc", "-c", str(named_master.rndc_conf)],
        "port": named_master.port,
        "address": "127.0.0.1",
    }
    assert named_master.settings(port=53, ttl=60)["port"] == 53
    assert named_master.settings(port=53, ttl=60)["ttl"] == 60
    rndc = settings["rndc"]
    assert isinstance(rndc, list)
    assert subprocess.run([*rndc, "status"], capture_output=True, check=False).returncode == 0


def test_rndc_failure_raises_with_check(named_master: NamedInstance) -> None:
    with pytest.raises(subprocess.CalledProcessError) as caught:
        named_master.rndc("reload", "nowhere.test")
    assert "not found" in caught.value.stderr
    assert named_master.rndc("reload", "nowhere.test", check=False).returncode == 1


@pytest.mark.parametrize(
    ("how", "says"),
    [("key", "connection to remote host closed"), ("port", "connection refused")],
)
def test_rndc_out_of_reach_cannot_talk_to_the_running_named(
    named_master: NamedInstance, how: str, says: str
) -> None:
    rndc = named_master.rndc_out_of_reach(how)
    done = subprocess.run([*rndc, "status"], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert says in done.stderr
    assert "server is up and running" in named_master.rndc("status").stdout


def test_restart_serves_again_what_the_files_say(named_master: NamedInstance) -> None:
    pid = named_master.process.pid
    listeners = named_master.process.listeners
    ports = {named_master.port, named_master.control_port}
    assert {("tcp", named_master.port), ("udp", named_master.port)} <= {
        (kind, port) for kind, _, port in listeners.values()
    }
    assert {port for _, _, port in listeners.values()} == ports
    named_master.stop()
    # Every socket of OUR named is closed (by inode: whatever else may take the ports now).
    assert open_sockets(listeners) == set()
    # Its ports are outside the kernel's ephemeral range: rndc's own source port (it binds
    # port 0 before connecting) can never be the control port, so rndc cannot connect to
    # itself there and read its own request back as an answer.
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert not any(low <= port <= high for port in ports)
    assert named_master.rndc("status", check=False).returncode != 0
    named_master.restart()
    assert named_master.process.pid != pid
    assert named_master.rcode("example.com", "SOA") == "REFUSED"
    assert "server is up and running" in named_master.rndc("status").stdout


def test_rejected_config_names_named_checkconf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(testing, "NAMED_CONF", testing.NAMED_CONF + "bogus-statement yes;\n")
    with pytest.raises(DaemonError, match="named-checkconf rejects") as caught:
        start_named(tmp_path)
    assert "bogus-statement" in caught.value.stderr_tail
    assert caught.value.argv[0] == "named-checkconf"
    assert named_pids_for(tmp_path.resolve() / "named.conf") == []


def test_named_factory_stops_instances_of_a_failing_test(pytester: pytest.Pytester) -> None:
    pid_file = pytester.path / "pids.txt"
    pytester.makepyfile(
        f"""
        def test_fails(named_master, named_slave):
            with open({str(pid_file)!r}, "w") as f:
                f.write(f"{{named_master.process.pid}} {{named_slave.process.pid}}")
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()


def test_plugin_is_registered_as_pytest11_entry_point() -> None:
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert found.get("orchestra_bind9") == "orchestra_bind9.testing"


def test_loading_the_plugin_imports_neither_orchestra_core_nor_dnspython() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import orchestra_bind9.testing
        print(json.dumps(sorted(
            m for m in sys.modules
            if m.split(".")[0] in ("orchestra_core", "orchestra_bind9", "dns")
        )))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout) == ["orchestra_bind9", "orchestra_bind9.testing"]

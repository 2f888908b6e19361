"""Real sshd test hosts (orchestra_core.testing.sshd) and the ssh_hosts fixtures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from orchestra_core.execution.local import process_alive
from orchestra_core.model import Server
from orchestra_core.testing import sshd
from orchestra_core.testing.daemon import DaemonError, descendants, open_sockets
from orchestra_core.testing.sshd import SSHHost, SSHHostFactory, known_hosts_name

pytestmark = pytest.mark.daemon


def _keyscan(host: SSHHost) -> str:
    """The ed25519 host key ``host`` presents, as ``ssh-keyscan`` sees it."""
    out = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(host.port), host.address],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert len(lines) == 1, out
    name, key_type, key = lines[0].split()
    assert name == known_hosts_name(host.address, host.port)
    return f"{key_type} {key}"


def test_three_hosts_on_their_own_addresses_accept_the_client_key(
    ssh_hosts: list[SSHHost],
) -> None:
    assert [h.address for h in ssh_hosts] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert [h.name for h in ssh_hosts] == ["host2", "host3", "host4"]
    assert len({h.dir for h in ssh_hosts}) == 3
    assert len({h.key_file for h in ssh_hosts}) == 1
    for host in ssh_hosts:
        assert host.user == "root"
        assert host.running
        result = host.run("echo ok")
        assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
        assert host.run("id -un").stdout == "root\n"


def test_ssh_args_is_an_argv_prefix_ending_at_the_login(ssh_hosts: list[SSHHost]) -> None:
    host = ssh_hosts[0]
    args = host.ssh_args()
    assert args[0] == "ssh"
    assert args[-1] == f"root@{host.address}"
    assert ["-i", str(host.key_file)] == args[args.index("-i") : args.index("-i") + 2]
    assert ["-p", str(host.port)] == args[args.index("-p") : args.index("-p") + 2]
    assert f"UserKnownHostsFile={host.known_hosts}" in args
    assert "StrictHostKeyChecking=yes" in args
    assert "BatchMode=yes" in args
    run = subprocess.run([*args, "echo", "a  b"], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout) == (0, "a b\n")


def test_run_passes_input_and_exit_code(ssh_hosts: list[SSHHost]) -> None:
    result = ssh_hosts[1].run("cat; exit 3", input="line\n")
    assert (result.returncode, result.stdout) == (3, "line\n")


def test_each_host_presents_its_own_host_key(ssh_hosts: list[SSHHost]) -> None:
    keys = [h.host_key_public for h in ssh_hosts]
    assert len(set(keys)) == 3
    for host in ssh_hosts:
        assert host.host_key_public.startswith("ssh-ed25519 AAAA")
        assert _keyscan(host) == host.host_key_public
        assert host.known_hosts.read_text() == (
            f"[{host.address}]:{host.port} {host.host_key_public}\n"
        )


def test_a_known_hosts_with_another_hosts_key_fails(
    ssh_hosts: list[SSHHost], tmp_path: Path
) -> None:
    host, other = ssh_hosts[0], ssh_hosts[1]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{known_hosts_name(host.address, host.port)} {other.host_key_public}\n")
    args = [
        f"UserKnownHostsFile={wrong}" if a == f"UserKnownHostsFile={host.known_hosts}" else a
        for a in host.ssh_args()
    ]
    assert f"UserKnownHostsFile={wrong}" in args
    result = subprocess.run([*args, "echo ok"], capture_output=True, text=True, check=False)
    assert result.returncode == 255
    assert result.stdout == ""
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert "Host key verification failed." in result.stderr


def test_stop_refuses_connections_and_start_brings_the_same_host_back(
    ssh_hosts: list[SSHHost],
) -> None:
    host = ssh_hosts[2]
    port, first_pid = host.port, host.process.pid
    # Asked of our sshd's own sockets (by inode), not of the port: another process on the
    # machine may listen on the same address and port once it is free.
    listeners = host.process.listeners
    assert set(listeners.values()) == {("tcp", host.address, port)}
    assert host.stop() == 0
    assert not host.running
    assert open_sockets(listeners) == set()
    assert host.process.listening() == set()
    refused = host.run("echo ok")
    assert refused.returncode == 255
    assert f"connect to host {host.address} port {port}: Connection refused" in refused.stderr
    # The other hosts are not affected.
    assert ssh_hosts[0].run("echo ok").stdout == "ok\n"

    assert host.start() is host
    assert host.running
    assert host.process.pid != first_pid
    assert host.port == port
    # StrictHostKeyChecking=yes with the same known_hosts: the host key is the same.
    back = host.run("echo ok")
    assert (back.returncode, back.stdout) == (0, "ok\n")
    assert _keyscan(host) == host.host_key_public


def test_stop_drops_open_sessions(ssh_hosts: list[SSHHost]) -> None:
    host = ssh_hosts[0]
    session = subprocess.Popen(
        [*host.ssh_args(), "echo started; exec sleep 300"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == "started\n"
        assert host.process.pid is not None
        remote = sorted(descendants(host.process.pid))
        assert remote
        host.stop()
        assert session.wait(timeout=30) == 255
    finally:
        session.kill()
        session.wait()
    assert [p for p in remote if process_alive(p)] == []


def test_pid_file_names_the_daemon_and_is_removed_on_stop(ssh_hosts: list[SSHHost]) -> None:
    host = ssh_hosts[0]
    assert int(host.pid_file.read_text()) == host.process.pid
    host.stop()
    assert not host.pid_file.exists()
    assert host.process.pid is not None
    assert not process_alive(host.process.pid)


def test_server_carries_the_ssh_settings(ssh_hosts: list[SSHHost]) -> None:
    host = ssh_hosts[1]
    expected_ssh = {
        "user": "root",
        "port": host.port,
        "key_file": str(host.key_file),
        "known_hosts": str(host.known_hosts),
    }
    assert host.server_settings() == {"ssh": expected_ssh}
    server = host.server()
    assert isinstance(server, Server)
    assert server == Server(
        name="host3", address="127.0.0.3", transport="ssh", settings={"ssh": expected_ssh}
    )


def test_server_merges_given_settings_and_fields(ssh_hosts: list[SSHHost]) -> None:
    host = ssh_hosts[0]
    server = host.server(
        "web1", root="/srv", settings={"ssh": {"port": 2222}, "bind9": {"zone_dir": "/z"}}
    )
    assert server.name == "web1"
    assert server.root == "/srv"
    assert server.transport == "ssh"
    assert server.address == host.address
    assert server.settings == {
        "ssh": {
            "user": "root",
            "port": 2222,
            "key_file": str(host.key_file),
            "known_hosts": str(host.known_hosts),
        },
        "bind9": {"zone_dir": "/z"},
    }


def test_login_shell_skips_bashrc_unless_asked(ssh_host_factory: SSHHostFactory) -> None:
    # bash reads ~/.bashrc for a command from sshd only at shell level 1.
    (plain,) = ssh_host_factory()
    (with_rc,) = ssh_host_factory(read_bashrc=True)
    assert plain.run("echo $SHLVL").stdout == "2\n"
    assert with_rc.run("echo $SHLVL").stdout == "1\n"


def test_factory_takes_the_next_addresses(
    ssh_hosts: list[SSHHost], ssh_host_factory: SSHHostFactory
) -> None:
    more = ssh_host_factory(2)
    assert [h.address for h in more] == ["127.0.0.5", "127.0.0.6"]
    assert ssh_host_factory.hosts == [*ssh_hosts, *more]
    assert more[0].key_file != ssh_hosts[0].key_file
    assert [h.run("echo ok").stdout for h in more] == ["ok\n", "ok\n"]


def test_a_refused_config_raises_with_sshds_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sshd, "SKIP_BASHRC", "NoSuchOption yes\n")
    with pytest.raises(DaemonError) as raised:
        sshd.start_ssh_hosts(tmp_path, 1)
    assert raised.value.argv == (sshd.SSHD, "-t", "-f", str(tmp_path / "host2" / "sshd_config"))
    assert raised.value.exit_code == 255
    assert "Bad configuration option: NoSuchOption" in raised.value.stderr_tail
    assert not (tmp_path / "host2" / "sshd.pid").exists()


def test_start_ssh_hosts_rejects_addresses_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.250 to 127\.0\.0\.256"):
        sshd.start_ssh_hosts(tmp_path, 7, first=250)
    with pytest.raises(ValueError, match="count must be at least 1"):
        sshd.start_ssh_hosts(tmp_path, 0)
    assert list(tmp_path.iterdir()) == []


def test_known_hosts_name_is_bare_on_port_22() -> None:
    assert known_hosts_name("127.0.0.5", 22) == "127.0.0.5"
    assert known_hosts_name("127.0.0.5", 2222) == "[127.0.0.5]:2222"


def test_teardown_stops_every_sshd_and_session_even_on_failure(
    pytester: pytest.Pytester,
) -> None:
    record = pytester.path / "pids.json"
    pytester.makepyfile(
        f"""
        import json, subprocess
        from orchestra_core.testing.daemon import descendants

        def test_fails(ssh_hosts, ssh_host_factory):
            hosts = [*ssh_hosts, *ssh_host_factory(1)]
            session = subprocess.Popen(
                [*hosts[0].ssh_args(), "echo started; exec sleep 300"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
            )
            assert session.stdout.readline() == "started\\n"
            listeners = [int(h.pid_file.read_text()) for h in hosts]
            assert listeners == [h.process.pid for h in hosts]
            sessions = sorted(descendants(listeners[0]))
            with open({str(record)!r}, "w") as f:
                json.dump({{
                    "listeners": listeners,
                    "sessions": sessions,
                    "pid_files": [str(h.pid_file) for h in hosts],
                }}, f)
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    seen = json.loads(record.read_text())
    assert len(seen["listeners"]) == 4
    assert len(seen["sessions"]) >= 1
    assert [p for p in seen["listeners"] + seen["sessions"] if process_alive(p)] == []
    assert [f for f in seen["pid_files"] if Path(f).exists()] == []

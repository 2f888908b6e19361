"""The orchestra pytest plugin, run in inner pytest sessions through ``pytester``."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.daemon


def test_plugin_is_registered_as_pytest11_entry_point() -> None:
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert found.get("orchestra") == "orchestra_core.testing.pytest_plugin"


def test_loading_the_plugin_imports_no_other_orchestra_module() -> None:
    # Whatever the orchestra_core package itself imports is its business; the plugin must add
    # nothing but itself, so that pytest startup stays cheap and coverage sees every module.
    code = textwrap.dedent(
        """
        import json, sys
        import orchestra_core
        before = {m for m in sys.modules if m.startswith("orchestra_core")}
        import orchestra_core.testing.pytest_plugin
        after = {m for m in sys.modules if m.startswith("orchestra_core")}
        print(json.dumps(sorted(after - before)))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout) == [
        "orchestra_core.testing",
        "orchestra_core.testing.pytest_plugin",
    ]


def test_daemon_factory_starts_and_stops_daemons(pytester: pytest.Pytester) -> None:
    pid_file = pytester.path / "pids.txt"
    pytester.makepyfile(
        f"""
        import os, sys
        from orchestra_core.testing.daemon import DaemonProcess, free_port, port_open

        def test_two_servers(daemon_factory, tmp_path):
            ports = [free_port(), free_port()]
            daemons = [
                daemon_factory(
                    [sys.executable, "-m", "http.server", str(p), "--bind", "127.0.0.1"],
                    ready_port=p,
                )
                for p in ports
            ]
            assert all(isinstance(d, DaemonProcess) for d in daemons)
            assert all(d.running for d in daemons)
            assert all(port_open("127.0.0.1", p) for p in ports)
            assert daemons[0].cwd != daemons[1].cwd
            assert not daemons[0].cwd.is_relative_to(tmp_path)
            with open({str(pid_file)!r}, "w") as f:
                f.write(" ".join(str(d.pid) for d in daemons))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()


def test_daemon_factory_stops_daemons_of_a_failing_test(pytester: pytest.Pytester) -> None:
    pid_file = pytester.path / "pid.txt"
    pytester.makepyfile(
        f"""
        import sys
        from orchestra_core.testing.daemon import free_port

        def test_fails(daemon_factory):
            port = free_port()
            d = daemon_factory(
                [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                ready_port=port,
            )
            with open({str(pid_file)!r}, "w") as f:
                f.write(str(d.pid))
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert not Path(f"/proc/{int(pid_file.read_text())}").exists()


def test_daemon_factory_is_overridable(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def daemon_factory():
            return "mine"
        """
    )
    pytester.makepyfile(
        """
        def test_override(daemon_factory):
            assert daemon_factory == "mine"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_recording_transport_is_fresh_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from orchestra_core.execution.recording import RecordingTransport
        from orchestra_core.execution.transport import Transport

        seen = []

        def test_first(recording_transport):
            assert isinstance(recording_transport, RecordingTransport)
            assert isinstance(recording_transport, Transport)
            assert list(recording_transport.batches) == []
            seen.append(recording_transport)

        def test_second(recording_transport):
            assert list(recording_transport.batches) == []
            assert recording_transport is not seen[0]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_fixtures_come_from_the_orchestra_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_needs_recording(recording_transport):
            pass

        def test_needs_daemons(daemon_factory):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:orchestra")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'recording_transport' not found*"])


FIXTURES = [
    "orchestra",
    "orchestra_factory",
    "orchestra_servers",
    "orchestra_routes",
    "recording_transport",
    "daemon_factory",
    "shared_daemon_factory",
    "ssh_host_factory",
    "ssh_hosts",
    "shared_ssh_host",
    "ssh_host",
    "golden",
]


def test_pytest_fixtures_lists_every_fixture_with_its_doc(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    lines = result.stdout.str().splitlines()
    for name in FIXTURES:
        scope = " [session scope]" if name.startswith("shared_") else ""
        [at] = [i for i, line in enumerate(lines) if line.startswith(f"{name}{scope} -- ")]
        assert "orchestra_core/testing/pytest_plugin.py" in lines[at]
        assert lines[at + 1].startswith("    ") and len(lines[at + 1].strip()) > 20, name
    assert "--update-golden" in pytester.runpytest("--help").stdout.str()


def test_orchestra_applies_to_a_sandbox_in_the_tests_temp_dir(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from orchestra_core import ChangeSet, Route
        from orchestra_core.catalogue import Domain
        from orchestra_core.storage.memory import MemoryStore

        @pytest.fixture
        def orchestra_routes():
            return [Route(backend="dummy-domain", servers=("local",))]

        def test_apply(orchestra, tmp_path):
            assert isinstance(orchestra.store, MemoryStore)
            plan = orchestra.plan(ChangeSet().save(Domain(account="a", name="example.com")))
            assert orchestra.apply(plan).ok
            conf = tmp_path / "root/var/lib/orchestra-dummy/domain/example.com.conf"
            assert conf.read_text().startswith("# Managed by")
            assert len(orchestra.store.list_logs()) == 2
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_orchestra_factory_closes_every_engine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from orchestra_core import Server

        made = []

        def test_make(orchestra_factory, recording_transport):
            for _ in range(2):
                engine = orchestra_factory(
                    [Server(name="r", transport="recording")], [],
                    transports={"recording": recording_transport},
                )
                assert engine.transport("recording") is recording_transport
                made.append(engine)
            assert made[0].store is not made[1].store

        def test_closed():
            assert made and all(e.transport("recording").closed for e in made)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_ssh_host_is_started_once_and_reset_for_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import subprocess
        from orchestra_core.testing.daemon import descendants

        seen = []

        def test_leaves_a_session_and_stops_the_host(ssh_host):
            seen.append(ssh_host.process.pid)
            session = subprocess.Popen(
                [*ssh_host.ssh_args(), "echo up; exec sleep 300"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
            )
            assert session.stdout.readline() == "up\\n"
            assert descendants(ssh_host.process.pid)
            seen.append(session)

        def test_finds_no_session(ssh_host, shared_ssh_host):
            assert ssh_host is shared_ssh_host
            assert ssh_host.process.pid == seen[0]
            assert descendants(ssh_host.process.pid) == set()
            assert seen[1].wait(timeout=10) != 0
            ssh_host.stop()

        def test_gets_it_running_again(ssh_host):
            assert ssh_host.running and ssh_host.address == "127.0.0.254"
            assert ssh_host.run("echo back").stdout == "back\\n"
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_shared_daemon_factory_keeps_its_daemons_for_the_session(
    pytester: pytest.Pytester,
) -> None:
    pid_file = pytester.path / "pid.txt"
    pytester.makepyfile(
        f"""
        import sys
        import pytest
        from orchestra_core.testing.daemon import free_port

        @pytest.fixture(scope="session")
        def web(shared_daemon_factory):
            port = free_port()
            argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
            return shared_daemon_factory(argv, ready_port=port)

        def test_one(web):
            open({str(pid_file)!r}, "w").write(str(web.pid))

        def test_two(web):
            assert open({str(pid_file)!r}).read() == str(web.pid) and web.running
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert not Path(f"/proc/{int(pid_file.read_text())}").exists()


def test_golden_fixture_writes_with_the_flag_and_compares_without(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_render="""
        import os

        def test_snapshot(golden):
            golden.check("zone", {"zones/example.com.zone": os.environ.get("ZONE", "a\\n")})
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
    pytester.runpytest("-p", "no:cacheprovider", "--update-golden").assert_outcomes(passed=1)
    stored = pytester.path / "golden/test_render/zone/zones/example.com.zone"
    assert stored.read_text() == "a\n"
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    stored.write_text("b\n")
    failed = pytester.runpytest("-p", "no:cacheprovider")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*-b", "*+a"])


def test_the_engine_example_of_docs_testing_md_passes(pytester: pytest.Pytester) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    example = doc.split("An engine with a route of its own:", 1)[1]
    code = example.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makepyfile(test_example=code)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("plugin", "own"),
    [
        ("bind9", ["named_factory", "named_master", "named_slave"]),
        ("mysql", ["mariadb"]),
        ("postfix", ["mail_server", "mail_secondary", "mail_server_factory", "smtp_sink"]),
    ],
)
def test_pytest_fixtures_in_a_driver_package_lists_ours_and_its_own(
    plugin: str, own: list[str]
) -> None:
    folder = Path(__file__).resolve().parents[2] / "plugins" / plugin
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for name in ["orchestra", "ssh_host", "golden", "daemon_factory", *own]:
        found = [
            i for i, line in enumerate(lines) if re.match(rf"{name}( \[\w+ scope\])? -- ", line)
        ]
        assert found, f"pytest --fixtures in plugins/{plugin} does not list {name}"
        assert all(lines[at + 1].startswith("    ") and lines[at + 1].strip() for at in found)

"""The orchestra pytest plugin, run in inner pytest sessions through ``pytester``."""

from __future__ import annotations

import importlib.metadata
import json
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

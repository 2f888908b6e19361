"""The generic test-daemon factory (orchestra_core.testing.factory) and ``shared_daemons``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import attrs
import pytest

from orchestra_core.execution.local import process_alive
from orchestra_core.testing.daemon import DaemonFactory, DaemonProcess, ProcessKind, free_port
from orchestra_core.testing.factory import InstanceFactory, MakeDir, SharedDaemons


@attrs.define(eq=False)
class Fake:
    """What the fake kind starts: a record of what was done to it."""

    dir: Path
    label: str
    events: list[str] = attrs.field(factory=list)


class FakeKind:
    """A kind of daemon that starts nothing: it records its calls."""

    name = "fake"

    def __init__(self, fail_stop: set[str] | None = None) -> None:
        self.log: list[str] = []
        self.fail_stop = fail_stop or set()

    def start(self, make_dir: MakeDir, /, label: str = "one", *, size: int = 1) -> Fake:
        self.log.append(f"start {label} {size}")
        return Fake(make_dir(f"fake-{label}"), label)

    def reset(self, instance: Fake, /) -> None:
        self.log.append(f"reset {instance.label}")

    def stop(self, instance: Fake, /) -> None:
        self.log.append(f"stop {instance.label}")
        if instance.label in self.fail_stop:
            raise RuntimeError(f"cannot stop {instance.label}")


def test_factory_starts_in_fresh_folders_shares_resets_and_stops_last_first(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    kind = FakeKind()
    factory = InstanceFactory(kind, tmp_path_factory)
    a, b = factory("a"), factory("b", size=2)
    assert a.dir != b.dir and a.dir.name.startswith("fake-a") and b.dir.is_dir()
    shared = factory.shared("main", "s")
    assert factory.shared("main", "other") is shared  # started once: later arguments unused
    assert factory.reset(shared) is shared
    assert factory.instances == [a, b, shared]
    factory.stop_all()
    assert kind.log == [
        "start a 1",
        "start b 2",
        "start s 1",
        "reset s",
        "stop s",
        "stop b",
        "stop a",
    ]
    assert factory.instances == []
    assert factory.shared("main").label == "one"  # a stopped shared instance is started anew


def test_stop_all_stops_every_instance_and_raises_the_first_error(tmp_path: Path) -> None:
    kind = FakeKind(fail_stop={"b", "c"})
    made: list[str] = []

    def make_dir(name: str) -> Path:
        made.append(name)
        path = tmp_path / f"{name}-{len(made)}"
        path.mkdir()
        return path

    factory = InstanceFactory(kind, make_dir)
    with pytest.raises(RuntimeError, match="cannot stop c"), factory:
        for label in "abcd":
            factory(label)
    assert made == ["fake-a", "fake-b", "fake-c", "fake-d"]
    assert [e for e in kind.log if e.startswith("stop")] == ["stop d", "stop c", "stop b", "stop a"]


def test_stopping_one_instance_leaves_it_out_of_stop_all(tmp_path: Path) -> None:
    kind = FakeKind()
    factory = InstanceFactory(kind, tmp_path_factory_like(tmp_path))
    a, b = factory("a"), factory("b")
    factory.stop(a)
    assert factory.instances == [b]
    factory.stop_all()
    assert [e for e in kind.log if e.startswith("stop")] == ["stop a", "stop b"]


def tmp_path_factory_like(tmp_path: Path) -> MakeDir:
    count = iter(range(1000))

    def make_dir(name: str) -> Path:
        path = tmp_path / f"{name}{next(count)}"
        path.mkdir()
        return path

    return make_dir


def test_shared_daemons_keeps_one_factory_per_kind_and_resets_later_uses(
    tmp_path: Path,
) -> None:
    daemons = SharedDaemons(tmp_path_factory_like(tmp_path))
    first = FakeKind()
    factory = daemons(first)
    assert daemons(FakeKind()) is factory  # told apart by class and name, not identity
    assert factory.kind is first
    one = daemons.instance(FakeKind(), "main", "m")
    assert daemons.instance(FakeKind(), "main", "m") is one
    assert daemons.instance(FakeKind(), "other", "o") is not one
    assert first.log == ["start m 1", "reset m", "start o 1"]
    assert list(daemons.factories()) == [factory]
    daemons.stop_all()
    assert first.log[-2:] == ["stop o", "stop m"]


def test_make_dir_must_be_callable() -> None:
    with pytest.raises(TypeError, match="make_dir must be callable"):
        InstanceFactory(FakeKind(), "/tmp")


@pytest.mark.daemon
def test_daemon_factory_is_the_generic_factory_of_processes(tmp_path: Path) -> None:
    factory = DaemonFactory(tmp_path_factory_like(tmp_path))
    assert isinstance(factory, InstanceFactory)
    assert isinstance(factory.kind, ProcessKind)
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    daemon = factory(argv, ready_port=port, name="web")
    assert isinstance(daemon, DaemonProcess)
    assert factory.daemons == [daemon]
    daemon.stop()
    assert factory.reset(daemon) is daemon  # reset of a process: running again
    assert daemon.running and daemon.listens_on(port)
    factory.stop_all()
    assert not daemon.running
    assert factory.daemons == []


@pytest.mark.daemon
def test_shared_daemons_fixture_keeps_an_instance_for_the_session_and_stops_it(
    pytester: pytest.Pytester,
) -> None:
    record = pytester.path / "pids.json"
    pytester.makeconftest(
        f"""
        import json, sys
        import pytest
        from orchestra_core.testing.daemon import ProcessKind, free_port

        PORT = free_port()

        @pytest.fixture
        def web(shared_daemons):
            argv = [sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1"]
            return shared_daemons.instance(ProcessKind(), "web", argv, ready_port=PORT)

        @pytest.fixture
        def remember(web):
            path = {str(record)!r}
            try:
                seen = json.load(open(path))
            except FileNotFoundError:
                seen = []
            seen.append(web.pid)
            json.dump(seen, open(path, "w"))
        """
    )
    pytester.makepyfile(
        """
        def test_one(web, remember):
            assert web.running
            web.stop()

        def test_two(web, remember):
            assert web.running  # reset: started again

        def test_three(web, remember):
            assert web.running
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    pids = json.loads(record.read_text())
    assert len(pids) == 3
    assert pids[0] != pids[1] == pids[2]  # one instance, started again after test_one
    assert not any(process_alive(pid) for pid in pids)


@pytest.mark.daemon
def test_the_docs_example_of_a_new_daemon_kind_runs(pytester: pytest.Pytester) -> None:
    # docs/testing.md shows a driver author a whole conftest.py: it must work as written.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    section = doc[doc.index("## Adding your daemon") :]
    conftest = section[section.index("```python\n") + 10 : section.index("```\n", 20)]
    assert "class WebKind:" in conftest and "def web_factory" in conftest
    pytester.makeconftest(conftest)
    record = pytester.path / "pids.json"
    pytester.makepyfile(
        f"""
        import json, urllib.request

        def get(web, name):
            url = f"http://127.0.0.1:{{web.port}}/{{name}}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()

        def test_one(web, web_factory):
            (web.root / "a.txt").write_text("one")
            assert get(web, "a.txt") == b"one"
            other = web_factory("second")
            assert other.port != web.port and other.root != web.root
            json.dump([web.process.pid, other.process.pid], open({str(record)!r}, "w"))
            web.process.stop()

        def test_two(web):
            assert web.process.running  # started again by the reset
            assert list(web.root.iterdir()) == []  # nothing left of test_one
            pids = json.load(open({str(record)!r}))
            json.dump(pids + [web.process.pid], open({str(record)!r}, "w"))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    first, second, restarted = json.loads(record.read_text())
    assert restarted != first
    assert not any(process_alive(pid) for pid in (first, second, restarted))

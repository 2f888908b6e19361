"""ExecWatcher sees every program started while it watches, with argv and environment."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from orchestra_core.testing.execwatch import ExecWatcher

pytestmark = pytest.mark.daemon


def test_a_short_lived_grandchild_is_seen_with_its_argv_and_environment() -> None:
    secret = "needle-" + os.urandom(4).hex()
    with ExecWatcher() as watcher:
        subprocess.run(
            ["bash", "-c", 'X="$0"; /bin/echo "$X" >/dev/null; env "V=$X" true', secret],
            check=True,
        )
    programs = [e.program for e in watcher.execs if e.succeeded]
    assert programs[0].endswith("/bash") and "/bin/echo" in programs
    found = watcher.containing(secret)
    assert {e.program.rsplit("/", 1)[-1] for e in found if e.succeeded} >= {"bash", "echo", "true"}
    echo = next(e for e in found if e.program == "/bin/echo")
    assert echo.argv == ["/bin/echo", secret]


def test_threads_of_the_watching_process_are_watched() -> None:
    with ExecWatcher() as watcher:
        thread = threading.Thread(target=lambda: subprocess.run(["/bin/true"], check=True))
        thread.start()
        thread.join()
    assert [e.program for e in watcher.execs] == ["/bin/true"]


def test_what_is_fed_on_stdin_is_not_seen() -> None:
    secret = "stdin-" + os.urandom(4).hex()
    with ExecWatcher() as watcher:
        subprocess.run(["cat"], input=secret.encode(), capture_output=True, check=True)
    assert watcher.execs
    assert watcher.containing(secret) == []


def test_descendants_of_a_watched_process_started_before_the_watch_are_watched() -> None:
    # A shell that is already running (as a pooled SSH session is) starts a program later.
    shell = subprocess.Popen(
        ["bash", "-c", 'read -r line; /bin/echo "$line" >/dev/null'],
        stdin=subprocess.PIPE,
        text=True,
    )
    parent = subprocess.Popen(["sleep", "30"])  # unrelated: not watched
    try:
        with ExecWatcher(pids=[shell.pid]) as watcher:
            assert shell.stdin is not None
            shell.stdin.write("late-arg\n")
            shell.stdin.flush()
            shell.wait(timeout=10)
        echo = [e for e in watcher.execs if e.program == "/bin/echo"]
        assert [e.argv for e in echo] == [["/bin/echo", "late-arg"]]
    finally:
        parent.kill()
        parent.wait()

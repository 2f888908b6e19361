"""The Mailman fixture itself: a real Mailman 3 core that answers, holds lists, and stops."""

from __future__ import annotations

from pathlib import Path

import pytest
from orchestra_mailman.testing import MailmanServer, start_mailman

pytestmark = pytest.mark.daemon


def test_a_list_made_on_the_command_line_is_served(mailman_server: MailmanServer) -> None:
    done = mailman_server.mailman(
        "create", "--owner", "owner@lists.test", "--notify", "news@lists.test"
    )
    assert done.returncode == 0, done.stderr
    assert mailman_server.lists() == ["news@lists.test"]
    transport = f"lmtp:[127.0.0.1]:{mailman_server.lmtp_port}"
    lmtp = mailman_server.lmtp_map()
    for suffix in ("", "-request", "-bounces", "-confirm", "-join", "-leave", "-owner"):
        assert lmtp[f"news{suffix}@lists.test"] == transport
    status, body = mailman_server.rest("GET", "lists/news.lists.test/config")
    assert status == 200 and body["display_name"] == "News"


def test_reset_leaves_no_list(mailman_server: MailmanServer) -> None:
    assert mailman_server.mailman("create", "other@lists.test").returncode == 0
    assert mailman_server.reset().lists() == []


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    server = start_mailman(tmp_path / "own")
    try:
        # The master and its runners (Debian's Mailman 3.3: 14 runners and a REST worker).
        assert len(server.processes()) > 5, server.processes()
    finally:
        server.stop()
    assert _processes_of(server.dir) == []


def test_a_start_whose_port_is_taken_is_tried_again_on_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first try's REST port is held by another process: Mailman's REST runner cannot
    bind it, the try fails with Mailman's own log, and the second try runs on new ports."""
    import socket

    from orchestra_core.testing import daemon

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = daemon.free_port
    handed = iter([taken])
    monkeypatch.setattr(daemon, "free_port", lambda *a, **k: next(handed, None) or real_free_port())
    try:
        server = start_mailman(tmp_path / "own")
    finally:
        squatter.close()
    try:
        assert server.rest_port != taken
        assert server.rest("GET", "system/versions")[0] == 200
        failed = (tmp_path / "own" / "var.failed-1" / "logs" / "mailman.log").read_text()
        assert f"Connection in use: ('127.0.0.1', {taken})" in failed
    finally:
        server.stop()


def test_a_start_that_never_succeeds_says_what_mailman_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from orchestra_core.testing import daemon
    from orchestra_core.testing.daemon import DaemonError

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    monkeypatch.setattr(daemon, "free_port", lambda *a, **k: taken)
    try:
        with pytest.raises(DaemonError) as caught:
            start_mailman(tmp_path / "own", attempts=1)
    finally:
        squatter.close()
    text = str(caught.value)
    assert "could not bind its port" in text
    assert "mailman.log" in text and f"Can't connect to ('127.0.0.1', {taken})" in text
    assert not any("mailman.cfg" in line for line in _processes_of(tmp_path / "own"))


def _processes_of(dir: Path, wait: float = 10.0) -> list[str]:
    """The processes whose command line names ``dir``, once none is left or after ``wait``
    seconds (runners killed with their group take a moment to go on a busy machine)."""
    import subprocess
    import time

    deadline = time.monotonic() + wait
    while True:
        done = subprocess.run(["pgrep", "-a", "-f", str(dir)], capture_output=True, text=True)
        if not done.stdout or time.monotonic() >= deadline:
            return done.stdout.splitlines()
        time.sleep(0.1)

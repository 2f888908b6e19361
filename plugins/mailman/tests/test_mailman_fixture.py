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
    assert server.processes() == []

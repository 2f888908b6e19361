"""The program the backends run on the list server (``orchestra_mailman/remote.py``), run as
the backends run it: Debian's Python, the job as JSON on stdin, against the real Mailman."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from orchestra_mailman.backends import PROGRAM
from orchestra_mailman.testing import MailmanServer

pytestmark = pytest.mark.daemon

LIST = "news@lists.test"


def run(
    mailman: MailmanServer, verb: str, env: dict[str, str] | None = None, **job: Any
) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", "list", "--", "mailman", "-C", str(mailman.config)]
    text = json.dumps(
        {"verb": verb, "list": LIST, "mailman": command, "config": str(mailman.config), **job}
    )
    return subprocess.run(
        ["/usr/bin/python3", "-I", "-c", PROGRAM],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_list_made_read_and_removed(mailman_server: MailmanServer) -> None:
    assert run(mailman_server, "absent").returncode == 0
    made = run(
        mailman_server,
        "apply",
        ops=[
            {"op": "domain"},
            {"op": "create"},
            {"op": "owner", "email": "o@lists.test"},
            {"op": "config", "values": {"description": "a `b` $(c) ü"}, "previous": {}},
        ],
    )
    assert made.returncode == 0, made.stderr
    assert run(mailman_server, "absent").returncode == 1
    read = run(mailman_server, "read", fields=["description"])
    assert json.loads(read.stdout) == {
        "config": {"description": "a `b` $(c) ü"},
        "domain": True,
        "exists": True,
        "owners": ["o@lists.test"],
    }
    gone = run(mailman_server, "delete")
    assert gone.returncode == 0, gone.stderr
    assert mailman_server.lists() == []
    assert mailman_server.rest("GET", "domains/lists.test")[0] == 404


def test_a_refused_part_undoes_the_others_and_says_why(mailman_server: MailmanServer) -> None:
    refused = run(
        mailman_server,
        "apply",
        ops=[
            {"op": "domain"},
            {"op": "create"},
            {"op": "config", "values": {"default_member_action": "bogus"}, "previous": {}},
        ],
    )
    assert refused.returncode == 1
    assert "Mailman answered 400 to PATCH lists/news@lists.test/config" in refused.stderr
    assert "undone: removed the list news@lists.test; removed the domain" in refused.stderr
    assert mailman_server.lists() == []


def test_a_proxy_in_the_environment_is_not_used(mailman_server: MailmanServer) -> None:
    """The API is on the server's loopback: an http_proxy set for the machine's downloads
    must not carry its calls (nor its credentials) away."""
    env = {"http_proxy": "http://192.0.2.1:3128", "HTTP_PROXY": "http://192.0.2.1:3128"}
    read = run(mailman_server, "read", env=env, fields=[])
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["exists"] is False


def test_mailman_out_of_reach_is_said(mailman_server: MailmanServer) -> None:
    done = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", PROGRAM],
        input=json.dumps(
            {
                "verb": "read",
                "list": LIST,
                "mailman": ["false"],
                "config": str(mailman_server.out_of_reach_config()),
            }
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Mailman's REST API at http://127.0.0.1:" in done.stderr
    assert "does not answer" in done.stderr

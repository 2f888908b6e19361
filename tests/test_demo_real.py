"""``make demo-real`` as the README gives it: examples/hosting-real.yaml applied to a private
named, MariaDB, Postfix with Dovecot, Mailman and Apache with PHP-FPM, each service shown
working by what a customer would do, then all stopped. Run as a new process, as make runs it
(the drivers' fixtures, the lock on the user database and the daemons are its own)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.daemon

ROOT = Path(__file__).resolve().parent.parent
CHECKS = [
    "dig answers for acme.example",
    "a mail is delivered and read over IMAP",
    "the website serves PHP",
    "the database user logs in",
    "a post reaches the list's member",
    "nothing changed",
]


@pytest.mark.skipif(os.geteuid() != 0, reason="demo-real runs as root")
def test_demo_real_applies_the_real_inventory_and_shows_it_working() -> None:
    # A short folder, as the demo's own default: Dovecot's sockets are in it, and a unix
    # socket's path has at most 107 bytes.
    demo = Path(tempfile.mkdtemp(prefix="demo-", dir="/tmp"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo_real.py"), "--dir", str(demo)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-5000:]
    for check in CHECKS:
        assert f"ok  {check}" in done.stdout, said[-5000:]
    assert "FAILED" not in said
    # Everything it started is stopped, the unix user it made is gone.
    left = subprocess.run(["pgrep", "-a", "-f", str(demo)], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
    with pytest.raises(KeyError):
        pwd.getpwnam("acme")
    shutil.rmtree(demo)

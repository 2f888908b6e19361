"""Connecting as an unprivileged user with password-less sudo (``sudo: true``)."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_core.backends.steps import Command
from orchestra_core.execution.executor import Executor
from orchestra_core.execution.results import State
from orchestra_core.execution.ssh import SSHTransport
from orchestra_core.planning.plan import Plan
from orchestra_core.storage.memory import MemoryStore
from tests.execution.helpers import server_plan

USER = "orchestra-sudo-test"
SUDOERS = Path("/etc/sudoers.d/orchestra-sudo-test")

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates a user and a sudoers rule: needs root"),
]


@pytest.fixture
def sudo_user() -> Iterator[str]:
    """A login user (key only) allowed exactly what ``sudo: true`` needs."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/bash", USER], check=True)
    subprocess.run(["usermod", "-p", "*", USER], check=True)  # unlocked for key logins
    SUDOERS.write_text(f"{USER} ALL=(root) NOPASSWD: /usr/bin/setsid\n")
    SUDOERS.chmod(0o440)
    try:
        yield USER
    finally:
        SUDOERS.unlink(missing_ok=True)


def let_user_read_keys(host: object) -> None:
    """sshd reads authorized_keys as the user logging in: open the path up to it (test dirs
    are private to root)."""
    path = Path(host.dir)  # type: ignore[attr-defined]
    for directory in [path, *path.parents]:
        if directory == Path("/tmp") or directory == Path("/"):
            break
        directory.chmod(directory.stat().st_mode | 0o011)
    for name in ("authorized_keys",):
        target = path / name
        if target.exists():
            target.chmod(0o644)


def whoami(server: object, out: Path) -> str:
    step = Command(description="who", script=f"id -un > {out}; chmod 644 {out}")
    result = Executor({"ssh": SSHTransport()}, MemoryStore()).execute(
        Plan(servers=(server_plan(server, (step,)),))  # type: ignore[arg-type]
    )
    [log] = result.logs
    assert log.state is State.SUCCESS, log.stderr
    return out.read_text().strip()


def test_sudo_runs_batches_as_root_and_without_it_as_the_user(
    ssh_host_factory: object, sudo_user: str, tmp_path: Path
) -> None:
    [host] = ssh_host_factory(1)  # type: ignore[operator]
    let_user_read_keys(host)
    tmp_path.chmod(0o777)
    plain = host.server(settings={"ssh": {"user": sudo_user}})
    assert whoami(plain, tmp_path / "plain") == sudo_user
    with_sudo = host.server(settings={"ssh": {"user": sudo_user, "sudo": True}})
    assert whoami(with_sudo, tmp_path / "sudo") == "root"


def test_without_the_sudo_rule_the_batch_fails_and_says_so(
    ssh_host_factory: object, sudo_user: str, tmp_path: Path
) -> None:
    [host] = ssh_host_factory(1)  # type: ignore[operator]
    let_user_read_keys(host)
    SUDOERS.unlink()
    server = host.server(settings={"ssh": {"user": sudo_user, "sudo": True}})
    result = Executor({"ssh": SSHTransport()}, MemoryStore()).execute(
        Plan(servers=(server_plan(server, (Command(description="x", script="true"),)),))
    )
    [log] = result.logs
    assert log.state is State.ERROR
    assert "sudo" in log.stderr

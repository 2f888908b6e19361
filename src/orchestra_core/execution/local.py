"""The ``local`` transport: run a batch with bash on this machine, optionally in a sandbox root.

The script goes on stdin to ``bash -c BOOTSTRAP`` (which saves it to a private file and runs
that), in a new session, so that on the batch timeout every
process it started can be found and killed: the session leader's process group first, then any
process left in the session (``timeout`` puts each timed step in a process group of its own).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

from orchestra_core.backends.steps import AssembleFile, DeleteFile, EnsureDirectory, WriteFile
from orchestra_core.errors import SandboxViolation
from orchestra_core.execution.script import BOOTSTRAP, parse_output
from orchestra_core.execution.transport import Batch, BatchResult, Probe
from orchestra_core.model.servers import Server

__all__ = ["LocalTransport", "check_sandbox", "process_alive"]

#: Seconds between SIGTERM and SIGKILL when a batch times out.
KILL_GRACE = 2.0


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_sandbox(server: Server, batch: Batch) -> None:
    """Raise :class:`SandboxViolation` for a file step whose path leaves ``server.root``.

    A path must not contain ``..``, must lie under the root once normalised, and its folder
    must still lie under the root once existing symlinks are resolved (a file that is itself
    a link is replaced or removed, never followed: the batch's ``__o_safe`` checks that, and
    every other path a batch writes, as it runs). Commands are not confined.
    """
    if not server.root:
        return
    root = os.path.abspath(server.root)
    real_root = os.path.realpath(root)
    for step in batch.steps:
        if not isinstance(step, WriteFile | DeleteFile | EnsureDirectory | AssembleFile):
            continue
        raw = step.path
        full = os.path.normpath(os.path.join(root, raw))
        folder = full if isinstance(step, EnsureDirectory) else os.path.dirname(full)
        if (
            ".." in raw.split("/")
            or not _inside(full, root)
            or not _inside(os.path.realpath(folder), real_root)
        ):
            raise SandboxViolation(server.name, raw, server.root)


def _session_members(sid: int) -> list[int]:
    """Processes of session ``sid`` (Linux ``/proc``; empty where it does not exist)."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        with contextlib.suppress(OSError):
            if os.getsid(pid) == sid:
                members.append(pid)
    return members


def _signal_session(sid: int, sig: signal.Signals, *, others_only: bool = False) -> None:
    """Signal the session's leading process group, then every other process of the session.

    With ``others_only`` the leading group is signalled once only: a process the dying shell
    starts afterwards (its EXIT trap's ``rm``) is in that group and must be left to finish.
    """
    with contextlib.suppress(OSError):
        os.killpg(sid, sig)
    for pid in _session_members(sid):
        with contextlib.suppress(OSError):
            if others_only and os.getpgid(pid) == sid:
                continue
            os.kill(pid, sig)


class LocalTransport:
    """Runs batches on this machine with bash; ``server.root`` confines file steps."""

    name = "local"

    def __init__(self, *, bash: str = "bash") -> None:
        self.bash = bash

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        """Run the batch; a sandbox violation, a missing bash or the timeout is reported."""
        cwd: str | None = None
        if server.root:
            try:
                check_sandbox(server, batch)
            except SandboxViolation as exc:
                return BatchResult(steps=(), error=str(exc))
            cwd = server.root
        try:
            if cwd is not None:
                os.makedirs(cwd, exist_ok=True)
            proc = subprocess.Popen(
                [self.bash, "-c", BOOTSTRAP],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return BatchResult(steps=(), error=f"could not start {self.bash}: {exc}")
        timed_out = False
        try:
            out, err = proc.communicate(batch.script.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            out, err = self._kill(proc)
        stdout = out.decode("utf-8", errors="replace")
        return BatchResult(
            steps=tuple(parse_output(stdout, batch.nonce)),
            exit_code=proc.returncode,
            stderr=err.decode("utf-8", errors="replace"),
            timed_out=timed_out,
        )

    def probe(self, server: Server, tools: Sequence[str]) -> Probe:
        """This machine is always reachable; look for ``tools`` on its PATH."""
        missing = tuple(tool for tool in tools if shutil.which(tool) is None)
        return Probe(reachable=True, authenticated=True, missing_tools=missing)

    def _kill(self, proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
        """SIGTERM the batch's session, SIGKILL what is left after the grace, collect output."""
        sid = proc.pid
        _signal_session(sid, signal.SIGTERM, others_only=True)
        deadline = time.monotonic() + KILL_GRACE
        while time.monotonic() < deadline and (
            proc.poll() is None or any(process_alive(pid) for pid in _session_members(sid))
        ):
            time.sleep(0.05)
        _signal_session(sid, signal.SIGKILL)
        try:
            return proc.communicate(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            # A process outside the session still holds the pipes: give up on its output.
            proc.kill()
            proc.wait()
            return b"", b""

    def close(self) -> None:
        """Nothing to release: each batch is its own process."""


def process_alive(pid: int) -> bool:
    """False for a process that is gone or a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")

"""See every program a block of code starts, with its argv and environment, through strace.

A secret must never be on a command line or in an environment, where ``ps`` and
``/proc/PID/cmdline`` show it to every user of the machine. Polling ``/proc`` misses short
processes; :class:`ExecWatcher` does not: it attaches ``strace -f`` to every thread of this
process (and to ``pids``, such as the sshd of an SSH test host) and records each ``execve``
of them and of every process they start, until the block ends.

Needs ``strace`` and the right to trace this process (root, or ``ptrace_scope`` 0).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import attrs

from orchestra_core.errors import OrchestraError
from orchestra_core.testing.daemon import descendants

__all__ = ["Exec", "ExecWatchError", "ExecWatcher"]

#: Seconds to wait for strace to attach to every thread.
ATTACH_TIMEOUT = 10.0
#: strace's line for an execve: ``PID execve("PATH", [ARGV...], [ENV...]) = RESULT``.
_LINE = re.compile(r"^(\d+) +execve(?:at)?\((.*)\) += (-?\d+)")


class ExecWatchError(OrchestraError):
    """strace is missing, or could not attach (not allowed to trace this process)."""


@attrs.frozen
class Exec:
    """One ``execve`` seen: the ``pid`` that made it, strace's ``text`` of its arguments
    (every string hex-escaped) and whether it ``succeeded``."""

    pid: int
    text: str
    succeeded: bool

    @property
    def program(self) -> str:
        """The path that was executed."""
        first = self.text.split('"', 2)[1] if '"' in self.text else ""
        return _unhex(first)

    @property
    def argv(self) -> list[str]:
        """The argv it was given, decoded."""
        strings = re.findall(r'"((?:\\x[0-9a-f]{2})*)"', self.text.split("], [", 1)[0])
        return [_unhex(s) for s in strings[1:]]

    def __str__(self) -> str:
        shown = " ".join(a if len(a) <= 80 else a[:77] + "..." for a in self.argv)
        return f"pid {self.pid}: {self.program} {shown}".rstrip()

    def contains(self, needle: str | bytes) -> bool:
        """True when ``needle`` is inside the path, an argv element or an environment entry."""
        return _hex(needle) in self.text


class ExecWatcher:
    """Records every ``execve`` in this process and its descendants while the block runs.

    ``pids`` are more processes to watch, with their descendants (those alive when the block
    starts, and every one started later). After the block,
    :attr:`execs` lists what ran; :meth:`containing` finds the runs whose argv or environment
    held a value::

        with ExecWatcher() as watcher:
            orchestra.apply(plan)
        assert watcher.execs, "nothing ran: the watcher proves nothing"
        assert watcher.containing(secret) == []
    """

    def __init__(self, pids: Iterable[int] = ()) -> None:
        self.pids = tuple(pids)
        self.execs: list[Exec] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> ExecWatcher:
        strace = shutil.which("strace")
        if strace is None:
            raise ExecWatchError(
                "strace is not installed: install it (scripts/install-system-packages)"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="orchestra-execwatch-")
        out = Path(self._dir.name) / "strace.out"
        # Every thread of this process, and of each watched process and its descendants (an
        # sshd's per-connection children exist before the block when connections are pooled).
        processes = {os.getpid()}
        for pid in self.pids:
            if Path(f"/proc/{pid}").exists():
                processes |= {pid, *descendants(pid)}
        targets = sorted({tid for pid in processes for tid in _threads(pid)})
        argv = [strace, "-f", "-qq", "-v", "-xx", "-s", "1000000", "-e", "trace=execve,execveat"]
        argv += ["-o", str(out)]
        for pid in targets:
            argv += ["-p", str(pid)]
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while not all(_traced_by(pid, self._process.pid) for pid in targets):
            if self._process.poll() is not None or time.monotonic() > deadline:
                error = self._stop()
                raise ExecWatchError(f"strace could not attach to {targets}: {error}")
            time.sleep(0.005)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> str:
        """Detach strace and read what it saw; its stderr."""
        error = ""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
            _, stderr = self._process.communicate(timeout=30)
            error = stderr.decode(errors="replace").strip()
            self._process = None
        if self._dir is not None:
            out = Path(self._dir.name) / "strace.out"
            if out.exists():
                self.execs = _parse(out.read_text(encoding="ascii", errors="replace"))
            self._dir.cleanup()
            self._dir = None
        return error

    def containing(self, needle: str | bytes) -> list[Exec]:
        """The runs whose path, argv or environment held ``needle``."""
        return [e for e in self.execs if e.contains(needle)]


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _traced_by(pid: int, tracer: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone: nothing left to attach to
    found = re.search(r"^TracerPid:\s*(\d+)", status, re.M)
    return found is not None and int(found[1]) == tracer


def _parse(text: str) -> list[Exec]:
    execs = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if found:
            execs.append(Exec(int(found[1]), found[2], int(found[3]) == 0))
    return execs


def _hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return "".join(f"\\x{b:02x}" for b in data)


def _unhex(text: str) -> str:
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", text)).decode(errors="replace")

"""Prove that code does no I/O: no process, no network, no write, no read outside the code.

Backends validate and render without touching a server (DESIGN: rendering is pure). Inside
:func:`no_io`, an audit hook (:pep:`578`) refuses, in the calling thread only, every event
that reaches the outside world: starting a process, opening a socket or looking up a name,
writing, removing or renaming a file, and reading a file that is not part of the installed
code (a module, a template, package data). The first such event raises :class:`ImpureCall`,
and every one is also kept in the guard's ``events``, so that code which swallows the
exception is still caught.

Audit hooks cannot be removed: the hook is installed once, on first use, and does nothing
outside a :func:`no_io` block.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from orchestra_core.errors import OrchestraError

__all__ = ["Guard", "ImpureCall", "no_io"]

#: Audit events that always reach the outside world.
FORBIDDEN = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "os.remove",
        "os.rename",
        "os.mkdir",
        "os.rmdir",
        "os.chmod",
        "os.chown",
        "os.truncate",
        "os.symlink",
        "os.link",
        "os.utime",
        "os.chdir",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
        "shutil.chown",
        "sqlite3.connect",
    }
)

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class ImpureCall(OrchestraError):
    """Code inside :func:`no_io` did I/O; ``event`` and ``args`` say what (the audit event)."""

    def __init__(self, event: str, args: tuple[Any, ...]) -> None:
        self.event = event
        self.args_seen = args
        super().__init__(f"I/O during pure code: {event}{_short(args)}")


@attrs.define
class Guard:
    """What one :func:`no_io` block saw: each refused event as ``(event, args)``."""

    readable: tuple[str, ...]
    events: list[tuple[str, tuple[Any, ...]]] = attrs.field(factory=list)

    def refuse(self, event: str, args: tuple[Any, ...]) -> None:
        """Keep the event and raise :class:`ImpureCall` in the code that caused it."""
        self.events.append((event, args))
        raise ImpureCall(event, args)

    def check_open(self, args: tuple[Any, ...]) -> None:
        """An ``open`` event: writes are refused, reads only outside the installed code."""
        path, mode, flags = (*args, None, None, None)[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            self.refuse("open", args)
        if isinstance(path, int):  # an already open descriptor: os.fdopen
            return
        real = os.path.realpath(os.fsdecode(path)) if path is not None else ""
        if not any(real == root or real.startswith(root + os.sep) for root in self.readable):
            self.refuse("open", args)


_active: contextvars.ContextVar[Guard | None] = contextvars.ContextVar(
    "orchestra_no_io", default=None
)
_installed = False
#: How many no_io blocks are open in any thread: the hook returns at once when none is.
_armed = 0


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _armed:
        return
    guard = _active.get()
    if guard is None:
        return
    if event == "open":
        guard.check_open(args)
    elif event in FORBIDDEN:
        guard.refuse(event, args)


def _code_roots() -> tuple[str, ...]:
    """Folders whose files are code or package data: the interpreter's, and each imported
    package's (an editable install lives outside ``sys.prefix``)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for module in list(sys.modules.values()):
        for entry in getattr(module, "__path__", None) or ():
            roots.add(str(entry))
        file = getattr(module, "__file__", None)
        name = getattr(module, "__name__", ".")
        if file and "." not in name and name != "__main__":
            roots.add(str(Path(file).parent))
    return tuple(sorted({os.path.realpath(r) for r in roots if r}))


@contextlib.contextmanager
def no_io() -> Iterator[Guard]:
    """Refuse I/O in this thread until the block ends; yields the :class:`Guard`.

    Reading the installed code and its package data (templates) is allowed, and so is reading
    what was already open. Nesting is allowed; other threads are not affected.
    """
    global _installed, _armed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    guard = Guard(readable=_code_roots())
    token = _active.set(guard)
    _armed += 1
    try:
        yield guard
    finally:
        _armed -= 1
        _active.reset(token)


def _short(args: tuple[Any, ...]) -> str:
    text = repr(args)
    return text if len(text) <= 300 else text[:297] + "..."

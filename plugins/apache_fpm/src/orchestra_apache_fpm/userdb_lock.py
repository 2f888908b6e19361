"""For tests: the machine's user database locked the way shadow's tools lock it.

``useradd``, ``usermod`` and ``userdel`` take ``/etc/passwd.lock`` (a file naming the pid of
its holder) before they change ``/etc/passwd``; while it names a live process, each of them
fails at once with "cannot lock /etc/passwd; try again later". That is how a system user's
change meets a server whose user database another program holds (``vipw``, a package
install adding its user): :func:`user_database_locked` makes it so, for the contract's
"unreachable" test of ``apache-systemuser``.

The tests of this plugin run in parallel (pytest-xdist) and make users of their own; a test
holding the user database would make theirs fail. So every test that makes users holds
:data:`TESTS_LOCK` shared for its whole length (:func:`tests_share_users`, taken by the
``web_server`` fixtures), and :func:`user_database_locked` takes it exclusively: it waits
for the other workers' current tests to end, and theirs wait for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PASSWD_LOCK", "TESTS_LOCK", "tests_share_users", "user_database_locked"]

#: shadow's lock of ``/etc/passwd``.
PASSWD_LOCK = Path("/etc/passwd.lock")
#: The lock the tests that make users share (see the module's docs).
TESTS_LOCK = Path(tempfile.gettempdir()) / "orchestra-apache-fpm-users.lock"

#: This process's open description of :data:`TESTS_LOCK` while a test holds it, and how
#: many hold it (fixtures nest: a factory's server in a test that has the shared one).
_held: list[int] = []


@contextlib.contextmanager
def tests_share_users() -> Iterator[None]:
    """:data:`TESTS_LOCK` held shared while the context lasts."""
    if _held:
        _held.append(_held[0])
        try:
            yield
        finally:
            _held.pop()
        return
    fd = os.open(TESTS_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        _held.append(fd)
        try:
            yield
        finally:
            _held.pop()
    finally:
        os.close(fd)


@contextlib.contextmanager
def user_database_locked(timeout: float = 30.0) -> Iterator[None]:
    """``/etc/passwd.lock`` naming this (live) process while the context lasts: every
    ``useradd``, ``usermod`` and ``userdel`` on the machine fails. Waits (at most ``timeout``
    seconds) for the other tests making users to finish, and for a lock another program
    holds to be let go."""
    fd = _held[0] if _held else os.open(TESTS_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        # A conversion lets go of this process's shared lock before it waits: two tests
        # asking at once do not wait for each other.
        fcntl.flock(fd, fcntl.LOCK_EX)
        deadline = time.monotonic() + timeout
        while True:
            try:
                lock = os.open(PASSWD_LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{PASSWD_LOCK} stayed held for {timeout:g} s") from None
                time.sleep(0.05)
        try:
            # No newline: shadow reads the whole file as the pid.
            os.write(lock, str(os.getpid()).encode())
        finally:
            os.close(lock)
        try:
            yield
        finally:
            PASSWD_LOCK.unlink(missing_ok=True)
    finally:
        if _held:
            fcntl.flock(fd, fcntl.LOCK_SH)
        else:
            os.close(fd)

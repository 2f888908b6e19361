"""Where a test session keeps its temp dirs when it runs daemons as other users.

The drivers' fixtures run daemons as their own users (Mailman as ``list``, Postfix as
``postfix``, PHP as a CGI user) in folders under the session's temp dir, which
:func:`~orchestra_core.testing.daemon.traversable` opens for them (``o+x``) up to the root.
pytest's default root, ``/tmp/pytest-of-USER``, is taken back to mode 0700 by every pytest
session that starts after: a test that runs pytest in a subprocess (a generated driver's
tests) or a second session at the same time cut every running daemon off its folders (a CI
run's Mailman answered "unable to open database file" from then on).

:func:`private_basetemp` gives a session a folder of its own under a root no pytest session
touches (``TMPDIR/otest-UID``, mode 0711, ours and not a link), named after the session's
process (``s1234``: paths stay short, since a unix socket's path has at most 107 bytes and
Dovecot's are four folders down), and removes the folders of sessions that ended beyond the
newest :data:`KEEP`. The ``orchestra`` pytest plugin uses it for a session run as root (the only
one that starts daemons as other users) when no ``--basetemp`` was given.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["KEEP", "private_basetemp"]

#: Folders of ended sessions kept for their logs (pytest keeps 3 too).
KEEP = 3


def private_basetemp(root: Path | None = None) -> Path:
    """A new session folder's path (not made: pytest makes it) under ``root`` (by default
    ``TMPDIR/otest-UID``), after the folders of ended sessions beyond the
    newest :data:`KEEP` are removed.

    Raises OSError when the root is a symlink or not ours (someone else made it)."""
    uid = os.geteuid()
    root = root or Path(tempfile.gettempdir()) / f"otest-{uid}"
    root.mkdir(mode=0o711, exist_ok=True)
    info = root.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{root} is not a folder: remove it and run again")
    if info.st_uid != uid:
        raise OSError(f"{root} belongs to uid {info.st_uid}, not to this user: remove it")
    if stat.S_IMODE(info.st_mode) != 0o711:
        root.chmod(0o711)
    _prune(root)
    return root / f"s{os.getpid()}"


def _prune(root: Path) -> None:
    """Remove the folders of ended sessions (their process gone) beyond the newest KEEP."""
    ended = []
    for entry in root.iterdir():
        pid = entry.name[1:]
        if not entry.name.startswith("s") or not pid.isdigit() or _alive(int(pid)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            ended.append((entry.stat().st_mtime, entry))
    ended.sort(reverse=True)
    for _, entry in ended[KEEP:]:
        shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

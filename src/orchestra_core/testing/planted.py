"""Symlinks planted where a backend writes, as a customer (or an intruder) would plant them:
the contract's probe that no batch writes through one (see ``__o_safe`` in
:mod:`orchestra_core.execution.script`).

:func:`plant` takes the folders a plan's steps write into (their files' folders, the folders
they ensure, the owed-reload markers' folder) and, in each, replaces every file by a symlink to
a decoy copy outside, and plants a symlink to a decoy at every name a step or a core
convention is about to create there (the step's own target, ``NAME.orchestra-previous``,
``.NAME.orchestra-restore``, the reload marker). When the tests run as root, the links belong
to ``nobody``, so that on a server without a sandbox root they are the kind the batch must not
follow. :meth:`Decoys.changed` then says which decoy a batch wrote to, or what it added beside
them.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path

import attrs

from orchestra_core.backends.steps import DeleteFile, EnsureDirectory, Reload, WriteFile
from orchestra_core.planning.plan import Plan

__all__ = ["Decoys", "plant", "written_folders"]

#: The user planted links belong to when the tests run as root (Debian's ``nobody``).
NOBODY = 65534
#: Names beside a file that backends and the core make while replacing it.
COMPANIONS = ("{name}.orchestra-previous", ".{name}.orchestra-restore")


def written_folders(plan: Plan, *, markers: bool = False) -> tuple[set[str], set[str]]:
    """The folders ``plan``'s file steps write into and the paths they create or replace
    there; with ``markers``, the owed-reload markers' folders and markers instead (planted
    apart: a refused marker ends the batch before the later steps could show theirs)."""
    folders: set[str] = set()
    targets: set[str] = set()
    for op in plan.operations():
        for step in op.steps:
            if markers:
                if isinstance(step, Reload) and step.marker is not None:
                    folders.add(posixpath.dirname(step.marker))
                    targets.add(step.marker)
            elif isinstance(step, WriteFile | DeleteFile):
                folders.add(posixpath.dirname(step.path))
                targets.add(step.path)
            elif isinstance(step, EnsureDirectory):
                folders.add(step.path)
    return folders, targets


@attrs.define
class Decoys:
    """The decoy files the planted links point to, and what each held."""

    folder: Path
    held: dict[Path, tuple[str, int]] = attrs.field(factory=dict)
    links: list[Path] = attrs.field(factory=list)

    def add(self, content: bytes, mode: int) -> Path:
        path = self.folder / f"decoy-{len(self.held):04d}"
        path.write_bytes(content)
        path.chmod(mode)
        self.held[path] = (hashlib.sha256(content).hexdigest(), mode)
        return path

    def changed(self) -> list[str]:
        """Each decoy written to (its content or mode), and each file added beside them."""
        out = []
        for path, (digest, mode) in self.held.items():
            now = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "gone"
            if now != digest or stat.S_IMODE(path.stat().st_mode) != mode:
                out.append(f"{path.name} (behind a planted link) was written to")
        extra = sorted(p.name for p in self.folder.iterdir() if p not in self.held)
        out += [f"{name} was made in the decoys' folder, through a planted link" for name in extra]
        return out


def _is_companion(name: str) -> bool:
    """A name made beside another (a copy, a spare): its own companions are not planted."""
    return name.endswith(".orchestra-previous") or (
        name.startswith(".") and name.endswith(".orchestra-restore")
    )


def _link(link: Path, target: Path, decoys: Decoys) -> None:
    link.symlink_to(target)
    if os.geteuid() == 0:
        os.lchown(link, NOBODY, NOBODY)
    decoys.links.append(link)


def plant(folders: Iterable[str], targets: Iterable[str], decoys_dir: Path) -> Decoys:
    """Plant the links in every existing folder of ``folders`` (see the module's text)."""
    decoys_dir.mkdir(parents=True)
    decoys = Decoys(folder=decoys_dir)
    wanted = set(targets)
    for folder in sorted(Path(f) for f in folders):
        if not folder.is_dir() or folder.is_symlink():
            continue
        names = set()
        for entry in sorted(folder.iterdir()):
            if entry.is_file() and not entry.is_symlink():
                if not _is_companion(entry.name):
                    names.add(entry.name)
                decoy = decoys.add(entry.read_bytes(), stat.S_IMODE(entry.stat().st_mode))
                entry.unlink()
                _link(entry, decoy, decoys)
        names |= {posixpath.basename(t) for t in wanted if Path(posixpath.dirname(t)) == folder}
        for name in sorted(names):
            for companion in (f.format(name=name) for f in COMPANIONS):
                spot = folder / companion
                if not spot.exists() and not spot.is_symlink():
                    _link(spot, decoys.add(b"planted\n", 0o644), decoys)
            spot = folder / name
            if not spot.exists() and not spot.is_symlink():
                _link(spot, decoys.add(b"planted\n", 0o644), decoys)
    return decoys

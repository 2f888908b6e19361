"""Golden renders: a backend's rendered files kept in the repository, compared on every run.

A template change then shows up in review as a change to plain files. :func:`rendered_files`
turns a plan into ``{name: text}``: every written file under its server path, and every
command's script (and its ``unless``) under ``commands/``. :class:`Golden` compares such a
mapping with a folder of files, or rewrites the folder when asked to (``pytest
--update-golden``); the ``golden`` fixture of the orchestra pytest plugin gives one per test
module.
"""

from __future__ import annotations

import difflib
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from orchestra_core.backends.steps import Command, Reload, WriteFile
from orchestra_core.model.secret import REDACTED
from orchestra_core.planning.plan import Plan

__all__ = ["Golden", "GoldenMismatch", "rendered_files"]


class GoldenMismatch(AssertionError):
    """Rendered files differ from the golden ones; the message is a unified diff per file."""


def rendered_files(plan: Plan, *, reloads: bool = False) -> dict[str, str]:
    """What ``plan`` would write and run, as ``{relative name: text}``.

    A :class:`~orchestra_core.backends.steps.WriteFile` is named by its path (without the
    leading ``/``, under ``SERVER/`` when the plan has several servers); a
    :class:`~orchestra_core.backends.steps.Command` by ``commands/[SERVER/]NN-DESCRIPTION.sh``
    (its script, then its ``unless`` after a ``# unless:`` line). Sensitive content is
    redacted. Reloads are left out unless ``reloads``.
    """
    files: dict[str, str] = {}
    servers = [sp for sp in plan.servers if sp.operations]
    many = len({sp.server.name for sp in servers}) > 1
    for sp in servers:
        prefix = f"{sp.server.name}/" if many else ""
        number = 0
        for step in sp.steps:
            if isinstance(step, WriteFile):
                files[prefix + step.path.lstrip("/")] = (
                    REDACTED + "\n" if step.sensitive else step.content
                )
            elif isinstance(step, Command) or (reloads and isinstance(step, Reload)):
                number += 1
                slug = re.sub(r"[^A-Za-z0-9]+", "-", step.description).strip("-")[:60]
                text = step.script if step.script.endswith("\n") else step.script + "\n"
                if isinstance(step, Command) and step.unless:
                    text += "# unless:\n" + step.unless
                    text += "" if step.unless.endswith("\n") else "\n"
                files[f"{prefix}commands/{number:02d}-{slug}.sh"] = text
    return files


class Golden:
    """A folder of golden files per snapshot name, under ``directory``.

    :meth:`check` compares; with ``update`` it writes the files instead (and removes the ones
    no longer rendered), so that ``pytest --update-golden`` followed by ``git diff`` shows what
    a change did to the output.
    """

    def __init__(self, directory: Path, *, update: bool = False) -> None:
        self.directory = Path(directory)
        self.update = update

    def path(self, name: str) -> Path:
        """The folder of snapshot ``name``."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ValueError(f"golden snapshot names are simple file names, not {name!r}")
        return self.directory / name

    def check(self, name: str, files: Mapping[str, str]) -> None:
        """Compare ``files`` with snapshot ``name``; :class:`GoldenMismatch` when they differ.

        Every file is compared exactly (a missing final newline counts). With ``update``, the
        snapshot is rewritten to match and nothing is raised.
        """
        folder = self.path(name)
        for relative in files:
            if relative.startswith("/") or ".." in Path(relative).parts:
                raise ValueError(f"golden file names are relative, not {relative!r}")
        if self.update:
            self._write(folder, files)
            return
        if not folder.is_dir():
            raise GoldenMismatch(
                f"no golden files for {name!r} in {folder}: run pytest --update-golden, "
                "then review and commit them"
            )
        stored = {
            str(path.relative_to(folder)): path.read_bytes().decode("utf-8")
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        problems: list[str] = []
        for relative in sorted(set(stored) | set(files)):
            if relative not in files:
                problems.append(f"{relative}: golden file no longer rendered")
            elif relative not in stored:
                problems.append(f"{relative}: rendered but has no golden file")
            elif stored[relative] != files[relative]:
                diff = difflib.unified_diff(
                    stored[relative].splitlines(keepends=True),
                    files[relative].splitlines(keepends=True),
                    fromfile=f"golden/{relative}",
                    tofile=f"rendered/{relative}",
                )
                problems.append("".join(diff).rstrip("\n") or f"{relative}: line endings differ")
        if problems:
            raise GoldenMismatch(
                f"rendered files differ from the golden ones in {folder} "
                "(pytest --update-golden rewrites them):\n" + "\n".join(problems)
            )

    def _write(self, folder: Path, files: Mapping[str, str]) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        for relative, text in files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))  # exact: no newline translation

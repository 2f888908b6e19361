"""The plan: per server, ordered operations made of steps. Pure data; nothing has run.

An operation of a backend that probes holds a :class:`~orchestra_core.backends.steps.
Reconcile` where its decided steps will be: the plan shows its probe and says the steps are
decided from what the server has; in ``--json`` it is a step of kind ``reconcile`` with its
``probe`` script and ``"steps": null``.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from orchestra_core.backends.steps import (
    AssembleFile,
    Command,
    DeleteFile,
    EnsureDirectory,
    Inspect,
    Reconcile,
    Reload,
    Step,
    WriteFile,
)
from orchestra_core.errors import shown
from orchestra_core.model.secret import REDACTED
from orchestra_core.model.servers import Server
from orchestra_core.model.state import Placement

__all__ = ["Baseline", "Plan", "PlannedOperation", "ServerPlan", "Summary", "step_to_dict"]

#: What a plan's files are shown against, by (server, path): the content last applied there
#: (or read from the server with ``plan --refresh``); None or a missing entry: nothing.
Baseline = Mapping[tuple[str, str], str | None]

#: How a planned operation changes its placement: a new one, a changed one (its fingerprint
#: moved), one saved again unchanged (``--all``, an explicit save), one deleted.
CHANGES = ("add", "change", "resync", "delete")


@attrs.frozen(kw_only=True)
class PlannedOperation:
    """One backend's work for one action on one server.

    ``action`` is ``save``, ``delete``, ``set_password`` or ``reload`` (the coalesced reload
    of a daemon, whose ``object_keys`` are the objects that asked for it). ``placement`` is,
    for a save, what the store records once it succeeded, and for a delete, the applied
    placement it removes; ``change`` says which of :data:`CHANGES` it is. ``batch_timeout`` is
    how long its route's ``settings.timeouts.batch`` lets its server's batch take (None: the
    route says nothing, and the server's timeouts decide).
    """

    id: str
    server: str
    backend: str
    action: str
    object_keys: tuple[str, ...]
    steps: tuple[Step, ...]
    placement: Placement | None = attrs.field(default=None, repr=False)
    change: str = ""
    batch_timeout: float | None = None


@attrs.frozen(kw_only=True)
class ServerPlan:
    """What one server must do in one wave, in order, sent as one batch.

    Waves run one after the other, the servers of a wave in parallel. Most plans have one wave;
    a later one exists when an operation must follow one on another server (a DNS slave's zone
    after its master's).
    """

    server: Server
    operations: tuple[PlannedOperation, ...]
    wave: int = 0

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step of every operation, in execution order."""
        return tuple(step for op in self.operations for step in op.steps)


@attrs.frozen(kw_only=True)
class Summary:
    """What a plan does to objects: new ones (placed for the first time), changed ones (a
    placement added, changed or deleted), removed ones (no placement left), how many of the
    compared objects stay as they are, and how many no route sends anywhere (``unrouted``:
    neither applied nor unchanged)."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    unrouted: int = 0

    def __str__(self) -> str:
        text = (
            f"{len(self.new)} new, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged"
        )
        return f"{text}, {self.unrouted} unrouted" if self.unrouted else text

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "new": list(self.new),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unchanged": self.unchanged,
            "unrouted": self.unrouted,
        }


@attrs.frozen(kw_only=True)
class Plan:
    """What would run, per server. Printable as a diff or JSON; executed by the executor.

    ``unrouted`` lists the keys of objects that no route sends anywhere: nothing of them is
    recorded as applied. ``recorded`` and ``forgotten`` are placements whose operations
    render no step (a subdomain lives in its zone's file): the store records or forgets them
    with the apply. ``basis`` is a digest of the applied placements the plan was compared
    with, on its servers: an apply that finds another one there, once it holds their locks,
    refuses the plan as out of date. ``summary`` tells what happens to objects.
    """

    servers: tuple[ServerPlan, ...] = ()
    unrouted: tuple[str, ...] = ()
    recorded: tuple[Placement, ...] = attrs.field(default=(), repr=False)
    forgotten: tuple[Placement, ...] = attrs.field(default=(), repr=False)
    basis: str | None = None
    summary: Summary | None = None

    @property
    def is_empty(self) -> bool:
        """True when no server has anything to do."""
        return not any(sp.operations for sp in self.servers)

    @property
    def has_state_changes(self) -> bool:
        """True when applying it changes the store even though no server has work."""
        return bool(self.recorded or self.forgotten)

    def operations(self) -> Iterator[PlannedOperation]:
        """Every planned operation, server by server."""
        for server_plan in self.servers:
            yield from server_plan.operations

    def per_server(self) -> dict[str, dict[str, int]]:
        """By server, how many objects it adds, changes, saves again and deletes."""
        counted: dict[str, dict[str, set[str]]] = {}
        items = [(op.server, op.change, op.object_keys[0]) for op in self.operations() if op.change]
        items += [(p.server, "add", p.object_key) for p in self.recorded]
        items += [(p.server, "delete", p.object_key) for p in self.forgotten]
        for server, change, key in items:
            counted.setdefault(server, {c: set() for c in CHANGES})[change].add(key)
        return {server: {c: len(keys) for c, keys in by.items()} for server, by in counted.items()}

    def deleted_objects(self) -> set[str]:
        """The objects the plan deletes somewhere (a placement gone, moved or removed)."""
        keys = {op.object_keys[0] for op in self.operations() if op.change == "delete"}
        return keys | {p.object_key for p in self.forgotten}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``; sensitive step content is redacted."""
        return {
            "servers": [
                {
                    "server": attrs.asdict(sp.server),
                    "wave": sp.wave,
                    "operations": [
                        {
                            "id": op.id,
                            "backend": op.backend,
                            "action": op.action,
                            "object_keys": list(op.object_keys),
                            "change": op.change or None,
                            "batch_timeout": op.batch_timeout,
                            "steps": [step_to_dict(step) for step in op.steps],
                        }
                        for op in sp.operations
                    ],
                }
                for sp in self.servers
            ],
            "unrouted": list(self.unrouted),
            "per_server": self.per_server(),
        }

    def render_text(self, baseline: Baseline | None = None) -> str:
        """A readable diff: per server and operation, each step; a written file as a unified
        diff against ``baseline`` (what was last applied there), or whole when it has none."""
        lines: list[str] = []
        for sp in self.servers:
            if not sp.operations:
                continue
            where = f" (root {sp.server.root})" if sp.server.root else ""
            wave = f", wave {sp.wave + 1}" if sp.wave else ""
            server = f"{shown(sp.server.name)} via {shown(sp.server.transport)}"
            lines.append(f"server {server}{where}{wave}")
            for op in sp.operations:
                keys = ", ".join(shown(key) for key in op.object_keys)
                change = f" ({op.change})" if op.change and op.change != op.action else ""
                lines.append(f"  {op.action} {keys} [{shown(op.backend)}]{change}")
                for step in op.steps:
                    previous = None
                    if baseline is not None and isinstance(step, WriteFile):
                        previous = baseline.get((sp.server.name, step.path))
                    lines.extend("    " + line for line in describe_step(step, previous))
        if self.unrouted:
            lines.append("not routed to any server: " + ", ".join(map(shown, self.unrouted)))
        if not lines:
            lines.append("nothing to do")
        return "\n".join(lines) + "\n"


def step_to_dict(step: Step) -> dict[str, Any]:
    """Plain data for one step, with secrets redacted; a mode as octal text (``"0644"``), as
    operators write it."""
    data = attrs.asdict(step, filter=lambda field, _: field.name != "decide")
    data["kind"] = step.kind
    if isinstance(step, Reconcile):
        # Its steps are not known yet: the apply decides them from the probe's output.
        data["steps"] = None
    if isinstance(step, WriteFile | DeleteFile) and step.fragment_of is not None:
        # The assembly is a step of its own in the plan: a fragment names its file only.
        data["fragment_of"] = step.fragment_of.path
    if isinstance(step, AssembleFile):
        data["header"] = step.header
    if isinstance(data.get("mode"), int):
        data["mode"] = format(data["mode"], "04o")
    if step.sensitive:
        for field in ("content", "stdin"):
            if data.get(field) is not None:
                data[field] = REDACTED
    return data


def describe_step(step: Step, previous: str | None = None) -> list[str]:
    """Human lines for one step; a written file shows as a unified diff against
    ``previous`` (its content as last applied), or whole as added lines without one."""
    if isinstance(step, WriteFile):
        head = [f"write {step.path} (mode {step.mode:04o}) - {step.description}"]
        if step.sensitive:
            return [*head, f"  {REDACTED} (sensitive content)"]
        if previous is not None and previous == step.content:
            body = ["  (content unchanged)"]
        else:
            before = [] if previous is None else previous.splitlines()
            source = "/dev/null" if previous is None else f"{step.path} (last applied)"
            diff = difflib.unified_diff(
                before, step.content.splitlines(), fromfile=source, tofile=step.path, lineterm=""
            )
            body = ["  " + line for line in diff]
        if step.validate:
            body.append("  validated by: " + _argv_text(step.validate))
        if step.fragment_of is not None:
            body.append(f"  fragment of: {step.fragment_of.path}")
        return head + body
    if isinstance(step, DeleteFile):
        part = f" (fragment of {step.fragment_of.path})" if step.fragment_of else ""
        return [f"delete {step.path}{part} - {step.description}"]
    if isinstance(step, AssembleFile):
        out = [
            f"assemble {step.path} (mode {step.mode:04o}) from {step.fragments}/*{step.suffix}"
            f", swapped in when that changes it - {step.description}"
        ]
        if step.validate:
            out.append("  validated by: " + _argv_text(step.validate))
        out += ["  then: " + _argv_text(d.argv) for d in step.derived]
        return out
    if isinstance(step, EnsureDirectory):
        return [f"mkdir {step.path} (mode {step.mode:04o}) - {step.description}"]
    if isinstance(step, Reload):
        return [f"reload {step.daemon} if a step changed it:", *_script_lines(step.script)]
    if isinstance(step, Inspect):
        return [f"check - {step.description}"]
    if isinstance(step, Reconcile):
        return [
            f"probe - {step.description}",
            *_script_lines(step.probe),
            "  then: the steps reconcile decides from what the probe reads (none when the "
            "server already matches)",
        ]
    if isinstance(step, Command):
        out = [f"run - {step.description}", *_script_lines(step.script)]
        if step.unless:
            out += ["  unless:", *("  " + line for line in _script_lines(step.unless))]
        if step.stdin is not None:
            out.append("  stdin: " + (REDACTED if step.sensitive else repr(step.stdin)))
        return out
    return [f"{step.kind} - {step.description}"]


def _script_lines(script: str) -> list[str]:
    """A shell snippet, one ``$``-prefixed line each, comments left out."""
    lines = [line for line in script.strip().splitlines() if not line.lstrip().startswith("#")]
    return ["  $ " + line for line in lines]


def _argv_text(argv: tuple[str, ...]) -> str:
    """An argv as a shell line; an inline script argument is summarised, not spread over lines."""
    shown = [f"<{len(a.splitlines())}-line script>" if "\n" in a else a for a in argv]
    return " ".join(
        a if a.startswith("<") and a.endswith(" script>") else shlex.quote(a) for a in shown
    )

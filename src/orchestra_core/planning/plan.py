"""The plan: per server, ordered operations made of steps. Pure data; nothing has run."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterator
from typing import Any

import attrs

from orchestra_core.model.secret import REDACTED
from orchestra_core.model.servers import Server
from orchestra_core.planning.steps import (
    Command,
    DeleteFile,
    EnsureDirectory,
    Reload,
    Step,
    WriteFile,
)

__all__ = ["Plan", "PlannedOperation", "ServerPlan", "step_to_dict"]


@attrs.frozen(kw_only=True)
class PlannedOperation:
    """One backend's work for one action on one server.

    ``action`` is ``save``, ``delete``, ``set_password`` or ``reload`` (the coalesced reload
    of a daemon, whose ``object_keys`` are the objects that asked for it).
    """

    id: str
    server: str
    backend: str
    action: str
    object_keys: tuple[str, ...]
    steps: tuple[Step, ...]


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
class Plan:
    """What would run, per server. Printable as a diff or JSON; executed by the executor.

    ``unrouted`` lists the keys of objects that no route sends anywhere (a warning, not an
    error: an object may legitimately live only in the embedding application).
    """

    servers: tuple[ServerPlan, ...] = ()
    unrouted: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when no server has anything to do."""
        return not any(sp.operations for sp in self.servers)

    def operations(self) -> Iterator[PlannedOperation]:
        """Every planned operation, server by server."""
        for server_plan in self.servers:
            yield from server_plan.operations

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
                            "steps": [step_to_dict(step) for step in op.steps],
                        }
                        for op in sp.operations
                    ],
                }
                for sp in self.servers
            ],
            "unrouted": list(self.unrouted),
        }

    def render_text(self) -> str:
        """A readable diff: per server and operation, each step with full file content."""
        lines: list[str] = []
        for sp in self.servers:
            if not sp.operations:
                continue
            where = f" (root {sp.server.root})" if sp.server.root else ""
            wave = f", wave {sp.wave + 1}" if sp.wave else ""
            lines.append(f"server {sp.server.name} via {sp.server.transport}{where}{wave}")
            for op in sp.operations:
                keys = ", ".join(op.object_keys)
                lines.append(f"  {op.action} {keys} [{op.backend}]")
                for step in op.steps:
                    lines.extend("    " + line for line in describe_step(step))
        if self.unrouted:
            lines.append("not routed to any server: " + ", ".join(self.unrouted))
        if not lines:
            lines.append("nothing to do")
        return "\n".join(lines) + "\n"


def step_to_dict(step: Step) -> dict[str, Any]:
    """Plain data for one step, with secrets redacted."""
    data = attrs.asdict(step)
    data["kind"] = step.kind
    if step.sensitive:
        for field in ("content", "stdin"):
            if data.get(field) is not None:
                data[field] = REDACTED
    return data


def describe_step(step: Step) -> list[str]:
    """Human lines for one step; a written file shows its whole content as added lines."""
    if isinstance(step, WriteFile):
        head = [f"write {step.path} (mode {step.mode:04o}) - {step.description}"]
        if step.sensitive:
            return [*head, f"  {REDACTED} (sensitive content)"]
        diff = difflib.unified_diff(
            [], step.content.splitlines(), fromfile="/dev/null", tofile=step.path, lineterm=""
        )
        body = ["  " + line for line in diff]
        if step.validate:
            body.append("  validated by: " + _argv_text(step.validate))
        return head + body
    if isinstance(step, DeleteFile):
        return [f"delete {step.path} - {step.description}"]
    if isinstance(step, EnsureDirectory):
        return [f"mkdir {step.path} (mode {step.mode:04o}) - {step.description}"]
    if isinstance(step, Reload):
        return [f"reload {step.daemon} if a step changed it:", *_script_lines(step.script)]
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

"""Read-only batches: one round trip per server whose steps each report, whatever the others do.

What monitors, ``orchestra check`` and ``plan --refresh`` send: :class:`Command` steps that
change nothing, run *guarded* (a failing step does not stop the batch; its exit status travels
at the end of its output), one batch per server, servers in parallel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import attrs

from orchestra_core.backends.steps import Command, Step
from orchestra_core.errors import OrchestraError
from orchestra_core.execution.script import compile_batch
from orchestra_core.execution.transport import Transport
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import PlannedOperation, ServerPlan
from orchestra_core.rendering.shell import quote

__all__ = ["ReadResult", "guard", "run_read_only", "unguard"]

#: The line a guarded step ends its output with: its script's exit status.
_STATUS = "@@ORCHESTRA-MONITOR-STATUS"
_STATUS_LINE = re.compile(rf"(?:^|\n){re.escape(_STATUS)} (\d+)\n?$")


def guard(step: Step) -> Command:
    """``step`` (a :class:`Command`) run so that its failure does not stop the batch: its
    output ends with a status line that :func:`unguard` reads back."""
    if not isinstance(step, Command) or step.unless is not None or step.stdin is not None:
        raise OrchestraError(
            f"read-only step {step.description!r}: a read-only batch takes Command steps "
            "without unless or stdin"
        )
    script = f'( eval {quote(step.script)} ); printf "\\n{_STATUS} %d\\n" "$?"\n'
    return attrs.evolve(step, script=script)


def unguard(stdout: str) -> tuple[int | None, str]:
    """The exit status and the output of a guarded step (None: the status line is missing)."""
    found = _STATUS_LINE.search(stdout)
    if found is None:
        return None, stdout
    return int(found[1]), stdout[: found.start()]


@attrs.frozen(kw_only=True)
class ReadResult:
    """What one read-only step gave: its output, or ``problem`` (why there is none)."""

    output: str = ""
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the step ran and exited 0."""
        return self.problem is None


def run_read_only(
    work: Sequence[tuple[Server, Sequence[Step]]],
    transports: Callable[[str], Transport],
    *,
    label: str,
    max_parallel: int = 8,
    batch_timeout: float | None = 600,
) -> list[list[ReadResult]]:
    """Run each server's steps in one batch, servers in parallel; per server (in order), one
    :class:`ReadResult` per step. ``label`` names the batch's operations (``check``)."""

    def one(server: Server, steps: Sequence[Step]) -> list[ReadResult]:
        plan = ServerPlan(
            server=server,
            operations=(
                PlannedOperation(
                    id=f"{server.name}:{label}",
                    server=server.name,
                    backend=label,
                    action=label,
                    object_keys=(),
                    steps=tuple(guard(step) for step in steps),
                ),
            ),
        )
        try:
            batch = compile_batch(plan)
            result = transports(server.transport).run(server, batch, timeout=batch_timeout)
        except (OrchestraError, OSError, KeyError) as exc:
            return [ReadResult(problem=str(exc)) for _ in steps]
        reported = {raw.index: raw for raw in result.steps}
        out: list[ReadResult] = []
        for index in range(len(steps)):
            raw = reported.get(index)
            if raw is None:
                why = result.error or ("timed out" if result.timed_out else "did not run")
                out.append(ReadResult(problem=why))
                continue
            status, output = unguard(raw.stdout)
            if raw.status == "timeout":
                out.append(ReadResult(output=output, problem="timed out"))
            elif status is None or status != 0 or raw.status == "failed":
                words = (raw.stderr or output).strip()[-2000:]
                code = status if status is not None else raw.exit_code
                out.append(
                    ReadResult(
                        output=output,
                        problem=f"exit status {code}" + (f": {words}" if words else ""),
                    )
                )
            else:
                out.append(ReadResult(output=output))
        return out

    if not work:
        return []
    workers = min(max_parallel, len(work))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=label) as pool:
        futures = [pool.submit(one, server, steps) for server, steps in work]
        return [future.result() for future in futures]

"""Running monitors: every server measured in one round trip, the output parsed into samples.

For each monitor, the objects of its service type are sent where its routes say: the routes of
the backend it follows (the database size is measured where the database lives, with that
backend's settings), or routes that name the monitor itself. Each server gets one batch with
every monitor's read-only steps; a monitor whose step fails costs only its own samples (its
steps run guarded, so the batch goes on), and is reported with the server and its output.
Samples' idempotency keys get the server's name in front (``web1/KEY``): a counter of the same
object on two servers (a website behind a load balancer) adds up instead of replacing itself.
A gauge is meant to be measured on one server per object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import attrs

from orchestra_core.backends.base import Backend
from orchestra_core.backends.settings import build_settings
from orchestra_core.errors import OrchestraError
from orchestra_core.execution.results import utcnow
from orchestra_core.execution.script import compile_batch
from orchestra_core.execution.transport import Transport
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.planning.plan import PlannedOperation, ServerPlan
from orchestra_core.planning.routing import Router
from orchestra_core.planning.steps import Command, Step
from orchestra_core.rendering.shell import quote
from orchestra_core.resources.definitions import Monitor, Sample
from orchestra_core.storage.usage import IngestReport

__all__ = ["MeasureResult", "Measurer", "MonitorFailure", "MonitorRun"]

#: The line a guarded monitor step ends its output with: its script's exit status.
_STATUS = "@@ORCHESTRA-MONITOR-STATUS"
_STATUS_LINE = re.compile(rf"(?:^|\n){re.escape(_STATUS)} (\d+)\n?$")


@attrs.frozen(kw_only=True)
class MonitorRun:
    """One monitor's work on one server: its objects, its settings there and its steps."""

    monitor: Monitor
    server: Server
    objects: tuple[Service, ...]
    settings: Any
    steps: tuple[Step, ...]


@attrs.frozen(kw_only=True)
class MonitorFailure:
    """A monitor that gave no samples on a server, and why (its output, or the transport's)."""

    monitor: str
    server: str
    message: str

    def __str__(self) -> str:
        return f"monitor {self.monitor} on server {self.server}: {self.message}"


@attrs.frozen(kw_only=True)
class MeasureResult:
    """The samples of one measuring run, and the monitors that failed."""

    samples: tuple[Sample, ...] = ()
    failures: tuple[MonitorFailure, ...] = ()
    measured_at: datetime
    #: What the store did with the samples, once they are kept.
    ingested: IngestReport | None = None

    @property
    def ok(self) -> bool:
        """True when no monitor failed."""
        return not self.failures


def guard(step: Step) -> Command:
    """``step`` (a :class:`Command`) run so that its failure does not stop the batch: its
    output ends with a status line that :func:`unguard` reads back."""
    if not isinstance(step, Command) or step.unless is not None or step.stdin is not None:
        raise OrchestraError(
            f"monitor step {step.description!r}: a monitor renders read-only Command steps "
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


class Measurer:
    """Plans and runs monitors on the servers their routes name.

    ``monitors`` and ``backends`` are the installed ones by name; ``transports`` gives a
    server's transport by its name.
    """

    def __init__(
        self,
        monitors: Mapping[str, type[Monitor]],
        backends: Mapping[str, type[Backend[Any]]],
        servers: Sequence[Server],
        router: Router,
        transports: Callable[[str], Transport],
        *,
        max_parallel: int = 8,
        batch_timeout: float | None = 600,
    ) -> None:
        self.monitors = dict(monitors)
        self.backends = dict(backends)
        self.servers = tuple(servers)
        self.router = router
        self.transports = transports
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout

    def plan(self, index: ServiceIndex, names: Iterable[str] | None = None) -> list[MonitorRun]:
        """The monitors' work, per monitor and server (and settings), in a stable order.

        Every object of a monitor's service type in ``index`` is measured, suspended or not:
        a suspended customer's data still takes disk.
        """
        chosen = sorted(self.monitors) if names is None else list(names)
        unknown = [name for name in chosen if name not in self.monitors]
        if unknown:
            raise OrchestraError(
                f"unknown monitors {unknown} (installed: {', '.join(sorted(self.monitors))})"
            )
        runs: list[MonitorRun] = []
        for name in chosen:
            monitor = self.monitors[name]()
            groups: dict[tuple[str, str], tuple[Server, Any, list[Service]]] = {}
            for obj in index.of_type(monitor.service_type):
                for server, settings in self._targets(monitor, obj, index):
                    group = groups.setdefault((server.name, repr(settings)), (server, settings, []))
                    group[2].append(obj)
            for server, settings, objects in groups.values():
                steps = tuple(monitor.render(objects, server, settings))
                if steps:
                    runs.append(
                        MonitorRun(
                            monitor=monitor,
                            server=server,
                            objects=tuple(objects),
                            settings=settings,
                            steps=steps,
                        )
                    )
        return runs

    def _targets(
        self, monitor: Monitor, obj: Service, index: ServiceIndex
    ) -> list[tuple[Server, Any]]:
        """Where ``obj`` is measured, with the settings there: the monitor's own routes and
        settings, or else those of the backend it follows."""
        name, kind, settings_class = monitor.name, "monitor", monitor.settings_class
        targets = self.router.targets(name, obj, index)
        if not targets and monitor.backend is not None and monitor.backend in self.backends:
            name, kind = monitor.backend, "backend"
            settings_class = self.backends[name].settings_class
            targets = self.router.targets(name, obj, index)
        return [
            (
                server,
                build_settings(
                    settings_class,
                    server.settings.get(name, {}),
                    route.settings,
                    where=f"{kind} {name} on server {server.name} (route {route.label})",
                ),
            )
            for server, route in targets
        ]

    def run(self, runs: Sequence[MonitorRun], *, at: datetime | None = None) -> MeasureResult:
        """Run ``runs``: one batch per server, servers in parallel; parse every output."""
        measured_at = at or utcnow()
        by_server: dict[str, list[MonitorRun]] = {}
        for run in runs:
            by_server.setdefault(run.server.name, []).append(run)
        samples: list[Sample] = []
        failures: list[MonitorFailure] = []
        if by_server:
            workers = min(self.max_parallel, len(by_server))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="monitor") as pool:
                futures = [
                    pool.submit(self._run_server, group, measured_at)
                    for group in by_server.values()
                ]
                for future in futures:
                    got, failed = future.result()
                    samples += got
                    failures += failed
        return MeasureResult(
            samples=tuple(samples), failures=tuple(failures), measured_at=measured_at
        )

    def _run_server(
        self, runs: list[MonitorRun], measured_at: datetime
    ) -> tuple[list[Sample], list[MonitorFailure]]:
        server = runs[0].server
        operations = tuple(
            PlannedOperation(
                id=f"{server.name}:{run.monitor.name}:measure:{i}",
                server=server.name,
                backend=run.monitor.name,
                action="measure",
                object_keys=tuple(obj.key for obj in run.objects),
                steps=tuple(guard(step) for step in run.steps),
            )
            for i, run in enumerate(runs)
        )
        plan = ServerPlan(server=server, operations=operations)
        try:
            batch = compile_batch(plan)
            result = self.transports(server.transport).run(
                server, batch, timeout=self.batch_timeout
            )
        except (OrchestraError, OSError, KeyError) as exc:
            return [], [
                MonitorFailure(monitor=r.monitor.name, server=server.name, message=str(exc))
                for r in runs
            ]
        reported = {raw.index: raw for raw in result.steps}
        samples: list[Sample] = []
        failures: list[MonitorFailure] = []
        index = 0
        for run in runs:
            outputs: list[str] = []
            problem: str | None = None
            for _ in run.steps:
                raw = reported.get(index)
                index += 1
                if problem is not None:
                    continue
                if raw is None:
                    problem = result.error or ("timed out" if result.timed_out else "did not run")
                    continue
                status, output = unguard(raw.stdout)
                if raw.status == "timeout":
                    problem = "timed out"
                elif status is None or status != 0 or raw.status == "failed":
                    words = (raw.stderr or output).strip()[-2000:]
                    problem = f"exit status {status if status is not None else raw.exit_code}" + (
                        f": {words}" if words else ""
                    )
                else:
                    outputs.append(output)
            if problem is not None:
                failures.append(
                    MonitorFailure(monitor=run.monitor.name, server=server.name, message=problem)
                )
                continue
            try:
                parsed = run.monitor.parse("".join(outputs), run.objects, measured_at)
            except Exception as exc:
                failures.append(
                    MonitorFailure(
                        monitor=run.monitor.name,
                        server=server.name,
                        message=f"could not parse its output: {type(exc).__name__}: {exc}",
                    )
                )
                continue
            # Keys name the server: the same site's traffic counted on two web servers adds up.
            samples += [
                attrs.evolve(s, idempotency_key=f"{server.name}/{s.idempotency_key}")
                for s in parsed
            ]
        return samples, failures

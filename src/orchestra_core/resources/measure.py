"""Running monitors: every server measured in one round trip, the output parsed into samples.

For each monitor, the objects of its service type are sent where its routes say: the routes of
the backend it follows (the database size is measured where the database lives, with that
backend's settings), or routes that name the monitor itself. Each server gets one batch with
every monitor's read-only steps; a monitor whose step fails costs only its own samples (its
steps run guarded, so the batch goes on), and is reported with the server and its output.
Samples' idempotency keys get the server's name in front (``web1/KEY``): a counter of the same
object on two servers (a website behind a load balancer) adds up instead of replacing itself.
A gauge is meant to be measured on one server per object.

The batches run through the same executor and per-server unit as an apply's
(:class:`~orchestra_core.execution.executor.Executor`), and each monitor's work on a server is
one operation whose final log (backend: the monitor, action ``monitor``, the objects it
measured) goes to ``logs``: ``nothing`` when it measured, ``failure`` when a step exited
non-zero, ``error`` when its output could not be parsed (or the server not reached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from orchestra_core.backends.base import Backend
from orchestra_core.backends.settings import build_settings
from orchestra_core.backends.steps import Step
from orchestra_core.errors import OrchestraError
from orchestra_core.execution.executor import Executor, FinalLogs, LogSink
from orchestra_core.execution.executors import BatchExecutor
from orchestra_core.execution.readonly import (
    ReadResult,
    read_only_operation,
    read_results,
    settle_guarded,
)
from orchestra_core.execution.results import OperationLog, State, utcnow
from orchestra_core.execution.transport import Transport
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.planning.plan import Plan, ServerPlan
from orchestra_core.planning.routing import Router
from orchestra_core.resources.definitions import Monitor, Sample
from orchestra_core.resources.usage import IngestReport

__all__ = ["MeasureResult", "Measurer", "MonitorFailure", "MonitorRun"]


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


class Measurer:
    """Plans and runs monitors on the servers their routes name.

    ``monitors`` and ``backends`` are the installed ones by name; ``transports`` gives a
    server's transport by its name; ``logs`` keeps each monitor run's final operation log;
    ``executor`` fans the servers out (``threads``).
    """

    def __init__(
        self,
        monitors: Mapping[str, type[Monitor[Any, Any]]],
        backends: Mapping[str, type[Backend[Any]]],
        servers: Sequence[Server],
        router: Router,
        transports: Callable[[str], Transport],
        *,
        max_parallel: int = 8,
        batch_timeout: float | None = 600,
        logs: LogSink | None = None,
        executor: str | BatchExecutor = "threads",
    ) -> None:
        self.monitors = dict(monitors)
        self.backends = dict(backends)
        self.servers = tuple(servers)
        self.router = router
        self.transports = transports
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout
        self.logs = logs
        self.executor = executor

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
        section = monitor.settings_section
        targets = self.router.targets(name, obj, index)
        if not targets and monitor.backend is not None and monitor.backend in self.backends:
            name, kind = monitor.backend, "backend"
            settings_class = self.backends[name].settings_class
            section = self.backends[name].settings_section
            targets = self.router.targets(name, obj, index)
        return [
            (
                server,
                build_settings(
                    settings_class,
                    *server.layers(name, section),
                    route.backend_settings,
                    where=f"{kind} {name} on server {server.name} (route {route.label})",
                ),
            )
            for server, route in targets
        ]

    def run(self, runs: Sequence[MonitorRun], *, at: datetime | None = None) -> MeasureResult:
        """Run ``runs``: one read-only batch per server, servers in parallel; parse every
        output. Each run's final log goes to ``logs``."""
        measured_at = at or utcnow()
        by_server: dict[str, list[MonitorRun]] = {}
        for run in runs:
            by_server.setdefault(run.server.name, []).append(run)
        by_id: dict[str, MonitorRun] = {}
        servers: list[ServerPlan] = []
        for name, group in by_server.items():
            operations = []
            for i, run in enumerate(group):
                op_id = f"{name}:monitor:{run.monitor.name}:{i}"
                by_id[op_id] = run
                operations.append(
                    read_only_operation(
                        run.server,
                        run.steps,
                        id=op_id,
                        backend=run.monitor.name,
                        action="monitor",
                        object_keys=tuple(obj.key for obj in run.objects),
                    )
                )
            servers.append(ServerPlan(server=group[0].server, operations=tuple(operations)))
        outcomes: dict[str, tuple[list[Sample], MonitorFailure | None]] = {}

        def finish(entry: OperationLog) -> None:
            # In the executor's threads, before the log is stored: the log tells the parse.
            settle_guarded(entry)
            outcome = self._parse(by_id[entry.operation_id], read_results(entry), measured_at)
            outcomes[entry.operation_id] = outcome
            failure = outcome[1]
            if failure is not None and entry.state.is_ok:
                entry.state = State.ERROR
                entry.stderr += failure.message + "\n"

        executor = Executor(
            self.transports,
            None if self.logs is None else FinalLogs(self.logs),
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
            executor=self.executor,
            finish=finish,
        )
        result = executor.execute(Plan(servers=tuple(servers)))
        samples: list[Sample] = []
        failures: list[MonitorFailure] = []
        for entry in result.logs:
            got, failed = outcomes[entry.operation_id]
            samples += got
            if failed is not None:
                failures.append(failed)
        return MeasureResult(
            samples=tuple(samples), failures=tuple(failures), measured_at=measured_at
        )

    def _parse(
        self, run: MonitorRun, results: Sequence[ReadResult], measured_at: datetime
    ) -> tuple[list[Sample], MonitorFailure | None]:
        server = run.server
        problem = next((r.problem for r in results if r.problem is not None), None)
        if problem is not None:
            return [], MonitorFailure(monitor=run.monitor.name, server=server.name, message=problem)
        try:
            parsed = run.monitor.parse("".join(r.output for r in results), run.objects, measured_at)
        except Exception as exc:
            return [], MonitorFailure(
                monitor=run.monitor.name,
                server=server.name,
                message=f"could not parse its output: {type(exc).__name__}: {exc}",
            )
        # Keys name the server: the same site's traffic counted on two web servers adds up.
        return [
            attrs.evolve(s, idempotency_key=f"{server.name}/{s.idempotency_key}") for s in parsed
        ], None

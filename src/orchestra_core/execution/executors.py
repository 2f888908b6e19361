"""Executors: how the servers' batches of one run are fanned out, chosen by name.

An executor receives the run's :class:`~orchestra_core.execution.runner.ServerJob` s, wave by
wave, runs :func:`~orchestra_core.execution.runner.run_server` for each and hands every job's
final logs back; it never reaches into a store and fires no hook. Its caller
(:class:`~orchestra_core.execution.executor.Executor`) stores the logs and fires the hooks
from the two callbacks: ``on_started(job)`` with the job :meth:`~orchestra_core.execution.
runner.ServerJob.start` ed, just before its batch is sent (the caller stores its logs
``started`` then), ``on_done(job, logs)`` once its logs are final.

Contract, for every executor: waves run one after the other (a wave starts once every job of
the one before is done); within a wave at most ``max_parallel`` jobs run at once; every job
gets exactly one ``on_started`` and, unless ``on_started`` raised, one ``on_done``; an
exception of a callback ends the run (after the jobs already running). ``threads`` runs the
jobs in a pool of threads of this process. An executor that ships jobs to other hosts (a
Celery one) sends the jobs, which are plain data, runs ``run_server`` there with the worker's
own transports, and calls the callbacks here as the results come back.

Executors are found through the ``orchestra.executors`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from orchestra_core.execution.loading import installed, load_named
from orchestra_core.execution.results import OperationLog
from orchestra_core.execution.runner import ServerJob, TransportSource, run_server

__all__ = [
    "EXECUTOR_GROUP",
    "BatchExecutor",
    "JobDone",
    "JobStarted",
    "ThreadsExecutor",
    "available_executors",
    "load_executor",
]

EXECUTOR_GROUP = "orchestra.executors"

#: Called with a started job (``started_at`` set) before its batch is sent.
JobStarted = Callable[[ServerJob], None]
#: Called with a job and its final logs.
JobDone = Callable[[ServerJob, list[OperationLog]], None]


@runtime_checkable
class BatchExecutor(Protocol):
    """Runs the jobs of one run, wave by wave; see the module's contract."""

    name: str

    def run(
        self,
        waves: Sequence[Sequence[ServerJob]],
        transports: TransportSource,
        *,
        max_parallel: int,
        on_started: JobStarted,
        on_done: JobDone,
    ) -> None:
        """Run every job of ``waves``, calling ``on_started`` and ``on_done`` for each."""
        ...


class ThreadsExecutor:
    """The ``threads`` executor: the jobs of a wave in a pool of at most ``max_parallel``
    threads of this process, waves one after the other."""

    name = "threads"

    def run(
        self,
        waves: Sequence[Sequence[ServerJob]],
        transports: TransportSource,
        *,
        max_parallel: int,
        on_started: JobStarted,
        on_done: JobDone,
    ) -> None:
        """Run every job of ``waves`` (see :class:`BatchExecutor`)."""
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")

        def one(job: ServerJob) -> None:
            job = job.start()
            on_started(job)
            on_done(job, run_server(job, transports))

        for wave in waves:
            if not wave:
                continue
            workers = min(max_parallel, len(wave))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="orchestra") as pool:
                for future in [pool.submit(one, job) for job in wave]:
                    future.result()


def available_executors() -> list[str]:
    """Names of the installed executors, sorted."""
    return installed(EXECUTOR_GROUP)


def load_executor(name: str, **kwargs: Any) -> BatchExecutor:
    """A new instance of the executor called ``name``, built with ``kwargs``.

    An unknown or ambiguous name is a :class:`ConfigurationError` listing the installed ones;
    an executor whose module fails to import is a :class:`PluginLoadError` naming it.
    """
    executor = load_named(EXECUTOR_GROUP, "executor", name, BatchExecutor, **kwargs)
    assert isinstance(executor, BatchExecutor)
    return executor

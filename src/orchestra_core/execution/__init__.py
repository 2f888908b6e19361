"""Execution: compile each server's steps into one batch, run it, and log every operation.

:func:`run_server` is the per-server unit; an executor chosen by name (:func:`load_executor`:
``threads``) fans the servers out; :class:`Executor` is their caller, which stores the logs
(in a :class:`LogSink`) and calls back.

Names are imported on first use (as the package ``orchestra_core`` does): a module that
needs only the results (``orchestra_core.execution.results``, as the command line's output
does) loads no executor, transport or batch compiler with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra_core.execution.executor import ApplyResult, Executor, FinalLogs, LogSink
    from orchestra_core.execution.executors import (
        BatchExecutor,
        ThreadsExecutor,
        available_executors,
        load_executor,
    )
    from orchestra_core.execution.loading import available_transports, load_transport
    from orchestra_core.execution.local import LocalTransport
    from orchestra_core.execution.recording import RecordingTransport
    from orchestra_core.execution.results import OperationLog, State, StepResult
    from orchestra_core.execution.runner import ServerJob, run_server
    from orchestra_core.execution.script import compile_batch, describe_for_log, parse_output
    from orchestra_core.execution.transport import Batch, BatchResult, RawStepResult, Transport

_WHERE = {
    "ApplyResult": "orchestra_core.execution.executor",
    "Executor": "orchestra_core.execution.executor",
    "FinalLogs": "orchestra_core.execution.executor",
    "LogSink": "orchestra_core.execution.executor",
    "BatchExecutor": "orchestra_core.execution.executors",
    "ThreadsExecutor": "orchestra_core.execution.executors",
    "available_executors": "orchestra_core.execution.executors",
    "load_executor": "orchestra_core.execution.executors",
    "available_transports": "orchestra_core.execution.loading",
    "load_transport": "orchestra_core.execution.loading",
    "LocalTransport": "orchestra_core.execution.local",
    "RecordingTransport": "orchestra_core.execution.recording",
    "OperationLog": "orchestra_core.execution.results",
    "State": "orchestra_core.execution.results",
    "StepResult": "orchestra_core.execution.results",
    "ServerJob": "orchestra_core.execution.runner",
    "run_server": "orchestra_core.execution.runner",
    "compile_batch": "orchestra_core.execution.script",
    "describe_for_log": "orchestra_core.execution.script",
    "parse_output": "orchestra_core.execution.script",
    "Batch": "orchestra_core.execution.transport",
    "BatchResult": "orchestra_core.execution.transport",
    "RawStepResult": "orchestra_core.execution.transport",
    "Transport": "orchestra_core.execution.transport",
}

__all__ = [
    "ApplyResult",
    "Batch",
    "BatchExecutor",
    "BatchResult",
    "Executor",
    "FinalLogs",
    "LocalTransport",
    "LogSink",
    "OperationLog",
    "RawStepResult",
    "RecordingTransport",
    "ServerJob",
    "State",
    "StepResult",
    "ThreadsExecutor",
    "Transport",
    "available_executors",
    "available_transports",
    "compile_batch",
    "describe_for_log",
    "load_executor",
    "load_transport",
    "parse_output",
    "run_server",
]


def __getattr__(name: str) -> object:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(
            f"module 'orchestra_core.execution' has no attribute {name!r}"
        ) from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""Execution: compile each server's steps into one batch, run it, and log every operation.

:func:`run_server` is the per-server unit; an executor chosen by name (:func:`load_executor`:
``threads``) fans the servers out; :class:`Executor` is their caller, which stores the logs
(in a :class:`LogSink`) and calls back.
"""

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

"""Execution: compile each server's steps into one batch, run it, and log every operation."""

from orchestra_core.execution.executor import ApplyResult, Executor
from orchestra_core.execution.loading import available_transports, load_transport
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.recording import RecordingTransport
from orchestra_core.execution.results import OperationLog, State, StepResult
from orchestra_core.execution.script import compile_batch, describe_for_log, parse_output
from orchestra_core.execution.transport import Batch, BatchResult, RawStepResult, Transport

__all__ = [
    "ApplyResult",
    "Batch",
    "BatchResult",
    "Executor",
    "LocalTransport",
    "OperationLog",
    "RawStepResult",
    "RecordingTransport",
    "State",
    "StepResult",
    "Transport",
    "available_transports",
    "compile_batch",
    "describe_for_log",
    "load_transport",
    "parse_output",
]

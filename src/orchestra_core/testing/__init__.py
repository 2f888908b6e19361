"""Helpers for testing code that uses orchestra-core: real daemons and a pytest plugin.

:mod:`orchestra_core.testing.daemon` starts a daemon from a config in a temp dir, waits until
it answers and stops it by its PID; :mod:`orchestra_core.testing.pytest_plugin` (loaded by
pytest through the ``pytest11`` entry point) offers the ``recording_transport`` and
``daemon_factory`` fixtures. The names below are imported on first use, so that loading the
pytest plugin imports nothing else of orchestra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra_core.testing.daemon import (
        DaemonError,
        DaemonFactory,
        DaemonProcess,
        free_port,
        port_open,
        write_config,
    )

__all__ = [
    "DaemonError",
    "DaemonFactory",
    "DaemonProcess",
    "free_port",
    "port_open",
    "write_config",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("orchestra_core.testing.daemon"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

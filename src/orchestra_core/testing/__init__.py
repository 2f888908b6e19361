"""Helpers for testing code that uses orchestra-core: real daemons and a pytest plugin.

:mod:`orchestra_core.testing.daemon` starts a daemon from a config in a temp dir, waits until
it answers and stops it by its PID; :mod:`orchestra_core.testing.sshd` starts real SSH hosts
on 127.0.0.x addresses; :mod:`orchestra_core.testing.pytest_plugin` (loaded by pytest through
the ``pytest11`` entry point) offers the ``recording_transport``, ``daemon_factory``,
``ssh_hosts`` and ``ssh_host_factory`` fixtures. The names below are imported on first use, so
that loading the pytest plugin imports nothing else of orchestra.
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
    from orchestra_core.testing.sshd import SSHHost, SSHHostFactory, start_ssh_hosts

#: Where each public name lives.
_MODULES = {
    "DaemonError": "orchestra_core.testing.daemon",
    "DaemonFactory": "orchestra_core.testing.daemon",
    "DaemonProcess": "orchestra_core.testing.daemon",
    "free_port": "orchestra_core.testing.daemon",
    "port_open": "orchestra_core.testing.daemon",
    "write_config": "orchestra_core.testing.daemon",
    "SSHHost": "orchestra_core.testing.sshd",
    "SSHHostFactory": "orchestra_core.testing.sshd",
    "start_ssh_hosts": "orchestra_core.testing.sshd",
}

__all__ = [
    "DaemonError",
    "DaemonFactory",
    "DaemonProcess",
    "SSHHost",
    "SSHHostFactory",
    "free_port",
    "port_open",
    "start_ssh_hosts",
    "write_config",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

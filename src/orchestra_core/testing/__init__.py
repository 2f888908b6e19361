"""Helpers for testing drivers and code that uses orchestra-core (``docs/testing.md``).

:mod:`~orchestra_core.testing.pytest_plugin` (loaded by pytest through the ``pytest11`` entry
point) offers the fixtures; :mod:`~orchestra_core.testing.contract` the backend contract
suite; :mod:`~orchestra_core.testing.factory` the generic factory of test daemons;
:mod:`~orchestra_core.testing.daemon` and :mod:`~orchestra_core.testing.sshd` real
daemons and SSH hosts; :mod:`~orchestra_core.testing.hostile`, ``fields``, ``purity``,
``execwatch`` and ``golden`` the tools the contract is made of. The names below are imported
on first use, so that loading the pytest plugin imports nothing else of orchestra.
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
    from orchestra_core.testing.factory import DaemonKind, InstanceFactory, SharedDaemons
    from orchestra_core.testing.pytest_plugin import OrchestraFactory
    from orchestra_core.testing.sshd import SSHHost, SSHHostFactory, start_ssh_hosts

#: Where each public name lives.
_MODULES = {
    "DaemonError": "orchestra_core.testing.daemon",
    "DaemonFactory": "orchestra_core.testing.daemon",
    "DaemonProcess": "orchestra_core.testing.daemon",
    "free_port": "orchestra_core.testing.daemon",
    "port_open": "orchestra_core.testing.daemon",
    "write_config": "orchestra_core.testing.daemon",
    "DaemonKind": "orchestra_core.testing.factory",
    "InstanceFactory": "orchestra_core.testing.factory",
    "SharedDaemons": "orchestra_core.testing.factory",
    "OrchestraFactory": "orchestra_core.testing.pytest_plugin",
    "SSHHost": "orchestra_core.testing.sshd",
    "SSHHostFactory": "orchestra_core.testing.sshd",
    "start_ssh_hosts": "orchestra_core.testing.sshd",
}

__all__ = [
    "DaemonError",
    "DaemonFactory",
    "DaemonKind",
    "DaemonProcess",
    "InstanceFactory",
    "OrchestraFactory",
    "SSHHost",
    "SSHHostFactory",
    "SharedDaemons",
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

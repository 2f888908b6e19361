"""orchestra-core: turn hosting accounts and their services into what the servers run.

The public surface for embedding applications; everything else is reachable through the
sub-packages (``orchestra_core.planning``, ``orchestra_core.backends``...). Names are imported
on first use, so that importing the package (as pytest does for the plugin in
``orchestra_core.testing``) loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra_core.engine import Orchestra
    from orchestra_core.errors import (
        ConfigurationError,
        FieldError,
        InventoryError,
        OrchestraError,
        PluginLoadError,
        ValidationError,
    )
    from orchestra_core.model import Account, Route, Secret, Server, Service, ServiceIndex
    from orchestra_core.planning import ChangeSet, Operation, Plan

_WHERE = {
    "Orchestra": "orchestra_core.engine",
    "ConfigurationError": "orchestra_core.errors",
    "FieldError": "orchestra_core.errors",
    "InventoryError": "orchestra_core.errors",
    "OrchestraError": "orchestra_core.errors",
    "PluginLoadError": "orchestra_core.errors",
    "ValidationError": "orchestra_core.errors",
    "Account": "orchestra_core.model",
    "Route": "orchestra_core.model",
    "Secret": "orchestra_core.model",
    "Server": "orchestra_core.model",
    "Service": "orchestra_core.model",
    "ServiceIndex": "orchestra_core.model",
    "ChangeSet": "orchestra_core.planning",
    "Operation": "orchestra_core.planning",
    "Plan": "orchestra_core.planning",
}

__all__ = [
    "Account",
    "ChangeSet",
    "ConfigurationError",
    "FieldError",
    "InventoryError",
    "Operation",
    "Orchestra",
    "OrchestraError",
    "Plan",
    "PluginLoadError",
    "Route",
    "Secret",
    "Server",
    "Service",
    "ServiceIndex",
    "ValidationError",
]


def __getattr__(name: str) -> object:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'orchestra_core' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

"""orchestra-core: turn hosting accounts and their services into what the servers run.

The public surface for embedding applications; everything else is reachable through the
sub-packages (``orchestra_core.planning``, ``orchestra_core.backends``...).
"""

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
    # The engine pulls in execution and storage; import it only when asked for.
    if name == "Orchestra":
        from orchestra_core.engine import Orchestra

        return Orchestra
    raise AttributeError(name)

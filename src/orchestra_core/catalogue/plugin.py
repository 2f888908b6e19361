"""The built-in plugin that registers the standard catalogue's service types."""

from __future__ import annotations

from collections.abc import Sequence

from orchestra_core.catalogue.types import CATALOGUE
from orchestra_core.hookspecs import hookimpl
from orchestra_core.model.service import Service

__all__ = ["orchestra_service_types"]


@hookimpl
def orchestra_service_types() -> Sequence[type[Service]]:
    """The catalogue's service types (accounts are not a service type)."""
    return CATALOGUE

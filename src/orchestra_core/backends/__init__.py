"""Backends: drivers that provision one service type on one kind of daemon."""

from orchestra_core.backends.base import (
    ACTIONS,
    Backend,
    NoSettings,
    Observation,
    RenderContext,
    server_path,
)

__all__ = ["ACTIONS", "Backend", "NoSettings", "Observation", "RenderContext", "server_path"]

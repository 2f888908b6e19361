"""Choose a transport by name through the ``orchestra.transports`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from stevedore import DriverManager
from stevedore.exception import MultipleMatches, NoMatches

from orchestra_core.errors import ConfigurationError, PluginLoadError
from orchestra_core.execution.transport import Transport

__all__ = ["TRANSPORT_GROUP", "available_transports", "load_transport"]

TRANSPORT_GROUP = "orchestra.transports"


def _installed() -> str:
    # Only for the error: scanning every distribution's entry points takes milliseconds.
    return ", ".join(available_transports()) or "none"


def available_transports() -> list[str]:
    """Names of the installed transports, sorted."""
    return sorted({ep.name for ep in entry_points(group=TRANSPORT_GROUP)})


def load_transport(name: str, **kwargs: Any) -> Transport:
    """A new instance of the transport called ``name``, built with ``kwargs``.

    An unknown or ambiguous name is a :class:`ConfigurationError` listing the installed ones;
    a transport whose module fails to import is a :class:`PluginLoadError` naming it.
    """

    def failed(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        raise PluginLoadError(f"transport {entry_point.name}", repr(exc)) from exc

    try:
        manager = DriverManager(
            namespace=TRANSPORT_GROUP,
            name=name,
            invoke_on_load=True,
            invoke_kwds=kwargs,
            on_load_failure_callback=failed,
        )
    except NoMatches as exc:
        raise ConfigurationError(
            f"unknown transport {name!r}; installed transports: {_installed()}"
        ) from exc
    except MultipleMatches as exc:
        raise ConfigurationError(
            f"several transports are named {name!r}; installed transports: {_installed()}"
        ) from exc
    transport = manager.driver
    if not isinstance(transport, Transport):
        raise PluginLoadError(f"transport {name}", "does not implement the Transport protocol")
    return transport

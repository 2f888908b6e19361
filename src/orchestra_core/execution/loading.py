"""Choose a transport (``orchestra.transports``), or anything else installed under an
entry-point group, by name."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from stevedore import DriverManager
from stevedore.exception import MultipleMatches, NoMatches

from orchestra_core.errors import ConfigurationError, PluginLoadError
from orchestra_core.execution.transport import Transport

__all__ = [
    "TRANSPORT_GROUP",
    "available_transports",
    "installed",
    "load_named",
    "load_transport",
]

TRANSPORT_GROUP = "orchestra.transports"


def installed(group: str) -> list[str]:
    """Names of what is installed in the entry-point ``group``, sorted."""
    return sorted({ep.name for ep in entry_points(group=group)})


def load_named(group: str, what: str, name: str, protocol: Any, **kwargs: Any) -> object:
    """A new instance of the ``what`` (``transport``, ``executor``) called ``name`` in the
    entry-point ``group``, built with ``kwargs``, checked to implement the runtime-checkable
    ``protocol`` (its caller narrows the type: mypy takes no protocol class as a value).

    An unknown or ambiguous name is a :class:`ConfigurationError` listing the installed ones;
    one whose module fails to import, or that does not implement ``protocol``, is a
    :class:`PluginLoadError` naming it.
    """

    def failed(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        raise PluginLoadError(f"{what} {entry_point.name}", repr(exc)) from exc

    def listed() -> str:
        # Only for the error: scanning every distribution's entry points takes milliseconds.
        return ", ".join(installed(group)) or "none"

    try:
        manager = DriverManager(
            namespace=group,
            name=name,
            invoke_on_load=True,
            invoke_kwds=kwargs,
            on_load_failure_callback=failed,
        )
    except NoMatches as exc:
        raise ConfigurationError(f"unknown {what} {name!r}; installed {what}s: {listed()}") from exc
    except MultipleMatches as exc:
        raise ConfigurationError(
            f"several {what}s are named {name!r}; installed {what}s: {listed()}"
        ) from exc
    loaded = manager.driver
    if not isinstance(loaded, protocol):
        raise PluginLoadError(
            f"{what} {name}", f"does not implement the {protocol.__name__} protocol"
        )
    return loaded


def available_transports() -> list[str]:
    """Names of the installed transports, sorted."""
    return installed(TRANSPORT_GROUP)


def load_transport(name: str, **kwargs: Any) -> Transport:
    """A new instance of the transport called ``name``, built with ``kwargs`` (see
    :func:`load_named`)."""
    transport = load_named(TRANSPORT_GROUP, "transport", name, Transport, **kwargs)
    assert isinstance(transport, Transport)
    return transport

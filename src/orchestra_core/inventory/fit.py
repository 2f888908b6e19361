"""Whether an inventory fits what is installed, checked when it is loaded, as apply would.

Three checks, each placing its problems at the inventory path they are about (the loader turns
a path into a line):

- a server's ``settings``: every key is the core's own (:data:`SERVER_OWN`: ``ssh`` and
  ``timeouts``, checked with the server, and ``state_dir``, an absolute path) or the name of an
  installed backend or monitor, whose settings class the block must fit; anything else would
  be silently ignored by the planner, so it is refused with the closest names;
- a route's settings, on their own and merged over each of its servers' (a setting that is
  required and given by neither is placed at the route);
- each backend's own ``check(obj, settings)`` of every object its route sends it, with those
  merged settings, placed at the object's field (``privileges[0]``): what the planner would
  refuse without a line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from orchestra_core.backends.settings import SettingsError, build_settings
from orchestra_core.errors import FieldError, RouteError, shown
from orchestra_core.execution.server_settings import CORE_SETTINGS
from orchestra_core.inventory.located import Path
from orchestra_core.inventory.wording import did_you_mean, quote
from orchestra_core.model import checks
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Service
from orchestra_core.planning.routing import CompiledRoute

__all__ = ["SERVER_OWN", "Check", "Found", "route_problems", "server_problems"]

#: The keys of a server's ``settings`` that are the core's, not a backend's: the transport's
#: and the executor's blocks, and where orchestra keeps its own state on the server.
SERVER_OWN = tuple(sorted((*CORE_SETTINGS, "state_dir")))

#: A backend's ``check(obj, settings)``.
Check = Callable[[Any, Any], Sequence[FieldError]]


@attrs.frozen
class Found:
    """One problem at ``path`` of the document: a field error, or a message on its own."""

    path: Path
    message: str
    error: FieldError | None = None


def _layer_problems(cls: type[Any], name: str, *layers: Any) -> list[tuple[str | None, str]]:
    try:
        build_settings(cls, *layers, where=f"backend {name}", subject=f"backend {name}")
    except SettingsError as exc:
        return [(p.setting, p.message) for p in exc.problems if p.kind != "missing"]
    return []


def server_problems(
    server: Server, path: Path, settings_classes: Mapping[str, type[Any]] | None
) -> list[Found]:
    """Problems with the keys of ``server``'s settings (``settings_classes`` by backend and
    monitor name, and by the name of a driver's shared section; None: what is installed is
    not known, so only ``state_dir`` is checked)."""
    found: list[Found] = []
    for name, layer in server.settings.items():
        at: Path = (*path, "settings", name)
        if name == "state_dir":
            errors: list[FieldError] = []
            checks.path_field(errors, server.key, "settings.state_dir", layer, max_length=1024)
            found.extend(Found(at, str(e), e) for e in errors)
        elif name in SERVER_OWN or settings_classes is None:
            continue
        elif name in settings_classes:
            field = f"settings[{name}]"
            for setting, message in _layer_problems(settings_classes[name], name, layer):
                here = at
                if setting is not None and isinstance(layer, Mapping) and setting in layer:
                    here = (*at, setting)
                error = FieldError(server.key, field, message)
                found.append(Found(here, str(error), error))
        else:
            hint = did_you_mean(name, [*SERVER_OWN, *settings_classes])
            message = (
                f"unknown key {quote(name)}{hint}: a server's settings hold "
                f"{', '.join(SERVER_OWN)} and, under its name, the settings of an installed "
                "backend or monitor or of a driver's shared section (see `orchestra drivers`)"
            )
            error = FieldError(server.key, "settings", message)
            found.append(Found(at, str(error), error))
    return found


def route_problems(
    route: Route,
    path: Path,
    settings_class: type[Any],
    servers: Mapping[str, Server],
    check: Check | None,
    objects: Iterable[tuple[Service, Path]],
    index: ServiceIndex,
    *,
    section: str | None = None,
) -> list[Found]:
    """Problems with a route's settings, alone and over each server's (its ``section``'s
    block, then the backend's), and the backend's
    ``check`` of each object the route sends (each object once, at its first problem's
    field). A server whose own settings for the backend are wrong is left to
    :func:`server_problems`."""
    where = f"route {quote(route.label)}"
    own = route.backend_settings
    found = [
        Found(
            (*path, "settings", setting) if setting in own else (*path, "settings"),
            f"{where}: settings: {message}",
        )
        for setting, message in _layer_problems(settings_class, route.backend, own)
    ]
    if found:
        return found
    merged: list[Any] = []
    for name in dict.fromkeys(route.servers):
        server = servers.get(name)
        if server is None:
            continue
        layers = server.layers(route.backend, section)
        if any(_layer_problems(settings_class, route.backend, layer) for layer in layers):
            continue
        try:
            merged.append(build_settings(settings_class, *layers, own, where=route.backend))
        except SettingsError as exc:
            said = "; ".join(p.message for p in exc.problems)
            found.append(Found((*path, "settings"), f"{where}: settings on server {name}: {said}"))
    if found or check is None or not merged:
        return found
    return _checked(route, check, merged, objects, index)


def _checked(
    route: Route,
    check: Check,
    merged: Sequence[Any],
    objects: Iterable[tuple[Service, Path]],
    index: ServiceIndex,
) -> list[Found]:
    found: list[Found] = []
    compiled = CompiledRoute(route, ()) if route.match != "True" else None
    for obj, at in objects:
        try:
            if compiled is not None and not compiled.matches(obj, index):
                continue
        except RouteError:  # placed at the match by the loader
            return found
        seen: set[FieldError] = set()
        for settings in merged:
            try:
                errors = check(obj, settings)
            except Exception as exc:  # a driver's check() must not crash the loader
                message = (
                    f"{shown(obj.key)}: backend {route.backend}'s check failed "
                    f"({type(exc).__name__}: {exc}): a bug of its driver"
                )
                found.append(Found(at, message))
                break
            for error in errors:
                if error not in seen:
                    seen.add(error)
                    found.append(Found(at, str(error), error))
    return found

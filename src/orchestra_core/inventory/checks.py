"""Field checks of servers and routes, which are not services and have no ``check()``."""

from __future__ import annotations

import ipaddress

from orchestra_core.errors import FieldError
from orchestra_core.execution.server_settings import check_server_settings
from orchestra_core.model import checks
from orchestra_core.model.servers import Route, Server
from orchestra_core.planning.timeouts import check_route_settings

__all__ = ["check_route", "check_server"]


def check_server(server: Server) -> list[FieldError]:
    """Problems with a server's name, address, transport, sandbox root, and the core's own
    settings blocks (``settings.ssh``, ``settings.timeouts``)."""
    errors: list[FieldError] = []
    key = server.key
    checks.name_field(errors, key, "name", server.name, max_length=64)
    if not _is_ip(server.address):
        checks.hostname_field(errors, key, "address", server.address)
    checks.name_field(errors, key, "transport", server.transport, max_length=32)
    root = server.root
    valid = root is None or checks.text_field(errors, key, "root", root, max_length=1024)
    if root is not None and valid and not root.startswith("/"):
        errors.append(FieldError(key, "root", f"{root!r} is not an absolute path"))
    errors.extend(check_server_settings(server))
    return errors


def check_route(route: Route, key: str) -> list[FieldError]:
    """Problems with a route's backend, server names, match text, name and the core's own
    settings block (``settings.timeouts``); not the match's syntax, which the loader compiles,
    nor the backend's settings, which need the backend.
    """
    errors: list[FieldError] = []
    checks.name_field(errors, key, "backend", route.backend, max_length=64)
    for i, name in enumerate(route.servers):
        checks.name_field(errors, key, f"servers[{i}]", name, max_length=64)
    checks.unique_items(errors, key, "servers", route.servers)
    checks.text_field(errors, key, "match", route.match, max_length=1024)
    if route.name is not None:
        checks.name_field(errors, key, "name", route.name, max_length=64)
    errors.extend(check_route_settings(route, key))
    return errors


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value

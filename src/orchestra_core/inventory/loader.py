"""Load an inventory: the servers, the routes to them, and the accounts with their services.

An inventory is one YAML document with three optional sections::

    servers:
      - name: web1                # required; lower-case letters, digits, '_ . -'
        address: 127.0.0.1        # host name or IP address; default 127.0.0.1
        transport: local          # how to reach it (local, ssh, recording); default local
        root: sandbox/web1        # optional sandbox folder for the local transport; a relative
                                  # path is made absolute against base_dir (load_inventory: the
                                  # inventory file's folder; parse_inventory: the current one)
        settings: {}              # optional free mapping: transport options, and per-backend
                                  # overrides under the backend's name
    routes:
      - backend: dummy-domain     # required; a backend name
        servers: [web1]           # required; server names, or a single name
        match: 'domain.name.endswith(".example")'   # optional jinja2 expression, default "True"
        settings: {}              # optional overrides of the backend's settings
        name: dns                 # optional; how listings and errors name the route
    accounts:
      - name: acme                # required
        email: ops@acme.example   # optional
        is_active: true           # optional, default true; false suspends every service
        description: ""           # optional free text
        domains:                  # any registered service type's plural names a section;
          - name: acme.example    # each item holds that type's fields, and 'account' is
            records:              # implied by the enclosing account
              - {name: "@", type: A, values: [192.0.2.10]}
        mailboxes:
          - {address: info@acme.example, quota: 1073741824}

Values are strict: a string field takes a string (quote ``"8.10"`` or YAML reads a number), a
boolean field ``true`` or ``false``, a list field a list. Unknown keys are errors, and so are
duplicate keys; a misspelt name gets the closest known ones (``did you mean 'domains'?``).

What plugins provide is checked too, against what is installed unless told otherwise: a
server's ``transport`` must be an installed transport (``transports=``); a server's settings
keys must be the core's own or an installed backend's or monitor's name; a route's
``settings`` and a server's ``settings[BACKEND]`` must fit the backend's (or monitor's)
settings class, alone and merged; a route's ``match`` must evaluate for every object of the
kind its backend handles; and the backend's own ``check`` must pass for every object the route
sends it (``routables=``, see :class:`Routable` and :mod:`orchestra_core.inventory.fit`).

Every problem is an :class:`~orchestra_core.errors.InventoryError` with the file and the line
of the offending key or list item and what was expected. Problems with objects (a value that
fails ``check()``, a duplicate key, a route to an unknown server) are collected and raised
together as an :class:`InventoryValidationError`, whose ``problems`` name each object, field
and line.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import types
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
from jinja2.utils import object_type_repr

from orchestra_core.backends.base import Backend
from orchestra_core.errors import (
    FieldError,
    InventoryError,
    RouteError,
    ValidationError,
    shown,
)
from orchestra_core.inventory import fit
from orchestra_core.inventory.checks import check_route, check_server
from orchestra_core.inventory.located import LineMap, parse_field_path, read_yaml
from orchestra_core.inventory.located import Path as NodePath
from orchestra_core.inventory.wording import alternatives, close_matches, did_you_mean, quote
from orchestra_core.model.convert import (
    kind_of,
    structure_account,
    structure_object,
    structure_service,
)
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service
from orchestra_core.planning.routing import CompiledRoute, compile_match

if TYPE_CHECKING:
    from orchestra_core.registry import Registry

__all__ = [
    "INSTALLED",
    "Inventory",
    "InventoryValidationError",
    "Problem",
    "Routable",
    "load_inventory",
    "parse_inventory",
    "routables_of",
]

_SECTIONS = ("servers", "routes", "accounts")
_ACCOUNT_FIELDS = tuple(f.name for f in attrs.fields(Account))
#: How :mod:`orchestra_core.model.convert` words an unknown field.
_UNKNOWN_FIELD = re.compile(r"unknown field .* \(known fields: (?P<known>[^()]*)\)")
#: How jinja2 words an undefined attribute and an undefined name.
_NO_ATTRIBUTE = re.compile(r"'(?P<owner>.*)' has no attribute '(?P<name>.*)'")
_UNDEFINED = re.compile(r"'(?P<name>.*)' is undefined")


class _Default(enum.Enum):
    INSTALLED = "installed"


#: The default of ``transports=`` and ``routables=``: what is installed (entry points).
INSTALLED: Final = _Default.INSTALLED


@attrs.frozen
class Routable:
    """What a route may name (a backend or a monitor), as the loader checks routes to it: the
    ``kind`` of object it provisions or measures, and its ``settings_class``."""

    kind: str
    settings_class: type[Any]
    #: The backend's ``check(obj, settings)``; None for a monitor, or a backend without one.
    check: fit.Check | None = None
    #: The shared server settings block its driver's backends read first (``postfix``).
    section: str | None = None


def routables_of(registry: Registry) -> dict[str, Routable]:
    """Every backend and monitor of ``registry`` as a :class:`Routable`, by name."""
    found = {
        name: Routable(
            str(monitor.service_type.kind),
            monitor.settings_class,
            section=monitor.settings_section,
        )
        for name, monitor in registry.monitors.items()
    }
    for name, info in registry.backends.items():
        check = info.cls().check if info.cls.check is not Backend.check else None
        found[name] = Routable(
            info.service_kind, info.cls.settings_class, check, info.cls.settings_section
        )
    return found


@functools.cache  # entry points do not change while a process runs; loading them takes a while
def _installed_routables() -> Mapping[str, Routable]:
    from orchestra_core.registry import Registry

    return types.MappingProxyType(routables_of(Registry.load()))


def _installed_transports() -> list[str]:
    from orchestra_core.execution.loading import available_transports

    return available_transports()


@attrs.frozen(kw_only=True)
class Inventory:
    """What an inventory file declares, checked and converted."""

    servers: tuple[Server, ...] = ()
    routes: tuple[Route, ...] = ()
    accounts: tuple[Account, ...] = ()
    services: tuple[Service, ...] = ()
    #: Where each service was declared (``FILE:LINE`` by object key), for errors found later
    #: (a driver that fails to render one): pass it as ``Orchestra(sources=...)``.
    sources: Mapping[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    def index(self) -> ServiceIndex:
        """A :class:`ServiceIndex` of the accounts and services."""
        return ServiceIndex(self.accounts, self.services)


@attrs.frozen
class Problem:
    """One problem found in an inventory: its line, and the field error if it is about one."""

    line: int | None
    message: str
    error: FieldError | None = None


class InventoryValidationError(InventoryError):
    """Objects of an inventory are invalid; ``problems`` lists each with its line.

    ``line`` is the first problem's line; the message lists them all.
    """

    def __init__(self, problems: list[Problem], *, file: str) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.line or 0))
        first = self.problems[0]
        if len(self.problems) == 1:
            message = first.message
        else:
            where = [f"{file}:{p.line}: {p.message}" for p in self.problems]
            message = f"{len(where)} problems:\n  " + "\n  ".join(where)
        super().__init__(message, file=file, line=first.line)

    @property
    def field_errors(self) -> tuple[FieldError, ...]:
        """The field errors among the problems."""
        return tuple(p.error for p in self.problems if p.error is not None)

    @property
    def errors(self) -> tuple[FieldError, ...]:
        """The field errors, as a :class:`ValidationError` has them (``--json`` lists them
        with their object keys and fields exact, where messages show them escaped)."""
        return self.field_errors


class _Loader:
    """One pass over one document: raises on shape errors, collects object problems."""

    def __init__(
        self,
        lines: LineMap,
        filename: str,
        service_types: Mapping[str, type[Service]],
        backends: Collection[str] | None,
        base_dir: Path,
        transports: Callable[[], Collection[str] | None],
        routables: Callable[[], Mapping[str, Routable] | None],
    ) -> None:
        # What is installed is looked up when first needed (an inventory without servers or
        # routes loads no plugin), once.
        self.lines = lines
        self.filename = filename
        self.service_types = service_types
        self.backends = backends
        self.base_dir = base_dir
        self.transports = functools.cache(transports)
        self.routables = functools.cache(routables)
        self.problems: list[Problem] = []
        self.server_paths: dict[str, NodePath] = {}
        self.route_paths: list[tuple[Route, NodePath]] = []
        self.service_paths: dict[str, NodePath] = {}
        #: Routes whose match fails for some object: their objects are not checked further.
        self.unmatched: list[Route] = []

    # -- reporting ------------------------------------------------------------------------------

    def fail(self, path: NodePath, message: str) -> InventoryError:
        return InventoryError(message, file=self.filename, line=self.lines.line(path))

    def problem(self, path: NodePath, message: str) -> None:
        self.problems.append(Problem(self.lines.line(path), message))

    def field_errors(self, path: NodePath, errors: Collection[FieldError]) -> None:
        for error in errors:
            field_path = parse_field_path(error.field)
            line = self.lines.line((*path, *field_path))
            error = _suggesting(error, field_path)
            self.problems.append(Problem(line, str(error), error))

    def expect_list(self, value: Any, path: NodePath, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"{path[-1]}: expected a list of {what}, got {kind_of(value)}")
        return value

    # -- sections -------------------------------------------------------------------------------

    def load(self, data: Any) -> Inventory:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.fail(
                (), f"expected a mapping with sections {', '.join(_SECTIONS)}, got {kind_of(data)}"
            )
        for key in data:
            if key not in _SECTIONS:
                hint = did_you_mean(key, _SECTIONS)
                plural = close_matches(key, self.service_types, n=1)
                if not hint and plural:
                    hint = f" ({plural[0]!r} is a section of an account, under accounts:)"
                raise self.fail(
                    (key,), f"unknown section {quote(key)}: expected {', '.join(_SECTIONS)}{hint}"
                )
        servers = self.servers(self.expect_list(data.get("servers"), ("servers",), "servers"))
        routes = self.routes(self.expect_list(data.get("routes"), ("routes",), "routes"), servers)
        accounts, services = self.accounts(
            self.expect_list(data.get("accounts"), ("accounts",), "accounts")
        )
        index = ServiceIndex(accounts, services)
        self.matches(index)
        self.settings(servers, index)
        if self.problems:
            raise InventoryValidationError(self.problems, file=self.filename)
        return Inventory(
            servers=tuple(servers.values()),
            routes=tuple(routes),
            accounts=tuple(accounts),
            services=tuple(services),
            sources={
                key: f"{self.filename}:{self.lines.line(path)}"
                for key, path in self.service_paths.items()
            },
        )

    def structure(self, data: Any, path: NodePath, build: Any) -> Any:
        """Call a converter function; its field errors become problems (None returned)."""
        if not isinstance(data, dict):
            self.problem(path, f"expected a mapping, got {kind_of(data)}")
            return None
        try:
            return build(data)
        except ValidationError as exc:
            self.field_errors(path, exc.errors)
            return None

    def servers(self, items: list[Any]) -> dict[str, Server]:
        servers: dict[str, Server] = {}
        for i, item in enumerate(items):
            path: NodePath = ("servers", i)
            if isinstance(item, dict) and isinstance(item.get("root"), str) and item["root"]:
                item = {**item, "root": os.path.normpath(self.base_dir / item["root"])}
            server = self.structure(item, path, lambda d: structure_object(d, Server))
            if server is None:
                continue
            errors = check_server(server)
            self.field_errors(path, errors)
            if errors:
                continue
            transports = self.transports()
            if transports is not None and server.transport not in transports:
                # reported, but the server is kept: routes to it are not to an unknown server
                message = "unknown transport " + quote(server.transport)
                message += alternatives(server.transport, transports, "installed transports")
                self.field_errors(path, [FieldError(server.key, "transport", message)])
            if server.name in servers:
                self.problem(
                    (*path, "name"),
                    f"{shown(server.key)}: name: server {quote(server.name)} is defined twice",
                )
                continue
            servers[server.name] = server
            self.server_paths[server.name] = path
        return servers

    def routes(self, items: list[Any], servers: Mapping[str, Server]) -> list[Route]:
        routes: list[Route] = []
        names: set[str] = set()
        for i, item in enumerate(items):
            path: NodePath = ("routes", i)
            if isinstance(item, dict) and isinstance(item.get("servers"), str):
                item = {**item, "servers": [item["servers"]]}
            route = self.structure(item, path, lambda d: structure_object(d, Route))
            if route is None:
                continue
            route = route.declared_at(f"{self.filename}:{self.lines.line((*path, 'match'))}")
            errors = check_route(route, f"route:{i}")
            self.field_errors(path, errors)
            if errors:
                continue
            where = f"route {quote(route.label)}"
            if route.name is not None:
                if route.name in names:
                    self.problem((*path, "name"), f"{where}: the name is used by another route")
                names.add(route.name)
            if self.backends is not None and route.backend not in self.backends:
                self.problem(
                    (*path, "backend"),
                    f"{where}: backend {quote(route.backend)} is not installed"
                    + alternatives(route.backend, self.backends, "installed backends"),
                )
            if not route.servers:
                self.problem((*path, "servers"), f"{where}: servers: needs at least one server")
            for j, name in enumerate(route.servers):
                if name not in servers:
                    self.problem(
                        (*path, "servers", j),
                        f"{where}: servers[{j}]: unknown server {quote(name)}"
                        + alternatives(name, servers, "servers", sort=False),
                    )
            try:
                compile_match(route.match, route=route.label)
            except RouteError as exc:
                reason = exc.reason.removeprefix(f"invalid match expression {route.match!r}: ")
                self.problem(
                    (*path, "match"),
                    f"{where}: match: {quote(route.match)} is not a valid expression: {reason}",
                )
            else:
                self.route_paths.append((route, path))
            routes.append(route)
        return routes

    def settings(self, servers: Mapping[str, Server], index: ServiceIndex) -> None:
        """Check each server's settings, each route's settings alone and over its servers',
        and each backend's own check of the objects a route sends it (:mod:`.fit`)."""
        routables = self.routables() if self.route_paths or servers else None
        classes = None
        if routables:
            classes = {r.section: r.settings_class for r in routables.values() if r.section}
            classes.update({n: r.settings_class for n, r in routables.items()})
        for name, server in servers.items():
            self.found(fit.server_problems(server, self.server_paths[name], classes))
        if not routables:
            return
        for route, path in self.route_paths:
            routable = routables.get(route.backend)
            if routable is None:
                continue
            check = None if route in self.unmatched else routable.check
            objects = [(obj, self.service_paths[obj.key]) for obj in index.of_kind(routable.kind)]
            self.found(
                fit.route_problems(
                    route,
                    path,
                    routable.settings_class,
                    servers,
                    check,
                    objects,
                    index,
                    section=routable.section,
                )
            )

    def found(self, problems: Collection[fit.Found]) -> None:
        for problem in problems:
            if problem.error is not None:
                self.field_errors(problem.path, [problem.error])
            else:
                self.problem(problem.path, problem.message)

    def matches(self, index: ServiceIndex) -> None:
        """Evaluate each route's match for every object of its backend's kind, as the planner
        will: an error (a misspelt field, an unsafe call) is placed at the route's match."""
        routables = self.routables() if self.route_paths else None
        if not routables:
            return
        for route, path in self.route_paths:
            found = routables.get(route.backend)
            if found is None or route.match == "True":
                continue
            try:
                compiled = CompiledRoute(route, ())
            except RouteError:  # pragma: no cover - the syntax was checked with the route
                continue
            for obj in index.of_kind(found.kind):
                try:
                    compiled.matches(obj, index)
                except RouteError as exc:
                    self.unmatched.append(route)
                    self.problem(
                        (*path, "match"),
                        f"route {quote(route.label)}: match: for {shown(obj.key)}: "
                        + _reword(exc.reason, obj),
                    )
                    break

    def accounts(self, items: list[Any]) -> tuple[list[Account], list[Service]]:
        accounts: dict[str, Account] = {}
        services: dict[str, tuple[Service, NodePath]] = {}
        for i, item in enumerate(items):
            path: NodePath = ("accounts", i)
            if not isinstance(item, dict):
                self.problem(path, f"expected an account (a mapping), got {kind_of(item)}")
                continue
            fields = {k: v for k, v in item.items() if k in _ACCOUNT_FIELDS}
            sections = {k: v for k, v in item.items() if k not in _ACCOUNT_FIELDS}
            for key in sections:
                if key not in self.service_types:
                    hint = did_you_mean(key, [*_ACCOUNT_FIELDS, *self.service_types])
                    raise self.fail(
                        (*path, key),
                        f"unknown field {quote(key)} in an account{hint}: expected an account "
                        f"field ({', '.join(_ACCOUNT_FIELDS)}) or a service section "
                        f"({', '.join(sorted(self.service_types)) or 'none registered'})",
                    )
            account = self.structure(fields, path, structure_account)
            if account is None:
                continue
            errors = account.check()
            self.field_errors(path, errors)
            if account.name in accounts:
                self.problem((*path, "name"), f"{shown(account.key)}: the account is defined twice")
            accounts[account.name] = account
            for plural, value in sections.items():
                for j, data in enumerate(self.expect_list(value, (*path, plural), plural)):
                    self.service(
                        data, (*path, plural, j), account, self.service_types[plural], services
                    )
        # References (a web app's system user...) are checked once every object is known.
        index = ServiceIndex(accounts.values(), [s for s, _ in services.values()])
        for service, where in services.values():
            self.field_errors(where, service.check_references(index))
        return list(accounts.values()), [s for s, _ in services.values()]

    def service(
        self,
        data: Any,
        path: NodePath,
        account: Account,
        cls: type[Service],
        seen: dict[str, tuple[Service, NodePath]],
    ) -> None:
        if isinstance(data, dict) and "account" in data:
            self.problem(
                (*path, "account"),
                f"{cls.kind}: account: is implied by the enclosing account; remove it",
            )
            return
        if isinstance(data, dict):
            data = {"account": account.name, **data}
        service = self.structure(data, path, lambda d: structure_service(d, cls))
        if service is None:
            return
        try:
            errors = service.check()
        except Exception as exc:  # a plugin's check() must not crash the loader
            self.problem(
                path,
                f"{shown(service.key)}: check() failed ({type(exc).__name__}: {exc}): "
                "a bug of the plugin that registers this type",
            )
            return
        self.field_errors(path, [e for e in errors if e.field != "account"])
        if service.key in seen:
            first = self.lines.line(seen[service.key][1])
            self.problem(path, f"{shown(service.key)}: defined twice (first at line {first})")
            return
        seen[service.key] = (service, path)
        self.service_paths[service.key] = path


def parse_inventory(
    text: str,
    *,
    filename: str = "<inventory>",
    service_types: Mapping[str, type[Service]],
    backends: Collection[str] | None = None,
    transports: Collection[str] | Literal[_Default.INSTALLED] | None = INSTALLED,
    routables: Mapping[str, Routable] | Literal[_Default.INSTALLED] | None = INSTALLED,
    base_dir: Path | None = None,
) -> Inventory:
    """Parse inventory text; ``service_types`` maps section names to classes
    (``Registry.by_plural()``), ``backends`` (when given) are the names a route may give
    (``Registry.routable()``: the installed backends and monitors), and
    relative server roots are made absolute against ``base_dir`` (default: the current folder).

    ``transports`` are the names a server's ``transport`` may give, and ``routables`` what
    the loader knows of the backends and monitors routes name (:func:`routables_of` a
    registry), to check route and server settings and route matches: by default, what is
    installed (the ``orchestra.transports`` entry points, ``Registry.load()``, looked up only
    when the inventory has servers or routes); None checks nothing.
    """
    data, lines = read_yaml(text, filename)
    base = (base_dir or Path.cwd()).absolute()

    def known_transports() -> Collection[str] | None:
        return _installed_transports() if transports is INSTALLED else transports

    def known_routables() -> Mapping[str, Routable] | None:
        return _installed_routables() if routables is INSTALLED else routables

    loader = _Loader(
        lines, filename, service_types, backends, base, known_transports, known_routables
    )
    return loader.load(data)


def load_inventory(
    path: str | Path,
    *,
    service_types: Mapping[str, type[Service]],
    backends: Collection[str] | None = None,
    transports: Collection[str] | Literal[_Default.INSTALLED] | None = INSTALLED,
    routables: Mapping[str, Routable] | Literal[_Default.INSTALLED] | None = INSTALLED,
    base_dir: Path | None = None,
) -> Inventory:
    """Read and parse an inventory file (see :func:`parse_inventory`); relative server roots
    are made absolute against ``base_dir``, by default the file's folder.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"cannot read the inventory: {exc.strerror}", file=str(file)) from None
    except UnicodeDecodeError as exc:
        data = file.read_bytes()
        raise InventoryError(
            f"the inventory is not UTF-8 text: byte {quote(data[exc.start : exc.start + 1])} "
            f"({exc.reason})",
            file=str(file),
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
    return parse_inventory(
        text,
        filename=str(file),
        service_types=service_types,
        backends=backends,
        transports=transports,
        routables=routables,
        base_dir=base_dir if base_dir is not None else file.parent,
    )


def _suggesting(error: FieldError, field_path: NodePath) -> FieldError:
    """``error`` with the closest known fields instead of all of them, for an unknown field
    whose name is close to one."""
    found = _UNKNOWN_FIELD.fullmatch(error.message)
    if found is None or not field_path or not isinstance(field_path[-1], str):
        return error
    hint = did_you_mean(field_path[-1], found["known"].split(", "))
    if not hint:
        return error
    message = error.message[: found.start("known") - len("(known fields: ")].rstrip() + hint
    return FieldError(error.object_key, error.field, message)


def _reword(detail: str, obj: Service) -> str:
    """jinja2's words for a match that fails, in the inventory's: the object's fields and the
    names a match sees, with the closest to a misspelt one."""
    found = _NO_ATTRIBUTE.fullmatch(detail)
    if found is not None and found["owner"] == object_type_repr(obj):  # not a dict's key
        name = found["name"]
        fields = [f.name for f in attrs.fields(type(obj))] if attrs.has(type(obj)) else []
        known = [*fields, *(n for n in dir(type(obj)) if not n.startswith("_"))]
        hint = did_you_mean(name, known) or f" (fields: {', '.join(fields)})"
        return f"{obj.kind} has no field {quote(name)}{hint}"
    found = _UNDEFINED.fullmatch(detail)
    if found is not None:
        names = (obj.kind, "obj", "account")
        hint = did_you_mean(found["name"], names)
        return (
            f"{quote(found['name'])} is undefined{hint} (a match sees the object as "
            f"{obj.kind!r} and 'obj', and its account as 'account')"
        )
    return detail

"""Example objects for a new driver's tests, one set per catalogue kind, and their source.

A generated driver tests its backend with valid objects of its service type: the first is the
subject of the contract suite and of the golden renders, the others are the world it names
(a web app's system user, a database user's databases). They are kept here as objects, and
written into the generated tests as Python source by :func:`source` (with an update of the
subject, :data:`CHANGES`), so that the golden files can be computed from the same objects
(:func:`object_fields`, as the generated backend renders them). The dummy driver's contract
tests use the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs

from orchestra_core.catalogue import (
    CATALOGUE,
    Database,
    DatabaseUser,
    Domain,
    MailAddress,
    Mailbox,
    MailingList,
    Record,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.model.service import Service

__all__ = ["CHANGES", "EXAMPLES", "KINDS", "imports_of", "object_fields", "set_lines", "source"]

#: The service kinds a driver can be generated for: the standard catalogue's.
KINDS: tuple[str, ...] = tuple(t.kind for t in CATALOGUE)

_USER = SystemUser(account="acme", name="u1", home="/home/u1")
_APP = WebApp(account="acme", name="app", system_user="u1", options={"memory_limit": "64M"})

#: Per kind: the subject first, then the objects it names. A TXT record leads the domain's
#: records so that free text reaches the config file (the hostile values land there).
EXAMPLES: dict[str, tuple[Service, ...]] = {
    "systemuser": (_USER,),
    "domain": (
        Domain(
            account="acme",
            name="example.com",
            records=(
                Record(type="TXT", values=("v=spf1 -all",)),
                Record(type="A", values=("192.0.2.1",)),
                Record(name="www", type="CNAME", values=("example.com",)),
            ),
        ),
    ),
    "mailbox": (Mailbox(account="acme", address="info@example.com", quota=1024),),
    "mailaddress": (
        MailAddress(account="acme", address="sales@example.com", forwards=("info@example.org",)),
    ),
    "webapp": (_APP, _USER),
    "website": (
        Website(
            account="acme",
            name="site",
            domains=("example.com", "www.example.com"),
            contents=(WebsiteContent(path="/", webapp="app"),),
        ),
        _APP,
        _USER,
    ),
    "database": (Database(account="acme", name="shop"),),
    "databaseuser": (
        DatabaseUser(account="acme", username="shopuser", databases=("shop",)),
        Database(account="acme", name="shop"),
    ),
    "mailinglist": (
        MailingList(
            account="acme",
            name="news",
            domain="example.com",
            admin_email="admin@example.com",
            description="News of the shop",
        ),
    ),
}


def _changed(kind: str, **fields: Any) -> Service:
    return attrs.evolve(EXAMPLES[kind][0], **fields)


#: Per kind: an update of the subject (the same key, another value), for the contract's
#: update test.
CHANGES: dict[str, Service] = {
    "systemuser": _changed("systemuser", shell="/bin/bash"),
    "domain": _changed(
        "domain",
        records=(
            Record(type="TXT", values=("v=spf1 mx -all",)),
            Record(type="A", values=("192.0.2.1",)),
            Record(name="mail", type="A", values=("192.0.2.25",)),
        ),
    ),
    "mailbox": _changed("mailbox", quota=2048),
    "mailaddress": _changed("mailaddress", forwards=("info@example.org", "shop@example.net")),
    "webapp": _changed("webapp", options={"memory_limit": "128M"}),
    "website": _changed("website", domains=("example.com",)),
    "database": _changed("database", charset="latin1"),
    "databaseuser": _changed("databaseuser", privileges=("SELECT", "INSERT")),
    "mailinglist": _changed("mailinglist", description="News and offers of the shop"),
}

#: How long a line of generated code may be (the project's ruff setting).
LINE_LENGTH = 100


def object_fields(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf value of an object with its field path (``records[0].values[0]``,
    ``options[memory_limit]``), in field order, ``is_active`` left out.

    The generated backend has the same function (``object_fields`` in its ``backend.py``): it
    writes one ``set PATH VALUE`` line per leaf.
    """
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            if not path and field.name == "is_active":
                continue
            inner = f"{path}.{field.name}" if path else field.name
            yield from object_fields(getattr(value, field.name), inner)
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from object_fields(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from object_fields(item, f"{path}[{key}]")
    else:
        yield path, value


def set_lines(obj: Service) -> str:
    """The ``set`` lines the generated config template renders for ``obj``."""
    return "".join(
        f"set {json.dumps(path)} {json.dumps(value)}\n" for path, value in object_fields(obj)
    )


def imports_of(objects: tuple[Service, ...]) -> list[str]:
    """The names of the catalogue classes ``objects`` are made of, sorted."""
    names: set[str] = set()

    def visit(value: Any) -> None:
        if attrs.has(type(value)):
            names.add(type(value).__name__)
            for field in attrs.fields(type(value)):
                visit(getattr(value, field.name))
        elif isinstance(value, tuple | list):
            for item in value:
                visit(item)

    for obj in objects:
        visit(obj)
    return sorted(names)


def source(value: Any, indent: int = 0, prefix: int = 0) -> str:
    """Python source that builds ``value`` (an attrs object of the catalogue, a tuple, a dict,
    a str, an int, a bool or None), on a line indented by ``indent`` after ``prefix``
    characters (``name=``), followed by a comma.

    Only fields that differ from their defaults are written. A value that fits on its line is
    written on it; one that does not is exploded one item a line with a trailing comma, which
    ``ruff format`` keeps as it is.
    """
    inline = _inline(value)
    if indent + prefix + len(inline) + 1 <= LINE_LENGTH or not _explodable(value):
        return inline
    inner = indent + 4
    if attrs.has(type(value)):
        items = [f"{name}={source(v, inner, len(name) + 1)}" for name, v in _args(value)]
        head, tail = f"{type(value).__name__}(", ")"
    elif isinstance(value, tuple):
        items = [source(v, inner) for v in value]
        head, tail = "(", ")"
    else:
        pairs = [(json.dumps(k), v) for k, v in value.items()]
        items = [f"{k}: {source(v, inner, len(k) + 2)}" for k, v in pairs]
        head, tail = "{", "}"
    body = "".join(f"{' ' * inner}{item},\n" for item in items)
    return f"{head}\n{body}{' ' * indent}{tail}"


def _explodable(value: Any) -> bool:
    return attrs.has(type(value)) or (isinstance(value, tuple | dict) and len(value) > 0)


def _args(value: Any) -> list[tuple[str, Any]]:
    """The (name, value) of the fields of an attrs object that differ from their defaults."""
    out: list[tuple[str, Any]] = []
    for field in attrs.fields(type(value)):
        current = getattr(value, field.name)
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default is not attrs.NOTHING and current == default:
            continue
        out.append((field.name, current))
    return out


def _inline(value: Any) -> str:
    if attrs.has(type(value)):
        args = ", ".join(f"{name}={_inline(v)}" for name, v in _args(value))
        return f"{type(value).__name__}({args})"
    if isinstance(value, tuple):
        items = [_inline(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool | int):
        return repr(value)
    raise TypeError(f"no source for {value!r}")

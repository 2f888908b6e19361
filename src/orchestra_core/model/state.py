"""The applied state: what orchestra put where, and with what.

An object is applied as a set of *placements*: one per backend and server that hold it (a
zone on its master and on each slave, a mailbox on its mail server). A placement keeps what
it was applied with, so that plans compare with it and a placement that goes away is deleted
where it lived, as it was: the object's snapshot, the effective backend settings, the server
as it was then, a fingerprint of every input of its rendering, the files it wrote (by hash;
their content is kept by hash beside) and what a backend observes of it on the server.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from orchestra_core.model.servers import Server

__all__ = [
    "FileRecord",
    "ObjectSnapshot",
    "Placement",
    "PlacementKey",
    "content_hash",
    "server_from_dict",
    "server_to_dict",
]


def content_hash(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8) in hex, as ``sha256sum`` prints it for the file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen(kw_only=True)
class ObjectSnapshot:
    """An object as plain data: its key, its kind, its fields (``unstructure``d) and whether it
    was effectively active (itself and its account). What plans compare."""

    key: str
    kind: str
    data: dict[str, Any]
    active: bool = True


class PlacementKey(NamedTuple):
    """Where one object is applied: (object key, backend, server)."""

    object_key: str
    backend: str
    server: str

    def __str__(self) -> str:
        return f"{self.object_key} [{self.backend}] on {self.server}"


@attrs.frozen(kw_only=True)
class FileRecord:
    """A file a placement wrote: its path on the server (under the sandbox root, if any), the
    hash of its content and its mode. A sensitive file (it holds a secret or its hash) is
    recorded with no hash: orchestra keeps nothing of it but that it exists."""

    path: str
    sha256: str | None
    mode: int = 0o644

    @property
    def sensitive(self) -> bool:
        """True when nothing of the content is kept."""
        return self.sha256 is None


def server_to_dict(server: Server) -> dict[str, Any]:
    """A server as plain data (what a placement keeps of where it lives)."""
    return {
        "name": server.name,
        "address": server.address,
        "transport": server.transport,
        "root": server.root,
        "settings": dict(server.settings),
    }


def server_from_dict(data: dict[str, Any]) -> Server:
    """The server a placement was applied on."""
    return Server(
        name=str(data["name"]),
        address=str(data.get("address", "127.0.0.1")),
        transport=str(data.get("transport", "local")),
        root=data.get("root"),
        settings=dict(data.get("settings") or {}),
    )


@attrs.frozen(kw_only=True)
class Placement:
    """One object applied by one backend on one server.

    ``settings`` are the effective backend settings it was rendered with (unstructured),
    ``host`` the server as it was (:func:`server_to_dict`), ``fingerprint`` a hash of every
    input of its rendering (a change of any of them is a save), ``files`` what its rendering
    wrote, ``observed`` by probe name the hash of what the backend read back of it on the
    server right after (for drift), ``applied_at`` when it was recorded.
    """

    object_key: str
    backend: str
    server: str
    snapshot: ObjectSnapshot
    fingerprint: str
    settings: dict[str, Any] = attrs.field(factory=dict)
    host: dict[str, Any] = attrs.field(factory=dict)
    files: tuple[FileRecord, ...] = ()
    observed: dict[str, str] = attrs.field(factory=dict)
    applied_at: datetime | None = None

    @property
    def key(self) -> PlacementKey:
        """(object key, backend, server)."""
        return PlacementKey(self.object_key, self.backend, self.server)

    @property
    def kind(self) -> str:
        """The kind of the object."""
        return self.snapshot.kind

    def on_server(self) -> Server:
        """The server it lives on, as it was when applied."""
        if not self.host:
            return Server(name=self.server)
        return server_from_dict(self.host)

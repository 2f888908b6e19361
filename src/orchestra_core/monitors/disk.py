"""Disk usage of folders (``du``): a gauge, measured where the folders are.

Two monitors share the measuring: ``disk-usage`` measures each system user's home (its
``home`` field, or ``HOME_BASE/NAME``) and ``web-disk-usage`` each website's web root
(``ROOT`` with ``{account}`` and ``{name}`` filled in: ``/var/www/{account}/{name}`` by
default). Both are routed by routes that name them: folders are where the operator says. A
folder that does not exist on the server gives no sample. Bytes allocated on disk by default,
or the files' apparent size with ``apparent_size``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import attrs

from orchestra_core.backends.base import server_path
from orchestra_core.backends.steps import Command, Step
from orchestra_core.catalogue import SystemUser, Website
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.resources.definitions import Monitor, Sample

__all__ = ["DiskSettings", "DiskUsage", "FolderUsage", "WebDiskSettings", "WebDiskUsage"]


@attrs.frozen(kw_only=True)
class DiskSettings:
    """Where homes are when a user does not say, and how to count."""

    home_base: str = "/home"
    apparent_size: bool = False


def _root(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        value.format(account="a", name="n")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{attribute.name} {value!r} may use only {{account}} and {{name}} ({exc})"
        ) from exc


@attrs.frozen(kw_only=True)
class WebDiskSettings:
    """Where web roots are (``{account}`` and ``{name}`` are the website's), and how to count."""

    root: str = attrs.field(default="/var/www/{account}/{name}", validator=_root)
    apparent_size: bool = False


class FolderUsage(Monitor):
    """Bytes used by one folder per object: subclasses say which (:meth:`folder`)."""

    unit: ClassVar[str] = "bytes"
    tools: ClassVar[tuple[str, ...]] = ("du",)

    def folder(self, obj: Service, settings: Any) -> str | None:
        """The object's folder on the server (before the sandbox root), or None for none."""
        raise NotImplementedError

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        """One step: ``du`` of every folder, one ``INDEX<TAB>BYTES`` line each."""
        found = [(i, self.folder(obj, settings)) for i, obj in enumerate(objects)]
        paths = [(i, server_path(server, path)) for i, path in found if path is not None]
        if not paths:
            return []
        script = self.templates.shell(
            "disk-usage.sh.j2", paths=paths, apparent=settings.apparent_size
        )
        return [Command(description=f"measure {len(paths)} folders", script=script)]

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        """A sample per ``INDEX<TAB>BYTES`` line, for the object at that index."""
        return self.indexed_gauges(output, objects, measured_at)


class DiskUsage(FolderUsage):
    """Bytes used by each system user's home."""

    name: ClassVar[str] = "disk-usage"
    service_type: ClassVar[type[Service]] = SystemUser
    settings_class: ClassVar[type[Any]] = DiskSettings

    def folder(self, obj: Service, settings: Any) -> str | None:
        """The user's home: its own, or under ``home_base``."""
        if not isinstance(obj, SystemUser):
            return None
        return obj.home or posixpath.join(settings.home_base, obj.name)


class WebDiskUsage(FolderUsage):
    """Bytes used by each website's web root."""

    name: ClassVar[str] = "web-disk-usage"
    service_type: ClassVar[type[Service]] = Website
    settings_class: ClassVar[type[Any]] = WebDiskSettings

    def folder(self, obj: Service, settings: Any) -> str | None:
        """``root`` with the website's account and name."""
        if not isinstance(obj, Website):
            return None
        return str(settings.root).format(account=obj.account, name=obj.name)

"""Small service types and backends for planner tests, independent of the catalogue.

A plain module, imported by the tests and by ``conftest.py`` (a test never imports a conftest).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import attrs

from orchestra_core.backends import Backend, RenderContext
from orchestra_core.backends.steps import Command, Step, WriteFile
from orchestra_core.errors import FieldError
from orchestra_core.model import Server, Service, ServiceIndex

__all__ = ["BACKENDS", "Thing", "ThingFiles", "ThingSettings", "ThingUsers", "ThingWeb"]


@attrs.frozen(kw_only=True)
class Thing(Service):
    kind: ClassVar[str] = "thing"
    plural: ClassVar[str] = "things"

    name: str
    parent: str | None = None
    note: str = ""

    @property
    def identity(self) -> str:
        return self.name

    def check(self) -> list[FieldError]:
        errors = super().check()
        if " " in self.name:
            errors.append(FieldError(self.key, "name", "no spaces allowed"))
        return errors

    def related_keys(self, index: ServiceIndex) -> Iterable[str]:
        return [f"thing:{self.parent}"] if self.parent else []


@attrs.frozen(kw_only=True)
class ThingSettings:
    directory: str = "/srv/things"
    reload_command: str = "true"


class ThingFiles(Backend[Thing]):
    name = "thing-files"
    service_type = Thing
    daemon = "thingd"
    settings_class = ThingSettings
    actions = frozenset({"save", "delete", "set_password"})

    def render(self, ctx: RenderContext[Thing]) -> Sequence[Step]:
        path = ctx.path(f"{ctx.settings.directory}/{ctx.obj.name}")
        state = "on" if ctx.active else "off"
        return [
            WriteFile(
                description=f"{ctx.action} {ctx.obj.key}",
                path=path,
                content=f"{ctx.obj.name} {state}\n",
                notify="thingd",
                sensitive=ctx.action == "set_password",
            )
        ]

    def reload(self, server: Server, settings: Any, daemon: str) -> str | None:
        return str(settings.reload_command)


class ThingUsers(Backend[Thing]):
    name = "thing-users"
    service_type = Thing
    after = ("thing-files",)

    def render(self, ctx: RenderContext[Thing]) -> Sequence[Step]:
        return [Command(description=f"{ctx.action} user {ctx.obj.name}", script="true")]


class ThingWeb(Backend[Thing]):
    name = "thing-web"
    service_type = Thing
    after = ("thing-users", "not-installed")

    def render(self, ctx: RenderContext[Thing]) -> Sequence[Step]:
        return [Command(description=f"{ctx.action} web {ctx.obj.name}", script="true")]


BACKENDS: dict[str, type[Backend[Any]]] = {b.name: b for b in (ThingWeb, ThingFiles, ThingUsers)}

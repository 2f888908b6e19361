"""A reload per daemon *instance*: a server running two instances of one daemon (php-fpm 8.2
and 8.3, two named) reloads the one its changed steps notified, once per batch, and the
backend's ``reload`` is told which one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from orchestra_core.driver import (
    Account,
    Backend,
    RenderContext,
    Server,
    Service,
    ServiceIndex,
    Step,
    WriteFile,
)
from orchestra_core.model.servers import Route
from orchestra_core.planning import ChangeSet, Planner


@attrs.frozen(kw_only=True)
class Pool(Service):
    kind: ClassVar[str] = "pool"
    plural: ClassVar[str] = "pools"

    name: str
    php: str = "8.2"

    @property
    def identity(self) -> str:
        return self.name


@attrs.frozen(kw_only=True)
class PoolSettings:
    directory: str = "/etc/php"


class PoolBackend(Backend[Pool, PoolSettings]):
    """One pool file per object, under the folder of its PHP version; the file notifies that
    version's php-fpm."""

    name = "test-pools"
    service_type = Pool
    daemon = "php-fpm"
    settings_class = PoolSettings
    asked: ClassVar[list[str]] = []

    def render_save(self, ctx: RenderContext[Pool, PoolSettings]) -> Sequence[Step]:
        return [
            WriteFile(
                description=f"pool {ctx.obj.name}",
                path=ctx.path(f"{ctx.settings.directory}/{ctx.obj.php}/fpm/{ctx.obj.name}.conf"),
                content=f"[{ctx.obj.name}]\n",
                notify=f"php{ctx.obj.php}-fpm",
            )
        ]

    def render_delete(self, ctx: RenderContext[Pool, PoolSettings]) -> Sequence[Step]:
        return []

    def reload(self, server: Server, settings: PoolSettings, daemon: str) -> str | None:
        self.asked.append(daemon)
        return f"systemctl reload {daemon}"


def test_each_instance_changed_is_reloaded_once_and_named() -> None:
    PoolBackend.asked.clear()
    planner = Planner(
        {PoolBackend.name: PoolBackend},
        [Server(name="web1")],
        [Route(backend=PoolBackend.name, servers=("web1",))],
    )
    pools = [
        Pool(account="acme", name="shop", php="8.2"),
        Pool(account="acme", name="blog", php="8.3"),
        Pool(account="acme", name="wiki", php="8.2"),
    ]
    changes = ChangeSet()
    for pool in pools:
        changes = changes.save(pool)
    plan = planner.plan(changes, ServiceIndex([Account(name="acme")], pools))
    [server_plan] = plan.servers
    reloads = [op for op in server_plan.operations if op.action == "reload"]
    assert sorted(op.steps[0].script for op in reloads) == [
        "systemctl reload php8.2-fpm",
        "systemctl reload php8.3-fpm",
    ]
    assert sorted(PoolBackend.asked) == ["php8.2-fpm", "php8.3-fpm"]
    by_daemon = {op.steps[0].script.split()[-1]: op for op in reloads}
    assert set(by_daemon["php8.2-fpm"].object_keys) == {"pool:shop", "pool:wiki"}
    assert by_daemon["php8.3-fpm"].object_keys == ("pool:blog",)
    # Each reload comes after the last operation that notified its instance.
    order = [op.object_keys[0] if op.action == "save" else op.id for op in server_plan.operations]
    assert order.index(by_daemon["php8.2-fpm"].id) > order.index("pool:wiki")

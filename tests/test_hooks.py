"""One test per hook of ``orchestra_core.hookspecs``, with small plugins defined in the test.

``tests/test_hooks_documented.py`` checks that every hook has a ``test_hook_<name>`` here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs
import pytest

from orchestra_core.backends.base import Backend, RenderContext
from orchestra_core.backends.steps import Step
from orchestra_core.billing.metrics import BillingMetric
from orchestra_core.errors import PluginLoadError
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.hookspecs import hookimpl
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Service
from orchestra_core.planning.plan import Plan
from orchestra_core.registry import Registry
from orchestra_core.resources.definitions import Aggregation, Monitor, ResourceDefinition, Sample
from orchestra_core.resources.evaluation import ResourceEvent

# -- a tiny plugin world --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Gadget(Service):
    """A service type that only these tests know."""

    kind: ClassVar[str] = "test-gadget"
    plural: ClassVar[str] = "test-gadgets"

    name: str

    @property
    def identity(self) -> str:
        return self.name


@attrs.frozen(kw_only=True)
class Stray(Service):
    """A service type that no plugin registers."""

    kind: ClassVar[str] = "test-stray"
    plural: ClassVar[str] = "test-strays"

    name: str

    @property
    def identity(self) -> str:
        return self.name


class GadgetBackend(Backend[Gadget]):
    name = "test-gadget-file"
    service_type = Gadget

    def render(self, ctx: RenderContext[Gadget]) -> Sequence[Step]:
        return []


class StrayBackend(Backend[Stray]):
    name = "test-stray-file"
    service_type = Stray

    def render(self, ctx: RenderContext[Stray]) -> Sequence[Step]:
        return []


class GadgetSize(Monitor):
    name = "test-gadget-size"
    service_type = Gadget
    unit = "bytes"

    def render(self, objects: Sequence[Service], server: Server, settings: Any) -> Sequence[Step]:
        return []

    def parse(self, output: str, objects: Sequence[Service], measured_at: datetime) -> list[Sample]:
        return []


GADGET_DISK = ResourceDefinition(
    name="test-gadget-disk",
    service_kind=Gadget.kind,
    monitors=(GadgetSize.name,),
    aggregation=Aggregation.MAX,
    unit="MiB",
    scale=1 / 2**20,
)
GADGET_STORAGE = BillingMetric(code="test_gadget_storage", resource=GADGET_DISK.name, unit="GiB")


class GadgetTypes:
    @hookimpl
    def orchestra_service_types(self) -> Sequence[type[Service]]:
        return [Gadget]


class GadgetBackends:
    @hookimpl
    def orchestra_backends(self) -> Sequence[type[Backend[Any]]]:
        return [GadgetBackend]


class GadgetMonitors:
    @hookimpl
    def orchestra_monitors(self) -> Sequence[type[Monitor]]:
        return [GadgetSize]


class GadgetResources:
    @hookimpl
    def orchestra_resources(self) -> Sequence[ResourceDefinition]:
        return [GADGET_DISK]


class GadgetMetrics:
    @hookimpl
    def orchestra_billing_metrics(self) -> Sequence[BillingMetric]:
        return [GADGET_STORAGE]


def load(**plugins: object) -> Registry:
    return Registry.load(entry_points=False, extra=plugins)


def finished_log(state: State = State.SUCCESS) -> OperationLog:
    return OperationLog(
        operation_id="op-1",
        server="web1",
        backend=GadgetBackend.name,
        action="save",
        object_keys=("test-gadget:one",),
        state=state,
    )


# -- services -------------------------------------------------------------------------------------


def test_hook_orchestra_service_types() -> None:
    registry = load(gadgets=GadgetTypes())
    assert registry.service_types == {"test-gadget": Gadget}
    assert registry.service_type("test-gadget") is Gadget
    assert registry.by_plural() == {"test-gadgets": Gadget}
    assert set(registry.plugins) == {"gadgets"}


def test_hook_orchestra_service_types_duplicate_kind_names_both_plugins() -> None:
    with pytest.raises(PluginLoadError) as info:
        load(first=GadgetTypes(), second=GadgetTypes())
    blamed = info.value.plugin
    other = {"first": "second", "second": "first"}[blamed]
    assert f"plugin {blamed!r} failed to load" in str(info.value)
    assert f"service type 'test-gadget' is already registered by plugin {other!r}" in str(
        info.value
    )


def test_hook_orchestra_service_types_raising_plugin_is_named() -> None:
    class Broken:
        @hookimpl
        def orchestra_service_types(self) -> Sequence[type[Service]]:
            raise RuntimeError("catalogue is corrupt")

    with pytest.raises(PluginLoadError) as info:
        load(broken=Broken())
    assert info.value.plugin == "broken"
    assert "orchestra_service_types raised RuntimeError('catalogue is corrupt')" in str(info.value)


# -- backends -------------------------------------------------------------------------------------


def test_hook_orchestra_backends() -> None:
    registry = load(types=GadgetTypes(), drivers=GadgetBackends())
    assert list(registry.backends) == ["test-gadget-file"]
    info = registry.backends["test-gadget-file"]
    assert info.cls is GadgetBackend
    assert info.plugin.name == "drivers"
    assert info.service_kind == "test-gadget"
    assert registry.backend("test-gadget-file") is GadgetBackend
    assert [(p.name, [b.name for b in bs]) for p, bs in registry.drivers()] == [
        ("drivers", ["test-gadget-file"])
    ]


def test_hook_orchestra_backends_unregistered_service_type() -> None:
    class StrayDriver:
        @hookimpl
        def orchestra_backends(self) -> Sequence[type[Backend[Any]]]:
            return [StrayBackend]

    with pytest.raises(PluginLoadError) as info:
        load(types=GadgetTypes(), stray=StrayDriver())
    assert info.value.plugin == "stray"
    assert "'test-stray-file'" in str(info.value)
    assert "no plugin registers as a service type" in str(info.value)


def test_a_backend_may_not_take_a_setting_a_route_keeps_for_the_core() -> None:
    """A route's ``settings.timeouts`` is the core's: a backend setting of that name would
    never be given, so the driver is refused when it loads."""

    @attrs.frozen
    class TimedSettings:
        timeouts: int = 5

    class TimedBackend(GadgetBackend):
        name = "test-gadget-timed"
        settings_class = TimedSettings

    class TimedDriver:
        @hookimpl
        def orchestra_backends(self) -> Sequence[type[Backend[Any]]]:
            return [TimedBackend]

    with pytest.raises(PluginLoadError) as info:
        load(types=GadgetTypes(), timed=TimedDriver())
    assert info.value.plugin == "timed"
    assert "'test-gadget-timed' has a setting named 'timeouts'" in str(info.value)


def test_hook_orchestra_backends_same_name_twice_names_both_plugins() -> None:
    with pytest.raises(PluginLoadError) as info:
        load(types=GadgetTypes(), bind_a=GadgetBackends(), bind_b=GadgetBackends())
    text = str(info.value)
    blamed = info.value.plugin
    other = {"bind_a": "bind_b", "bind_b": "bind_a"}[blamed]
    assert f"plugin {blamed!r} failed to load" in text
    assert f"backend 'test-gadget-file' is already registered by plugin {other!r}" in text


def test_hook_orchestra_backends_typo_in_hook_name() -> None:
    class Typo:
        @hookimpl
        def orchestra_backend(self) -> Sequence[type[Backend[Any]]]:
            return [GadgetBackend]

    with pytest.raises(PluginLoadError) as info:
        load(types=GadgetTypes(), typo=Typo())
    assert info.value.plugin == "typo"
    assert "orchestra_backend" in str(info.value)


def test_hook_orchestra_backends_wrong_argument_name() -> None:
    class WrongArgs:
        @hookimpl
        def orchestra_plan_ready(self, the_plan: Plan) -> None:
            pass

    with pytest.raises(PluginLoadError) as info:
        load(wrong=WrongArgs())
    assert info.value.plugin == "wrong"
    assert "the_plan" in str(info.value)


# -- resources ------------------------------------------------------------------------------------


def test_hook_orchestra_monitors() -> None:
    registry = load(types=GadgetTypes(), monitors=GadgetMonitors())
    assert registry.monitors == {"test-gadget-size": GadgetSize}
    with pytest.raises(PluginLoadError, match="monitor 'test-gadget-size' is already registered"):
        load(types=GadgetTypes(), one=GadgetMonitors(), two=GadgetMonitors())


def test_hook_orchestra_resources() -> None:
    registry = load(types=GadgetTypes(), monitors=GadgetMonitors(), resources=GadgetResources())
    assert registry.resources == {"test-gadget-disk": GADGET_DISK}


def test_hook_orchestra_resources_unknown_monitor() -> None:
    with pytest.raises(PluginLoadError) as info:
        load(types=GadgetTypes(), resources=GadgetResources())
    assert info.value.plugin == "resources"
    assert "resource 'test-gadget-disk' uses unknown monitors ['test-gadget-size']" in str(
        info.value
    )


# -- billing metrics ------------------------------------------------------------------------------


def test_hook_orchestra_billing_metrics() -> None:
    registry = load(
        types=GadgetTypes(),
        monitors=GadgetMonitors(),
        resources=GadgetResources(),
        billing=GadgetMetrics(),
    )
    assert registry.billing_metrics == {"test_gadget_storage": GADGET_STORAGE}


def test_hook_orchestra_billing_metrics_unknown_resource() -> None:
    with pytest.raises(PluginLoadError) as info:
        load(types=GadgetTypes(), monitors=GadgetMonitors(), billing=GadgetMetrics())
    assert info.value.plugin == "billing"
    assert "billing metric 'test_gadget_storage' uses unknown resource 'test-gadget-disk'" in str(
        info.value
    )


# -- events ---------------------------------------------------------------------------------------


def test_hook_orchestra_plan_ready() -> None:
    seen: list[Plan] = []

    class Watcher:
        @hookimpl
        def orchestra_plan_ready(self, plan: Plan) -> None:
            seen.append(plan)

    registry = load(watcher=Watcher())
    plan = Plan(unrouted=("test-gadget:one",))
    registry.plan_ready(plan)
    assert seen == [plan]
    assert seen[0] is plan


def test_hook_orchestra_plan_ready_exception_stops_the_apply() -> None:
    class Veto:
        @hookimpl
        def orchestra_plan_ready(self, plan: Plan) -> None:
            raise RuntimeError("change freeze until Monday")

    registry = load(veto=Veto())
    with pytest.raises(RuntimeError, match="change freeze until Monday"):
        registry.plan_ready(Plan())


def test_hook_orchestra_operation_finished(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[OperationLog] = []

    class Watcher:
        @hookimpl
        def orchestra_operation_finished(self, log: OperationLog) -> None:
            seen.append(log)

    class Broken:
        @hookimpl
        def orchestra_operation_finished(self, log: OperationLog) -> None:
            raise RuntimeError("billing webhook is down")

    oplog = finished_log(State.FAILURE)
    load(watcher=Watcher()).operation_finished(oplog)
    assert seen == [oplog]

    registry = load(broken=Broken())
    with caplog.at_level(logging.ERROR, logger="orchestra_core.registry"):
        registry.operation_finished(oplog)  # must not raise
    errors = [r for r in caplog.records if r.name == "orchestra_core.registry"]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert errors[0].exc_info is not None
    assert "billing webhook is down" in str(errors[0].exc_info[1])


# -- the installed plugins ------------------------------------------------------------------------


def test_entry_points_find_the_built_in_plugins() -> None:
    registry = Registry.load()
    assert {"catalogue", "dummy"} <= set(registry.plugins)
    assert registry.plugins["catalogue"].distribution == "orchestra-core"
    assert registry.plugins["dummy"].distribution == "orchestra-core"
    assert registry.service_types["mailbox"].__module__.startswith("orchestra_core.catalogue")
    dummy = [b for b in registry.backends.values() if b.plugin.name == "dummy"]
    assert dummy, "the dummy plugin provides backends"
    assert all(b.service_kind in registry.service_types for b in dummy)


def crossing(kind: str) -> ResourceEvent:
    return ResourceEvent(
        kind=kind,
        object_key="database:mysql/shop",
        account="acme",
        resource="test-gadget-disk",
        usage=2.0,
        allocation=1.0,
        at=datetime(2026, 11, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize("kind", ["exceeded", "recovered"])
def test_hook_orchestra_resource_exceeded_and_recovered_each_fire_their_own(kind: str) -> None:
    seen: list[tuple[str, ResourceEvent]] = []

    class Watcher:
        @hookimpl
        def orchestra_resource_exceeded(self, event: ResourceEvent) -> None:
            seen.append(("exceeded", event))

        @hookimpl
        def orchestra_resource_recovered(self, event: ResourceEvent) -> None:
            seen.append(("recovered", event))

    event = crossing(kind)
    load(watcher=Watcher()).resource_crossed(event)
    assert seen == [(kind, event)]


def test_hook_orchestra_resource_recovered_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        @hookimpl
        def orchestra_resource_recovered(self, event: ResourceEvent) -> None:
            raise RuntimeError("ticket system is down")

    with caplog.at_level(logging.ERROR, logger="orchestra_core.registry"):
        load(broken=Broken()).resource_crossed(crossing("recovered"))  # must not raise
    [record] = [r for r in caplog.records if r.name == "orchestra_core.registry"]
    assert "orchestra_resource_recovered" in record.getMessage()
    assert record.exc_info is not None and "ticket system" in str(record.exc_info[1])

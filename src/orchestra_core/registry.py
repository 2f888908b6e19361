"""Plugin loading and the typed facade through which core code calls hooks.

Plugins are found through the ``orchestra.plugins`` entry-point group with stevedore (the
built-in catalogue and dummy driver register the same way) and registered with pluggy, which
checks every hook implementation against its spec. A plugin that fails to import, or that
implements a hook that does not exist, is a :class:`PluginLoadError` naming it and its
distribution; nothing is skipped silently.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import pluggy
from stevedore import ExtensionManager

from orchestra_core import hookspecs
from orchestra_core.backends.base import Backend
from orchestra_core.billing.metrics import BillingMetric
from orchestra_core.errors import ConfigurationError, PluginLoadError
from orchestra_core.execution.results import OperationLog
from orchestra_core.execution.server_settings import CORE_SETTINGS
from orchestra_core.model.servers import ROUTE_OWN
from orchestra_core.model.service import Service
from orchestra_core.planning.plan import Plan
from orchestra_core.resources.definitions import Monitor, ResourceDefinition
from orchestra_core.resources.evaluation import ResourceEvent

__all__ = ["ENTRY_POINT_GROUP", "BackendInfo", "PluginInfo", "Registry"]

ENTRY_POINT_GROUP = "orchestra.plugins"
log = logging.getLogger(__name__)
T = TypeVar("T")


@attrs.frozen
class PluginInfo:
    """Where a plugin comes from: its entry-point name, distribution and version."""

    name: str
    distribution: str | None = None
    version: str | None = None


@attrs.frozen
class BackendInfo:
    """A registered backend class and the plugin that contributed it."""

    name: str
    cls: type[Backend[Any]]
    plugin: PluginInfo

    @property
    def service_kind(self) -> str:
        """The ``kind`` of the service type the backend provisions."""
        return str(self.cls.service_type.kind)


def _dist_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """The distribution (name, version) that declares an entry point, when it can be found.

    stevedore's cached entry points do not carry their distribution, so look it up in the
    installed metadata by group, name and target.
    """
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        for candidate in importlib.metadata.entry_points(group=entry_point.group):
            if candidate.name == entry_point.name and candidate.value == entry_point.value:
                dist = candidate.dist
                break
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


class Registry:
    """Every service type, backend, monitor, resource and billing metric that plugins provide.

    Build it with :meth:`load` (entry points, plus any extra plugin objects, for tests and
    embedding applications). Contributions are collected once and checked: duplicate names and
    references to unknown types or monitors fail with the plugins named.
    """

    def __init__(self, pm: pluggy.PluginManager, plugins: Mapping[str, PluginInfo]) -> None:
        self._pm = pm
        self.plugins: dict[str, PluginInfo] = dict(plugins)
        self.service_types: dict[str, type[Service]] = {}
        self.backends: dict[str, BackendInfo] = {}
        self.monitors: dict[str, type[Monitor[Any, Any]]] = {}
        self.resources: dict[str, ResourceDefinition] = {}
        self.billing_metrics: dict[str, BillingMetric] = {}
        self._collect()

    # -- loading --------------------------------------------------------------------------------

    @classmethod
    def load(
        cls, *, entry_points: bool = True, extra: Mapping[str, object] | None = None
    ) -> Registry:
        """Load the installed plugins (unless ``entry_points`` is False) and ``extra`` ones.

        ``extra`` maps a plugin name to a module or object with hook implementations.
        """
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        infos: dict[str, PluginInfo] = {}

        def register(name: str, plugin: object, info: PluginInfo) -> None:
            try:
                pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginLoadError(name, str(exc), distribution=info.distribution) from exc
            infos[name] = info

        if entry_points:

            def failed(_mgr: object, ep: importlib.metadata.EntryPoint, err: BaseException) -> None:
                dist, _ = _dist_of(ep)
                reason = f"{type(err).__name__}: {err}"
                raise PluginLoadError(ep.name, reason, distribution=dist) from err

            manager: ExtensionManager[Any] = ExtensionManager(
                namespace=ENTRY_POINT_GROUP,
                invoke_on_load=False,
                on_load_failure_callback=failed,
            )
            for ext in sorted(manager.extensions, key=lambda e: e.name):
                dist, version = _dist_of(ext.entry_point)
                register(ext.name, ext.plugin, PluginInfo(ext.name, dist, version))
        for name, plugin in (extra or {}).items():
            register(name, plugin, PluginInfo(name))
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or "?"
            info = infos.get(name, PluginInfo(name))
            raise PluginLoadError(name, str(exc), distribution=info.distribution) from exc
        return cls(pm, infos)

    def _contributions(self, hook: Any) -> list[tuple[PluginInfo, Any]]:
        """Call each implementation of a contribution hook, remembering who answered."""
        out: list[tuple[PluginInfo, Any]] = []
        # get_hookimpls() is in registration order (pluggy calls them in reverse).
        for impl in hook.get_hookimpls():
            info = self.plugins.get(impl.plugin_name, PluginInfo(impl.plugin_name))
            try:
                items = impl.function()
            except Exception as exc:
                raise PluginLoadError(
                    info.name, f"{hook.name} raised {exc!r}", distribution=info.distribution
                ) from exc
            for item in items or ():
                out.append((info, item))
        return out

    def _collect(self) -> None:
        hook = self._pm.hook
        owners: dict[str, PluginInfo] = {}

        def add(
            table: dict[str, T],
            kind: str,
            name: str,
            item: T,
            info: PluginInfo,
        ) -> None:
            if name in table:
                first = owners[f"{kind}:{name}"]
                raise PluginLoadError(
                    info.name,
                    f"{kind} {name!r} is already registered by plugin {first.name!r}",
                    distribution=info.distribution,
                )
            owners[f"{kind}:{name}"] = info
            table[name] = item

        for info, service_type in self._contributions(hook.orchestra_service_types):
            add(self.service_types, "service type", service_type.kind, service_type, info)
        for info, backend in self._contributions(hook.orchestra_backends):
            kind = getattr(backend.service_type, "kind", None)
            if self.service_types.get(str(kind)) is not backend.service_type:
                raise PluginLoadError(
                    info.name,
                    f"backend {backend.name!r} provisions {backend.service_type!r}, "
                    "which no plugin registers as a service type",
                    distribution=info.distribution,
                )
            _own_keys_free(backend.name, backend.settings_class, info)
            if not backend.renders():
                raise PluginLoadError(
                    info.name,
                    f"backend {backend.name!r} renders nothing: implement render_save "
                    "(and render_delete, render_suspended, render_set_password as its "
                    "actions need) or render",
                    distribution=info.distribution,
                )
            add(
                self.backends,
                "backend",
                backend.name,
                BackendInfo(backend.name, backend, info),
                info,
            )
        for info, monitor in self._contributions(hook.orchestra_monitors):
            _own_keys_free(monitor.name, monitor.settings_class, info)
            add(self.monitors, "monitor", monitor.name, monitor, info)
        self._check_sections({name: owners[f"monitor:{name}"] for name in self.monitors})
        for info, resource in self._contributions(hook.orchestra_resources):
            missing = [m for m in resource.monitors if m not in self.monitors]
            if missing:
                raise PluginLoadError(
                    info.name,
                    f"resource {resource.name!r} uses unknown monitors {missing}",
                    distribution=info.distribution,
                )
            add(self.resources, "resource", resource.name, resource, info)
        for info, metric in self._contributions(hook.orchestra_billing_metrics):
            if metric.resource not in self.resources:
                raise PluginLoadError(
                    info.name,
                    f"billing metric {metric.code!r} uses unknown resource {metric.resource!r}",
                    distribution=info.distribution,
                )
            add(self.billing_metrics, "billing metric", metric.code, metric, info)

    def _check_sections(self, monitor_plugins: Mapping[str, PluginInfo]) -> None:
        """Backends and monitors sharing a settings section share its settings class, and a
        section is not a key the core keeps for itself (``ssh``, ``timeouts``, ``state_dir``)."""
        users: dict[str, list[tuple[str, type[Any], PluginInfo]]] = {}
        for backend in self.backends.values():
            if backend.cls.settings_section:
                users.setdefault(backend.cls.settings_section, []).append(
                    (backend.name, backend.cls.settings_class, backend.plugin)
                )
        for name, monitor in self.monitors.items():
            if monitor.settings_section:
                users.setdefault(monitor.settings_section, []).append(
                    (name, monitor.settings_class, monitor_plugins[name])
                )
        for section, named in users.items():
            first, cls, info = named[0]
            if section in (*CORE_SETTINGS, "state_dir"):
                raise PluginLoadError(
                    info.name,
                    f"{first!r} has the settings section {section!r}, a key of a server's "
                    "settings that the core keeps for itself: rename it",
                    distribution=info.distribution,
                )
            for other, other_cls, other_info in named[1:]:
                if other_cls is not cls:
                    raise PluginLoadError(
                        other_info.name,
                        f"{other!r} shares the settings section {section!r} with {first!r} but "
                        f"has another settings class ({other_cls.__name__}, not {cls.__name__})",
                        distribution=other_info.distribution,
                    )

    # -- look-ups -------------------------------------------------------------------------------

    def backend(self, name: str) -> type[Backend[Any]]:
        """The backend class of this name; a clear error listing the installed ones if absent."""
        try:
            return self.backends[name].cls
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise ConfigurationError(
                f"backend {name!r} is not installed (installed backends: {known})"
            ) from None

    def service_type(self, kind: str) -> type[Service]:
        """The service type of this kind; a clear error listing the known ones if absent."""
        try:
            return self.service_types[kind]
        except KeyError:
            known = ", ".join(sorted(self.service_types)) or "none"
            raise ConfigurationError(
                f"service type {kind!r} is not registered (known: {known})"
            ) from None

    def by_plural(self) -> dict[str, type[Service]]:
        """Service types by their inventory section name (``domains``, ``mailboxes``...)."""
        return {t.plural: t for t in self.service_types.values()}

    def tools(self, name: str) -> tuple[str, ...]:
        """The commands a server needs for the backend or monitor ``name``."""
        if name in self.monitors:
            return self.monitors[name].tools
        return self.backend(name).tools

    def routable(self) -> set[str]:
        """What a route may name: every backend, and every monitor (which a route sends to
        the servers that measure it)."""
        return {*self.backends, *self.monitors}

    def drivers(self) -> list[tuple[PluginInfo, list[BackendInfo]]]:
        """Each plugin that provides backends, with them, sorted by plugin name."""
        grouped: dict[str, list[BackendInfo]] = {}
        for info in self.backends.values():
            grouped.setdefault(info.plugin.name, []).append(info)
        return [
            (self.plugins.get(name, PluginInfo(name)), sorted(items, key=lambda b: b.name))
            for name, items in sorted(grouped.items())
        ]

    # -- events ---------------------------------------------------------------------------------

    def plan_ready(self, plan: Plan) -> None:
        """Fire ``orchestra_plan_ready``; an exception stops the apply."""
        self._pm.hook.orchestra_plan_ready(plan=plan)

    def operation_finished(self, log_: OperationLog) -> None:
        """Fire ``orchestra_operation_finished``; a plugin's exception is logged, not raised."""
        _safely(
            "orchestra_operation_finished",
            lambda: self._pm.hook.orchestra_operation_finished(log=log_),
        )

    def resource_crossed(self, event: ResourceEvent) -> None:
        """Fire ``orchestra_resource_exceeded`` or ``orchestra_resource_recovered`` for
        ``event``; a plugin's exception is logged, not raised."""
        hook = f"orchestra_resource_{event.kind}"
        _safely(hook, lambda: getattr(self._pm.hook, hook)(event=event))


def _safely(hook: str, call: Callable[[], Sequence[object] | None]) -> None:
    try:
        call()
    except Exception:
        log.exception("an %s hook failed", hook)


def _own_keys_free(name: str, settings_class: type[Any] | None, info: PluginInfo) -> None:
    """A backend's or monitor's settings may not take a name a route's settings keep for the
    core (:data:`ROUTE_OWN`): the route's value would never reach it."""
    if settings_class is None or not attrs.has(settings_class):
        return
    taken = sorted(set(ROUTE_OWN) & {field.name for field in attrs.fields(settings_class)})
    if taken:
        raise PluginLoadError(
            info.name,
            f"{name!r} has a setting named {taken[0]!r}, which a route's settings keep for the "
            "core (the timeouts of its operations): rename it",
            distribution=info.distribution,
        )

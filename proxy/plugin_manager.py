"""The plugin manager and a small typed facade over `pm.hook` (the rest of the code calls
`Plugins.routes()`, never the hooks directly).

Every hook goes through pluggy's hook caller, so `tryfirst`/`trylast`, hook wrappers and
`plugins.trace` work. Which plugin declared a route is found from its handler (a function
of the plugin's module, or a method of the plugin object): that names the plugin in error
messages, in `nhn-proxy plugins`, and gives the route its settings section and logger.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType, ModuleType
from typing import Any

import marshmallow
import pluggy

from nhn_proxy import __version__, hookspecs
from nhn_proxy.errors import describe_validation
from nhn_proxy.hookspecs import DemoAccount, PluginConfig
from nhn_proxy.routing import Route
from nhn_proxy.settings import Settings, SettingsError

logger = logging.getLogger("nhn_proxy.plugins")
ENTRY_POINT_GROUP = "nhn_proxy.plugins"
# The built-in services, registered under the module's last name ("token", "compute", …)
# in reverse, so that pluggy (last registered, first called) calls them in this order.
BUILTIN_PLUGINS = (
    "nhn_proxy.plugins.token",
    "nhn_proxy.plugins.compute",
    "nhn_proxy.plugins.network",
    "nhn_proxy.plugins.kubernetes",
    "nhn_proxy.plugins.storage",
    "nhn_proxy.plugins.volume",
)
DISTRIBUTION = "nhn-cloud-proxy"


class PluginError(Exception):
    """A plugin cannot be loaded or breaks the contract; raised at start-up."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One loaded plugin, as `nhn-proxy plugins` shows it."""

    name: str
    version: str
    source: str  # module, and the distribution that installed it
    routes: tuple[str, ...]  # "GET /api/nhn/compute/flavors/"
    operations: tuple[str, ...]  # long-running operations it watches


class Plugins:
    """What the core asks of plugins."""

    def __init__(
        self,
        manager: pluggy.PluginManager,
        disabled: tuple[str, ...] = (),
        distributions: Mapping[str, str] | None = None,
    ) -> None:
        self.manager = manager
        self.disabled = disabled
        # plugin name → "distribution version", for plugins installed through entry points
        self._distributions = dict(distributions or {})

    @property
    def names(self) -> list[str]:
        return sorted(
            name for name, plugin in self.manager.list_name_plugin() if plugin is not None
        )

    def config(self, settings: Settings) -> PluginConfig:
        """Load every plugin's own settings section with the schema it declares."""
        owners: dict[str, str] = {}
        sections: dict[str, Mapping[str, Any]] = {}
        hook = self.manager.hook.nhn_proxy_settings
        for result in self._call("its settings", hook):
            if not isinstance(result, Mapping):
                raise PluginError(f"nhn_proxy_settings returned {result!r}, not a dict")
            for name, schema in result.items():
                owner = _module_owner(self.manager, getattr(schema, "__module__", ""))
                if name in owners:
                    raise PluginError(
                        f"plugins {owners[name]} and {owner} both declare settings [{name}]"
                    )
                if not (isinstance(schema, type) and issubclass(schema, marshmallow.Schema)):
                    raise PluginError(f"plugin {owner}: settings [{name}] is not a Schema class")
                owners[name] = owner
                sections[name] = MappingProxyType(_load_section(name, schema, settings))
        return PluginConfig(regions=settings.regions.allowed, sections=sections)

    def routes(self, config: PluginConfig) -> list[Route]:
        """Every plugin's routes in hook call order, each marked with its plugin."""
        routes: list[Route] = []
        seen: dict[tuple[str, str], str] = {}
        operations: dict[str, str] = {}
        hook = self.manager.hook.nhn_proxy_routes
        for result in self._call("its routes", hook, config=config):
            for route in result or ():
                if not isinstance(route, Route):
                    raise PluginError(f"a plugin returned {route!r}, not a Route")
                plugin_name = self.owner_of(route.handler)
                key = (route.method, route.path)
                if key in seen:
                    raise PluginError(
                        f"plugins {seen[key]} and {plugin_name} both serve "
                        f"{route.method} {route.path}"
                    )
                seen[key] = plugin_name
                if route.operation is not None:
                    owner = operations.setdefault(route.operation, plugin_name)
                    if owner != plugin_name:
                        raise PluginError(
                            f"plugins {owner} and {plugin_name} both watch {route.operation}"
                        )
                routes.append(replace(route, plugin=plugin_name))
        return routes

    def demo_examples(self, demo: DemoAccount) -> dict[type[marshmallow.Schema], dict[str, Any]]:
        """Example request values for the demo, merged: the first value of a field wins."""
        merged: dict[type[marshmallow.Schema], dict[str, Any]] = {}
        hook = self.manager.hook.nhn_proxy_demo_examples
        for result in self._call("its demo examples", hook, demo=demo):
            for schema, values in dict(result or {}).items():
                target = merged.setdefault(schema, {})
                for name, value in dict(values).items():
                    target.setdefault(name, value)
        return merged

    def describe(self, routes: Iterable[Route]) -> list[PluginInfo]:
        """Each loaded plugin with its version, origin, routes and watched operations."""
        by_plugin: dict[str, list[Route]] = {}
        for route in routes:
            by_plugin.setdefault(route.plugin, []).append(route)
        infos = []
        # newest first: the order in which the hooks are called (tryfirst/trylast aside)
        for name, plugin in reversed(self.manager.list_name_plugin()):
            if plugin is None:
                continue
            module = getattr(plugin, "__name__", None) or type(plugin).__module__
            distribution = self._distributions.get(name)
            if distribution is None and module.startswith("nhn_proxy."):
                distribution = f"{DISTRIBUTION} {__version__}"
            version = distribution.rsplit(" ", 1)[-1] if distribution else "unknown"
            source = module + (f" ({distribution.rsplit(' ', 1)[0]})" if distribution else "")
            own = by_plugin.get(name, [])
            infos.append(
                PluginInfo(
                    name=name,
                    version=version,
                    source=source,
                    routes=tuple(f"{route.method} /api/nhn{route.path}" for route in own),
                    operations=tuple(route.operation for route in own if route.operation),
                )
            )
        return infos

    def owner_of(self, handler: Callable[..., Any]) -> str:
        """The name of the plugin whose handler this is ("?" when it cannot be told)."""
        bound_to = getattr(handler, "__self__", None)
        if bound_to is not None and not isinstance(bound_to, ModuleType):
            name = self.manager.get_name(bound_to)
            if name:
                return name
        return _module_owner(self.manager, getattr(handler, "__module__", None) or "")

    def _call(self, what: str, hook: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
        """Call a hook through pluggy; a failure names the plugin it came from."""
        try:
            return hook(**kwargs)
        except Exception as exc:
            culprit = _culprit(exc, hook)
            raise PluginError(
                f"plugin {culprit} failed to list {what}: {type(exc).__name__}: {exc}"
            ) from None


def _module_owner(manager: pluggy.PluginManager, module: str) -> str:
    for name, plugin in manager.list_name_plugin():
        if isinstance(plugin, ModuleType):
            root = plugin.__name__
            if module == root or module.startswith(root + "."):
                return name
        elif plugin is not None and type(plugin).__module__ == module:
            return name
    return "?"


def _culprit(exc: BaseException, hook: pluggy.HookCaller) -> str:
    """The plugin whose hook implementation the exception went through last."""
    codes: dict[types.CodeType, str] = {}
    for impl in hook.get_hookimpls():
        function = getattr(impl.function, "__func__", impl.function)
        code = getattr(function, "__code__", None)
        if code is not None:
            codes[code] = impl.plugin_name
    culprit = "?"
    trace = exc.__traceback__
    while trace is not None:
        culprit = codes.get(trace.tb_frame.f_code, culprit)
        trace = trace.tb_next
    return culprit


def _load_section(
    name: str, schema: type[marshmallow.Schema], settings: Settings
) -> dict[str, Any]:
    raw = settings.raw.get(name, {})
    if not isinstance(raw, Mapping):
        raise SettingsError(f"settings [{name}] must be a table")
    try:
        return schema().load(dict(raw))
    except marshmallow.ValidationError as exc:
        problem = describe_validation(exc.messages).removeprefix("invalid request: ")
        raise SettingsError(f"settings [{name}]: {problem}") from None


def load_plugins(settings: Settings, extra: Iterable[object] = ()) -> Plugins:
    """Register built-ins, entry-point plugins and `extra` ones, minus the disabled names."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in settings.plugins.disabled:
        manager.set_blocked(name)
    distributions: dict[str, str] = {}
    try:
        for module_name in reversed(BUILTIN_PLUGINS):
            name = module_name.rsplit(".", 1)[-1]
            if manager.is_blocked(name):
                continue
            manager.register(_import(module_name), name=name)
        _load_entry_points(manager, distributions)
        for plugin in extra:
            name = getattr(plugin, "name", None) or getattr(plugin, "__name__", None)
            if name and manager.is_blocked(name):
                continue
            manager.register(plugin, name=name)
        manager.check_pending()
    except PluginError:
        raise
    except pluggy.PluginValidationError as exc:
        name = manager.get_name(exc.plugin) or getattr(exc.plugin, "__name__", "?")
        raise PluginError(f"plugin {name} is invalid: {exc.args[0]}") from None
    except Exception as exc:  # a broken third-party plugin must stop start-up cleanly
        raise PluginError(f"a plugin failed to load: {type(exc).__name__}: {exc}") from None
    if settings.plugins.trace:
        manager.trace.root.setwriter(logger.debug)
        manager.enable_tracing()
    return Plugins(manager, tuple(settings.plugins.disabled), distributions)


def _load_entry_points(manager: pluggy.PluginManager, distributions: dict[str, str]) -> None:
    """`manager.load_setuptools_entrypoints`, but a plugin that fails to import is named."""
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if manager.has_plugin(entry_point.name) or manager.is_blocked(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {entry_point.name} ({entry_point.value}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        manager.register(plugin, name=entry_point.name)
        if entry_point.dist is not None:
            distributions[entry_point.name] = f"{entry_point.dist.name} {entry_point.dist.version}"


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"plugin {module_name} failed to import: {exc}") from None

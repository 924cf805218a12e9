"""The plugin manager and a small typed facade over `pm.hook` (the rest of the code calls
`Plugins.routes()`, never the hooks directly)."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterable
from types import ModuleType

import pluggy
from nhn_proxy import hookspecs
from nhn_proxy.routing import Route
from nhn_proxy.settings import Settings
from nhn_proxy.tasks.watch import Watcher

logger = logging.getLogger("nhn_proxy.plugins")
ENTRY_POINT_GROUP = "nhn_proxy.plugins"
# The built-in services, registered under the module's last name ("token", "compute", …).
BUILTIN_PLUGINS = (
    "nhn_proxy.plugins.token",
    "nhn_proxy.plugins.compute",
    "nhn_proxy.plugins.network",
    "nhn_proxy.plugins.kubernetes",
    "nhn_proxy.plugins.storage",
)


class PluginError(Exception):
    """A plugin cannot be loaded or breaks the contract; raised at start-up."""


class Plugins:
    """What the core asks of plugins."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager

    @property
    def names(self) -> list[str]:
        return sorted(
            name for name, plugin in self.manager.list_name_plugin() if plugin is not None
        )

    def routes(self, settings: Settings) -> list[Route]:
        routes: list[Route] = []
        seen: dict[tuple[str, str], str] = {}
        # built-ins first, then third-party plugins, in registration order
        for impl in self.manager.hook.nhn_proxy_routes.get_hookimpls():
            plugin_name = self.manager.get_name(impl.plugin) or "?"
            try:
                result = impl.function(settings=settings)
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name} failed to list its routes: {type(exc).__name__}: {exc}"
                ) from None
            for route in result or ():
                if not isinstance(route, Route):
                    raise PluginError(f"plugin {plugin_name} returned {route!r}, not a Route")
                key = (route.method, route.path)
                if key in seen:
                    raise PluginError(
                        f"plugins {seen[key]} and {plugin_name} both serve "
                        f"{route.method} {route.path}"
                    )
                seen[key] = plugin_name
                routes.append(route)
        return routes

    def watchers(self, settings: Settings) -> dict[str, Watcher]:
        """Every declared long-running operation and how to follow it."""
        watchers: dict[str, Watcher] = {}
        owners: dict[str, str] = {}
        for impl in self.manager.hook.nhn_proxy_watchers.get_hookimpls():
            plugin_name = self.manager.get_name(impl.plugin) or "?"
            try:
                result = impl.function(settings=settings) or {}
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name} failed to list its watchers: {type(exc).__name__}: {exc}"
                ) from None
            for operation, watcher in dict(result).items():
                if not isinstance(watcher, Watcher):
                    raise PluginError(f"plugin {plugin_name} returned {watcher!r}, not a Watcher")
                if operation in owners:
                    raise PluginError(
                        f"plugins {owners[operation]} and {plugin_name} both watch {operation}"
                    )
                owners[operation] = plugin_name
                watchers[operation] = watcher
        return watchers


def load_plugins(settings: Settings, extra: Iterable[object] = ()) -> Plugins:
    """Register built-ins, entry-point plugins and `extra` ones, minus the disabled names."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in settings.plugins.disabled:
        manager.set_blocked(name)
    try:
        for module_name in BUILTIN_PLUGINS:
            name = module_name.rsplit(".", 1)[-1]
            if manager.is_blocked(name):
                continue
            manager.register(_import(module_name), name=name)
        _load_entry_points(manager)
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
    return Plugins(manager)


def _load_entry_points(manager: pluggy.PluginManager) -> None:
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


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"plugin {module_name} failed to import: {exc}") from None

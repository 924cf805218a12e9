"""Hook specifications of nhn-cloud-proxy (pluggy project `nhn_proxy`), and the types of
their arguments.

A plugin is any module or object with functions marked `@hookimpl` whose names are listed
here. The built-in services (`nhn_proxy.plugins.token`, `…compute`, …) are ordinary
plugins; third-party ones are found through the entry-point group `nhn_proxy.plugins`. The
core calls every hook through pluggy's hook caller, so `tryfirst`/`trylast`, wrappers and
`plugins.trace` apply. Results are used in pluggy's call order: `tryfirst` implementations,
then the rest from the most recently registered plugin to the first, then `trylast` ones;
built-ins are registered so that they are called token, compute, network, kubernetes,
storage, volume, after every third-party plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import marshmallow

    from nhn_proxy.routing import Route

PROJECT = "nhn_proxy"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """What a plugin may know of the settings when it declares its routes: the allowed
    regions and the plugins' own sections, each as its schema (`nhn_proxy_settings`)
    loaded it."""

    regions: tuple[str, ...]
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """The section `[name]`, empty when no plugin declares it."""
        return self.sections.get(name, MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """The embedded emulator's demo account (`nhn-proxy serve --emulator`)."""

    username: str
    password: str
    tenant_id: str  # Compute, Network, NKS
    storage_tenant_id: str  # Object Storage
    keypair_name: str  # a key pair the demo tenant already has
    region: str

    @property
    def storage_account(self) -> str:
        return f"AUTH_{self.storage_tenant_id}"


@hookspec
def nhn_proxy_settings() -> dict[str, type[marshmallow.Schema]]:
    """Return the settings sections this plugin owns, `{section name: marshmallow Schema}`.

    Called once at start-up, before `nhn_proxy_routes`. The core loads the section (`[name]`
    of the settings file; `config/default.toml` may hold its defaults) with the schema;
    a value it refuses stops start-up with one line naming the section. A plugin's own
    section is the one named like the plugin: its handlers read it as `call.settings`, its
    `nhn_proxy_routes` as `config.section(name)`. Two plugins claiming one section is a
    start-up error.
    """


@hookspec
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    """Return the public routes this plugin serves (paths relative to `/api/nhn`).

    Called once while the app is assembled, before it serves anything. Each `Route`
    names its handler, the NHN headers it needs and its marshmallow schemas, so the core
    can check headers and bodies and describe the route in the OpenAPI document; a route
    with an `operation` and its `Watcher` also runs as an async task on request. Routes are
    added in hook call order. Two routes with the same method and path, or two watchers
    for one operation name, are a start-up error.
    """


@hookspec
def nhn_proxy_demo_examples(demo: DemoAccount) -> dict[type[marshmallow.Schema], dict[str, Any]]:
    """Return example values that work against the embedded emulator, by request schema:
    `{TokenRequestSchema: {"username": demo.username, ...}}`.

    Called once by `nhn-proxy serve --emulator`; the values pre-fill Swagger UI's "Try it
    out". For one schema field the first value in hook call order wins, so a third-party
    plugin overrides a built-in example without patching it.
    """

"""Hook specifications of nhn-cloud-proxy (pluggy project `nhn_proxy`).

A plugin is any module or object with functions marked `@hookimpl` whose names are listed
here. The built-in services (`plugins.token`, `plugins.compute`, …) are ordinary plugins;
third-party ones are found through the entry-point group `nhn_proxy.plugins`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from nhn_proxy.routing import Route
    from nhn_proxy.settings import Settings
    from nhn_proxy.tasks.watch import Watcher

PROJECT = "nhn_proxy"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def nhn_proxy_routes(settings: Settings) -> list[Route]:
    """Return the public routes this plugin serves (paths relative to `/api/nhn`).

    Called once while the app is assembled, before it serves anything. Each `Route`
    names its handler, the NHN headers it needs and its marshmallow schemas, so the core
    can check headers and bodies and describe the route in the OpenAPI document. Two
    plugins claiming the same method and path is a start-up error.
    """


@hookspec
def nhn_proxy_watchers(settings: Settings) -> dict[str, Watcher]:
    """Return watchers for this plugin's long-running operations, keyed by operation name.

    Called once while the app is assembled. A `Route` whose `operation` names a key here
    accepts `Prefer: respond-async`: the core answers 202 with a task, makes the upstream
    call in the background and follows the resource with the watcher until it settles
    (design §4). Two plugins declaring the same operation name is a start-up error.
    """

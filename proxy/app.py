"""`create_app(settings)`: the whole proxy, assembled in explicit steps."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp_cors
from aiohttp import web

from proxy.errors import error_response
from proxy.keys import ALLOWED_ORIGINS, METRICS, SETTINGS, UPSTREAM
from proxy.metrics import Metrics
from proxy.middlewares import EXPOSED_HEADERS, request_middleware
from proxy.openapi import setup_openapi
from proxy.plugins import Plugins, load_plugins
from proxy.routing import add_routes, reply
from proxy.settings import Settings
from proxy.upstream import Upstream

PLUGINS: web.AppKey[Plugins] = web.AppKey("nhn_proxy.plugins")
ALLOWED_REQUEST_HEADERS = (
    "Content-Type",
    "X-Request-ID",
    "X-NHN-Region",
    "X-NHN-Token",
    "X-NHN-Tenant-ID",
    "X-NHN-Storage-Account",
    "Prefer",
    "Last-Event-ID",
)


def create_app(settings: Settings, *, extra_plugins: Iterable[object] = ()) -> web.Application:
    app = web.Application(
        middlewares=[request_middleware],
        client_max_size=settings.server.max_body_size,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    upstream = Upstream(settings.upstream, settings.regions.allowed)
    app[UPSTREAM] = upstream
    app.cleanup_ctx.append(upstream.lifespan)
    plugins = load_plugins(settings, extra_plugins)
    app[PLUGINS] = plugins
    add_routes(app, plugins.routes(settings), settings)
    setup_health(app)
    setup_openapi(app)
    setup_cors(app, settings)
    return app


def setup_health(app: web.Application) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        return reply({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        if not request.app[UPSTREAM].ready:
            return error_response(503, "upstream client not running")
        return reply({"status": "ready", "plugins": request.app[PLUGINS].names})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=request.app[METRICS].render().encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)


def setup_cors(app: web.Application, settings: Settings) -> None:
    """Allowed origins get CORS headers on every route; others get none at all."""
    origins = settings.cors.allow_origins
    app[ALLOWED_ORIGINS] = frozenset(origins)
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False,  # tokens travel in headers, never cookies; also keeps "*" safe
        expose_headers=EXPOSED_HEADERS,
        allow_headers=ALLOWED_REQUEST_HEADERS,
        allow_methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        max_age=settings.cors.max_age,
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        if isinstance(route.resource, web.StaticResource):
            continue
        cors.add(route)

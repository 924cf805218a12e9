"""`create_app(settings)`: the whole proxy, assembled in explicit steps."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

import aiohttp_cors
from aiohttp import web

from nhn_proxy import jsonio
from nhn_proxy.call import RouteEnvironment
from nhn_proxy.errors import error_response
from nhn_proxy.keys import ALLOWED_ORIGINS, METRICS, SETTINGS, UPSTREAM
from nhn_proxy.metrics import Metrics
from nhn_proxy.middlewares import EXPOSED_HEADERS, request_middleware
from nhn_proxy.openapi import setup_openapi
from nhn_proxy.plugin_manager import Plugins, load_plugins
from nhn_proxy.routing import Route, add_routes
from nhn_proxy.settings import Settings
from nhn_proxy.tasks.manager import TaskManager, make_store
from nhn_proxy.tasks.routes import operation_watchers, task_routes, wrap_operations
from nhn_proxy.tasks.store import TaskStore
from nhn_proxy.upstream import Upstream

PLUGINS: web.AppKey[Plugins] = web.AppKey("nhn_proxy.plugins")
ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("nhn_proxy.routes")
TASK_STORE: web.AppKey[TaskStore] = web.AppKey("nhn_proxy.task_store")
TASK_MANAGER: web.AppKey[TaskManager] = web.AppKey("nhn_proxy.task_manager")
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
# headers of byte answers (object downloads) a browser may only read when they are exposed
BYTES_EXPOSED_HEADERS = ("ETag", "Content-Range", "Accept-Ranges", "Content-Disposition")


def create_app(settings: Settings, *, extra_plugins: Iterable[object] = ()) -> web.Application:
    app = web.Application(
        middlewares=[request_middleware],
        client_max_size=settings.server.max_body_size,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    upstream = Upstream(
        settings.upstream, settings.regions.allowed, observer=app[METRICS].observe_upstream
    )
    app[UPSTREAM] = upstream
    app.cleanup_ctx.append(upstream.lifespan)
    plugins = load_plugins(settings, extra_plugins)
    app[PLUGINS] = plugins
    config = plugins.config(settings)
    routes = plugins.routes(config)
    manager = setup_tasks(app, settings, routes)
    environment = RouteEnvironment(
        upstream=upstream,
        allowed_regions=settings.regions.allowed,
        max_pages=settings.upstream.max_pages,
        sections=config.sections,
    )
    served = [*wrap_operations(routes, manager), *task_routes(manager, app[TASK_STORE])]
    app[ROUTES] = tuple(served)
    add_routes(app, served, environment)
    setup_health(app)
    setup_openapi(app, served)
    setup_cors(app, settings, served)
    return app


def setup_tasks(app: web.Application, settings: Settings, routes: list[Route]) -> TaskManager:
    """The task store and manager (design §4). The manager starts after the store and the
    upstream client and stops before them: stopping interrupts its tasks in the store."""
    store = make_store(settings)
    app[TASK_STORE] = store
    manager = TaskManager(store, settings.tasks, operation_watchers(routes))
    app[TASK_MANAGER] = manager

    @contextlib.asynccontextmanager
    async def store_lifespan(_app: web.Application) -> AsyncIterator[None]:
        await store.start()
        try:
            yield
        finally:
            await store.close()

    app.cleanup_ctx.append(store_lifespan)
    app.cleanup_ctx.append(manager.lifespan)
    app.on_shutdown.append(manager.on_shutdown)
    return manager


def setup_health(app: web.Application) -> None:
    def reply(payload: dict[str, object]) -> web.Response:
        return web.Response(body=jsonio.dumps(payload), content_type="application/json")

    async def healthz(_request: web.Request) -> web.Response:
        return reply({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        if not request.app[UPSTREAM].ready:
            return error_response(503, "upstream client not running")
        try:
            store_ready = await request.app[TASK_STORE].ready()
        except Exception:  # a store that cannot even say is not ready
            store_ready = False
        if not store_ready:
            return error_response(503, "task store not reachable")
        return reply({"status": "ready", "plugins": request.app[PLUGINS].names})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=request.app[METRICS].render().encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)


def setup_cors(app: web.Application, settings: Settings, routes: Iterable[Route] = ()) -> None:
    """Allowed origins get CORS headers on every route; others get none at all. Besides
    the NHN headers, a browser may send the headers a route reads (`request_headers`,
    e.g. `Range`) and read those of a download (e.g. `ETag`)."""
    origins = settings.cors.allow_origins
    app[ALLOWED_ORIGINS] = frozenset(origins)
    declared = {name for route in routes for name in route.request_headers}
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False,  # tokens travel in headers, never cookies; also keeps "*" safe
        expose_headers=(*EXPOSED_HEADERS, *BYTES_EXPOSED_HEADERS),
        allow_headers=(
            *ALLOWED_REQUEST_HEADERS,
            *sorted(declared - set(ALLOWED_REQUEST_HEADERS)),
        ),
        allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"],
        max_age=settings.cors.max_age,
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        if isinstance(route.resource, web.StaticResource):
            continue
        cors.add(route)

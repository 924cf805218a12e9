"""The emulator application: every service under ``/{region}/{service}`` (identity under
``/identity``) in one aiohttp app, plus the ``/_emulator`` control plane.

Per request the dispatcher checks the region, validates ``X-Auth-Token`` and its tenant
scope (except on the public version documents), settles finished transitions, then routes
the native path through the service's router; anything it cannot route answers 501 in that
service's error style (after the token check, as before).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from nhn_proxy.emulator.base import Clock, Ctx, Router
from nhn_proxy.emulator.block_storage import routes as block_storage
from nhn_proxy.emulator.compute import routes as compute
from nhn_proxy.emulator.control import (
    SERVICE_SEGMENTS,
    FaultStore,
    RequestJournal,
    Target,
    classify,
    fault_middleware,
    journal_middleware,
    setup_control,
)
from nhn_proxy.emulator.errors import ApiError, error_response, not_implemented, request_id_headers
from nhn_proxy.emulator.identity import routes as identity
from nhn_proxy.emulator.image import routes as image
from nhn_proxy.emulator.kubernetes import routes as kubernetes
from nhn_proxy.emulator.network import routes as network
from nhn_proxy.emulator.object_storage import routes as object_storage
from nhn_proxy.emulator.object_storage.models import MAX_FILE_SIZE
from nhn_proxy.emulator.options import EmulatorOptions
from nhn_proxy.emulator.state import EmulatorState

log = logging.getLogger(__name__)

STATE_KEY = web.AppKey("emulator_state", EmulatorState)
FAULTS_KEY = web.AppKey("emulator_faults", FaultStore)
JOURNAL_KEY = web.AppKey("emulator_journal", RequestJournal)

ROUTERS: dict[str, Router] = {
    "identity": identity.router,
    "compute": compute.router,
    "image": image.router,
    "network": network.router,
    "kubernetes": kubernetes.router,
    "object_storage": object_storage.router,
    "block_storage": block_storage.router,
}
# Swift accepts objects up to 5 GiB; JSON services get a sane cap of their own.
_MAX_JSON_BODY = 1024 * 1024


def endpoints(base_url: str) -> dict[str, str]:
    """The proxy's ``[upstream.endpoints]`` templates for an emulator at ``base_url``."""
    base = base_url.rstrip("/")
    return {
        "identity": f"{base}/identity",
        "compute": f"{base}/{{region}}/compute",
        "image": f"{base}/{{region}}/image",
        "network": f"{base}/{{region}}/network",
        "kubernetes": f"{base}/{{region}}/kubernetes",
        "object_storage": f"{base}/{{region}}/object-storage",
        "block_storage": f"{base}/{{region}}/block-storage",
    }


def _check_scope(ctx: Ctx, target: Target) -> None:
    """A token may only reach its own tenant's compute URL and its own storage account."""
    assert ctx.token is not None
    segments = target.native_path.split("/")
    scoped = len(segments) > 2 and segments[2] != ""
    if target.service in ("compute", "block_storage") and scoped:  # noqa: SIM102
        if segments[2] != ctx.token.tenant_id:
            # Upstream Nova answers 400 "Malformed request URL" here; the emulator refuses
            # with 403 so a proxy mixing tenants fails loudly either way.
            raise ApiError(
                403,
                f"Malformed request URL: URL's project_id '{segments[2]}' doesn't "
                f"match Context's project_id '{ctx.token.tenant_id}'",
            )
    own_account = scoped and segments[2] == f"AUTH_{ctx.token.tenant_id}" and ctx.token.storage
    if target.service == "object_storage" and scoped and not own_account:
        raise ApiError(403)


async def _serve(
    request: web.Request, state: EmulatorState, target: Target, now: float
) -> web.StreamResponse:
    ctx = Ctx(request=request, state=state, service=target.service, region=target.region, now=now)
    options = state.options
    if target.region is not None:
        regions = options.nks_regions if target.service == "kubernetes" else options.regions
        if target.region not in options.regions or target.region not in regions:
            raise ApiError(404, f"No {target.service} endpoint exists in region '{target.region}'.")
    resolved = ROUTERS[target.service].resolve(request.method, target.native_path)
    # Version documents answer without a token, so OpenStack clients can discover services.
    public = resolved is not None and resolved[0].public
    if target.service != "identity" and not public:
        token = state.identity.validate(request.headers.get("X-Auth-Token"), now)
        if token is None:
            raise ApiError(401)
        ctx.token = token
        _check_scope(ctx, target)
        assert target.region is not None
        state.region(target.region).settle(token.tenant_id, now)
    if (
        target.service != "object_storage"
        and request.content_length is not None
        and request.content_length > _MAX_JSON_BODY
    ):
        raise ApiError(413, "Request entity is too large.")
    if resolved is None:
        raise not_implemented(target.service, request.method, target.native_path)
    route, ctx.match = resolved
    return await route.handler(ctx)


def make_dispatcher(state: EmulatorState) -> Callable[[web.Request], Any]:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        target = classify(request.path)
        if target is None:
            return web.json_response(
                {"error": f"No emulated NHN service at {request.path}", "code": 404}, status=404
            )
        now = state.clock.now()
        try:
            response = await _serve(request, state, target, now)
        except ApiError as error:
            response = error_response(target.service, error, request)
        except web.HTTPException as exc:
            # e.g. aiohttp refusing an oversized body while a handler reads it.
            response = error_response(target.service, ApiError(exc.status, exc.reason), request)
        except Exception:
            # The emulator must answer, never crash: report a 500 in the service's style.
            log.exception("emulator bug while serving %s %s", request.method, request.path)
            response = error_response(
                target.service,
                ApiError(
                    500,
                    "The server has either erred or is incapable of "
                    "performing the requested operation.",
                ),
                request,
            )
        for name, value in request_id_headers(target.service, now).items():
            response.headers.setdefault(name, value)
        return response

    return dispatch


def _describe(state: EmulatorState) -> dict[str, Any]:
    options = state.options
    services: dict[str, Any] = {}
    prefixes = {value: key for key, value in SERVICE_SEGMENTS.items()}
    for name, router in ROUTERS.items():
        prefix = "/identity" if name == "identity" else f"/{{region}}/{prefixes[name]}"
        if name == "identity":
            regions: list[str] = []
        elif name == "kubernetes":
            regions = [r for r in options.regions if r in options.nks_regions]
        else:
            regions = list(options.regions)
        services[name] = {
            "prefix": prefix,
            "regions": regions,
            "routes": router.describe(),
            # the version documents, answered without a token
            "public_routes": [f"{r.method} {r.template}" for r in router.routes if r.public],
        }
    return {
        "emulator": "NHN Cloud native API emulator",
        "regions": list(options.regions),
        "nks_regions": [r for r in options.regions if r in options.nks_regions],
        "services": services,
        "settings": {
            "build_delay": options.build_delay,
            "cluster_delay": options.cluster_delay,
            "token_lifetime": options.token_lifetime,
            "clock_offset": state.clock.offset,
        },
        "users": [
            {
                "username": u.username,
                "tenant_id": u.tenant_id,
                "storage_tenant_id": u.storage_tenant_id,
            }
            for u in options.users
        ],
        "unemulated": "any other native path under a service prefix answers 501",
    }


def create_app(
    options: EmulatorOptions | None = None, *, clock: Callable[[], float] | None = None
) -> web.Application:
    """The emulator as an aiohttp application.

    ``clock`` (seconds since the epoch) replaces ``time.time`` so tests can drive token
    expiry and transitions; ``POST /_emulator/clock`` adds an offset on top of it.
    """
    options = options or EmulatorOptions()
    emulator_clock = Clock(clock or time.time)
    state = EmulatorState(options, emulator_clock)
    faults = FaultStore()
    journal = RequestJournal()
    app = web.Application(
        # Swift objects may be large; JSON services enforce their own smaller cap.
        client_max_size=MAX_FILE_SIZE,
        middlewares=[journal_middleware(journal, emulator_clock), fault_middleware(faults)],
    )
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    app[JOURNAL_KEY] = journal
    setup_control(
        app,
        faults=faults,
        journal=journal,
        clock=emulator_clock,
        reset=state.reset,
        describe=lambda: _describe(state),
    )
    app.router.add_route("*", "/{tail:.*}", make_dispatcher(state))
    return app

"""The outermost middleware: request id, error normalisation, access log and metrics.

Whatever goes wrong below it — a plugin's `ProxyError`, aiohttp's own 404/405/413, a bug —
leaves as `{"error": ..., "code": ...}` with an `X-Request-ID` header, and for an allowed
browser origin with the CORS headers a SPA needs to read it.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time

from aiohttp import hdrs, web

from nhn_proxy.context import sane_request_id
from nhn_proxy.errors import ProxyError, error_response
from nhn_proxy.keys import ALLOWED_ORIGINS, METRICS, REQUEST_ID
from nhn_proxy.logs import access_logger, body_for_log, redact_headers, secret_scope

logger = logging.getLogger("nhn_proxy.errors")
EXPOSED_HEADERS = ("X-Request-ID", "Location", "Preference-Applied")
# request ids: a random prefix per process and a counter — unique across workers and
# restarts, 32 hex digits like a uuid4, at a fraction of uuid4's cost per request
_ID_PREFIX = secrets.token_hex(8)
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:
    """A forked worker must not count from its parent's prefix."""
    global _ID_PREFIX, _id_counter
    _ID_PREFIX = secrets.token_hex(8)
    _id_counter = itertools.count(1)


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def _route_template(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or getattr(info, "http_exception", None) is not None:
        return "unmatched"
    return resource.canonical


def _normalise(exc: web.HTTPException) -> web.Response:
    """aiohttp's own HTTP errors (404, 405, 413, CORS 403…) in the standard shape."""
    status = exc.status
    if status == 404:
        message = "no such route"
    elif status == 405:
        allowed = exc.headers.get(hdrs.ALLOW, "")
        message = f"method not allowed; allowed: {allowed}" if allowed else "method not allowed"
    elif status == 413:
        message = "request body too large"
    else:
        text = exc.text or ""
        message = text if text and not text.startswith(str(status)) else exc.reason
    response = error_response(status, message)
    if status == 405 and hdrs.ALLOW in exc.headers:
        response.headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
    return response


def _add_cors_for_unmatched(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp-cors only decorates answers of matched routes; cover 404/405 too."""
    origin = request.headers.get(hdrs.ORIGIN)
    if not origin or hdrs.ACCESS_CONTROL_ALLOW_ORIGIN in response.headers:
        return
    allowed = request.app[ALLOWED_ORIGINS]
    if origin in allowed or "*" in allowed:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*" if "*" in allowed else origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = ",".join(EXPOSED_HEADERS)
        if "*" not in allowed:
            response.headers.add(hdrs.VARY, "Origin")


@web.middleware
async def request_middleware(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = sane_request_id(request.headers.get("X-Request-ID")) or new_request_id()
    request[REQUEST_ID] = request_id
    with secret_scope():
        try:
            response = await handler(request)
        except ProxyError as exc:
            response = error_response(exc.status, exc.message)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _normalise(exc)
        except Exception:
            logger.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            response = error_response(500, "internal error")
        response.headers["X-Request-ID"] = request_id
        template = _route_template(request)
        if template == "unmatched" and response.status in (404, 405):
            _add_cors_for_unmatched(request, response)
        duration = time.perf_counter() - started
        request.app[METRICS].observe_request(template, request.method, response.status, duration)
        if not access_logger.isEnabledFor(logging.INFO):
            return response
        fields = {
            "request_id": request_id,
            "method": request.method,
            "path": request.rel_url.raw_path,
            "status": response.status,
            "duration_ms": round(duration * 1000, 2),
        }
        if access_logger.isEnabledFor(logging.DEBUG):
            fields["headers"] = redact_headers(request.headers.items())
            if isinstance(response, web.Response) and response.body is not None:
                fields["response"] = body_for_log(response.body)
        access_logger.info("request", extra={"fields": fields})
        return response

"""Control plane for tests (``/_emulator/...``, JSON, no auth): reset, fault injection,
the journal of native requests received, the clock, and a description of what is emulated.

Faults and the journal are applied by two middlewares that run before the service
handlers: the journal records every native request (faulted or not), then the fault
middleware may delay, replace, corrupt or drop the answer.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from nhn_proxy.emulator.base import Clock, iso_z
from nhn_proxy.emulator.errors import ApiError, error_response, request_id_headers

# Native services by the URL segment that names them (``/{region}/<segment>/...``).
SERVICE_SEGMENTS = {
    "compute": "compute",
    "image": "image",
    "network": "network",
    "kubernetes": "kubernetes",
    "object-storage": "object_storage",
    "block-storage": "block_storage",
}
FAULT_SERVICES = ("identity", *SERVICE_SEGMENTS.values(), "*")
FAULT_ACTIONS = (
    "latency",
    "status",
    "drop",
    "malformed",
    "truncated",
    "slow_body",
    "wrong_content_type",
    "huge_body",
)
JOURNAL_SIZE = 1000
HUGE_BODY_BYTES = 20 * 1024 * 1024
JOURNAL_BODY_BYTES = 1024 * 1024
_REDACTED_KEYS = {"password", "private_key", "config"}


@dataclass(frozen=True)
class Target:
    """Which native service a path addresses, in which region, and the path after the prefix."""

    service: str
    region: str | None
    native_path: str


def classify(path: str) -> Target | None:
    if path == "/identity" or path.startswith("/identity/"):
        return Target("identity", None, path[len("/identity") :] or "/")
    parts = path.split("/", 3)
    if len(parts) >= 3 and parts[2] in SERVICE_SEGMENTS and parts[1]:
        native = "/" + parts[3] if len(parts) == 4 else "/"
        return Target(SERVICE_SEGMENTS[parts[2]], parts[1], native)
    return None


class ControlError(Exception):
    """A bad control-plane request (answered 400 with ``{"error": ...}``)."""


# -- faults ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    id: str
    service: str
    method: str
    path: str
    region: str
    action: str
    seconds: float
    status: int | None
    times: int | None
    bytes: int
    message: str | None
    hits: int = 0

    def matches(self, target: Target, method: str) -> bool:
        if self.service not in ("*", target.service):
            return False
        if self.method not in ("*", method.upper()):
            return False
        if self.region != "*" and self.region != target.region:
            return False
        return _path_matches(self.path, target.native_path)


def _path_matches(pattern: str, path: str) -> bool:
    # "^..." or "re:..." is a regular expression; anything else is a glob ('*' spans '/').
    if pattern.startswith("re:"):
        return re.search(pattern[3:], path) is not None
    if pattern.startswith("^"):
        return re.match(pattern, path) is not None
    return fnmatch.fnmatchcase(path, pattern)


class FaultStore:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, body: Any) -> Fault:
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        unknown = set(body) - {
            "service",
            "method",
            "path",
            "region",
            "action",
            "seconds",
            "status",
            "times",
            "bytes",
            "message",
        }
        if unknown:
            raise ControlError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        service = body.get("service", "*")
        if service not in FAULT_SERVICES:
            raise ControlError(f"service must be one of {', '.join(FAULT_SERVICES)}")
        action = body.get("action")
        if action not in FAULT_ACTIONS:
            raise ControlError(f"action must be one of {', '.join(FAULT_ACTIONS)}")
        method = body.get("method", "*")
        path = body.get("path", "*")
        region = body.get("region", "*")
        message = body.get("message")
        for name, value in (("method", method), ("path", path), ("region", region)):
            if not isinstance(value, str) or not value:
                raise ControlError(f"{name} must be a non-empty string")
        if message is not None and not isinstance(message, str):
            raise ControlError("message must be a string")
        if path.startswith(("^", "re:")):
            try:
                re.compile(path[3:] if path.startswith("re:") else path)
            except re.error as exc:
                raise ControlError(f"path is not a valid regular expression: {exc}") from None
        seconds = body.get("seconds", 1.0)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ControlError("seconds must be a non-negative number")
        status = body.get("status")
        valid_status = (
            isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599
        )
        if action == "status" and not valid_status:
            raise ControlError("status must be an integer from 400 to 599 for action 'status'")
        times = body.get("times")
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ControlError("times must be a positive integer or null")
        size = body.get("bytes", HUGE_BODY_BYTES)
        if isinstance(size, bool) or not isinstance(size, int) or size < 16:
            raise ControlError("bytes must be an integer >= 16")
        fault = Fault(
            id=uuid.uuid4().hex[:12],
            service=service,
            method=method.upper(),
            path=path,
            region=region,
            action=action,
            seconds=float(seconds),
            status=status,
            times=times,
            bytes=size,
            message=message,
        )
        self.faults.append(fault)
        return fault

    def take(self, target: Target, method: str) -> Fault | None:
        """The first fault matching this request, counting one use of it."""
        for fault in self.faults:
            if fault.matches(target, method):
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def clear(self) -> None:
        self.faults.clear()


async def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without any answer (the client sees a server disconnect)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # Nothing can be sent any more; cancelling the handler stops aiohttp from trying.
    raise asyncio.CancelledError


async def _truncated(request: web.Request) -> web.StreamResponse:
    """Promise a longer body than is sent, then close the connection."""
    payload = b'{"truncated": "this body stops before its Content-Length says it ends'
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(payload) * 4
    await response.prepare(request)
    await response.write(payload)
    await asyncio.sleep(0.01)
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError


async def _slow_body(
    request: web.Request, response: web.StreamResponse, seconds: float
) -> web.StreamResponse:
    """Send the real answer's body in small pieces spread over ``seconds``."""
    body = response.body if isinstance(response, web.Response) else b""
    if not isinstance(body, bytes):
        body = b""
    streamed = web.StreamResponse(status=response.status, headers=response.headers)
    streamed.content_length = len(body)
    await streamed.prepare(request)
    pieces = max(min(len(body), 10), 1)
    step = -(-len(body) // pieces) if body else 0
    for index in range(pieces):
        await asyncio.sleep(seconds / pieces)
        chunk = body[index * step : (index + 1) * step]
        if chunk:
            await streamed.write(chunk)
    await streamed.write_eof()
    return streamed


def _huge_body(size: int) -> web.Response:
    padding = max(size - len(b'{"padding": ""}'), 0)
    body = b'{"padding": "' + b"x" * padding + b'"}'
    return web.Response(status=200, body=body, content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(faults: FaultStore) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = classify(request.path)
        fault = faults.take(target, request.method) if target is not None else None
        if fault is None or target is None:
            return await handler(request)
        action = fault.action
        if action == "latency":
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if action == "status":
            assert fault.status is not None
            error = ApiError(fault.status, fault.message or "")
            response = error_response(target.service, error, request)
            response.headers.update(request_id_headers(target.service, time.time()))
            return response
        if action == "drop":
            return await _drop(request)
        if action == "truncated":
            return await _truncated(request)
        if action == "malformed":
            return web.Response(
                status=200,
                body=b'{"servers": [{"id": "abc", "name": tru',
                content_type="application/json",
            )
        if action == "huge_body":
            return _huge_body(fault.bytes)
        response = await handler(request)
        if action == "wrong_content_type":
            response.headers["Content-Type"] = "text/html; charset=UTF-8"
            return response
        return await _slow_body(request, response, fault.seconds)

    return middleware


# -- request journal -------------------------------------------------------------------------------


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if k in _REDACTED_KEYS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


class RequestJournal:
    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._sequence = 0

    def clear(self) -> None:
        self.entries.clear()

    async def record(self, request: web.Request, target: Target, now: float) -> dict[str, Any]:
        raw_path = request.raw_path
        query: dict[str, str] = {}
        for key, value in request.query.items():
            query.setdefault(key, value)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "x-auth-token"}
        body: Any = None
        # Only JSON bodies of a sane size are kept (never Swift data, never huge uploads).
        small = request.content_length is not None and request.content_length <= JOURNAL_BODY_BYTES
        if target.service != "object_storage" and request.body_exists and small:
            raw = await request.read()
            try:
                body = _redact(json.loads(raw)) if raw else None
            except (ValueError, UnicodeDecodeError):
                body = None
        self._sequence += 1
        entry = {
            "seq": self._sequence,
            "time": iso_z(now),
            "service": target.service,
            "region": target.region,
            "method": request.method,
            "path": raw_path.split("?", 1)[0],
            "raw_path": raw_path,
            "native_path": target.native_path,
            "query_string": request.query_string,
            "query": query,
            "query_items": [[k, v] for k, v in request.query.items()],
            "headers": headers,
            "has_token": bool(request.headers.get("X-Auth-Token")),
            "body": body,
            "status": None,
        }
        self.entries.append(entry)
        return entry


def journal_middleware(journal: RequestJournal, clock: Clock) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = classify(request.path)
        if target is None:
            return await handler(request)
        entry = await journal.record(request, target, clock.now())
        response = await handler(request)
        entry["status"] = response.status
        return response

    return middleware


# -- control routes --------------------------------------------------------------------------------


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message, "code": status}, status=status)


async def _json(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise ControlError("a JSON body is required")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"malformed JSON: {exc}") from None


def fault_view(fault: Fault) -> dict[str, Any]:
    return asdict(fault)


def setup_control(
    app: web.Application,
    *,
    faults: FaultStore,
    journal: RequestJournal,
    clock: Clock,
    reset: Callable[[bool], None],
    describe: Callable[[], dict[str, Any]],
) -> None:
    routes = web.RouteTableDef()

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except ControlError as exc:
                return _error(str(exc))

        return wrapper

    @routes.get("/_emulator")
    @routes.get("/_emulator/")
    async def info(request: web.Request) -> web.StreamResponse:
        return web.json_response(describe())

    @routes.post("/_emulator/reset")
    async def do_reset(request: web.Request) -> web.StreamResponse:
        body = await _json(request, optional=True)
        keep_tokens = bool(body.get("keep_tokens")) if isinstance(body, dict) else False
        reset(keep_tokens)
        faults.clear()
        journal.clear()
        clock.offset = 0.0
        return web.json_response({"reset": True, "kept_tokens": keep_tokens})

    @routes.post("/_emulator/faults")
    async def add_fault(request: web.Request) -> web.StreamResponse:
        fault = faults.add(await _json(request))
        return web.json_response({"fault": fault_view(fault)}, status=201)

    @routes.get("/_emulator/faults")
    async def list_faults(request: web.Request) -> web.StreamResponse:
        return web.json_response({"faults": [fault_view(f) for f in faults.faults]})

    @routes.delete("/_emulator/faults")
    async def clear_faults(request: web.Request) -> web.StreamResponse:
        faults.clear()
        return web.Response(status=204)

    @routes.delete("/_emulator/faults/{fault_id}")
    async def delete_fault(request: web.Request) -> web.StreamResponse:
        if not faults.remove(request.match_info["fault_id"]):
            return _error(f"fault {request.match_info['fault_id']} not found", 404)
        return web.Response(status=204)

    @routes.get("/_emulator/requests")
    async def list_requests(request: web.Request) -> web.StreamResponse:
        entries = list(journal.entries)
        for key in ("service", "method", "region"):
            if key in request.query:
                wanted = request.query[key]
                entries = [e for e in entries if str(e[key]).lower() == wanted.lower()]
        return web.json_response({"requests": entries})

    @routes.delete("/_emulator/requests")
    async def clear_requests(request: web.Request) -> web.StreamResponse:
        journal.clear()
        return web.Response(status=204)

    @routes.get("/_emulator/clock")
    async def get_clock(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"offset": clock.offset, "now": clock.now(), "utc": iso_z(clock.now())}
        )

    @routes.post("/_emulator/clock")
    async def advance_clock(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        seconds = body.get("advance") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ControlError("advance must be a non-negative number of seconds")
        clock.advance(float(seconds))
        return web.json_response(
            {"offset": clock.offset, "now": clock.now(), "utc": iso_z(clock.now())}
        )

    for route in routes:
        assert isinstance(route, web.RouteDef)
        app.router.add_route(route.method, route.path, guarded(route.handler))  # type: ignore[arg-type]

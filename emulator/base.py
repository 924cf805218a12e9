"""Building blocks shared by every emulated service: clock, ids, timestamps, routing.

Each service's ``routes`` module declares a :class:`Router` of ``(method, path template) ->
handler``; the app dispatches the native path (after ``/{region}/{service}``) through it, so
a path no route matches can answer 501 in the service's own style instead of aiohttp's plain
404.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from nhn_proxy.emulator.errors import ApiError

if TYPE_CHECKING:
    from nhn_proxy.emulator.identity.models import Token
    from nhn_proxy.emulator.state import EmulatorState, RegionState

# Seed ids are uuid5 of a readable key, so they survive resets and restarts.
_SEED_NAMESPACE = uuid.UUID("6f1c2b8e-3d4a-4e5f-9a0b-1c2d3e4f5a6b")


class Clock:
    """Wall-clock seconds (epoch) plus an offset that tests advance to skip delays.

    Transitions are computed from this clock when a resource is read, never by sleeping
    background tasks, so advancing the offset settles everything at once.
    """

    def __init__(self, source: Callable[[], float] | None = None) -> None:
        self._source = source or time.time
        self.offset = 0.0

    def now(self) -> float:
        return self._source() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self.offset


def new_uuid() -> str:
    return str(uuid.uuid4())


def seed_uuid(*parts: str) -> str:
    """A stable UUID for seed data, derived from ``parts`` (e.g. region, kind, name)."""
    return str(uuid.uuid5(_SEED_NAMESPACE, ":".join(parts)))


def hex32() -> str:
    return secrets.token_hex(16)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso_z(ts: float) -> str:
    """``2020-04-29T15:31:21Z`` — Keystone ``expires``, Nova ``created``, Glance times."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(ts: float) -> str:
    """``2020-04-29T03:32:28.000405`` — Keystone ``issued_at``, Nova launched_at, Swift."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%f")


def iso_offset(ts: float) -> str:
    """``2021-08-05T01:48:39+00:00`` — Magnum timestamps."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def vpc_time(ts: float, micro: bool = False) -> str:
    """``2023-01-16 07:20:11`` — NHN VPC API ``create_time`` (not ISO-8601)."""
    return _utc(ts).strftime("%Y-%m-%d %H:%M:%S.%f" if micro else "%Y-%m-%d %H:%M:%S")


def http_date(ts: float) -> str:
    return _utc(ts).strftime("%a, %d %b %Y %H:%M:%S GMT")


@dataclass
class Ctx:
    """Everything a handler needs about one native request."""

    request: web.Request
    state: EmulatorState
    service: str
    region: str | None
    now: float
    match: dict[str, str] = field(default_factory=dict)
    token: Token | None = None

    @property
    def tenant_id(self) -> str:
        assert self.token is not None
        return self.token.tenant_id

    @property
    def regional(self) -> RegionState:
        assert self.region is not None
        return self.state.region(self.region)

    @property
    def query(self) -> Any:
        return self.request.query

    def url(self, path: str = "") -> str:
        """Absolute URL of this service in this region, e.g. for ``links``."""
        service = self.service.replace("_", "-")
        prefix = f"/{self.region}/{service}" if self.region else f"/{service}"
        return f"{self.request.url.origin()}{prefix}{path}"

    async def json_body(self) -> Any:
        """The parsed JSON body; malformed or missing JSON is a 400 in the service's style."""
        raw = await self.request.read()
        if not raw.strip():
            raise ApiError(400, "The request body is empty; a JSON document is required.")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"Malformed request body: {exc}") from exc

    async def json_object(self, wrapper: str | None = None) -> dict[str, Any]:
        """The body as a JSON object, optionally unwrapped from ``{"<wrapper>": {...}}``."""
        body = await self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "Malformed request body: a JSON object is required.")
        if wrapper is None:
            return body
        inner = body.get(wrapper)
        if not isinstance(inner, dict):
            raise ApiError(400, f"Malformed request body: '{wrapper}' must be an object.")
        return inner


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]

_PARAM = re.compile(r"\{(\w+)(?::([^}]*))?\}")


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    # answered without a token (OpenStack's version documents)
    public: bool = False


class Router:
    """Path templates like ``/v2/{tenant_id}/servers/{server_id}`` matched on decoded paths.

    ``{name}`` matches one segment; ``{name:.+}`` takes a custom regex (object names).
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, public: bool = False) -> None:
        """Route ``method template`` to ``handler``; ``public`` routes need no token."""
        regex = ""
        position = 0
        for match in _PARAM.finditer(template):
            regex += re.escape(template[position : match.start()])
            regex += f"(?P<{match.group(1)}>{match.group(2) or '[^/]+'})"
            position = match.end()
        regex += re.escape(template[position:])
        self.routes.append(Route(method, template, handler, re.compile(f"^{regex}$"), public))

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The first route matching, with the path's parameters; None when none does."""
        # HEAD is answered by GET handlers only where a route says so explicitly (Swift).
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    def describe(self) -> list[str]:
        return [f"{route.method} {route.template}" for route in self.routes]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def empty_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)


def query_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def parse_limit(value: str | None, *, default: int | None, maximum: int) -> int | None:
    """``limit`` query value; not a non-negative integer → 400."""
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise ApiError(400, f"limit param must be an integer, got {value!r}") from None
    if limit < 0:
        raise ApiError(400, "limit param must be positive")
    return min(limit, maximum)

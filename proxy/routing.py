"""What a plugin declares (`Route`, `PathParam`), what its handler receives (`Call`), and how
the core turns a declaration into a checked, documented aiohttp handler.

For every route the core: reads and checks the NHN headers the route needs, checks each
path parameter against its pattern, parses and validates the JSON body with the route's
marshmallow schema, then calls the plugin's handler. So a handler only ever sees clean
values, and every route carries its OpenAPI description without the plugin writing any.

A route with an `operation` that a plugin watches also accepts `Prefer: respond-async`
(RFC 7240): after the same checks, the call is handed to the task manager, which answers
`202` with a task and runs the handler in the background (design §4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow
from aiohttp import web
from aiohttp_apigami import docs, json_schema, request_schema, response_schema
from aiohttp_apigami.utils import get_or_set_apispec
from nhn_proxy import jsonio
from nhn_proxy.context import HEADER_ORDER, Header, NhnContext, read_context
from nhn_proxy.errors import BadRequest, ValidationFailed
from nhn_proxy.keys import REQUEST_ID, SETTINGS, TASK_MANAGER, UPSTREAM
from nhn_proxy.logs import register_secret
from nhn_proxy.paging import PageFetcher, collect_listing
from nhn_proxy.settings import Settings
from nhn_proxy.upstream import Upstream

API_PREFIX = "/api/nhn"
Handler = Callable[["Call"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class PathParam:
    """How a path parameter must look; anything else is a 400 before any upstream call."""

    pattern: str
    description: str
    example: str | None = None
    max_length: int = 255

    def check(self, name: str, value: str) -> str:
        if len(value) > self.max_length or not re.fullmatch(self.pattern, value):
            raise BadRequest(f"{name}: not a valid value ({self.description})")
        return value


# NHN ids are UUIDs; accept any short token of letters, digits, '-' and '_'.
RESOURCE_ID = PathParam(
    r"[A-Za-z0-9][A-Za-z0-9_-]*",
    "an NHN Cloud resource id (UUID)",
    example="3a005d5b-63cf-4493-bfc6-49db990b5b50",
    max_length=128,
)


@dataclass(frozen=True)
class Route:
    """One public route of a plugin. `path` is relative to `/api/nhn` and ends with `/`;
    the core serves it with and without the trailing slash."""

    method: str
    path: str
    handler: Handler
    summary: str
    tags: tuple[str, ...]
    needs: frozenset[Header] = frozenset({Header.TOKEN, Header.REGION})
    # headers read and checked when sent, documented as optional (e.g. the tenant on tasks)
    optional: frozenset[Header] = frozenset()
    params: Mapping[str, PathParam] = field(default_factory=dict)
    body: type[marshmallow.Schema] | None = None
    query: type[marshmallow.Schema] | None = None
    response: type[marshmallow.Schema] | None = None
    status: int = 200
    # other success statuses answered with the same schema (e.g. 202 "already existed")
    other_statuses: tuple[int, ...] = ()
    description: str = ""
    # regions where the NHN service exists; None = every allowed region
    regions: tuple[str, ...] | None = None
    service_name: str = ""
    # secret body fields to mask in logs from the moment the body is parsed
    secret_fields: tuple[str, ...] = ()
    # error statuses this route documents besides the common ones
    errors: tuple[int, ...] = ()
    # name of a long-running operation with a watcher (`nhn_proxy_watchers`): the route then
    # accepts `Prefer: respond-async` and answers 202 with a task
    operation: str | None = None
    # media type of a success body that is not JSON (e.g. "text/event-stream"), and the
    # schema of that body; for an event stream, of ONE event ({"event", "id", "data"}, as
    # OpenAPI 3.2 reads `schema` of text/event-stream and tools such as schemathesis check)
    media_type: str | None = None
    media_schema: Mapping[str, Any] | None = None
    # other success statuses answered without a body (e.g. 204: a stream with nothing left)
    empty_statuses: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or not self.path.endswith("/"):
            raise ValueError(f"route path {self.path!r} must start and end with '/'")
        names = set(re.findall(r"{(\w+)}", self.path))
        if names != set(self.params):
            raise ValueError(f"route {self.path!r}: declare a PathParam for each of {names}")


@dataclass(slots=True)
class Call:
    """Everything a plugin handler needs for one request, already checked."""

    request: web.Request
    ctx: NhnContext
    params: dict[str, str]
    body: dict[str, Any]
    query: dict[str, Any]
    upstream: Upstream
    settings: Settings

    async def listing(self, key: str, fetch: PageFetcher[Any], *, service: str) -> bytes:
        """`{key: [...]}` of every page `fetch` reads, written page by page within the
        proxy's bounds (`upstream.max_pages`, `upstream.listing_concurrency`); answer it
        with `reply_json`."""
        return await collect_listing(
            key,
            fetch,
            self.settings.upstream.max_pages,
            service=service,
            slot=self.upstream.listing_slot(),
        )


def reply(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer."""
    return web.Response(
        body=jsonio.dumps(payload),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def reply_json(body: bytes, status: int = 200) -> web.Response:
    """A JSON answer already written, e.g. by `proxy.paging.collect_listing`."""
    return web.Response(body=body, status=status, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)


class ErrorSchema(marshmallow.Schema):
    """The one shape of every error answer."""

    error = marshmallow.fields.String(
        required=True, metadata={"description": "what went wrong, for a human"}
    )
    code = marshmallow.fields.Integer(
        required=True, metadata={"description": "the HTTP status, repeated"}
    )


_HEADER_DOCS = {
    Header.TOKEN: "NHN Cloud API token (from POST /api/nhn/token/)",
    Header.REGION: "NHN Cloud region",
    Header.TENANT: "tenant (project) id of Compute / Network",
    Header.STORAGE_ACCOUNT: "Object Storage account, AUTH_<object storage tenant id>",
}
_ERROR_DOCS = {
    400: "bad request: a header, path parameter or body field is invalid",
    401: "authentication failed: X-NHN-Token missing, invalid or expired",
    403: "forbidden by NHN Cloud, e.g. a tenant id or storage account of another project "
    "than the token's",
    404: "not found",
    409: "conflict with the resource's current state",
    413: "request body too large",
    500: "internal error of the proxy (no details are given out)",
    502: "NHN Cloud unreachable or gave an unusable answer",
    503: "NHN Cloud unavailable",
    504: "NHN Cloud did not answer in time",
}


def prefers_respond_async(values: Iterable[str]) -> bool:
    """Whether `Prefer` header values ask for `respond-async` (RFC 7240).

    Preferences are comma-separated, each a case-insensitive token, optionally `=value`,
    then `;`-separated parameters; quoted values may contain commas and semicolons. Every
    other preference is ignored.
    """
    for value in values:
        for preference in _split_unquoted(value, ","):
            name = _split_unquoted(preference, ";")[0].split("=", 1)[0].strip()
            if name.lower() == "respond-async":
                return True
    return False


def _split_unquoted(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def read_body(raw: bytes, schema: marshmallow.Schema) -> dict[str, Any]:
    """Parse and validate a JSON object body; every failure is a 400 naming the problem."""
    if raw.strip():
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest("request body is not valid JSON") from None
    else:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return schema.load(data)
    except marshmallow.ValidationError as exc:
        raise ValidationFailed(exc.messages) from None


def build_handler(route: Route, settings: Settings) -> Callable[[web.Request], Awaitable[Any]]:
    """The aiohttp handler for a route: checks everything, then calls the plugin."""
    body_schema = route.body() if route.body else None
    query_schema = route.query() if route.query else None
    allowed = settings.regions.allowed
    params = tuple(route.params.items())
    plugin_handler = route.handler
    secret_fields = route.secret_fields
    operation = route.operation

    async def handle(request: web.Request) -> web.StreamResponse:
        as_task = operation is not None and prefers_respond_async(
            request.headers.getall("Prefer", ())
        )
        # a task's owner includes the tenant whenever the caller sends one (design §4)
        optional = (route.optional | {Header.TENANT}) if as_task else route.optional
        ctx = read_context(
            request,
            route.needs | {header for header in optional if header in request.headers},
            allowed_regions=allowed,
            request_id=request[REQUEST_ID],
            service_regions=route.regions,
            service_name=route.service_name,
        )
        values = {name: param.check(name, request.match_info[name]) for name, param in params}
        body: dict[str, Any] = {}
        if body_schema is not None:
            body = read_body(await request.read(), body_schema)
            register_secret(*(body.get(name) for name in secret_fields))
        query: dict[str, Any] = {}
        if query_schema is not None:
            try:
                query = query_schema.load(dict(request.query))
            except marshmallow.ValidationError as exc:
                raise ValidationFailed(exc.messages) from None
        call = Call(
            request=request,
            ctx=ctx,
            params=values,
            body=body,
            query=query,
            upstream=request.app[UPSTREAM],
            settings=request.app[SETTINGS],
        )
        if as_task:
            assert operation is not None
            manager = request.app[TASK_MANAGER]
            return await manager.accept(operation, plugin_handler, call, ctx.tenant_id)
        return await plugin_handler(call)

    return handle


def document(handler: Any, route: Route, settings: Settings) -> Any:
    """Attach the route's OpenAPI description (headers, params, schemas, errors)."""
    parameters: list[dict[str, Any]] = []
    optional = route.optional
    if route.operation is not None:  # a sent tenant becomes part of the task's owner
        optional = optional | {Header.TENANT}
    for header in HEADER_ORDER:
        if header not in route.needs and header not in optional:
            continue
        schema: dict[str, Any] = {"type": "string"}
        if header is Header.REGION:
            schema["enum"] = list(route.regions or settings.regions.allowed)
        description = _HEADER_DOCS[header]
        if header is Header.TENANT and header not in route.needs:
            description += (
                "; optional here. A task (Prefer: respond-async) is visible only with the "
                "same X-NHN-Token and X-NHN-Tenant-ID (sent or not) as the request that "
                "started it"
            )
        parameters.append(
            {
                "in": "header",
                "name": str(header),
                "required": header in route.needs,
                "description": description,
                "schema": schema,
            }
        )
    if route.operation is not None:
        parameters.append(
            {
                "in": "header",
                "name": "Prefer",
                "required": False,
                # no example: Swagger UI would pre-fill it and every "Try it out" would be async
                "description": "`respond-async` (RFC 7240): answer 202 at once with a task "
                "that makes the call and follows the resource until it settles; follow it "
                "at `Location` or its `events_url`. Without it the answer is synchronous.",
                "schema": {"type": "string"},
            }
        )
    for name, param in route.params.items():
        schema = {"type": "string", "pattern": f"^{param.pattern}$", "maxLength": param.max_length}
        entry = {
            "in": "path",
            "name": name,
            "required": True,
            "description": param.description,
            "schema": schema,
        }
        if param.example:
            entry["example"] = param.example
        parameters.append(entry)
    handler = docs(
        tags=list(route.tags),
        summary=route.summary,
        description=route.description or route.summary,
        parameters=parameters,
        operation_id=_operation_id(route),
    )(handler)
    if route.body is not None:
        handler = json_schema(route.body, required=True)(handler)
    if route.query is not None:
        handler = request_schema(route.query, location="querystring")(handler)
    if route.response is not None:
        handler = response_schema(route.response, route.status, description="success")(handler)
        for status in route.other_statuses:
            handler = response_schema(route.response, status, description="success")(handler)
    elif route.media_type is not None:
        body_schema = dict(route.media_schema) if route.media_schema else {"type": "string"}
        content = {route.media_type: {"schema": body_schema}}
        handler = docs(responses={route.status: {"description": "success", "content": content}})(
            handler
        )
    else:
        handler = docs(responses={route.status: {"description": "success, no body"}})(handler)
    for status in route.empty_statuses:
        handler = docs(responses={status: {"description": "success, no body"}})(handler)
    if route.operation is not None:
        handler = _document_task_answer(handler)
    codes = {400, 500, 502, 503, 504, *route.errors}
    if Header.TOKEN in route.needs:
        codes.add(401)
        if Header.REGION in route.needs:
            # the caller's token goes to NHN, which may refuse it for this project or
            # resource (e.g. a tenant id or storage account of another project): NHN's 403
            codes.add(403)
    if route.params:
        codes.add(404)
    if route.body is not None:
        codes.add(413)
    for code in sorted(codes):
        handler = response_schema(ErrorSchema, code, description=_ERROR_DOCS.get(code, "error"))(
            handler
        )
    return handler


def _document_task_answer(handler: Any) -> Any:
    """The 202 answer of `Prefer: respond-async`, with its headers."""
    from nhn_proxy.tasks.routes import TaskReplySchema  # the task routes build on this module

    handler = response_schema(
        TaskReplySchema, 202, description="accepted as a task (with Prefer: respond-async)"
    )(handler)
    get_or_set_apispec(handler)["responses"]["202"]["headers"] = {
        "Location": {
            "description": "the task, relative: /api/nhn/tasks/{id}/",
            "schema": {"type": "string"},
        },
        "Preference-Applied": {
            "description": "respond-async",
            "schema": {"type": "string"},
        },
    }
    return handler


def _operation_id(route: Route) -> str:
    words = re.sub(r"[{}]", "", route.path).strip("/").replace("/", "_").replace("-", "_")
    return f"{route.method.lower()}_{words}" if words else route.method.lower()


def add_routes(app: web.Application, routes: list[Route], settings: Settings) -> None:
    """Register each route at `/api/nhn{path}` and at the same path without the slash."""
    for route in routes:
        path = API_PREFIX + route.path
        documented = document(build_handler(route, settings), route, settings)
        app.router.add_route(route.method, path, documented, name=_operation_id(route))
        app.router.add_route(route.method, path.rstrip("/"), build_handler(route, settings))

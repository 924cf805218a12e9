"""What a plugin declares (`Route`, `PathParam`), what its handler receives (`Call`) and
returns (a payload, a `Reply` or a `Stream`), and how the core turns a declaration into a
checked, documented aiohttp handler.

For every route the core: reads and checks the NHN headers the route needs, checks each
path parameter against its pattern, parses and validates the JSON body and the query with
the route's marshmallow schemas, then calls the plugin's handler with a `Call`. So a
handler only ever sees clean values, and every route carries its OpenAPI description
without the plugin writing any. The handler returns data; the core renders it (JSON bytes,
status, headers, an empty 204, or a streamed body).

This module knows nothing of tasks: the task machinery wraps the routes that declare a
long-running operation before they are added here (`nhn_proxy.tasks.routes`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow
from aiohttp import web
from aiohttp_apigami import docs, json_schema, request_schema, response_schema
from aiohttp_apigami.utils import get_or_set_apispec

from nhn_proxy import jsonio
from nhn_proxy.answers import RawJson, Reply, Stream
from nhn_proxy.call import EMPTY, Call, RouteEnvironment, Upload
from nhn_proxy.context import HEADER_ORDER, Header, read_context
from nhn_proxy.errors import BadRequest, ValidationFailed
from nhn_proxy.keys import REQUEST_ID
from nhn_proxy.logs import register_secret
from nhn_proxy.operations import Watcher

API_PREFIX = "/api/nhn"
# a handler returns a JSON-able payload (None = no body), a `Reply` or a `Stream`
Handler = Callable[[Call], Awaitable[Any]]
__all__ = [  # the answer types and the Call, for those who read them here
    "API_PREFIX",
    "EMPTY",
    "Call",
    "Handler",
    "RawJson",
    "Reply",
    "RouteEnvironment",
    "Stream",
]


@dataclass(frozen=True, slots=True)
class PathParam:
    """How a path parameter must look; anything else is a 400 before any upstream call."""

    pattern: str
    description: str
    example: str | None = None
    max_length: int = 255
    # the rest of the path, `/` included (a Swift object name): the route's last segment,
    # served only as written (no slash-less twin, as a trailing `/` belongs to the value)
    greedy: bool = False

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


@dataclass(frozen=True, slots=True)
class ResponseDoc:
    """An extra documented answer of a route (e.g. the 202 of a task)."""

    schema: type[marshmallow.Schema]
    description: str
    headers: Mapping[str, str] = field(default_factory=dict)  # name → description


# -- what a plugin declares ----------------------------------------------------------------


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
    # a long-running operation (its name, e.g. "compute.instance.create") and how to follow
    # it: the route then also accepts `Prefer: respond-async` and can answer 202 with a task
    operation: str | None = None
    watcher: Watcher | None = None
    # media type of a success body that is not JSON (e.g. "text/event-stream"), and the
    # schema of that body; for an event stream, of ONE event ({"event", "id", "data"}, as
    # OpenAPI 3.2 reads `schema` of text/event-stream and tools such as schemathesis check);
    # `{}` documents no schema at all (any bytes: an object download, media type "*/*")
    media_type: str | None = None
    media_schema: Mapping[str, Any] | None = None
    # other success statuses answered without a body (e.g. 204: a stream with nothing left)
    empty_statuses: tuple[int, ...] = ()
    # other request headers the handler reads (`call.headers`), e.g. "Range"; nothing else
    # of the request reaches a plugin
    request_headers: tuple[str, ...] = ()
    # the body is a stream of bytes (`call.upload`), read as it arrives and never held
    # whole; `server.max_body_size` does not apply, the plugin bounds it (`Upload.chunks`)
    upload: bool = False
    # documentation added by whoever wraps the route (the task machinery): notes appended
    # to an NHN header's description, parameters after the headers, answers with a schema
    header_notes: Mapping[Header, str] = field(default_factory=dict)
    extra_parameters: tuple[Mapping[str, Any], ...] = ()
    extra_responses: Mapping[int, ResponseDoc] = field(default_factory=dict)
    # the plugin that declared it (filled in by the core); its settings section, its logger
    plugin: str = ""

    def __post_init__(self) -> None:
        names = set(re.findall(r"{(\w+)}", self.path))
        if names != set(self.params):
            raise ValueError(f"route {self.path!r}: declare a PathParam for each of {names}")
        greedy = [name for name, param in self.params.items() if param.greedy]
        ends_greedy = len(greedy) == 1 and self.path.endswith(f"{{{greedy[0]}}}")
        if greedy and not ends_greedy:
            raise ValueError(
                f"route {self.path!r}: a greedy parameter must be the route's last segment"
            )
        if not self.path.startswith("/") or not (self.path.endswith("/") or ends_greedy):
            raise ValueError(
                f"route path {self.path!r} must start with '/' and end with '/' "
                "(or with its one greedy parameter)"
            )
        if (self.operation is None) != (self.watcher is None):
            raise ValueError(f"route {self.path!r}: an operation needs a watcher, and back")
        if self.operation is not None and Header.TOKEN not in self.needs:
            raise ValueError(
                f"route {self.method} {self.path} names operation {self.operation!r} but does "
                "not need X-NHN-Token, which owns the task"
            )


# -- the checked handler and the rendered answer -------------------------------------------


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


def _declared_headers(request: web.Request, names: tuple[str, ...]) -> Mapping[str, str]:
    """The declared headers that were sent; repeated ones joined with ", " (RFC 9110)."""
    found: dict[str, str] = {}
    for name in names:
        values = request.headers.getall(name, ())
        if values:
            found[name] = ", ".join(values)
    return found


def build_handler(route: Route, env: RouteEnvironment) -> Callable[[web.Request], Awaitable[Any]]:
    """The aiohttp handler for a route: checks everything, calls the plugin, renders."""
    body_schema = route.body() if route.body else None
    query_schema = route.query() if route.query else None
    params = tuple(route.params.items())
    plugin_handler = route.handler
    secret_fields = route.secret_fields
    optional = route.optional
    request_headers = route.request_headers
    upload = route.upload

    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = request[REQUEST_ID]
        ctx = read_context(
            request,
            route.needs | {header for header in optional if header in request.headers},
            allowed_regions=env.allowed_regions,
            request_id=request_id,
            service_regions=route.regions,
            service_name=route.service_name,
        )
        values = {name: param.check(name, request.match_info[name]) for name, param in params}
        body: Mapping[str, Any] = EMPTY
        if body_schema is not None:
            body = read_body(await request.read(), body_schema)
            register_secret(*(body.get(name) for name in secret_fields))
        query: Mapping[str, Any] = EMPTY
        if query_schema is not None:
            try:
                query = query_schema.load(dict(request.query))
            except marshmallow.ValidationError as exc:
                raise ValidationFailed(exc.messages) from None
        call = Call(
            env,
            ctx,
            params=values,
            query=query,
            body=body,
            headers=_declared_headers(request, request_headers) if request_headers else EMPTY,
            plugin=route.plugin,
            upload=Upload(request.content, request.content_length) if upload else None,
        )
        answer = await plugin_handler(call)
        return await render(request, answer, route.status, request_id)

    return handle


async def render(
    request: web.Request, answer: Any, default_status: int, request_id: str
) -> web.StreamResponse:
    """A handler's answer as HTTP: JSON for a payload, nothing for None, or a stream."""
    if isinstance(answer, Stream):
        return await _render_stream(request, answer, request_id)
    headers: Mapping[str, str] | None = None
    status = default_status
    if isinstance(answer, Reply):
        headers = answer.headers
        status = answer.status or default_status
        answer = answer.payload
    if answer is None:
        return web.Response(status=status, headers=headers)
    body = answer.data if isinstance(answer, RawJson) else jsonio.dumps(answer)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def _render_stream(
    request: web.Request, stream: Stream, request_id: str
) -> web.StreamResponse:
    response = web.StreamResponse(status=stream.status, headers=stream.headers)
    response.content_type = stream.content_type.split(";", 1)[0].strip()
    if ";" in stream.content_type:  # keep parameters such as charset as given
        response.headers["Content-Type"] = stream.content_type
    if stream.length is not None:
        response.content_length = stream.length
    response.headers["X-Request-ID"] = request_id  # headers leave before the middleware sees them
    chunks = aiter(stream.chunks)
    try:
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    except (ConnectionResetError, OSError):
        pass  # the client went away: nothing left to tell it
    except Exception:
        if not response.prepared:
            raise
        # the status is sent: end the connection so the client sees a broken body, never a
        # short one that looks complete
        logging.getLogger("nhn_proxy.errors").exception(
            "streamed answer failed", extra={"fields": {"request_id": request_id}}
        )
        if request.transport is not None:
            request.transport.close()
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
        if stream.close is not None:
            await stream.close()
    return response


# -- the OpenAPI description -----------------------------------------------------------------


def document(handler: Any, route: Route, allowed_regions: tuple[str, ...]) -> Any:
    """Attach the route's OpenAPI description (headers, params, schemas, errors)."""
    parameters: list[dict[str, Any]] = []
    for header in HEADER_ORDER:
        if header not in route.needs and header not in route.optional:
            continue
        schema: dict[str, Any] = {"type": "string"}
        if header is Header.REGION:
            schema["enum"] = list(route.regions or allowed_regions)
        description = _HEADER_DOCS[header] + route.header_notes.get(header, "")
        parameters.append(
            {
                "in": "header",
                "name": str(header),
                "required": header in route.needs,
                "description": description,
                "schema": schema,
            }
        )
    parameters.extend(dict(parameter) for parameter in route.extra_parameters)
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
        operation_id=operation_id(route),
    )(handler)
    if route.body is not None:
        handler = json_schema(route.body, required=True)(handler)
    if route.upload:
        binary = {"schema": {"type": "string", "format": "binary"}}
        get_or_set_apispec(handler)["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": binary},
        }
    if route.query is not None:
        handler = request_schema(route.query, location="querystring")(handler)
    if route.response is not None:
        handler = response_schema(route.response, route.status, description="success")(handler)
        for status in route.other_statuses:
            handler = response_schema(route.response, status, description="success")(handler)
    elif route.media_type is not None:
        if route.media_schema is None:
            media: dict[str, Any] = {"schema": {"type": "string"}}
        elif route.media_schema:
            media = {"schema": dict(route.media_schema)}
        else:  # {}: any bytes, held to no schema (a download of an object's own content)
            media = {}
        content = {route.media_type: media}
        for status in (route.status, *route.other_statuses):  # e.g. a download's 206
            handler = docs(responses={status: {"description": "success", "content": content}})(
                handler
            )
    else:
        handler = docs(responses={route.status: {"description": "success, no body"}})(handler)
    for status in route.empty_statuses:
        handler = docs(responses={status: {"description": "success, no body"}})(handler)
    for status, extra in route.extra_responses.items():
        if route.response is not None and status in (route.status, *route.other_statuses):
            # the route's own answer and the extra one share a status (e.g. a 202 resize
            # that may also be a 202 task): either body may come
            either = {"oneOf": [route.response, extra.schema]}
            content = {"application/json": {"schema": either}}
            description = f"success, or {extra.description}"
            handler = docs(
                responses={str(status): {"description": description, "content": content}}
            )(handler)
        else:
            handler = response_schema(extra.schema, status, description=extra.description)(handler)
        if extra.headers:
            get_or_set_apispec(handler)["responses"][str(status)]["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in extra.headers.items()
            }
    codes = {400, 500, 502, 503, 504, *route.errors}
    if Header.TOKEN in route.needs:
        codes.add(401)
        if Header.REGION in route.needs:
            # the caller's token goes to NHN, which may refuse it for this project or
            # resource (e.g. a tenant id or storage account of another project): NHN's 403
            codes.add(403)
    if route.params:
        codes.add(404)
    if route.body is not None or route.upload:
        codes.add(413)
    for code in sorted(codes):
        handler = response_schema(ErrorSchema, code, description=_ERROR_DOCS.get(code, "error"))(
            handler
        )
    return handler


def operation_id(route: Route) -> str:
    words = re.sub(r"[{}]", "", route.path).strip("/").replace("/", "_").replace("-", "_")
    return f"{route.method.lower()}_{words}" if words else route.method.lower()


def add_routes(app: web.Application, routes: list[Route], env: RouteEnvironment) -> None:
    """Register each route at `/api/nhn{path}` and at the same path without the slash."""
    for route in routes:
        path = API_PREFIX + route.path
        for name, param in route.params.items():
            if param.greedy:  # aiohttp's syntax for a value that may hold '/'
                path = path.replace(f"{{{name}}}", f"{{{name}:.+}}")
        handler = build_handler(route, env)
        documented = document(handler, route, env.allowed_regions)
        app.router.add_route(route.method, path, documented, name=operation_id(route))
        if path.endswith("/"):
            app.router.add_route(route.method, path.rstrip("/"), build_handler(route, env))

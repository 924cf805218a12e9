"""Everything a plugin may use of nhn-cloud-proxy: import from here and nowhere else.

Built-in plugins do (`make test` runs import-linter to keep it so); the rest of the
`nhn_proxy` package is internal and may change between releases. The guide with every
hook and every name below is `docs/plugins.md`.

    from nhn_proxy.plugin import Call, Route, hookimpl

    async def list_zones(call: Call) -> dict:
        answer = await call.native("compute", "GET", "/v2/{tenant}/os-availability-zone")
        return {"availability_zones": zones_from_native(answer.json_object())}

    @hookimpl
    def nhn_proxy_routes(config):
        return [Route("GET", "/compute/availability-zones/", list_zones, ...)]
"""

from nhn_proxy.answers import RawJson, Reply, Stream
from nhn_proxy.call import Call, Upload
from nhn_proxy.context import Header, NhnContext
from nhn_proxy.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ProxyError,
    Unauthenticated,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamHTTPError,
)
from nhn_proxy.hookspecs import DemoAccount, PluginConfig, hookimpl
from nhn_proxy.logs import register_secret
from nhn_proxy.operations import Poll, PollState, Watcher
from nhn_proxy.paging import PageFetcher
from nhn_proxy.routing import RESOURCE_ID, PathParam, Route
from nhn_proxy.translation import (
    StrictBoolean,
    extra_text,
    glance_next_marker,
    list_of,
    marker_of,
    native_answer,
    nova_next_marker,
    object_of,
    optional_text,
    pick,
    swift_next_marker,
    text,
)
from nhn_proxy.upstream import MultiSegment, NativeAnswer, NativeStream

__all__ = [
    "RESOURCE_ID",
    "BadRequest",
    "Call",
    "Conflict",
    "DemoAccount",
    "Header",
    "MultiSegment",
    "NativeAnswer",
    "NativeStream",
    "NhnContext",
    "NotFound",
    "PageFetcher",
    "PathParam",
    "PayloadTooLarge",
    "PluginConfig",
    "Poll",
    "PollState",
    "ProxyError",
    "RawJson",
    "Reply",
    "Route",
    "Stream",
    "StrictBoolean",
    "Unauthenticated",
    "Upload",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamHTTPError",
    "Watcher",
    "extra_text",
    "glance_next_marker",
    "hookimpl",
    "list_of",
    "marker_of",
    "native_answer",
    "nova_next_marker",
    "object_of",
    "optional_text",
    "pick",
    "register_secret",
    "swift_next_marker",
    "text",
]

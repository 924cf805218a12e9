"""Block Storage's handlers (Cinder v2): the version documents so far.

NHN documents the v2 API only (catalog type ``volumev2``), so v3 is not offered.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nhn_proxy.emulator.base import Ctx, json_response

_V2_MEDIA_TYPE = "application/vnd.openstack.volume+json;version=2"


def _v2(ctx: Ctx) -> dict[str, Any]:
    # Cinder lists v2 like this while it is supported next to a newer major version.
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2014-06-28T12:20:21Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": ctx.url("/v2/")},
        ],
        "media-types": [{"base": "application/json", "type": _V2_MEDIA_TYPE}],
    }


async def list_versions(ctx: Ctx) -> web.StreamResponse:
    """Cinder's root (no token): 300 Multiple Choices listing every version."""
    return json_response({"versions": [_v2(ctx)]}, status=300)


async def show_v2(ctx: Ctx) -> web.StreamResponse:
    """``/v2/`` (token, through Cinder's v2 API): the versions that API speaks."""
    return json_response({"versions": [_v2(ctx)]})

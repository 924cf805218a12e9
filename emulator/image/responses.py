"""Image's handlers (Glance v2): list with filters/paging and get.

Custom properties are flattened into the image object and can be used as list filters,
as Glance does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from nhn_proxy.emulator.base import Ctx, iso_z, json_response, parse_limit
from nhn_proxy.emulator.errors import ApiError
from nhn_proxy.emulator.image.models import Image, ImageState

_VISIBILITIES = ("public", "private", "shared", "community")
_STATUSES = ("queued", "saving", "active", "killed", "deleted", "pending_delete", "importing")
_LIST_CONTROLS = {"limit", "marker", "sort_key", "sort_dir", "sort", "member_status"}


def image_view(image: Image) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": True,
        "container_format": "bare",
        "disk_format": "qcow2",
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "size": image.size,
        "virtual_size": None,
        "checksum": image.checksum,
        "owner": image.owner,
        "created_at": iso_z(image.created),
        "updated_at": iso_z(image.created + 345_600),
        "tags": list(image.tags),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }
    view.update(image.properties)
    return view


def _image_state(ctx: Ctx) -> ImageState:
    return ctx.regional.image


def _sort_spec(ctx: Ctx) -> list[tuple[str, bool]]:
    query = ctx.query
    if "sort" in query:
        spec = []
        for part in query["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            spec.append((key, (direction or "desc") == "desc"))
        return spec
    keys = query.getall("sort_key", ["created_at"])
    dirs = query.getall("sort_dir", ["desc"])
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise ApiError(400, f"Invalid sort direction: {direction}")
    return [(key, dirs[min(i, len(dirs) - 1)] == "desc") for i, key in enumerate(keys)]


def _property_matches(view: dict[str, Any], key: str, wanted: str) -> bool:
    if key not in view:
        return False
    value = view[key]
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    return str(value) == wanted


async def list_images(ctx: Ctx) -> web.StreamResponse:
    query = ctx.query
    views = [image_view(image) for image in _image_state(ctx).visible(ctx.tenant_id)]
    visibility = query.get("visibility")
    if visibility is not None and visibility not in (*_VISIBILITIES, "all"):
        raise ApiError(400, f"Invalid visibility value: {visibility}")
    status = query.get("status")
    if status is not None and status not in _STATUSES:
        raise ApiError(400, f"Invalid status value: {status}")
    for key in ("size_min", "size_max"):
        if key in query and not query[key].isdigit():
            raise ApiError(400, f"Invalid value for {key}: {query[key]}")
    for key in set(query.keys()) - _LIST_CONTROLS:
        wanted = query[key]
        if key == "visibility" and wanted == "all":
            continue
        if key == "size_min":
            views = [v for v in views if v["size"] >= int(wanted)]
        elif key == "size_max":
            views = [v for v in views if v["size"] <= int(wanted)]
        elif key == "tag":
            views = [v for v in views if all(t in v["tags"] for t in query.getall("tag"))]
        else:
            views = [v for v in views if _property_matches(v, key, wanted)]
    for key, descending in reversed(_sort_spec(ctx)):
        views.sort(key=lambda v, k=key: (v.get(k) is None, str(v.get(k, ""))), reverse=descending)
    marker = query.get("marker")
    if marker is not None:
        ids = [v["id"] for v in views]
        if marker not in ids:
            raise ApiError(400, f"Invalid marker. Image {marker} could not be found.")
        views = views[ids.index(marker) + 1 :]
    limit = parse_limit(query.get("limit"), default=100, maximum=1000) or 0
    body: dict[str, Any] = {
        "images": views[:limit],
        "schema": "/v2/schemas/images",
        "first": "/v2/images",
    }
    if query:
        first_params = [(k, v) for k, v in query.items() if k != "marker"]
        if first_params:
            body["first"] = "/v2/images?" + urlencode(first_params)
    if len(views) > limit and limit > 0:
        params = [(k, v) for k, v in query.items() if k != "marker"]
        params.append(("marker", views[limit - 1]["id"]))
        body["next"] = "/v2/images?" + urlencode(params)
    return json_response(body)


async def get_image(ctx: Ctx) -> web.StreamResponse:
    image = _image_state(ctx).find(ctx.tenant_id, ctx.match["image_id"])
    if image is None:
        raise ApiError(404, f"No image found with ID {ctx.match['image_id']}")
    return json_response(image_view(image))


# -- version discovery (no token) ------------------------------------------------------------

# Glance v2 as a single-store Glance lists it: the newest minor CURRENT, the others SUPPORTED,
# all served at /v2/. NHN shows no version list; the minors are upstream's (Train/Ussuri).
_V2_MINORS = ("v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")


def _versions(ctx: Ctx) -> dict[str, Any]:
    href = ctx.url("/v2/")
    return {
        "versions": [
            {
                "id": minor,
                "status": "CURRENT" if index == 0 else "SUPPORTED",
                "links": [{"rel": "self", "href": href}],
            }
            for index, minor in enumerate(_V2_MINORS)
        ]
    }


async def list_versions(ctx: Ctx) -> web.StreamResponse:
    """Glance's root: 300 Multiple Choices (``/versions`` answers the same list with 200)."""
    return json_response(_versions(ctx), status=300)


async def show_versions(ctx: Ctx) -> web.StreamResponse:
    return json_response(_versions(ctx))

"""Block Storage's handlers (Cinder v2, NHN's ``volumev2``): the version documents, volume
types, and volumes (list, detail list, get, create, delete).

NHN documents the v2 API only (catalog type ``volumev2``), so v3 is not offered. Answers
and errors follow ``shared/nhn-api/block-storage.md`` and upstream Cinder where NHN shows
none: create and delete answer 202, errors are Cinder's fault wrappers with its messages
(``Invalid input received: ...`` for a bad size or zone, ``Invalid volume: ...`` for a
volume that cannot be deleted, 404 ``itemNotFound`` for an unknown volume or type). The
availability zones are the region's compute zones, read through the region's state.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from nhn_proxy.emulator.base import (
    Ctx,
    empty_response,
    iso_micro,
    json_response,
    new_uuid,
    parse_limit,
)
from nhn_proxy.emulator.block_storage.models import (
    DELETABLE,
    MAX_LIMIT,
    MAX_SIZE,
    MIN_SIZE,
    BlockStorageState,
    Volume,
    VolumeType,
)
from nhn_proxy.emulator.errors import ApiError

_V2_MEDIA_TYPE = "application/vnd.openstack.volume+json;version=2"
_MAX_TEXT = 255


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


def _state(ctx: Ctx) -> BlockStorageState:
    return ctx.regional.block_storage


def _invalid_input(reason: str) -> ApiError:
    return ApiError(400, f"Invalid input received: {reason}")


# -- volume types ---------------------------------------------------------------------------


def type_view(kind: VolumeType) -> dict[str, Any]:
    return {
        "os-volume-type-access:is_public": True,
        "extra_specs": {"volume_backend_name": kind.backend},
        "id": kind.id,
        "name": kind.name,
        "description": None,
    }


async def list_types(ctx: Ctx) -> web.StreamResponse:
    return json_response({"volume_types": [type_view(k) for k in _state(ctx).types.values()]})


async def get_type(ctx: Ctx) -> web.StreamResponse:
    kind = _state(ctx).types.get(ctx.match["type_id"])
    if kind is None:
        raise ApiError(404, f"Volume type {ctx.match['type_id']} could not be found.")
    return json_response({"volume_type": type_view(kind)})


# -- volumes: views -------------------------------------------------------------------------


def _links(ctx: Ctx, volume: Volume) -> list[dict[str, str]]:
    tenant = volume.tenant_id
    return [
        {"href": ctx.url(f"/v2/{tenant}/volumes/{volume.id}"), "rel": "self"},
        {"href": ctx.url(f"/{tenant}/volumes/{volume.id}"), "rel": "bookmark"},
    ]


def _attachments(volume: Volume) -> list[dict[str, Any]]:
    attachment = volume.attached
    if attachment is None:
        return []
    return [
        {
            "server_id": attachment.server_id,
            "attachment_id": attachment.id,
            "attached_at": iso_micro(attachment.attached_at),
            "host_name": None,
            "volume_id": volume.id,
            "device": attachment.device,
            "id": volume.id,
        }
    ]


def volume_view(ctx: Ctx, volume: Volume) -> dict[str, Any]:
    """Cinder v2's detail view with NHN's fields (``bootable`` is a string)."""
    view: dict[str, Any] = {
        "id": volume.id,
        "name": volume.name,
        "status": volume.status,
        "size": volume.size,
        "volume_type": volume.volume_type.name,
        "availability_zone": volume.zone,
        "bootable": "false",
        "encrypted": volume.volume_type.encrypted,
        "multiattach": False,
        "attachments": _attachments(volume),
        "links": _links(ctx, volume),
        "snapshot_id": None,
        "source_volid": None,
        "consistencygroup_id": None,
        "user_id": volume.user_id,
        "os-vol-tenant-attr:tenant_id": volume.tenant_id,
        "metadata": dict(volume.metadata),
        "description": volume.description,
        "created_at": iso_micro(volume.created),
        "updated_at": iso_micro(volume.updated) if volume.updated else None,
        "replication_status": "disabled",
        "os-volume-replication:extended_status": None,
        "os-volume-replication:driver_data": None,
    }
    if volume.encryption is not None:
        view["nhn_encryption"] = dict(volume.encryption)
    return view


def _volume_or_404(ctx: Ctx) -> Volume:
    volume_id = ctx.match["volume_id"]
    volume = _state(ctx).find(ctx.tenant_id, volume_id)
    if volume is None:
        raise ApiError(404, f"Volume {volume_id} could not be found.")
    return volume


# -- volumes: list / get --------------------------------------------------------------------


def _filtered(ctx: Ctx) -> list[Volume]:
    volumes = sorted(
        _state(ctx).volumes(ctx.tenant_id).values(),
        key=lambda v: (v.created, v.sequence),
        reverse=True,  # Cinder's default sort: created_at desc, id desc
    )
    query = ctx.query
    for key, value_of in (
        ("name", lambda v: v.name),
        ("status", lambda v: v.status),
        ("availability_zone", lambda v: v.zone),
    ):
        if key in query:
            volumes = [v for v in volumes if value_of(v) == query[key]]
    return volumes


def _volume_list(ctx: Ctx, detail: bool) -> web.Response:
    volumes = _filtered(ctx)
    marker = ctx.query.get("marker")
    if marker is not None:
        ids = [v.id for v in volumes]
        if marker not in ids:
            raise ApiError(404, f"Marker {marker} could not be found.")
        volumes = volumes[ids.index(marker) + 1 :]
    offset = ctx.query.get("offset")
    if offset is not None:
        if not offset.isdigit():
            raise _invalid_input(f"offset param must be an integer, got {offset!r}")
        volumes = volumes[int(offset) :]
    limit = parse_limit(ctx.query.get("limit"), default=MAX_LIMIT, maximum=MAX_LIMIT)
    assert limit is not None
    page = volumes[:limit]
    if detail:
        items = [volume_view(ctx, v) for v in page]
    else:
        items = [{"id": v.id, "links": _links(ctx, v), "name": v.name} for v in page]
    body: dict[str, Any] = {"volumes": items}
    # Cinder links the next page whenever a page is full (even the last one).
    if page and len(page) == limit:
        params = [(k, v) for k, v in ctx.query.items() if k not in ("marker", "limit", "offset")]
        params += [("limit", str(limit)), ("marker", page[-1].id)]
        path = f"/v2/{ctx.match['tenant_id']}/volumes" + ("/detail" if detail else "")
        body["volumes_links"] = [{"href": f"{ctx.url(path)}?{urlencode(params)}", "rel": "next"}]
    return json_response(body)


async def list_volumes(ctx: Ctx) -> web.StreamResponse:
    return _volume_list(ctx, detail=False)


async def list_volumes_detail(ctx: Ctx) -> web.StreamResponse:
    return _volume_list(ctx, detail=True)


async def get_volume(ctx: Ctx) -> web.StreamResponse:
    return json_response({"volume": volume_view(ctx, _volume_or_404(ctx))})


# -- volumes: create ------------------------------------------------------------------------


def _size(value: Any) -> int:
    # Cinder takes an integer or an integer string ("10"); anything else, or 0, is refused.
    size: Any = value
    if isinstance(value, str) and value.strip().isdigit():
        size = int(value)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise _invalid_input(f"Volume size '{value}' must be an integer and greater than 0")
    return size


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid_input(f"{key} must be a string")
    if len(value) > _MAX_TEXT:
        raise _invalid_input(f"{key} has more than {_MAX_TEXT} characters.")
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
        for k, v in value.items()
    ):
        raise _invalid_input("Metadata must be an object of strings of at most 255 characters.")
    return dict(value)


def _volume_type(state: BlockStorageState, value: Any) -> VolumeType:
    if value in (None, ""):
        return state.default_type()
    if not isinstance(value, str):
        raise _invalid_input("volume_type must be a string")
    kind = state.find_type(value)
    if kind is None:
        raise ApiError(404, f"Volume type with name {value} could not be found.")
    return kind


def _encryption(kind: VolumeType, value: Any) -> dict[str, Any] | None:
    """NHN-only: an encrypted type needs a Secure Key Manager key (``skm_appkey`` and
    ``skm_key_id``); a general type ignores ``nhn_encryption``."""
    if not kind.encrypted:
        return None
    valid = isinstance(value, dict) and all(
        isinstance(value.get(key), str) and value[key] for key in ("skm_appkey", "skm_key_id")
    )
    if not valid:
        raise _invalid_input(
            f"nhn_encryption with skm_appkey and skm_key_id is required for volume type "
            f"'{kind.name}'."
        )
    return {"skm_key_id": value["skm_key_id"], "skm_key_version": 1}


async def create_volume(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("volume"), dict):
        raise ApiError(400, "Missing required element 'volume' in request body.")
    request = body["volume"]
    state = _state(ctx)
    name = _text(request, "name")
    description = _text(request, "description")
    if request.get("snapshot_id") is not None:
        raise ApiError(404, f"Snapshot {request['snapshot_id']} could not be found.")
    for source in ("source_volid", "imageRef", "backup_id"):
        if request.get(source) is not None:
            raise ApiError(
                501,
                f"Creating a volume from {source} is not implemented by the NHN Cloud emulator.",
            )
    kind = _volume_type(state, request.get("volume_type"))
    size = _size(request.get("size"))
    # the region's zones are compute's (NHN's volumes live next to the instances)
    zones = ctx.regional.compute.zones
    zone = request.get("availability_zone")
    if zone is None:
        zone = zones[0]
    if zone not in zones:
        raise _invalid_input(f"Availability zone '{zone}' is invalid.")
    if size < MIN_SIZE:
        raise _invalid_input(
            f"Specified volume size of '{size}' is less than the minimum required size of "
            f"'{MIN_SIZE}' for volume type '{kind.name}'."
        )
    if size > MAX_SIZE:
        raise _invalid_input(
            f"Specified volume size of '{size}' is greater than the maximum allowable size of "
            f"'{MAX_SIZE}' for volume type '{kind.name}'."
        )
    metadata = _metadata(request.get("metadata"))
    encryption = _encryption(kind, request.get("nhn_encryption"))
    assert ctx.token is not None
    volume = state.add(
        Volume(
            id=new_uuid(),
            tenant_id=ctx.tenant_id,
            user_id=ctx.token.user_id,
            name=name,
            description=description,
            size=size,
            volume_type=kind,
            zone=zone,
            created=ctx.now,
            sequence=state.next_sequence(),
            metadata=metadata,
            encryption=encryption,
            pending=("create", ctx.now),
            updated=ctx.now,
        )
    )
    return json_response({"volume": volume_view(ctx, volume)}, status=202)


# -- volumes: delete ------------------------------------------------------------------------


async def delete_volume(ctx: Ctx) -> web.StreamResponse:
    volume = _volume_or_404(ctx)
    if volume.status not in DELETABLE or volume.attachment is not None:
        status = " or ".join(DELETABLE)
        raise ApiError(
            400,
            f"Invalid volume: Volume status must be {status} and must not be migrating, "
            "attached, belong to a group, have snapshots or be disassociated from snapshots "
            "after volume transfer.",
        )
    _state(ctx).begin(volume, "delete", "deleting", ctx.now)
    return empty_response(202)

"""Volumes: list, read, create and delete block storage volumes and list their types through
NHN's Cinder v2-compatible Block Storage API (`/v2/{tenant}` on the region's
block-storage endpoint).

NHN facts used (`shared/nhn-api/block-storage.md`; NHN's "Block Storage API v2" guide,
TOAST-DOCS `Storage-Block-Storage/en/public-api.md`):
- `GET /v2/{tenant}/volumes/detail` takes `limit` (default 1000), `marker` (the id of the
  last volume already seen) and `sort`; NHN documents `volumes_links` (the next page) "when
  `limit` and `offset` are given". Each volume carries `id`, `name` (null when unnamed),
  `size` (GB), `status`, `volume_type` (the type's name), `availability_zone`,
  `attachments` (`server_id`, `device`, ...) and `created_at` (`YYYY-MM-DDThh:mm:ss.SSSSSS`,
  no zone — passed on as NHN writes it).
- `GET /v2/{tenant}/volumes/{id}` → `{"volume": {...}}` with the same fields.
- `POST /v2/{tenant}/volumes` with `{"volume": {size, name, description, availability_zone,
  volume_type}}` answers the new volume in `creating`; it is usable once `available`. The
  proxy answers 201 with it (the spec's "every create answers 201").
- `DELETE /v2/{tenant}/volumes/{id}`: NHN refuses a volume that is attached or has
  snapshots (Cinder's 400 `badRequest` "Invalid volume: ..."), passed through as a 400 with
  NHN's message; the proxy answers 204 once NHN accepted the delete.
- `GET /v2/{tenant}/types` → `{"volume_types": [{id, name, ...}]}`; the name (`General HDD`,
  `General SSD`, `Encrypted HDD`, ...) is what `volume_type` expects.

Choices where the docs are silent or unconfirmed:
- Paging: the marker of a `volumes_links` "next" link is followed when NHN gives one (only
  its `marker`, never its host or path; a next link without one usable marker is a 502);
  without a link, a full page (`limit` volumes) continues after its last volume's id and a
  shorter or empty page is the last. So the listing is complete whether or not NHN sends
  the link, and it cannot loop (the core also stops on a repeated marker and at
  `upstream.max_pages`).
- NHN's API guide gives no size bounds; the proxy accepts 10..2000 GB, the range NHN's
  Block Storage overview used to state (quoted by third-party summaries of it) and the
  2000 GB maximum NHN's Terraform documentation gives for a block device. Outside it the
  answer is a 400 without a native call.
- The create and delete statuses (202 in upstream Cinder) and the error bodies (Cinder's
  `{"itemNotFound": {"message", "code"}}`, `{"badRequest": ...}`, `{"overLimit": ...}`) are
  upstream behaviour NHN does not show; any 2xx is success and every error passes through
  the core with NHN's message (an unknown `volume_type` is Cinder's 404, a quota overrun its
  413).
- An attachment's `device` is null when NHN names none.

Async tasks (design §4): volume create is a long-running operation (`volume.create`)
declared on its route. Its watcher polls `GET /v2/{tenant}/volumes/{id}` (the native call of
`GET /volumes/{volume_id}/`): `available` succeeds with `{"volume": ...}` as that route
answers it, `error` fails, anything else is pending.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from nhn_proxy.plugin import (
    RESOURCE_ID,
    Call,
    DemoAccount,
    Header,
    PluginConfig,
    Poll,
    PollState,
    RawJson,
    Route,
    Watcher,
    hookimpl,
    list_of,
    native_answer,
    nova_next_marker,
    object_of,
    optional_text,
    text,
)

SERVICE = "block_storage"
SERVICE_NAME = "Block Storage"
TAGS = ("volumes",)
NEEDS = frozenset({Header.TOKEN, Header.REGION, Header.TENANT})
PAGE_SIZE = 1000  # NHN's default (and Cinder's usual maximum) `limit`
MIN_SIZE = 10
MAX_SIZE = 2000
MAX_NAME = 255
VOLUME_ID = {"volume_id": RESOURCE_ID}
# the long-running operation followed by a watcher when asked with `Prefer: respond-async`
VOLUME_CREATE = "volume.create"
RESOURCE_TYPE = "volume"
# the first availability zone of each region, as NHN names them (for the demo's example)
FIRST_ZONES = {"kr1": "kr-pub-a", "kr2": "kr2-pub-a", "kr3": "kr3-pub-a", "jp1": "jp-pub-a"}

# ----------------------------------------------------------------------------- schemas


class VolumeCreateRequestSchema(Schema):
    """Body of `POST /volumes/create/`."""

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_NAME),
        metadata={"description": "name of the new volume", "example": "my-data-volume"},
    )
    size = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=MIN_SIZE, max=MAX_SIZE),
        metadata={
            "description": f"size in GB, {MIN_SIZE} to {MAX_SIZE}",
            "example": 10,
        },
    )
    volume_type = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_NAME),
        metadata={
            "description": "volume type name (GET /volumes/types/), e.g. General HDD or "
            "General SSD; NHN's default (General HDD) when absent or null",
            "example": "General HDD",
        },
    )
    availability_zone = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_NAME),
        metadata={
            "description": "availability zone, e.g. kr-pub-a (kr1) or kr2-pub-a (kr2); it must "
            "be the zone of the instance the volume will be attached to. NHN picks one when "
            "absent or null",
            "example": "kr-pub-a",
        },
    )
    description = fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_NAME),
        metadata={"description": "free text, omitted when null", "example": "data disk"},
    )


class VolumeAttachmentSchema(Schema):
    server_id = fields.String(
        required=True,
        metadata={
            "description": "instance the volume is attached to",
            "example": "4b293d31-ebd5-4a7f-be03-874b90021e54",
        },
    )
    device = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "device name inside the instance, null if none",
            "example": "/dev/vdb",
        },
    )


class VolumeSchema(Schema):
    id = fields.String(required=True, metadata={"example": "17975e9d-1533-40db-bd02-2072cd2ccb7f"})
    name = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "null for an unnamed volume", "example": "my-data-volume"},
    )
    size = fields.Integer(required=True, metadata={"description": "size in GB", "example": 10})
    status = fields.String(
        required=True,
        metadata={
            "description": "creating, available, attaching, in-use, detaching, deleting, "
            "error, … (NHN's volume status)",
            "example": "available",
        },
    )
    volume_type = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "volume type name", "example": "General HDD"},
    )
    availability_zone = fields.String(required=True, metadata={"example": "kr-pub-a"})
    attachments = fields.List(
        fields.Nested(VolumeAttachmentSchema),
        required=True,
        metadata={"description": "the instances it is attached to; empty when none"},
    )
    created_at = fields.String(
        required=True,
        metadata={
            "description": "as NHN gives it (YYYY-MM-DDThh:mm:ss.ffffff, UTC)",
            "example": "2024-05-01T09:00:00.000000",
        },
    )


class VolumeListSchema(Schema):
    volumes = fields.List(fields.Nested(VolumeSchema), required=True)


class VolumeAnswerSchema(Schema):
    volume = fields.Nested(VolumeSchema, required=True)


class VolumeTypeSchema(Schema):
    id = fields.String(required=True, metadata={"example": "6bda35e2-b2b9-497a-8f65-67a73839c856"})
    name = fields.String(required=True, metadata={"example": "General HDD"})


class VolumeTypeListSchema(Schema):
    volume_types = fields.List(fields.Nested(VolumeTypeSchema), required=True)


# ----------------------------------------------------------------------------- translation


def _size(value: Any) -> int:
    # bool is an int in Python; a true/false size is not a size
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("size is not an integer")
    return value


def _attachment(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "server_id": text(native["server_id"], "attachment server_id"),
        "device": optional_text(native.get("device"), "attachment device"),
    }


def _volume(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(native["id"], "volume id"),
        "name": optional_text(native.get("name"), "volume name"),
        "size": _size(native["size"]),
        "status": text(native["status"], "volume status"),
        "volume_type": optional_text(native.get("volume_type"), "volume_type"),
        "availability_zone": text(native["availability_zone"], "availability_zone"),
        "attachments": [_attachment(item) for item in list_of(native, "attachments")],
        "created_at": text(native["created_at"], "created_at"),
    }


@native_answer(SERVICE)
def volumes_page_from_native(
    native: dict[str, Any], limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `volumes/detail` asked with `limit`, and the marker of the next page
    (None: it was the last). See the module docstring for the rule."""
    volumes = [_volume(volume) for volume in list_of(native, "volumes")]
    if not volumes:
        return [], None
    marker = nova_next_marker(native, "volumes")
    if marker is None and len(volumes) >= limit:
        marker = volumes[-1]["id"]
    return volumes, marker


@native_answer(SERVICE)
def volume_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`{"volume": {...}}` (get or create answer) → `{"volume": {public fields}}`."""
    return {"volume": _volume(object_of(native, "volume"))}


@native_answer(SERVICE)
def volume_status_from_native(native: dict[str, Any]) -> str:
    return text(object_of(native, "volume")["status"], "volume status")


@native_answer(SERVICE)
def volume_types_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "volume_types": [
            {"id": text(kind["id"], "volume type id"), "name": text(kind["name"], "name")}
            for kind in list_of(native, "volume_types")
        ]
    }


def volume_to_native(body: dict[str, Any]) -> dict[str, Any]:
    """A validated create body → NHN's `{"volume": {...}}`; null optionals are left out."""
    volume: dict[str, Any] = {"size": body["size"], "name": body["name"]}
    for key in ("description", "availability_zone", "volume_type"):
        if body.get(key) is not None:
            volume[key] = body[key]
    return {"volume": volume}


def _page_query(marker: str | None) -> dict[str, str | int]:
    query: dict[str, str | int] = {"limit": PAGE_SIZE}
    if marker:
        query["marker"] = marker
    return query


# ----------------------------------------------------------------------------- handlers


async def list_volumes(call: Call) -> RawJson:
    async def fetch(marker: str | None) -> tuple[list[dict[str, Any]], str | None]:
        answer = await call.native(
            SERVICE, "GET", "/v2/{tenant}/volumes/detail", query=_page_query(marker)
        )
        return volumes_page_from_native(answer.json_object(), PAGE_SIZE)

    return await call.listing(fetch, service=SERVICE, key="volumes")


async def read_volume(call: Call, volume_id: str) -> dict[str, Any]:
    """NHN's own `GET /v2/{tenant}/volumes/{volume_id}` answer."""
    answer = await call.native(
        SERVICE, "GET", "/v2/{tenant}/volumes/{volume_id}", path={"volume_id": volume_id}
    )
    return answer.json_object()


async def get_volume(call: Call) -> dict[str, Any]:
    return volume_from_native(await read_volume(call, call.params["volume_id"]))


async def create_volume(call: Call) -> dict[str, Any]:
    body = volume_to_native(call.body)
    answer = await call.native(SERVICE, "POST", "/v2/{tenant}/volumes", json=body)
    return volume_from_native(answer.json_object())


async def delete_volume(call: Call) -> None:
    await call.native(SERVICE, "DELETE", "/v2/{tenant}/volumes/{volume_id}", path=call.params)


async def list_volume_types(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v2/{tenant}/types")
    return volume_types_from_native(answer.json_object())


# ----------------------------------------------------------------------------- watcher


def created_volume_id(call: Call, payload: Any) -> str:
    """The new volume's id, from the create payload `{"volume": {"id", ...}}`."""
    return payload["volume"]["id"]


async def poll_created_volume(call: Call, volume_id: str) -> Poll:
    """One look at a new volume: `available` succeeds with what `GET /volumes/{volume_id}/`
    answers, `error` fails, anything else (`creating`, `downloading`, …) is pending.
    Upstream errors (a 404 included: the new volume must exist) propagate for the task
    manager to judge."""
    native = await read_volume(call, volume_id)
    status = volume_status_from_native(native)
    if status == "available":
        return Poll(PollState.SUCCEEDED, volume_from_native(native))
    if status == "error":
        # Cinder gives no reason on the volume itself
        return Poll(PollState.FAILED, message=f"volume {volume_id} went to error")
    return Poll(PollState.PENDING)


# ----------------------------------------------------------------------------- hooks


@hookimpl
def nhn_proxy_demo_examples(demo: DemoAccount) -> dict[type[Schema], dict[str, Any]]:
    # a zone of the demo's region, so "Try it out" creates the volume where the demo runs
    zone = FIRST_ZONES.get(demo.region)
    return {VolumeCreateRequestSchema: {"availability_zone": zone}} if zone else {}


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    common: dict[str, Any] = {"tags": TAGS, "needs": NEEDS, "service_name": SERVICE_NAME}
    return [
        Route(
            "GET",
            "/volumes/",
            list_volumes,
            summary="List volumes",
            description="Every block storage volume of the tenant, all pages "
            "(NHN `GET /v2/{tenant}/volumes/detail`).",
            response=VolumeListSchema,
            **common,
        ),
        # declared before /volumes/{volume_id}/; aiohttp prefers the plain path anyway
        Route(
            "GET",
            "/volumes/types/",
            list_volume_types,
            summary="List volume types",
            description="The block storage types of the region (NHN `GET /v2/{tenant}/types`); "
            "a type's name is what `volume_type` of a new volume expects.",
            response=VolumeTypeListSchema,
            **common,
        ),
        Route(
            "POST",
            "/volumes/create/",
            create_volume,
            summary="Create a volume",
            description="NHN `POST /v2/{tenant}/volumes`: an empty volume of `size` GB "
            f"({MIN_SIZE} to {MAX_SIZE}). The answer's status is `creating`; the volume can "
            "be attached once it is `available`. An unknown `volume_type` is NHN's 404. With "
            "`Prefer: respond-async` the answer is a task that follows the volume until it "
            "is available (result: the volume as GET /volumes/{volume_id}/ shows it) or in "
            "error.",
            body=VolumeCreateRequestSchema,
            response=VolumeAnswerSchema,
            status=201,
            errors=(404,),
            operation=VOLUME_CREATE,
            watcher=Watcher(RESOURCE_TYPE, created_volume_id, poll_created_volume),
            **common,
        ),
        Route(
            "GET",
            "/volumes/{volume_id}/",
            get_volume,
            summary="Get one volume",
            description="NHN `GET /v2/{tenant}/volumes/{volume_id}`.",
            params=VOLUME_ID,
            response=VolumeAnswerSchema,
            **common,
        ),
        Route(
            "DELETE",
            "/volumes/{volume_id}/",
            delete_volume,
            summary="Delete a volume",
            description="NHN `DELETE /v2/{tenant}/volumes/{volume_id}`. A volume that is "
            "attached to an instance (`in-use`) or has snapshots cannot be deleted: NHN's "
            "400 with its message. The volume disappears once NHN has finished deleting it.",
            params=VOLUME_ID,
            status=204,
            **common,
        ),
    ]

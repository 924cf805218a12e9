"""Compute: flavors, key pairs, images and instances (seed spec §2).

Calls NHN's Instance API v2 (Nova's legacy `/v2/{tenantId}` URL, no microversions) and, for
the image list, the Image API v2 (Glance, `/v2/images`, no tenant in the path, so that route
needs only the token and region headers — design §8). NHN facts used, from
`shared/nhn-api/compute.md` and the mapping table of `shared/nhn-api/README.md` §8:

- `GET /v2/{tenant}/flavors/detail` → `{"flavors": [{id, name, vcpus, ram, disk, ...}]}`
  (not paginated); `disk` is 0 for the volume-backed families.
- `GET /v2/{tenant}/os-keypairs` → each element already wrapped as `{"keypair": {...}}`.
- `GET /v2/images?limit=1000` → `{"images": [...], "next": "/v2/images?marker=<id>"}`,
  `next` present only while more pages exist. `GET /v2/{tenant}/servers/detail?limit=1000`
  → `{"servers": [...], "servers_links": [{"rel": "next", "href": "...?marker=<id>"}]}`.
  Both pagination links are followed by taking *only* their `marker` query value and
  issuing our own request for the fixed native path: a path or host the upstream names is
  never called. A next link without a marker is an unusable answer (502), not a silently
  shortened list.
- `POST /v2/{tenant}/servers` answers 202 `{"server": {id, links, security_groups}}` without
  the name; the proxy answers 201 `{"server": {id, name, status: "BUILD"}}` with the name
  the caller asked for — every Nova server starts in `BUILD`.
- The root disk: u2 flavors (name `u2.*`) and GPU flavors (`g2.*`) boot from the flavor's
  local disk (`destination_type: "local"`, no `volume_size`); every other family boots from a new
  volume of `volume_size` GB (default 50) deleted with the server (design §8). The flavor is
  looked up first, so an unknown `flavor_id` is a 400 without a create call.
  `volume_size` is bounded to 10..2000 GB: 10 GB is NHN's Linux root minimum, 2000 GB the
  maximum of NHN's Terraform documentation (Windows images need ≥ 50 GB; NHN itself
  refuses smaller ones).
- Actions: `{"os-start": null}`, `{"os-stop": null}`, `{"reboot": {"type": "SOFT"}}`, each
  202 with an empty body; a state that forbids the action is Nova's 409
  `conflictingRequest`, passed through with Nova's message.

Unconfirmed facts and the choices made:
- Whether NHN returns `"image": ""` (upstream Nova) or an image object for a volume-booted
  server is unconfirmed; both are accepted and `""`/null answer `"image": {"id": null}`.
- `servers_links` is upstream Nova behaviour NHN does not show; it is followed when present.
- GPU flavors also boot from local disk according to compute.md. NHN's NKS user guide
  (TOAST-DOCS Container-Kubernetes `en/user-guide.md`, checked 2026-11) names the GPU flavor
  type `g2`, so flavors named `u2.*` or `g2.*` get the local root disk.

Async tasks (design §4): instance create and delete are long-running operations
(`compute.instance.create`, `compute.instance.delete`), each declared on its route with
its watcher. Both watchers poll `GET /v2/{tenant}/servers/{id}`, the native call of
`GET /compute/instances/{server_id}/`:

- create settles when the server is `ACTIVE` (the task's result is that route's answer,
  `{"server": {...}}`) or `ERROR` (failed with Nova's `fault.message` when it gives one);
- delete settles when the server is gone (404, or Nova's `DELETED` status; result null).
  A server in `ERROR` fails the delete only once its `OS-EXT-STS:task_state` is no longer
  `deleting`: deleting a server that was already in `ERROR` keeps that status until the
  server disappears, and must not count as a failure.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, validate

from nhn_proxy.plugin import (
    RESOURCE_ID,
    BadRequest,
    Call,
    DemoAccount,
    Header,
    PluginConfig,
    Poll,
    PollState,
    RawJson,
    Route,
    UpstreamHTTPError,
    Watcher,
    glance_next_marker,
    hookimpl,
    list_of,
    native_answer,
    nova_next_marker,
    pick,
    text,
)

TAGS = ("compute",)
COMPUTE_HEADERS = frozenset({Header.TOKEN, Header.REGION, Header.TENANT})
IMAGE_HEADERS = frozenset({Header.TOKEN, Header.REGION})
PAGE_SIZE = 1000  # NHN's maximum `limit` for servers and images
DEFAULT_VOLUME_SIZE = 50
DEFAULT_SECURITY_GROUPS = ("default",)
# families whose root disk is the flavor's local disk (u2; g2 = GPU) — no boot volume
LOCAL_DISK_FLAVOR_PREFIXES = ("u2.", "g2.")
ACTIONS: dict[str, dict[str, Any]] = {
    "start": {"os-start": None},
    "stop": {"os-stop": None},
    "reboot": {"reboot": {"type": "SOFT"}},
}
SERVER_ID = {"server_id": RESOURCE_ID}
# long-running operations followed by a watcher when asked with `Prefer: respond-async`
INSTANCE_CREATE = "compute.instance.create"
INSTANCE_DELETE = "compute.instance.delete"
RESOURCE_TYPE = "instance"

# --------------------------------------------------------------------------- schemas


def _id_field(description: str, example: str) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        metadata={"description": description, "example": example},
    )


class InstanceCreateSchema(Schema):
    """Body of `POST /compute/instances/create/` (seed spec §2, field for field)."""

    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "instance name (NHN allows at most 15 characters for Windows)",
            "example": "my-new-instance",
        },
    )
    image_id = _id_field("image id (GET /compute/images/)", "9956f822-29c9-4f81-9410-0c392d9c8c24")
    flavor_id = _id_field(
        "flavor id (GET /compute/flavors/); u2 flavors boot from their local disk",
        "a4b6a0f7-aeff-4d78-a8d5-7de9f007012d",
    )
    subnet_id = _id_field("subnet id (GET /subnet/)", "b83863ff-0355-4c73-8c10-0bdf66a69aab")
    keypair_name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "key pair name (GET /compute/keypairs/)", "example": "my-keypair"},
    )
    volume_size = fields.Integer(
        strict=True,
        allow_none=True,
        load_default=DEFAULT_VOLUME_SIZE,
        validate=validate.Range(min=10, max=2000),
        metadata={
            "description": "boot volume size in GB, default 50 (null = default); ignored for "
            "u2 flavors, which use their fixed local disk. Windows images need at least 50.",
            "example": 50,
        },
    )
    security_groups = fields.List(
        fields.String(validate=validate.Length(min=1, max=255)),
        allow_none=True,
        load_default=list(DEFAULT_SECURITY_GROUPS),
        validate=validate.Length(min=1, max=20),
        metadata={
            "description": 'security group names, default ["default"] (null = default)',
            "example": ["default"],
        },
    )
    availability_zone = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "availability zone, e.g. kr-pub-a (kr1) or kr2-pub-a (kr2); "
            "NHN picks one when absent or null",
            "example": "kr-pub-a",
        },
    )


class InstanceActionSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(tuple(ACTIONS)),
        metadata={
            "description": "start, stop or reboot (a soft reboot)",
            "example": "start",
        },
    )


class FlavorSchema(Schema):
    id = fields.String(required=True, metadata={"example": "013bea75-8541-4c6f-9abe-a03fee3d74fe"})
    name = fields.String(required=True, metadata={"example": "m2.c2m4"})
    vcpus = fields.Integer(required=True, metadata={"description": "vCPU count", "example": 2})
    ram = fields.Integer(required=True, metadata={"description": "memory in MB", "example": 4096})
    disk = fields.Integer(
        required=True,
        metadata={
            "description": "local root disk in GB; 0 for the volume-backed families",
            "example": 0,
        },
    )


class FlavorListSchema(Schema):
    flavors = fields.List(fields.Nested(FlavorSchema), required=True)


class KeypairSchema(Schema):
    name = fields.String(required=True, metadata={"example": "my-keypair"})
    public_key = fields.String(required=True, metadata={"example": "ssh-rsa AAAAB3NzaC1yc2EAAA..."})
    fingerprint = fields.String(
        required=True,
        metadata={"description": "as NHN gives it (SHA256: or MD5 hex)", "example": "xx:xx:xx"},
    )


class KeypairEntrySchema(Schema):
    keypair = fields.Nested(KeypairSchema, required=True)


class KeypairListSchema(Schema):
    keypairs = fields.List(fields.Nested(KeypairEntrySchema), required=True)


class ImageSchema(Schema):
    id = fields.String(required=True, metadata={"example": "1c868787-6207-4ff2-a1e7-ae1331d6829b"})
    name = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "null for an unnamed image", "example": "Ubuntu 20.04"},
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "queued, saving, active, killed, deleted or pending_delete",
            "example": "active",
        },
    )
    created_at = fields.String(required=True, metadata={"example": "2024-01-01T00:00:00Z"})


class ImageListSchema(Schema):
    images = fields.List(fields.Nested(ImageSchema), required=True)


class ServerAddressSchema(Schema):
    """One NIC address, NHN's object kept as it is (extra NHN keys included)."""

    class Meta:
        unknown = INCLUDE

    addr = fields.String(required=True, metadata={"example": "192.168.0.10"})
    version = fields.Integer(required=True, metadata={"example": 4})


def _addresses_field() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(ServerAddressSchema)),
        required=True,
        metadata={
            "description": "addresses by network (VPC) name, NHN's objects kept as they are: "
            "addr, version, OS-EXT-IPS:type (fixed / floating), OS-EXT-IPS-MAC:mac_addr",
            "example": {"Default Network": [{"addr": "192.168.0.10", "version": 4}]},
        },
    )


_SERVER_STATUS = (
    "ACTIVE, BUILD, SHUTOFF, REBOOT, HARD_REBOOT, ERROR, SHELVED_OFFLOADED, … (NHN/Nova status)"
)


class ServerSummarySchema(Schema):
    id = fields.String(required=True, metadata={"example": "aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec"})
    name = fields.String(required=True, metadata={"example": "my-instance"})
    status = fields.String(
        required=True, metadata={"description": _SERVER_STATUS, "example": "ACTIVE"}
    )
    addresses = _addresses_field()
    created = fields.String(required=True, metadata={"example": "2024-01-01T00:00:00Z"})


class ServerListSchema(Schema):
    servers = fields.List(fields.Nested(ServerSummarySchema), required=True)


class ServerFlavorRefSchema(Schema):
    id = fields.String(required=True, metadata={"example": "35a73b57-58a7-434d-aa08-5249aaa95b3e"})


class ServerImageRefSchema(Schema):
    id = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "null for a server booted from a volume when NHN names no image",
            "example": "8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11",
        },
    )


class ServerDetailSchema(ServerSummarySchema):
    flavor = fields.Nested(ServerFlavorRefSchema, required=True)
    image = fields.Nested(ServerImageRefSchema, required=True)


class ServerReplySchema(Schema):
    server = fields.Nested(ServerDetailSchema, required=True)


class NewServerSchema(Schema):
    id = fields.String(required=True, metadata={"example": "3a005d5b-63cf-4493-bfc6-49db990b5b50"})
    name = fields.String(
        required=True, metadata={"description": "the requested name", "example": "my-new-instance"}
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "always BUILD: a new server builds, then becomes ACTIVE or ERROR "
            "(poll GET /compute/instances/{server_id}/)",
            "example": "BUILD",
        },
    )


class NewServerReplySchema(Schema):
    server = fields.Nested(NewServerSchema, required=True)


class InstanceActionReplySchema(Schema):
    status = fields.String(required=True, metadata={"example": "success"})
    action = fields.String(required=True, metadata={"example": "start"})


# ------------------------------------------------------------------ translation (pure)


@native_answer("compute")
def flavors_from_native(native: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        pick(flavor, "id", "name", "vcpus", "ram", "disk") for flavor in list_of(native, "flavors")
    ]


@native_answer("compute")
def flavor_name_from_native(native: dict[str, Any], flavor_id: str) -> str | None:
    """The name of flavor `flavor_id` in a `flavors/detail` answer, None if absent."""
    for flavor in list_of(native, "flavors"):
        if flavor["id"] == flavor_id:
            return text(flavor["name"], "flavor name")
    return None


@native_answer("compute")
def keypairs_from_native(native: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"keypair": pick(entry["keypair"], "name", "public_key", "fingerprint")}
        for entry in list_of(native, "keypairs")
    ]


@native_answer("image")
def images_page_from_native(native: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """One page of Glance's image list and the marker of the next page (None: last)."""
    images = [
        pick(image, "id", "name", "status", "created_at") for image in list_of(native, "images")
    ]
    return images, glance_next_marker(native)


def _addresses(server: dict[str, Any]) -> dict[str, Any]:
    addresses = server["addresses"]
    if not isinstance(addresses, dict) or not all(
        isinstance(entries, list) for entries in addresses.values()
    ):
        raise TypeError("addresses is not an object of lists")
    return addresses


def _server_summary(server: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(server["id"], "server id"),
        "name": server["name"],
        "status": server["status"],
        "addresses": _addresses(server),
        "created": server["created"],
    }


@native_answer("compute")
def servers_page_from_native(native: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `servers/detail` and the marker of the next page (None: last)."""
    servers = [_server_summary(server) for server in list_of(native, "servers")]
    return servers, nova_next_marker(native, "servers")


@native_answer("compute")
def server_from_native(native: dict[str, Any]) -> dict[str, Any]:
    server = native["server"]
    image = server["image"]
    # Nova sends "" (some versions null) for a server booted from a volume.
    image_id = None if image in ("", None) else image["id"]
    return {
        **_server_summary(server),
        "flavor": {"id": server["flavor"]["id"]},
        "image": {"id": image_id},
    }


def server_to_native(body: dict[str, Any], flavor_name: str) -> dict[str, Any]:
    """The native create body for a validated create request and its flavor's name."""
    image_id = body["image_id"]
    root_disk: dict[str, Any] = {
        "source_type": "image",
        "uuid": image_id,
        "boot_index": 0,
    }
    if flavor_name.startswith(LOCAL_DISK_FLAVOR_PREFIXES):
        root_disk["destination_type"] = "local"
    else:
        volume_size = body.get("volume_size")
        root_disk["destination_type"] = "volume"
        root_disk["volume_size"] = DEFAULT_VOLUME_SIZE if volume_size is None else volume_size
    root_disk["delete_on_termination"] = True
    groups = body.get("security_groups") or list(DEFAULT_SECURITY_GROUPS)
    server: dict[str, Any] = {
        "name": body["name"],
        "imageRef": image_id,
        "flavorRef": body["flavor_id"],
        "networks": [{"subnet": body["subnet_id"]}],
        "key_name": body["keypair_name"],
        "security_groups": [{"name": name} for name in groups],
        "min_count": 1,
        "max_count": 1,
        "block_device_mapping_v2": [root_disk],
    }
    if body.get("availability_zone") is not None:
        server["availability_zone"] = body["availability_zone"]
    return {"server": server}


@native_answer("compute")
def created_server_from_native(native: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "server": {
            "id": text(native["server"]["id"], "server id"),
            "name": name,
            "status": "BUILD",
        }
    }


def action_to_native(action: str) -> dict[str, Any]:
    return ACTIONS[action]


@native_answer("compute")
def server_state_from_native(native: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(status, task_state, fault message) of a `GET /servers/{id}` answer.

    Nova adds `fault: {code, message, created}` to a server in ERROR; the task state is
    null when no operation is running.
    """
    server = native["server"]
    status = text(server["status"], "server status")
    task_state = server.get("OS-EXT-STS:task_state")
    fault = server.get("fault")
    message = fault.get("message") if isinstance(fault, dict) else None
    return (
        status,
        task_state if isinstance(task_state, str) else None,
        message if isinstance(message, str) and message else None,
    )


# ------------------------------------------------------------------------- handlers


async def list_flavors(call: Call) -> dict[str, Any]:
    answer = await call.native("compute", "GET", "/v2/{tenant}/flavors/detail")
    return {"flavors": flavors_from_native(answer.json_object())}


async def list_keypairs(call: Call) -> dict[str, Any]:
    answer = await call.native("compute", "GET", "/v2/{tenant}/os-keypairs")
    return {"keypairs": keypairs_from_native(answer.json_object())}


def _page_query(marker: str | None) -> dict[str, str | int]:
    query: dict[str, str | int] = {"limit": PAGE_SIZE}
    if marker:
        query["marker"] = marker
    return query


async def list_images(call: Call) -> RawJson:
    async def fetch(marker: str | None) -> tuple[list[dict[str, Any]], str | None]:
        answer = await call.native("image", "GET", "/v2/images", query=_page_query(marker))
        return images_page_from_native(answer.json_object())

    return await call.listing(fetch, service="image", key="images")


async def list_servers(call: Call) -> RawJson:
    async def fetch(marker: str | None) -> tuple[list[dict[str, Any]], str | None]:
        answer = await call.native(
            "compute", "GET", "/v2/{tenant}/servers/detail", query=_page_query(marker)
        )
        return servers_page_from_native(answer.json_object())

    return await call.listing(fetch, service="compute", key="servers")


async def read_server(call: Call, server_id: str) -> dict[str, Any]:
    """NHN's own `GET /v2/{tenant}/servers/{server_id}` answer."""
    answer = await call.native(
        "compute", "GET", "/v2/{tenant}/servers/{server_id}", path={"server_id": server_id}
    )
    return answer.json_object()


async def get_server(call: Call) -> dict[str, Any]:
    native = await read_server(call, call.params["server_id"])
    return {"server": server_from_native(native)}


async def create_server(call: Call) -> dict[str, Any]:
    flavors = await call.native("compute", "GET", "/v2/{tenant}/flavors/detail")
    flavor_id = call.body["flavor_id"]
    flavor_name = flavor_name_from_native(flavors.json_object(), flavor_id)
    if flavor_name is None:
        raise BadRequest(f"flavor_id: no flavor {flavor_id} exists in region {call.ctx.region}")
    answer = await call.native(
        "compute", "POST", "/v2/{tenant}/servers", json=server_to_native(call.body, flavor_name)
    )
    return created_server_from_native(answer.json_object(), call.body["name"])


async def delete_server(call: Call) -> None:
    await call.native("compute", "DELETE", "/v2/{tenant}/servers/{server_id}", path=call.params)


async def server_action(call: Call) -> dict[str, Any]:
    action = call.body["action"]
    await call.native(
        "compute",
        "POST",
        "/v2/{tenant}/servers/{server_id}/action",
        path=call.params,
        json=action_to_native(action),
    )
    return {"status": "success", "action": action}


# ------------------------------------------------------------------------- watchers


def created_server_id(call: Call, payload: Any) -> str:
    """The new server's id, from the create payload `{"server": {"id", "name", "status"}}`."""
    return payload["server"]["id"]


def deleted_server_id(call: Call, payload: Any) -> str:
    """The deleted server's id, from the path (the delete returns no payload)."""
    return call.params["server_id"]


async def poll_created_server(call: Call, server_id: str) -> Poll:
    """One look at a new server: ACTIVE succeeds, ERROR fails, anything else is pending.

    The result is exactly what `GET /compute/instances/{server_id}/` answers, the wrapped
    `{"server": {id, name, status, addresses, created, flavor, image}}`. Upstream errors
    (a 404 included: the new server must exist) propagate for the task manager to judge.
    """
    native = await read_server(call, server_id)
    status, _task_state, fault = server_state_from_native(native)
    if status == "ACTIVE":
        return Poll(PollState.SUCCEEDED, {"server": server_from_native(native)})
    if status == "ERROR":
        return Poll(PollState.FAILED, message=fault or "instance went to ERROR")
    return Poll(PollState.PENDING)


async def poll_deleted_server(call: Call, server_id: str) -> Poll:
    """One look at a server being deleted: gone (404 or DELETED) succeeds with no result;
    ERROR once Nova has stopped deleting fails; anything else is pending."""
    try:
        native = await read_server(call, server_id)
    except UpstreamHTTPError as exc:
        if exc.upstream_status == 404:
            return Poll(PollState.SUCCEEDED)
        raise
    status, task_state, fault = server_state_from_native(native)
    if status == "DELETED":
        return Poll(PollState.SUCCEEDED)
    if status == "ERROR" and task_state != "deleting":
        return Poll(PollState.FAILED, message=fault or "instance went to ERROR")
    return Poll(PollState.PENDING)


@hookimpl
def nhn_proxy_demo_examples(demo: DemoAccount) -> dict[type[Schema], dict[str, Any]]:
    # the emulator's demo tenant already has this key pair, so "Try it out" creates a server
    return {InstanceCreateSchema: {"keypair_name": demo.keypair_name}}


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    return [
        Route(
            "GET",
            "/compute/flavors/",
            list_flavors,
            summary="List flavors",
            description="Instance types of the region (NHN `GET /v2/{tenant}/flavors/detail`).",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            response=FlavorListSchema,
        ),
        Route(
            "GET",
            "/compute/keypairs/",
            list_keypairs,
            summary="List key pairs",
            description="Key pairs of the tenant (NHN `GET /v2/{tenant}/os-keypairs`).",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            response=KeypairListSchema,
        ),
        Route(
            "GET",
            "/compute/images/",
            list_images,
            summary="List images",
            description="Every image visible to the token (public, private and shared), all "
            "pages (NHN image service `GET /v2/images`). The image service has no tenant in "
            "its path, so X-NHN-Tenant-ID is not needed.",
            tags=TAGS,
            needs=IMAGE_HEADERS,
            response=ImageListSchema,
        ),
        Route(
            "GET",
            "/compute/instances/",
            list_servers,
            summary="List instances",
            description="Every instance of the tenant, all pages "
            "(NHN `GET /v2/{tenant}/servers/detail`).",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            response=ServerListSchema,
        ),
        Route(
            "GET",
            "/compute/instances/{server_id}/",
            get_server,
            summary="Get one instance",
            description="NHN `GET /v2/{tenant}/servers/{server_id}`. `image.id` is null for "
            "an instance booted from a volume when NHN names no image.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params=SERVER_ID,
            response=ServerReplySchema,
        ),
        Route(
            "POST",
            "/compute/instances/create/",
            create_server,
            summary="Create an instance",
            description="Looks the flavor up, then creates the instance (NHN "
            "`POST /v2/{tenant}/servers`). u2 flavors boot from their local disk; the "
            "others from a new volume of `volume_size` GB deleted with the instance. The "
            "answer's status is always BUILD; poll the instance until it is ACTIVE or ERROR. "
            "With `Prefer: respond-async` the answer is a task that follows the instance until "
            "it is ACTIVE (result: the instance as GET /compute/instances/{server_id}/ shows "
            "it) or ERROR.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            body=InstanceCreateSchema,
            response=NewServerReplySchema,
            status=201,
            errors=(403, 404, 409),
            operation=INSTANCE_CREATE,
            watcher=Watcher(RESOURCE_TYPE, created_server_id, poll_created_server),
        ),
        Route(
            "DELETE",
            "/compute/instances/{server_id}/",
            delete_server,
            summary="Delete an instance",
            description="NHN `DELETE /v2/{tenant}/servers/{server_id}`; the instance "
            "disappears once NHN has finished deleting it. With `Prefer: respond-async` the "
            "answer is a task that follows the instance until it is gone (result: null).",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params=SERVER_ID,
            status=204,
            errors=(403, 409),
            operation=INSTANCE_DELETE,
            watcher=Watcher(RESOURCE_TYPE, deleted_server_id, poll_deleted_server),
        ),
        Route(
            "POST",
            "/compute/instances/{server_id}/action/",
            server_action,
            summary="Start, stop or reboot an instance",
            description="NHN `POST /v2/{tenant}/servers/{server_id}/action` with `os-start`, "
            "`os-stop` or a SOFT `reboot`. An action the instance's state forbids is a 409 "
            "with NHN's message.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params=SERVER_ID,
            body=InstanceActionSchema,
            response=InstanceActionReplySchema,
            errors=(403, 409),
        ),
    ]

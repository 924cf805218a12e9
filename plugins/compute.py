"""Compute: flavors, key pairs, images, instances, their actions and volume attachments.

Calls NHN's Instance API v2 (Nova's legacy `/v2/{tenantId}` URL, no microversions), the
Image API v2 (Glance, `/v2/images`, no tenant in the path, so that route needs only the
token and region headers — design §8) and, to follow a volume attachment, the Block Storage
API v2 (`block_storage`, Cinder v2). NHN facts used, from `shared/nhn-api/compute.md`,
`block-storage.md` and the mapping table of `shared/nhn-api/README.md` §8:

- `GET /v2/{tenant}/flavors/detail` → `{"flavors": [{id, name, vcpus, ram, disk, ...}]}`
  (not paginated); `disk` is 0 for the volume-backed families.
- `GET /v2/{tenant}/os-keypairs` → each element already wrapped as `{"keypair": {...}}`.
- `POST /v2/{tenant}/os-keypairs` `{"keypair": {"name", "public_key"?}}` → 200 (legacy v2)
  `{"keypair": {name, public_key, fingerprint, user_id, private_key?}}`: `private_key` only
  when NHN generated the pair (no `public_key` sent), shown this once; the proxy answers
  201 and keeps `private_key` only then (absent, not null, for an imported key). It is
  registered as a secret the moment it is read, so no log line can carry it. A name in
  use is Nova's 409 `conflictingRequest`, passed through. `DELETE
  /v2/{tenant}/os-keypairs/{name}` → 202 (legacy v2); the proxy answers 204.
- Key pair names: NHN documents no rule of its own. Its Instance API is Nova's legacy v2,
  which takes 1 to 255 characters of letters, digits, `_`, `-` and spaces (Nova's
  `_validate_new_key_pair`; v2.0 also allows leading and trailing spaces); the proxy asks
  the same and at least one character that is not a space.
- `GET /v2/images?limit=1000` → `{"images": [...], "next": "/v2/images?marker=<id>"}`,
  `next` present only while more pages exist; only its `marker` query value is used, with
  our own request for the fixed native path (a next link without a marker is a 502).
- `GET /v2/{tenant}/servers/detail?limit=1000[&marker=<id>]`: NHN documents only `limit`
  and `marker` (Instance API v2 guide, "List Instances"), never `servers_links`. So the
  listing pages by marker alone: a full page (1000 servers) is followed by a request with
  the last server's id as the marker, a shorter page is the last. `servers_links`, which
  upstream Nova adds, is not read at all: it can neither end nor extend the listing.
- `POST /v2/{tenant}/servers` answers 202 `{"server": {id, links, security_groups}}` without
  the name; the proxy answers 201 `{"server": {id, name, status: "BUILD"}}` with the name
  the caller asked for — every Nova server starts in `BUILD`.
- The root disk: u2 flavors (name `u2.*`) and GPU flavors (`g2.*`) boot from the flavor's
  local disk (`destination_type: "local"`); every other family boots from a new volume of
  `volume_size` GB (default 50) deleted with the server (design §8). The flavor is looked
  up first, so an unknown `flavor_id` is a 400 without a create call.
  - Local disk: NHN's Terraform guide (nhncloud provider, `nhncloud_compute_instance_v2`,
    "Create u2 Instance") sends `volume_size` with `destination_type = "local"` and marks
    `block_device.volume_size` required for u2, while the Instance API says the value is
    ignored and the flavor's own size used. So the proxy sends `volume_size` for
    local-disk flavors too: the flavor's `disk` (what NHN creates anyway), or the
    requested size should a local-disk flavor report 0.
  - Volume: `volume_type` is sent as `"General HDD"`. The Instance API and the Terraform
    guide make `volume_type` optional (a Block Storage type *name*, `GET /v2/{tenant}/types`:
    "General HDD", "General SSD"); the Block Storage API's create example sends
    `"volume_type": null` and NHN answers `"volume_type": "General HDD"`, i.e. HDD is NHN's
    default. Naming it makes the request say what NHN does whatever its region default.
  `volume_size` is bounded to 10..2000 GB: 10 GB is NHN's Linux root minimum, 2000 GB the
  maximum of NHN's Terraform documentation (Windows images need ≥ 50 GB; NHN itself
  refuses smaller ones).
- Actions: `{"os-start": null}`, `{"os-stop": null}`, `{"reboot": {"type": "SOFT"}}`,
  `{"resize": {"flavorRef": <id>}}`, `{"confirmResize": null}`, `{"revertResize": null}`,
  each 202 with an empty body; a state that forbids the action is Nova's 409
  `conflictingRequest`, passed through with Nova's message. NHN resizes only ACTIVE or
  SHUTOFF servers and confirms a resize itself: `VERIFY_RESIZE` turns back to `ACTIVE`
  (`SHUTOFF` for a server resized while stopped) on its own, so `confirm_resize` and
  `revert_resize` mostly meet a 409 on NHN; they are there for the short `VERIFY_RESIZE`
  window and for OpenStack parity.
- Volume attachments: `POST /v2/{tenant}/servers/{id}/os-volume_attachments`
  `{"volumeAttachment": {"volumeId"}}` → 200 `{"volumeAttachment": {device, id, serverId,
  volumeId}}`; the volume then goes `attaching` → `in-use`. An attachment is an action on
  the instance (Nova answers 200, nothing new is addressable by its own id), so the proxy
  answers 200 `{"attachment": {server_id, volume_id, device}}`. `DELETE
  .../os-volume_attachments/{volume_id}` → 202; the proxy answers 204.

Unconfirmed facts and the choices made:
- Whether NHN returns `"image": ""` (upstream Nova) or an image object for a volume-booted
  server is unconfirmed; both are accepted and `""`/null answer `"image": {"id": null}`.
- GPU flavors also boot from local disk according to compute.md. NHN's NKS user guide
  (TOAST-DOCS Container-Kubernetes `en/user-guide.md`, checked 2026-11) names the GPU flavor
  type `g2`, so flavors named `u2.*` or `g2.*` get the local root disk.
- NHN's text for `marker` reads "UUID of first instance in the list"; the proxy takes it
  as Nova does (the page starts *after* the marker) and the repeated-marker guard of the
  core's pager stops a listing that would not move on.
- The attachment's `device` may be null (upstream Nova leaves it to the hypervisor); NHN's
  examples always show one.

Async tasks (design §4): long-running operations, each declared on its route with its
watcher, followed with `Prefer: respond-async`:

- `compute.instance.create` / `compute.instance.delete` poll `GET /v2/{tenant}/servers/{id}`,
  the native call of `GET /compute/instances/{server_id}/`. Create settles when the server
  is `ACTIVE` (the task's result is that route's answer, `{"server": {...}}`) or `ERROR`
  (failed with Nova's `fault.message` when it gives one). Delete settles when the server is
  gone (404, or Nova's `DELETED` status; result null); a server in `ERROR` fails the delete
  only once its `OS-EXT-STS:task_state` is no longer `deleting`: deleting a server that was
  already in `ERROR` keeps that status until the server disappears.
- `compute.instance.resize` is declared on the action route, because only `resize` takes
  long. The watcher looks at the server: for `resize` it settles when the server is
  `VERIFY_RESIZE`, or — NHN confirming resizes itself — `ACTIVE`/`SHUTOFF` with no task
  running and the requested flavor; `ERROR` fails with Nova's fault message. Every other
  action settles at the first look with the server as it is then. The result is the
  server as `GET /compute/instances/{server_id}/` answers it.
- `compute.volume.attach` follows the *volume* (`GET /v2/{tenant}/volumes/{id}` on the
  block storage service): `in-use` and attached to the instance succeeds with `{"volume":
  {...}}` (the public volume shape: id, name, size, status, volume_type, availability_zone,
  attachments [{server_id, device}], created_at as NHN writes it); `error` or
  `error_attaching` fails; anything else is pending. A volume NHN could not attach returns
  to `available` without a fault, so such a task ends at its deadline (timed_out).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from nhn_proxy.plugin import (
    RESOURCE_ID,
    BadRequest,
    Call,
    DemoAccount,
    Header,
    PathParam,
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
    object_of,
    optional_text,
    pick,
    register_secret,
    text,
)

TAGS = ("compute",)
COMPUTE_HEADERS = frozenset({Header.TOKEN, Header.REGION, Header.TENANT})
IMAGE_HEADERS = frozenset({Header.TOKEN, Header.REGION})
PAGE_SIZE = 1000  # NHN's maximum `limit` for servers and images
DEFAULT_VOLUME_SIZE = 50
# NHN's default Block Storage type (see the module docstring), named on every boot volume
DEFAULT_VOLUME_TYPE = "General HDD"
DEFAULT_SECURITY_GROUPS = ("default",)
# families whose root disk is the flavor's local disk (u2; g2 = GPU) — no boot volume
LOCAL_DISK_FLAVOR_PREFIXES = ("u2.", "g2.")
ACTIONS: dict[str, dict[str, Any]] = {
    "start": {"os-start": None},
    "stop": {"os-stop": None},
    "reboot": {"reboot": {"type": "SOFT"}},
    "confirm_resize": {"confirmResize": None},
    "revert_resize": {"revertResize": None},
}
RESIZE = "resize"  # the one action with an argument: {"resize": {"flavorRef": <flavor id>}}
ACTION_NAMES = ("start", "stop", "reboot", RESIZE, "confirm_resize", "revert_resize")
# Nova's key pair name rule (legacy v2): letters, digits, '_', '-' and spaces, 1-255
# characters; the proxy also wants one that is not a space
KEYPAIR_NAME_PATTERN = r"[A-Za-z0-9_ -]*[A-Za-z0-9_-][A-Za-z0-9_ -]*"
KEYPAIR_NAME_RULE = "letters, digits, '-', '_' and spaces, 1 to 255 characters, not only spaces"
KEYPAIR_NAME = PathParam(
    KEYPAIR_NAME_PATTERN, f"a key pair name: {KEYPAIR_NAME_RULE}", example="my-keypair"
)
# OpenSSH public key algorithms Nova reads (RSA, DSA, ECDSA, Ed25519)
SSH_KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-dss",
)
MAX_PUBLIC_KEY_LENGTH = 16384  # a 16384-bit RSA key is about 2.8 KB; far more is not a key
SERVER_ID = {"server_id": RESOURCE_ID}
# long-running operations followed by a watcher when asked with `Prefer: respond-async`
INSTANCE_CREATE = "compute.instance.create"
INSTANCE_DELETE = "compute.instance.delete"
INSTANCE_RESIZE = "compute.instance.resize"
VOLUME_ATTACH = "compute.volume.attach"
RESOURCE_TYPE = "instance"
VOLUME_RESOURCE_TYPE = "volume"
VOLUME_FAILED_STATUSES = frozenset({"error", "error_attaching"})

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
        validate=validate.OneOf(ACTION_NAMES),
        metadata={
            "description": "start, stop, reboot (a soft reboot), resize (to `flavor_id`), "
            "confirm_resize or revert_resize",
            "example": "start",
        },
    )
    flavor_id = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=128),
        metadata={
            "description": "the new flavor (GET /compute/flavors/): required for resize, "
            "refused for every other action (null counts as absent). u2 instances cannot "
            "be resized, nor other families resized to u2.",
            # null, so that Swagger UI's pre-filled body ("start") is a valid request
            "example": None,
        },
    )

    @validates_schema
    def _flavor_only_for_resize(self, data: dict[str, Any], **_kwargs: Any) -> None:
        flavor_id = data.get("flavor_id")
        if data["action"] == RESIZE and flavor_id is None:
            raise ValidationError("required for the resize action", "flavor_id")
        if data["action"] != RESIZE and flavor_id is not None:
            raise ValidationError("only the resize action takes a flavor_id", "flavor_id")


def check_public_key(value: str) -> None:
    """An OpenSSH public key line: `<type> <base64 key> [comment]`, whose key data names
    the same type (so a pasted private key, a PuTTY file or a truncated line is a 400
    here, not an obscure error of NHN's)."""
    kinds = ", ".join(SSH_KEY_TYPES)
    parts = value.strip().split(maxsplit=2)
    if "\n" in value.strip() or len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        raise ValidationError(
            f'not one OpenSSH public key line ("<type> <key> [comment]", {kinds})'
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("the key data is not base64") from None
    # the data starts with the key type as an SSH string: a 4-byte length, then the name
    length = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 or blob[4 : 4 + length] != parts[0].encode():
        raise ValidationError(f"the key data is not a {parts[0]} key")


class KeypairCreateSchema(Schema):
    """Body of `POST /compute/keypairs/create/`."""

    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=255),
            validate.Regexp(
                f"^{KEYPAIR_NAME_PATTERN}$",
                error=f"not a valid key pair name ({KEYPAIR_NAME_RULE})",
            ),
        ],
        metadata={"description": f"key pair name: {KEYPAIR_NAME_RULE}", "example": "my-keypair"},
    )
    public_key = fields.String(
        allow_none=True,
        validate=[validate.Length(min=1, max=MAX_PUBLIC_KEY_LENGTH), check_public_key],
        metadata={
            "description": "an OpenSSH public key to import (e.g. the content of "
            "~/.ssh/id_ed25519.pub); absent or null: NHN generates the pair and the answer "
            "carries its private key, this once",
            # null, so that Swagger UI's "Try it out" has NHN generate a pair
            "example": None,
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
        metadata={"description": "as NHN gives it: SHA256:<base64>", "example": "xx:xx:xx"},
    )


class KeypairEntrySchema(Schema):
    keypair = fields.Nested(KeypairSchema, required=True)


class KeypairListSchema(Schema):
    keypairs = fields.List(fields.Nested(KeypairEntrySchema), required=True)


class NewKeypairSchema(KeypairSchema):
    private_key = fields.String(
        metadata={
            "description": "PEM private key, present only when NHN generated the pair (no "
            "public_key was sent) and absent otherwise; shown this once: NHN does not keep it",
            "example": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n"
            "-----END RSA PRIVATE KEY-----\n",
        }
    )


class NewKeypairReplySchema(Schema):
    keypair = fields.Nested(NewKeypairSchema, required=True)


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


class ServerVolumeAttachSchema(Schema):
    """Body of `POST /compute/instances/{server_id}/volumes/attach/`."""

    volume_id = _id_field(
        "the volume to attach (in the instance's availability zone, status available)",
        "a07f71dc-8151-4e7d-a0cc-cd24a3f11113",
    )


class ServerVolumeAttachmentSchema(Schema):
    server_id = fields.String(
        required=True, metadata={"example": "4b293d31-ebd5-4a7f-be03-874b90021e54"}
    )
    volume_id = fields.String(
        required=True, metadata={"example": "a07f71dc-8151-4e7d-a0cc-cd24a3f11113"}
    )
    device = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "device name in the instance as NHN gives it; null when NHN names none",
            "example": "/dev/vdb",
        },
    )


class ServerVolumeAttachmentReplySchema(Schema):
    attachment = fields.Nested(ServerVolumeAttachmentSchema, required=True)


# ------------------------------------------------------------------ translation (pure)


@native_answer("compute")
def flavors_from_native(native: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        pick(flavor, "id", "name", "vcpus", "ram", "disk") for flavor in list_of(native, "flavors")
    ]


def _whole_number(value: Any, what: str) -> int:
    """An integer field the proxy relies on (JSON true/false are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} is not an integer")
    return value


@native_answer("compute")
def flavor_from_native(native: dict[str, Any], flavor_id: str) -> tuple[str, int] | None:
    """(name, local disk GB) of flavor `flavor_id` in a `flavors/detail` answer, None if
    absent."""
    for flavor in list_of(native, "flavors"):
        if flavor["id"] == flavor_id:
            return text(flavor["name"], "flavor name"), _whole_number(flavor["disk"], "disk")
    return None


@native_answer("compute")
def keypairs_from_native(native: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"keypair": pick(entry["keypair"], "name", "public_key", "fingerprint")}
        for entry in list_of(native, "keypairs")
    ]


def keypair_to_native(body: dict[str, Any]) -> dict[str, Any]:
    """The native create body; without a public key NHN generates the pair."""
    keypair = {"name": body["name"]}
    if body.get("public_key") is not None:
        keypair["public_key"] = body["public_key"]
    return {"keypair": keypair}


@native_answer("compute")
def generated_private_key(native: dict[str, Any]) -> str | None:
    """The private key of a create answer, None when NHN sent none (an imported key)."""
    return optional_text(object_of(native, "keypair").get("private_key"), "private_key")


@native_answer("compute")
def created_keypair_from_native(native: dict[str, Any], generated: bool) -> dict[str, Any]:
    """`{"keypair": {name, public_key, fingerprint[, private_key]}}`: the private key is
    kept only for a generated pair, and must then be there (else the pair is lost)."""
    keypair = object_of(native, "keypair")
    public: dict[str, Any] = {
        "name": text(keypair["name"], "key pair name"),
        "public_key": text(keypair["public_key"], "public_key"),
        "fingerprint": text(keypair["fingerprint"], "fingerprint"),
    }
    if generated:
        public["private_key"] = text(keypair["private_key"], "private_key")
    return {"keypair": public}


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
def servers_page_from_native(
    native: dict[str, Any], limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `servers/detail` (asked with `limit`) and the marker of the next page.

    NHN documents `limit` and `marker` only: a full page may have more after its last
    server, whose id is the next marker; a shorter page is the last (None).
    `servers_links` is not read.
    """
    servers = [_server_summary(server) for server in list_of(native, "servers")]
    return servers, (servers[-1]["id"] if len(servers) >= limit else None)


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


def server_to_native(
    body: dict[str, Any], flavor_name: str, flavor_disk: int = 0
) -> dict[str, Any]:
    """The native create body for a validated create request and its flavor's name and
    local disk size (GB, 0 for the volume-backed families)."""
    image_id = body["image_id"]
    requested_size = body.get("volume_size")
    if requested_size is None:
        requested_size = DEFAULT_VOLUME_SIZE
    root_disk: dict[str, Any] = {
        "source_type": "image",
        "uuid": image_id,
        "boot_index": 0,
    }
    if flavor_name.startswith(LOCAL_DISK_FLAVOR_PREFIXES):
        # NHN's Terraform guide sends (and requires) volume_size for the local root disk;
        # NHN creates the flavor's size whatever it says, so say that size
        root_disk["destination_type"] = "local"
        root_disk["volume_size"] = flavor_disk or requested_size
    else:
        root_disk["destination_type"] = "volume"
        root_disk["volume_size"] = requested_size
        root_disk["volume_type"] = DEFAULT_VOLUME_TYPE
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


def action_to_native(action: str, flavor_id: str | None = None) -> dict[str, Any]:
    """The native action body; `flavor_id` is the new flavor of a resize."""
    if action == RESIZE:
        return {"resize": {"flavorRef": flavor_id}}
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


@native_answer("compute")
def server_flavor_from_native(native: dict[str, Any]) -> str:
    """The flavor id of a `GET /servers/{id}` answer (the new one once a resize is done)."""
    return text(native["server"]["flavor"]["id"], "flavor id")


def attachment_to_native(body: dict[str, Any]) -> dict[str, Any]:
    return {"volumeAttachment": {"volumeId": body["volume_id"]}}


@native_answer("compute")
def attachment_from_native(native: dict[str, Any]) -> dict[str, Any]:
    attachment = object_of(native, "volumeAttachment")
    return {
        "attachment": {
            "server_id": text(attachment["serverId"], "serverId"),
            "volume_id": text(attachment["volumeId"], "volumeId"),
            "device": optional_text(attachment.get("device"), "device"),
        }
    }


@native_answer("block_storage")
def volume_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """A Cinder `GET /volumes/{id}` answer in the public volume shape (the volume
    plugin's): created_at as NHN writes it, name and device null when NHN names none."""
    volume = object_of(native, "volume")
    return {
        "id": text(volume["id"], "volume id"),
        "name": optional_text(volume["name"], "volume name"),
        "size": _whole_number(volume["size"], "size"),
        "status": text(volume["status"], "volume status"),
        "volume_type": optional_text(volume["volume_type"], "volume_type"),
        "availability_zone": optional_text(volume["availability_zone"], "availability_zone"),
        "attachments": [
            {
                "server_id": text(attachment["server_id"], "attachment server_id"),
                "device": optional_text(attachment.get("device"), "attachment device"),
            }
            for attachment in list_of(volume, "attachments")
        ],
        "created_at": text(volume["created_at"], "created_at"),
    }


# ------------------------------------------------------------------------- handlers


async def list_flavors(call: Call) -> dict[str, Any]:
    answer = await call.native("compute", "GET", "/v2/{tenant}/flavors/detail")
    return {"flavors": flavors_from_native(answer.json_object())}


async def list_keypairs(call: Call) -> dict[str, Any]:
    answer = await call.native("compute", "GET", "/v2/{tenant}/os-keypairs")
    return {"keypairs": keypairs_from_native(answer.json_object())}


async def create_keypair(call: Call) -> dict[str, Any]:
    answer = await call.native(
        "compute", "POST", "/v2/{tenant}/os-keypairs", json=keypair_to_native(call.body)
    )
    native = answer.json_object()
    # masked before anything else can log it, whatever the rest of the answer holds
    register_secret(generated_private_key(native))
    generated = call.body.get("public_key") is None
    return created_keypair_from_native(native, generated)


async def delete_keypair(call: Call) -> None:
    await call.native(
        "compute", "DELETE", "/v2/{tenant}/os-keypairs/{keypair_name}", path=call.params
    )


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
    flavor = flavor_from_native(flavors.json_object(), flavor_id)
    if flavor is None:
        raise BadRequest(f"flavor_id: no flavor {flavor_id} exists in region {call.ctx.region}")
    flavor_name, flavor_disk = flavor
    answer = await call.native(
        "compute",
        "POST",
        "/v2/{tenant}/servers",
        json=server_to_native(call.body, flavor_name, flavor_disk),
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
        json=action_to_native(action, call.body.get("flavor_id")),
    )
    return {"status": "success", "action": action}


async def attach_volume(call: Call) -> dict[str, Any]:
    answer = await call.native(
        "compute",
        "POST",
        "/v2/{tenant}/servers/{server_id}/os-volume_attachments",
        path=call.params,
        json=attachment_to_native(call.body),
    )
    return attachment_from_native(answer.json_object())


async def detach_volume(call: Call) -> None:
    await call.native(
        "compute",
        "DELETE",
        "/v2/{tenant}/servers/{server_id}/os-volume_attachments/{volume_id}",
        path=call.params,
    )


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


def acted_on_server_id(call: Call, payload: Any) -> str:
    """The server an action acts on, from the path (the answer names no server)."""
    return call.params["server_id"]


async def poll_server_action(call: Call, server_id: str) -> Poll:
    """One look at a server after an action (`compute.instance.resize`).

    `resize` settles once the server waits in `VERIFY_RESIZE`, or — NHN confirming
    resizes itself — is `ACTIVE` or `SHUTOFF` again with no task running and the requested
    flavor (before the resize starts it still shows the old one); `ERROR` fails with
    Nova's fault message. Any other action is not a long-running one: it settles at this
    first look with the server as it is. The result is the server as
    `GET /compute/instances/{server_id}/` answers it.
    """
    native = await read_server(call, server_id)
    result = {"server": server_from_native(native)}
    if call.body["action"] != RESIZE:
        return Poll(PollState.SUCCEEDED, result)
    status, task_state, fault = server_state_from_native(native)
    if status == "ERROR":
        return Poll(PollState.FAILED, message=fault or "instance went to ERROR")
    if status == "VERIFY_RESIZE":
        return Poll(PollState.SUCCEEDED, result)
    resized = server_flavor_from_native(native) == call.body["flavor_id"]
    if status in ("ACTIVE", "SHUTOFF") and task_state is None and resized:
        return Poll(PollState.SUCCEEDED, result)
    return Poll(PollState.PENDING)


def attached_volume_id(call: Call, payload: Any) -> str:
    """The attached volume's id, from the attach payload `{"attachment": {...}}`."""
    return payload["attachment"]["volume_id"]


async def poll_attached_volume(call: Call, volume_id: str) -> Poll:
    """One look at a volume being attached (block storage `GET /v2/{tenant}/volumes/{id}`):
    `in-use` and attached to the path's instance succeeds with `{"volume": {...}}`;
    `error`/`error_attaching`, or in use by another instance, fails; anything else
    (`available`, `reserved`, `attaching`) is pending."""
    answer = await call.native(
        "block_storage", "GET", "/v2/{tenant}/volumes/{volume_id}", path={"volume_id": volume_id}
    )
    volume = volume_from_native(answer.json_object())
    status = volume["status"]
    if status in VOLUME_FAILED_STATUSES:
        return Poll(PollState.FAILED, message=f"volume {volume_id} went to {status}")
    if status == "in-use":
        servers = {attachment["server_id"] for attachment in volume["attachments"]}
        if call.params["server_id"] in servers:
            return Poll(PollState.SUCCEEDED, {"volume": volume})
        return Poll(
            PollState.FAILED,
            message=f"volume {volume_id} is in use by another instance",
        )
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
            "POST",
            "/compute/keypairs/create/",
            create_keypair,
            summary="Create or import a key pair",
            description="NHN `POST /v2/{tenant}/os-keypairs`. With `public_key` (one OpenSSH "
            "public key line) the key is imported; without it (or null) NHN generates the "
            "pair and the answer's `private_key` is its PEM private key, shown this once "
            "and never logged. `private_key` is absent for an imported key. A name already "
            "in use is a 409 with NHN's message.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            body=KeypairCreateSchema,
            response=NewKeypairReplySchema,
            status=201,
            errors=(403, 409),
        ),
        Route(
            "DELETE",
            "/compute/keypairs/{keypair_name}/",
            delete_keypair,
            summary="Delete a key pair",
            description="NHN `DELETE /v2/{tenant}/os-keypairs/{keypair_name}`. Instances "
            "created with it keep the public key they were given.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params={"keypair_name": KEYPAIR_NAME},
            status=204,
            errors=(403, 404),
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
            summary="Start, stop, reboot or resize an instance",
            description="NHN `POST /v2/{tenant}/servers/{server_id}/action` with `os-start`, "
            "`os-stop`, a SOFT `reboot`, `resize` (to `flavor_id`, from ACTIVE or SHUTOFF), "
            "`confirmResize` or `revertResize`. NHN confirms a resize by itself, so "
            "confirm_resize and revert_resize mostly meet a 409. An action the instance's "
            "state forbids is a 409 with NHN's message. With `Prefer: respond-async` the "
            "answer is a task (operation compute.instance.resize): for `resize` it follows "
            "the instance until it is VERIFY_RESIZE or, resize confirmed, back to ACTIVE or "
            "SHUTOFF with the new flavor (failed on ERROR); any other action's task settles "
            "at its first look. The result is the instance as GET "
            "/compute/instances/{server_id}/ shows it.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params=SERVER_ID,
            body=InstanceActionSchema,
            response=InstanceActionReplySchema,
            errors=(403, 404, 409),
            operation=INSTANCE_RESIZE,
            watcher=Watcher(RESOURCE_TYPE, acted_on_server_id, poll_server_action),
        ),
        Route(
            "POST",
            "/compute/instances/{server_id}/volumes/attach/",
            attach_volume,
            summary="Attach a volume to an instance",
            description="NHN `POST /v2/{tenant}/servers/{server_id}/os-volume_attachments`. "
            "An action on the instance, answered 200 as NHN answers it; the volume must be "
            "available and in the instance's availability zone, and is `in-use` once "
            "attached. With `Prefer: respond-async` the answer is a task (operation "
            "compute.volume.attach) that follows the volume until it is in-use (result: "
            '`{"volume": {...}}` as GET /volumes/{volume_id}/ shows it) or error.',
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params=SERVER_ID,
            body=ServerVolumeAttachSchema,
            response=ServerVolumeAttachmentReplySchema,
            errors=(403, 404, 409),
            operation=VOLUME_ATTACH,
            watcher=Watcher(VOLUME_RESOURCE_TYPE, attached_volume_id, poll_attached_volume),
        ),
        Route(
            "DELETE",
            "/compute/instances/{server_id}/volumes/{volume_id}/",
            detach_volume,
            summary="Detach a volume from an instance",
            description="NHN `DELETE /v2/{tenant}/servers/{server_id}/os-volume_attachments/"
            "{volume_id}`; the volume is `detaching`, then `available` again.",
            tags=TAGS,
            needs=COMPUTE_HEADERS,
            params={**SERVER_ID, "volume_id": RESOURCE_ID},
            status=204,
            errors=(403, 404, 409),
        ),
    ]

"""Compute's volume attachments (Nova ``os-volume_attachments`` on the legacy ``/v2``):
list, show, attach and detach a Block Storage volume.

The server lives in compute's state, the volume in Block Storage's: the handlers reach
both through the region's state (``ctx.regional``) and start the volume's timed
transitions there (``attaching`` → ``in-use``, ``detaching`` → ``available``). The server's
block device mapping (``Server.volumes``, shown as ``os-extended-volumes:volumes_attached``)
gains the volume at once; Block Storage drops it when the detach has finished.

Answers and errors follow ``shared/nhn-api/compute.md`` and upstream Nova: attach answers
200 ``{"volumeAttachment": {device, id, serverId, volumeId}}`` (``id`` is the volume's id),
detach 202; a volume that is not ``available`` or sits in another availability zone is a
400 ``Invalid volume: ...``, a server that is building, being deleted or busy a 409, an
unknown server or volume a 404. The root disk is listed as ``/dev/vda`` (a u2/g2 local
disk takes that name too), other disks follow as ``/dev/vdb``, ``/dev/vdc``, ...
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any

from aiohttp import web

from nhn_proxy.emulator.base import Ctx, empty_response, json_response
from nhn_proxy.emulator.compute.models import Server, state_fields
from nhn_proxy.emulator.errors import ApiError

if TYPE_CHECKING:
    # annotations only: volumes come from the region's state
    from nhn_proxy.emulator.block_storage.models import Volume

# Nova's check_instance_state for attach_volume / detach_volume (no task under way).
_ATTACHABLE = (
    "active",
    "paused",
    "stopped",
    "resized",
    "soft-deleted",
    "shelved",
    "shelved_offloaded",
)
_DEVICE = re.compile(r"^/dev/[a-zA-Z0-9._-]+$")
_MAX_LIMIT = 1000
# /dev/vda is the root disk; data disks take the following letters
_LETTERS = string.ascii_lowercase


def _server_or_404(ctx: Ctx) -> Server:
    server_id = ctx.match["server_id"]
    server = ctx.regional.compute.tenant(ctx.tenant_id).servers.get(server_id)
    if server is None:
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return server


def _require_state(action: str, server: Server) -> None:
    _, vm_state, task_state, _ = state_fields(server)
    if vm_state not in _ATTACHABLE:
        raise ApiError(
            409, f"Cannot '{action}' instance {server.id} while it is in vm_state {vm_state}"
        )
    if task_state is not None:
        raise ApiError(
            409, f"Cannot '{action}' instance {server.id} while it is in task_state {task_state}"
        )


def _devices(ctx: Ctx, server: Server) -> dict[str, str]:
    """Volume id → device of the server's block device mapping, in mapping order.

    Volumes attached through the API keep the device reserved for them; the volumes the
    server was built with (not Block Storage volumes here) take /dev/vda (a volume-backed
    root), then the next letters, after the local root disk of a u2/g2 flavor.
    """
    attached = ctx.regional.block_storage.devices_of(ctx.tenant_id, server.id)
    position = 1 if server.flavor.local_disk else 0
    devices: dict[str, str] = {}
    for volume_id in server.volumes:
        if volume_id in attached:
            devices[volume_id] = attached[volume_id]
        else:
            devices[volume_id] = f"/dev/vd{_LETTERS[min(position, 25)]}"
            position += 1
    return devices


def _free_device(devices: dict[str, str]) -> str:
    used = {"/dev/vda", *devices.values()}
    for letter in _LETTERS[1:]:
        device = f"/dev/vd{letter}"
        if device not in used:
            return device
    raise ApiError(400, "Invalid input received: no free device name left on the instance")


def _view(server: Server, volume_id: str, device: str) -> dict[str, Any]:
    return {"device": device, "id": volume_id, "serverId": server.id, "volumeId": volume_id}


def _not_attached(server: Server, volume_id: str) -> ApiError:
    return ApiError(404, f"Instance {server.id} is not attached to volume {volume_id}")


# -- list / show ----------------------------------------------------------------------------


def _int_param(ctx: Ctx, name: str, default: int) -> int:
    raw = ctx.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ApiError(400, f"{name} param must be an integer")
    return int(raw)


async def list_attachments(ctx: Ctx) -> web.StreamResponse:
    server = _server_or_404(ctx)
    offset = _int_param(ctx, "offset", 0)
    limit = min(_int_param(ctx, "limit", _MAX_LIMIT), _MAX_LIMIT)
    items = [
        _view(server, volume_id, device) for volume_id, device in _devices(ctx, server).items()
    ]
    return json_response({"volumeAttachments": items[offset : offset + limit]})


async def get_attachment(ctx: Ctx) -> web.StreamResponse:
    server = _server_or_404(ctx)
    volume_id = ctx.match["volume_id"]
    devices = _devices(ctx, server)
    if volume_id not in devices:
        raise _not_attached(server, volume_id)
    return json_response({"volumeAttachment": _view(server, volume_id, devices[volume_id])})


# -- attach ---------------------------------------------------------------------------------


def _invalid(field_name: str, value: Any, reason: str) -> ApiError:
    return ApiError(
        400, f"Invalid input for field/attribute {field_name}. Value: {value}. {reason}"
    )


async def attach_volume(ctx: Ctx) -> web.StreamResponse:
    request = await ctx.json_object("volumeAttachment")
    volume_id = request.get("volumeId")
    if volume_id is None:
        raise _invalid("volumeAttachment", request, "'volumeId' is a required property")
    if not isinstance(volume_id, str) or not volume_id:
        raise _invalid("volumeId", volume_id, f"{volume_id!r} is not of type 'string'")
    wanted = request.get("device")
    if wanted is not None and (not isinstance(wanted, str) or not _DEVICE.match(wanted)):
        raise _invalid("device", wanted, f"{wanted!r} does not match '^/dev/[a-zA-Z0-9._-]+$'")

    server = _server_or_404(ctx)
    _require_state("attach_volume", server)
    block_storage = ctx.regional.block_storage
    volume: Volume | None = block_storage.find(ctx.tenant_id, volume_id)
    if volume is None:
        raise ApiError(404, f"Volume {volume_id} could not be found.")
    if volume.status != "available":
        raise ApiError(
            400,
            f"Invalid volume: volume '{volume.id}' status must be 'available'. "
            f"Currently in '{volume.status}'",
        )
    if volume.zone != server.zone:
        # NHN attaches only within one availability zone (Nova's cross_az_attach = False)
        raise ApiError(
            400,
            f"Invalid volume: Instance {server.id} and volume {volume.id} are not in the same "
            f"availability_zone. Instance is in {server.zone}. Volume is in {volume.zone}",
        )
    devices = _devices(ctx, server)
    if wanted is not None and (wanted == "/dev/vda" or wanted in devices.values()):
        raise ApiError(409, f"The supplied device path ({wanted}) is in use.")
    device = wanted or _free_device(devices)

    block_storage.begin_attach(volume, server.id, device, ctx.now)
    server.volumes.append(volume.id)
    # Legacy /v2 answers 200 with the reserved device; the attach itself goes on.
    return json_response({"volumeAttachment": _view(server, volume.id, device)})


# -- detach ---------------------------------------------------------------------------------


async def detach_volume(ctx: Ctx) -> web.StreamResponse:
    server = _server_or_404(ctx)
    volume_id = ctx.match["volume_id"]
    if volume_id not in server.volumes:
        raise _not_attached(server, volume_id)
    block_storage = ctx.regional.block_storage
    volume: Volume | None = block_storage.find(ctx.tenant_id, volume_id)
    if volume is None:
        # a volume the server was built with
        if not server.flavor.local_disk and server.volumes[0] == volume_id:
            raise ApiError(400, "Cannot detach a root device volume")
        _require_state("detach_volume", server)
        server.volumes.remove(volume_id)
        return empty_response(202)
    _require_state("detach_volume", server)
    if volume.status != "in-use":
        raise ApiError(
            400,
            "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
            "attach_status must be 'attached' to detach.",
        )
    block_storage.begin_detach(volume, ctx.now)
    return empty_response(202)

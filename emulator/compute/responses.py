"""Compute's handlers (Nova, legacy ``/v2/{tenantId}``): flavors, availability zones, key
pairs, servers (create with NHN's validation, delete, actions — resize included —, metadata).

Images, subnets, ports and security groups belong to other services: handlers reach them
through the region's state (``ctx.regional.image`` / ``ctx.regional.network``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from nhn_proxy.emulator.base import (
    Ctx,
    empty_response,
    iso_micro,
    iso_z,
    json_response,
    new_uuid,
    parse_limit,
)
from nhn_proxy.emulator.compute.models import (
    RESIZABLE_FAMILIES,
    ComputeState,
    Flavor,
    Keypair,
    Nic,
    Resize,
    Server,
    TenantCompute,
    fingerprint,
    generate_keypair,
    state_fields,
)
from nhn_proxy.emulator.errors import ApiError

if TYPE_CHECKING:
    # annotations only: the objects themselves come from the region's state
    from nhn_proxy.emulator.image.models import Image
    from nhn_proxy.emulator.network.models import Subnet

_KEYPAIR_NAME = re.compile(r"^[a-zA-Z0-9 _.@-]{1,255}$")


def flavor_view(ctx: Ctx, flavor: Flavor, detail: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "links": _links(ctx, "flavors", flavor.id),
    }
    if detail:
        view.update(
            {
                "ram": flavor.ram,
                "OS-FLV-DISABLED:disabled": False,
                "vcpus": flavor.vcpus,
                "extra_specs": {"flavor_type": flavor.flavor_type},
                "swap": "",
                "os-flavor-access:is_public": True,
                "rxtx_factor": 1.0,
                "OS-FLV-EXT-DATA:ephemeral": 0,
                "disk": flavor.disk,
            }
        )
    return view


def _links(ctx: Ctx, kind: str, item_id: str) -> list[dict[str, str]]:
    tenant = ctx.match.get("tenant_id", "")
    return [
        {"href": ctx.url(f"/v2/{tenant}/{kind}/{item_id}"), "rel": "self"},
        {"href": ctx.url(f"/{tenant}/{kind}/{item_id}"), "rel": "bookmark"},
    ]


def _compute(ctx: Ctx) -> ComputeState:
    return ctx.regional.compute


def _tenant(ctx: Ctx) -> TenantCompute:
    return _compute(ctx).tenant(ctx.tenant_id)


# -- flavors and zones --------------------------------------------------------------------


def _flavor_list(ctx: Ctx, detail: bool) -> web.Response:
    flavors = list(_compute(ctx).flavors.values())
    for key, attribute in (("minDisk", "disk"), ("minRam", "ram")):
        if key in ctx.query:
            try:
                minimum = int(ctx.query[key])
            except ValueError:
                raise ApiError(400, f"Invalid {key} filter [{ctx.query[key]}]") from None
            flavors = [f for f in flavors if getattr(f, attribute) >= minimum]
    return json_response({"flavors": [flavor_view(ctx, f, detail) for f in flavors]})


async def list_flavors(ctx: Ctx) -> web.StreamResponse:
    return _flavor_list(ctx, detail=False)


async def list_flavors_detail(ctx: Ctx) -> web.StreamResponse:
    return _flavor_list(ctx, detail=True)


async def get_flavor(ctx: Ctx) -> web.StreamResponse:
    flavor = _compute(ctx).flavors.get(ctx.match["flavor_id"])
    if flavor is None:
        raise ApiError(404, f"Flavor {ctx.match['flavor_id']} could not be found.")
    return json_response({"flavor": flavor_view(ctx, flavor, detail=True)})


async def list_zones(ctx: Ctx) -> web.StreamResponse:
    zones = [
        {"zoneState": {"available": True}, "hosts": None, "zoneName": zone}
        for zone in _compute(ctx).zones
    ]
    return json_response({"availabilityZoneInfo": zones})


# -- key pairs ----------------------------------------------------------------------------


def _keypair_or_404(ctx: Ctx) -> Keypair:
    name = ctx.match["name"]
    keypair = _tenant(ctx).keypairs.get(name)
    if keypair is None:
        assert ctx.token is not None
        raise ApiError(404, f"Keypair {name} not found for user {ctx.token.user_id}")
    return keypair


async def list_keypairs(ctx: Ctx) -> web.StreamResponse:
    keypairs = [
        {"keypair": {"public_key": k.public_key, "name": k.name, "fingerprint": k.fingerprint}}
        for k in _tenant(ctx).keypairs.values()
    ]
    return json_response({"keypairs": keypairs})


async def get_keypair(ctx: Ctx) -> web.StreamResponse:
    keypair = _keypair_or_404(ctx)
    return json_response(
        {
            "keypair": {
                "public_key": keypair.public_key,
                "user_id": keypair.user_id,
                "name": keypair.name,
                "deleted": False,
                "created_at": iso_micro(keypair.created),
                "updated_at": None,
                "fingerprint": keypair.fingerprint,
                "deleted_at": None,
                "id": keypair.id,
            }
        }
    )


async def create_keypair(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("keypair")
    name = body.get("name")
    if not isinstance(name, str) or not _KEYPAIR_NAME.match(name) or name.strip() != name:
        raise ApiError(400, "Keypair data is invalid: Keypair name contains unsafe characters")
    public_key = body.get("public_key")
    if public_key is not None and not isinstance(public_key, str):
        raise ApiError(400, "Invalid input for field/attribute public_key.")
    private_key = None
    if public_key is None:
        public_key, private_key = generate_keypair()
    # Nova fingerprints the key (a bad one is its 400) before it stores the pair (409)
    key_fingerprint = fingerprint(public_key)
    data = _tenant(ctx)
    if name in data.keypairs:
        raise ApiError(409, f"Key pair '{name}' already exists.")
    assert ctx.token is not None
    keypair = Keypair(
        id=_compute(ctx).next_keypair_id(),
        name=name,
        public_key=public_key.strip(),
        fingerprint=key_fingerprint,
        user_id=ctx.token.user_id,
        created=ctx.now,
    )
    data.keypairs[name] = keypair
    answer: dict[str, Any] = {
        "fingerprint": keypair.fingerprint,
        "name": keypair.name,
        "public_key": keypair.public_key,
        "user_id": keypair.user_id,
    }
    if private_key is not None:
        answer["private_key"] = private_key
    # Legacy /v2 (microversion 2.0) answers 200, not 201.
    return json_response({"keypair": answer})


async def delete_keypair(ctx: Ctx) -> web.StreamResponse:
    keypair = _keypair_or_404(ctx)
    del _tenant(ctx).keypairs[keypair.name]
    return empty_response(202)


# -- servers: views -----------------------------------------------------------------------


def _addresses(ctx: Ctx, server: Server) -> dict[str, list[dict[str, Any]]]:
    network = ctx.regional.network
    addresses: dict[str, list[dict[str, Any]]] = {}
    for nic in server.nics:
        vpc = network.find_vpc(server.tenant_id, nic.network_id)
        entries = addresses.setdefault(vpc.name if vpc else nic.network_id, [])
        entries.append(
            {
                "OS-EXT-IPS-MAC:mac_addr": nic.mac,
                "version": 4,
                "addr": nic.ip,
                "OS-EXT-IPS:type": "fixed",
            }
        )
        for fip in network.floating_ips_of_port(server.tenant_id, nic.port_id):
            entries.append(
                {
                    "OS-EXT-IPS-MAC:mac_addr": nic.mac,
                    "version": 4,
                    "addr": fip.address,
                    "OS-EXT-IPS:type": "floating",
                }
            )
    return addresses


def server_view(ctx: Ctx, server: Server) -> dict[str, Any]:
    status, vm_state, task_state, power_state = state_fields(server)
    tenant = server.tenant_id
    image: Any = ""
    if server.image_id is not None:
        image = {
            "id": server.image_id,
            "links": [{"href": ctx.url(f"/{tenant}/images/{server.image_id}"), "rel": "bookmark"}],
        }
    return {
        "id": server.id,
        "name": server.name,
        "status": status,
        "tenant_id": tenant,
        "user_id": server.user_id,
        "created": iso_z(server.created),
        "updated": iso_z(server.updated),
        "hostId": hashlib.sha224(f"{tenant}:{server.zone}-host".encode()).hexdigest(),
        "addresses": _addresses(ctx, server),
        "links": _links(ctx, "servers", server.id),
        "key_name": server.key_name,
        "image": image,
        "flavor": {
            "id": server.flavor.id,
            "links": [
                {"href": ctx.url(f"/{tenant}/flavors/{server.flavor.id}"), "rel": "bookmark"}
            ],
        },
        "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power_state,
        "OS-SRV-USG:launched_at": iso_micro(server.launched_at) if server.launched_at else None,
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-AZ:availability_zone": server.zone,
        "security_groups": [{"name": name} for name in server.security_groups],
        "os-extended-volumes:volumes_attached": [{"id": v} for v in server.volumes],
        "accessIPv4": "",
        "accessIPv6": "",
        "progress": 0,
        "config_drive": "",
        "metadata": dict(server.metadata),
        "NHN-EXT-ATTR:ephemeral_disk_size": 0,
        "NHN-EXT-ATTR:protect": False,
    }


def _server_or_404(ctx: Ctx) -> Server:
    server_id = ctx.match["server_id"]
    server = _tenant(ctx).servers.get(server_id)
    if server is None:
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return server


# -- servers: list / get ------------------------------------------------------------------


def _filtered_servers(ctx: Ctx) -> list[Server]:
    query = ctx.query
    servers = sorted(
        _tenant(ctx).servers.values(), key=lambda s: (s.created, s.sequence), reverse=True
    )
    if "name" in query:
        try:
            pattern = re.compile(query["name"])
        except re.error:
            raise ApiError(
                400, f"Invalid regular expression in name filter: {query['name']}"
            ) from None
        servers = [s for s in servers if pattern.search(s.name)]
    if "status" in query:
        wanted = query["status"].upper()
        servers = [s for s in servers if state_fields(s)[0] == wanted]
    if "image" in query:
        servers = [s for s in servers if s.image_id == query["image"]]
    if "flavor" in query:
        servers = [s for s in servers if s.flavor.id == query["flavor"]]
    return servers


def _server_list(ctx: Ctx, detail: bool) -> web.Response:
    servers = _filtered_servers(ctx)
    marker = ctx.query.get("marker")
    if marker is not None:
        ids = [s.id for s in servers]
        if marker not in ids:
            raise ApiError(400, f"marker [{marker}] not found")
        servers = servers[ids.index(marker) + 1 :]
    limit = parse_limit(ctx.query.get("limit"), default=100, maximum=1000)
    assert limit is not None
    body: dict[str, Any] = {}
    page = servers[:limit]
    if detail:
        body["servers"] = [server_view(ctx, s) for s in page]
    else:
        body["servers"] = [
            {"id": s.id, "links": _links(ctx, "servers", s.id), "name": s.name} for s in page
        ]
    if len(servers) > limit and page:
        params = [(k, v) for k, v in ctx.query.items() if k not in ("marker", "limit")]
        params += [("limit", str(limit)), ("marker", page[-1].id)]
        tenant = ctx.match["tenant_id"]
        path = f"/v2/{tenant}/servers" + ("/detail" if detail else "")
        body["servers_links"] = [{"href": f"{ctx.url(path)}?{urlencode(params)}", "rel": "next"}]
    return json_response(body)


async def list_servers(ctx: Ctx) -> web.StreamResponse:
    return _server_list(ctx, detail=False)


async def list_servers_detail(ctx: Ctx) -> web.StreamResponse:
    return _server_list(ctx, detail=True)


async def get_server(ctx: Ctx) -> web.StreamResponse:
    return json_response({"server": server_view(ctx, _server_or_404(ctx))})


async def rename_server(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("server")
    server = _server_or_404(ctx)
    unknown = set(body) - {"name"}
    if unknown:
        raise ApiError(
            400,
            f"Invalid input for field/attribute server. Additional properties are "
            f"not allowed ({', '.join(sorted(unknown))} were unexpected)",
        )
    if "name" in body:
        server.name = _server_name(body["name"])
        server.updated = ctx.now
    return json_response({"server": server_view(ctx, server)})


# -- servers: create ------------------------------------------------------------------------


def _invalid(field_name: str, value: Any, reason: str) -> ApiError:
    return ApiError(
        400, f"Invalid input for field/attribute {field_name}. Value: {value}. {reason}"
    )


def _server_name(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("name", value, f"{value!r} is not of type 'string'")
    if not 1 <= len(value) <= 255:
        raise _invalid("name", value, "Name must be between 1 and 255 characters long")
    if value.strip() != value:
        raise _invalid("name", value, "Leading/trailing whitespace is not allowed")
    return value


def _as_int(value: Any, field_name: str) -> int:
    if isinstance(value, bool):
        raise _invalid(field_name, value, "Value must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _invalid(field_name, value, "Value must be an integer")


@dataclass
class _RootDisk:
    image: Image | None
    local: bool
    volume_size: int | None
    extra_volumes: int


def _root_disk(ctx: Ctx, server: dict[str, Any], flavor: Flavor, image: Image | None) -> _RootDisk:
    mappings = server.get("block_device_mapping_v2")
    images = ctx.regional.image
    if mappings is None:
        # English docs: the BDM is required for every flavor except u2 (local disk of a
        # fixed size); a GPU flavor's local disk takes its size from the BDM.
        if not flavor.local_disk or not flavor.disk:
            raise ApiError(
                400,
                "Block Device Mapping is Invalid: block_device_mapping_v2 with a "
                f"root volume is required for flavor {flavor.name}.",
            )
        if image is None:
            raise ApiError(400, "Missing imageRef attribute")
        return _RootDisk(image, True, None, 0)
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise _invalid("block_device_mapping_v2", mappings, "Must be a list of objects")
    root = None
    extra = 0
    for mapping in mappings:
        boot_index = mapping.get("boot_index")
        if boot_index is not None and _as_int(boot_index, "boot_index") == 0:
            if root is not None:
                raise ApiError(
                    400,
                    "Block Device Mapping is Invalid: Boot sequence for the instance "
                    "and image/block device mapping combination is not valid.",
                )
            root = mapping
        else:
            extra += 1
            if mapping.get("source_type") != "blank":
                raise ApiError(
                    400,
                    "Block Device Mapping is Invalid: only blank additional volumes are emulated.",
                )
            _as_int(mapping.get("volume_size"), "volume_size")
    if root is None:
        raise ApiError(
            400,
            "Block Device Mapping is Invalid: Boot sequence for the instance and "
            "image/block device mapping combination is not valid.",
        )
    source = root.get("source_type")
    if source not in ("image", "blank", "volume", "snapshot"):
        raise _invalid("source_type", source, "Must be one of image, blank, volume, snapshot")
    if source == "blank":
        raise ApiError(
            400,
            "Block Device Mapping is Invalid: Boot sequence for the instance and "
            "image/block device mapping combination is not valid.",
        )
    if source in ("volume", "snapshot"):
        # Block Storage is not emulated, so no volume or snapshot can exist.
        raise ApiError(
            400, f"Block Device Mapping is Invalid: failed to get {source} {root.get('uuid')}."
        )
    root_image = images.find(ctx.tenant_id, str(root.get("uuid")))
    if root_image is None:
        raise ApiError(
            400, f"Block Device Mapping is Invalid: failed to get image {root.get('uuid')}."
        )
    if image is not None and image.id != root_image.id:
        raise ApiError(
            400,
            "Block Device Mapping is Invalid: imageRef and the root mapping name different images.",
        )
    destination = root.get("destination_type")
    if destination not in ("local", "volume"):
        raise _invalid("destination_type", destination, "Must be one of local, volume")
    # NHN: u2 and GPU flavors boot from their local disk, every other flavor from a volume.
    if flavor.local_disk and destination != "local":
        raise ApiError(
            400,
            f"Block Device Mapping is Invalid: flavor {flavor.name} uses a local "
            "root disk; destination_type must be 'local'.",
        )
    if not flavor.local_disk and destination != "volume":
        raise ApiError(
            400,
            f"Block Device Mapping is Invalid: flavor {flavor.name} needs a root "
            "volume; destination_type must be 'volume'.",
        )
    if flavor.local_disk and flavor.disk:
        # NHN: "U2 인스턴스 타입을 사용하고 루트 블록 스토리지를 생성하는 경우에는 U2 인스턴스
        # 타입에 명시된 크기로 생성되며 이 값은 무시됨" — volume_size (which NHN's Terraform
        # guide sends, and the proxy too) is ignored; it must still be a number
        if root.get("volume_size") is not None:
            _as_int(root["volume_size"], "volume_size")
        return _RootDisk(root_image, True, None, extra)
    # a root volume, or a GPU flavor's local disk (no fixed size): volume_size is the size
    size = _as_int(root.get("volume_size"), "volume_size")
    minimum = max(root_image.min_disk, 50 if root_image.is_windows else 10)
    if size < minimum:
        raise ApiError(
            400,
            f"Volume is smaller than the minimum size specified in image metadata. "
            f"Volume size is {size} GB, minimum size is {minimum} GB.",
        )
    if size > 2000:
        raise ApiError(400, f"Invalid volume_size {size}: the maximum is 2000 GB.")
    return _RootDisk(root_image, flavor.local_disk, size, extra)


@dataclass
class _NicRequest:
    subnet: Subnet
    fixed_ip: str | None


def _nic_requests(ctx: Ctx, networks: Any) -> list[_NicRequest]:
    if not isinstance(networks, list) or not networks:
        raise _invalid("networks", networks, "At least one network (subnet) is required")
    network = ctx.regional.network
    requests: list[_NicRequest] = []
    for item in networks:
        if not isinstance(item, dict):
            raise _invalid("networks", item, "Each network must be an object")
        fixed_ip = item.get("fixed_ip")
        if fixed_ip is not None and not isinstance(fixed_ip, str):
            raise _invalid("fixed_ip", fixed_ip, "Must be an IPv4 address")
        if "port" in item:
            port = network.tenant(ctx.tenant_id).ports.get(str(item["port"]))
            if port is None:
                raise ApiError(400, f"Port {item['port']} could not be found.")
            raise ApiError(409, f"Port {port.id} is still in use.")
        if "subnet" in item:
            subnet = network.tenant(ctx.tenant_id).subnets.get(str(item["subnet"]))
            if subnet is None:
                raise ApiError(400, f"Subnet {item['subnet']} could not be found.")
        elif "uuid" in item:
            vpc = network.tenant(ctx.tenant_id).vpcs.get(str(item["uuid"]))
            if vpc is None:
                raise ApiError(400, f"Network {item['uuid']} could not be found.")
            subnets = network.subnets_of(vpc)
            if fixed_ip is not None:
                subnets = [s for s in subnets if _contains(s, fixed_ip)]
            if not subnets:
                raise ApiError(
                    400, f"Network {vpc.id} requires a subnet in order to boot instances on."
                )
            subnet = subnets[0]
        else:
            raise _invalid("networks", item, "One of subnet, uuid or port is required")
        requests.append(_NicRequest(subnet, fixed_ip))
    return requests


def _contains(subnet: Subnet, address: str) -> bool:
    try:
        return ipaddress.IPv4Address(address) in subnet.network
    except ValueError:
        return False


async def create_server(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object()
    server = body.get("server")
    if not isinstance(server, dict):
        raise _invalid("server", server, "'server' is a required property")
    compute = _compute(ctx)
    images = ctx.regional.image
    network = ctx.regional.network

    if "name" not in server:
        raise _invalid("server", "", "'name' is a required property")
    name = _server_name(server["name"])
    flavor_ref = server.get("flavorRef")
    if not isinstance(flavor_ref, str | int) or flavor_ref == "":
        raise _invalid("server", "", "'flavorRef' is a required property")
    flavor = compute.find_flavor(str(flavor_ref))
    if flavor is None:
        raise ApiError(400, f"Flavor {flavor_ref} could not be found.")
    image = None
    image_ref = server.get("imageRef")
    if image_ref not in (None, ""):
        if not isinstance(image_ref, str):
            raise _invalid("imageRef", image_ref, "Must be a UUID")
        image = images.find(ctx.tenant_id, image_ref.rstrip("/").rsplit("/", 1)[-1])
        if image is None:
            raise ApiError(400, "Can not find requested image")
    root = _root_disk(ctx, server, flavor, image)
    boot_image = root.image
    if boot_image is not None and boot_image.is_windows:
        if flavor.family == "u2":
            raise ApiError(400, f"Windows images cannot run on {flavor.name} (u2) flavors.")
        if flavor.ram < 2048:
            raise ApiError(
                400,
                f"Flavor's memory is too small for requested image: Windows needs "
                f"at least 2 GB, {flavor.name} has {flavor.ram} MB.",
            )
        if len(name) > 15:
            raise _invalid("name", name, "Windows instance names may be at most 15 characters")

    key_name = server.get("key_name")
    if key_name is None:
        raise _invalid("server", "", "'key_name' is a required property")
    if not isinstance(key_name, str) or key_name not in _tenant(ctx).keypairs:
        raise ApiError(400, "Invalid key_name provided.")

    zones = _compute(ctx).zones
    zone = server.get("availability_zone") or zones[0]
    if zone not in zones:
        raise ApiError(400, "The requested availability zone is not available")

    group_names = ["default"]
    if "security_groups" in server:
        groups = server["security_groups"]
        if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("name"), str) for g in groups
        ):
            raise _invalid("security_groups", groups, 'Must be a list of {"name": ...} objects')
        group_names = [g["name"] for g in groups] or ["default"]
    group_ids = []
    for group_name in group_names:
        group = network.security_group_named(ctx.tenant_id, group_name)
        if group is None:
            raise ApiError(
                400, f"Security group {group_name} not found for project {ctx.tenant_id}."
            )
        group_ids.append(group.id)

    user_data = server.get("user_data")
    if user_data is not None:
        try:
            decoded = (
                base64.b64decode(user_data, validate=True) if isinstance(user_data, str) else None
            )
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is None:
            raise ApiError(400, "User data needs to be valid base 64.")
        if len(user_data) > 65535:
            raise _invalid("user_data", "...", "User data is longer than 65535 bytes")
    metadata = server.get("metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
        for k, v in metadata.items()
    ):
        raise _invalid(
            "metadata",
            metadata,
            "Metadata must be string keys and values of at most 255 characters",
        )

    min_count = _as_int(server.get("min_count", 1), "min_count")
    max_count = _as_int(server.get("max_count", min_count), "max_count")
    if not 1 <= min_count <= max_count <= 10:
        raise _invalid(
            "max_count", max_count, "min_count and max_count must satisfy 1 <= min <= max <= 10"
        )

    nics = _nic_requests(ctx, server.get("networks"))
    for nic in nics:
        if nic.subnet.available < max_count:
            raise ApiError(409, f"No more IP addresses available on subnet {nic.subnet.id}.")

    assert ctx.token is not None
    created: list[Server] = []
    for index in range(1, max_count + 1):
        server_id = new_uuid()
        server_name = f"{name}-{index}" if max_count > 1 else name
        ports = []
        for nic in nics:
            port = network.create_port(
                ctx.tenant_id,
                nic.subnet,
                device_id=server_id,
                device_owner=f"compute:{zone}",
                security_group_ids=group_ids,
                fixed_ip=nic.fixed_ip,
            )
            ports.append(Nic(port.id, port.network_id, port.subnet_id, port.ip, port.mac))
        created.append(
            Server(
                id=server_id,
                name=server_name,
                tenant_id=ctx.tenant_id,
                user_id=ctx.token.user_id,
                flavor=flavor,
                image_id=boot_image.id if boot_image is not None else None,
                key_name=key_name,
                zone=zone,
                created=ctx.now,
                sequence=compute.next_sequence(),
                nics=ports,
                security_groups=group_names,
                metadata=_server_metadata(boot_image, root, metadata),
                volumes=[new_uuid() for _ in range((0 if root.local else 1) + root.extra_volumes)],
                pending=("build", ctx.now),
                updated=ctx.now,
            )
        )
    data = _tenant(ctx)
    for item in created:
        data.servers[item.id] = item
    if server.get("return_reservation_id"):
        return json_response({"reservation_id": "r-" + secrets.token_hex(4)}, status=202)
    first = created[0]
    answer = {
        "security_groups": [{"name": n} for n in group_names],
        "id": first.id,
        "links": _links(ctx, "servers", first.id),
    }
    return json_response({"server": answer}, status=202)


def _server_metadata(image: Image | None, root: _RootDisk, extra: dict[str, str]) -> dict[str, str]:
    """NHN copies the boot image's properties into server metadata (console display)."""
    metadata: dict[str, str] = {}
    if image is not None:
        properties = image.properties
        for key in (
            "os_distro",
            "os_version",
            "os_type",
            "os_architecture",
            "description",
            "login_username",
        ):
            if key in properties:
                metadata[key] = properties[key]
        metadata["image_name"] = image.name
    if root.volume_size is not None:
        metadata["volume_size"] = str(root.volume_size)
    metadata.update({"project_domain": "NORMAL", "monitoring_agent": "sysmon", "tc_env": "sysmon"})
    metadata.update(extra)
    return metadata


# -- servers: delete and actions ------------------------------------------------------------


async def delete_server(ctx: Ctx) -> web.StreamResponse:
    server = _server_or_404(ctx)
    if server.pending is None or server.pending[0] != "delete":
        server.pending = ("delete", ctx.now)
        server.updated = ctx.now
    return empty_response(204)


def _conflict(action: str, server: Server) -> ApiError:
    _, vm_state, task_state, _ = state_fields(server)
    attribute, value = ("task_state", task_state) if task_state else ("vm_state", vm_state)
    return ApiError(
        409, f"Cannot '{action}' instance {server.id} while it is in {attribute} {value}"
    )


def _require(
    action: str,
    server: Server,
    vm_states: tuple[str, ...],
    task_states: tuple[str | None, ...] = (None,),
) -> None:
    _, vm_state, task_state, _ = state_fields(server)
    if vm_state not in vm_states:
        raise ApiError(
            409, f"Cannot '{action}' instance {server.id} while it is in vm_state {vm_state}"
        )
    if task_state not in task_states:
        raise ApiError(
            409, f"Cannot '{action}' instance {server.id} while it is in task_state {task_state}"
        )


# Documented NHN actions the emulator does not model: they answer 501, not 400.
_UNEMULATED_ACTIONS = {
    "shelve",
    "unshelve",
    "createImage",
    "rebuild",
    "changePassword",
    "os-getConsoleOutput",
    "pause",
    "unpause",
    "suspend",
    "resume",
    "lock",
    "unlock",
}


async def server_action(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object()
    server = _server_or_404(ctx)
    if len(body) != 1:
        raise ApiError(400, "Malformed request body: exactly one action is expected.")
    action, argument = next(iter(body.items()))
    if (
        server.pending is not None
        and server.pending[0] == "delete"
        and action in ("os-start", "os-stop", "reboot")
    ):
        raise _conflict(action, server)
    if action == "os-stop":
        _require(action, server, ("active", "error"))
        server.pending = ("stop", ctx.now)
    elif action == "os-start":
        _require(action, server, ("stopped",))
        server.pending = ("start", ctx.now)
    elif action == "reboot":
        if not isinstance(argument, dict) or "type" not in argument:
            raise ApiError(400, "Missing argument 'type' for reboot")
        kind = argument["type"]
        if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
            raise ApiError(
                400, "Argument 'type' for reboot must be a string with value 'SOFT' or 'HARD'."
            )
        if kind.upper() == "SOFT":
            _require(action, server, ("active",))
            server.pending = ("reboot", ctx.now)
        else:
            _require(
                action,
                server,
                ("active", "stopped", "error"),
                (None, "rebooting", "rebooting_hard"),
            )
            server.pending = ("hard_reboot", ctx.now)
    elif action in ("addSecurityGroup", "removeSecurityGroup"):
        _security_group_action(ctx, server, action, argument)
    elif action == "resize":
        _resize(ctx, server, argument)
    elif action == "confirmResize":
        _require(action, server, ("resized",))
        _compute(ctx).confirm_resize(server, ctx.now)
        # Nova answers confirmResize 204 (a compatibility wart it keeps), the others 202
        return empty_response(204)
    elif action == "revertResize":
        _require(action, server, ("resized",))
        server.pending = ("revert_resize", ctx.now)
    elif action in _UNEMULATED_ACTIONS:
        raise ApiError(
            501, f"Server action '{action}' is not implemented by the NHN Cloud emulator."
        )
    else:
        raise ApiError(400, f"There is no such action: {action}")
    server.updated = ctx.now
    return empty_response(202)


def _resize(ctx: Ctx, server: Server, argument: Any) -> None:
    """Nova's resize checks in its order: the body's schema, the server's state (409), the
    flavor (400), then NHN's rules on which families change to which (400)."""
    if not isinstance(argument, dict) or "flavorRef" not in argument:
        raise _invalid("resize", argument, "'flavorRef' is a required property")
    unknown = set(argument) - {"flavorRef", "OS-DCF:diskConfig"}
    if unknown:
        raise _invalid(
            "resize",
            argument,
            f"Additional properties are not allowed ({', '.join(sorted(unknown))} were unexpected)",
        )
    reference = argument["flavorRef"]
    if isinstance(reference, bool) or not isinstance(reference, str | int) or reference == "":
        raise _invalid("flavorRef", reference, "Must be a flavor id or link")
    _require("resize", server, ("active", "stopped"))
    flavor = _compute(ctx).find_flavor(str(reference))
    if flavor is None:
        raise ApiError(400, f"Flavor {reference} could not be found.")
    old = server.flavor
    if flavor.id == old.id:
        raise ApiError(400, "When resizing, instances must change flavor!")
    if old.family not in RESIZABLE_FAMILIES:
        raise ApiError(
            400,
            f"Instance {server.id} has flavor {old.name}: NHN Cloud cannot change the flavor "
            "of u2 or GPU (g2) instances.",
        )
    if flavor.family not in RESIZABLE_FAMILIES:
        raise ApiError(
            400,
            f"Flavor {flavor.name} is not allowed: NHN Cloud changes m2, c2, r2, t2 and x1 "
            "instances only to those families.",
        )
    server.resize = Resize(old=old, new=flavor, return_state=server.vm_state)
    server.pending = ("resize", ctx.now)


def _security_group_action(ctx: Ctx, server: Server, action: str, argument: Any) -> None:
    if not isinstance(argument, dict) or not isinstance(argument.get("name"), str):
        raise ApiError(400, f"Missing parameter dict for {action}: 'name' is required")
    name = argument["name"]
    network = ctx.regional.network
    group = network.security_group_named(ctx.tenant_id, name)
    if group is None:
        raise ApiError(404, f"Security group {name} not found for project {ctx.tenant_id}.")
    ports = network.tenant(ctx.tenant_id).ports
    if action == "addSecurityGroup":
        if group.name in server.security_groups:
            raise ApiError(
                400,
                f"Security group {group.name} is already associated with the instance {server.id}",
            )
        server.security_groups.append(group.name)
        for nic in server.nics:
            if nic.port_id in ports:
                ports[nic.port_id].security_group_ids.append(group.id)
        return
    if group.name not in server.security_groups:
        raise ApiError(
            400, f"Security group {group.name} not associated with the instance {server.id}"
        )
    server.security_groups.remove(group.name)
    for nic in server.nics:
        port = ports.get(nic.port_id)
        if port is not None and group.id in port.security_group_ids:
            port.security_group_ids.remove(group.id)


# -- server metadata ------------------------------------------------------------------------


async def list_metadata(ctx: Ctx) -> web.StreamResponse:
    return json_response({"metadata": dict(_server_or_404(ctx).metadata)})


async def get_metadata(ctx: Ctx) -> web.StreamResponse:
    server = _server_or_404(ctx)
    key = ctx.match["key"]
    if key not in server.metadata:
        raise ApiError(404, "Metadata item was not found")
    return json_response({"meta": {key: server.metadata[key]}})


async def put_metadata(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("meta")
    server = _server_or_404(ctx)
    key = ctx.match["key"]
    if len(body) != 1 or key not in body:
        raise ApiError(400, "Request body and URI mismatch")
    if not isinstance(body[key], str) or len(body[key]) > 255:
        raise _invalid(
            "meta", body[key], "Metadata values must be strings of at most 255 characters"
        )
    server.metadata[key] = body[key]
    return json_response({"meta": {key: body[key]}})


async def delete_metadata(ctx: Ctx) -> web.StreamResponse:
    server = _server_or_404(ctx)
    if server.metadata.pop(ctx.match["key"], None) is None:
        raise ApiError(404, "Metadata item was not found")
    return empty_response(204)


# -- version discovery ----------------------------------------------------------------------

# NHN documents (and the emulator serves) the legacy /v2 API only; Nova lists it as v2.0.
_V2 = {
    "id": "v2.0",
    "status": "SUPPORTED",
    "version": "",
    "min_version": "",
    "updated": "2011-01-21T11:33:21Z",
}
_V2_MEDIA_TYPE = "application/vnd.openstack.compute+json;version=2"


async def list_versions(ctx: Ctx) -> web.StreamResponse:
    """Nova's root (no token): every major version with its self link."""
    version = {**_V2, "links": [{"rel": "self", "href": ctx.url("/v2/")}]}
    return json_response({"versions": [version]})


async def show_version(ctx: Ctx) -> web.StreamResponse:
    """``/v2/`` (no token) and ``/v2/{tenant_id}`` (token): the v2.0 version document."""
    version = {
        **_V2,
        "links": [
            {"rel": "self", "href": ctx.url("/v2/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json", "type": _V2_MEDIA_TYPE}],
    }
    return json_response({"version": version})

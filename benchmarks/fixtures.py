"""Canned native NHN answers for the static benchmark upstream, and the routes that serve them.

The upstream answers exactly what the proxy's plugins ask for (see plugins/compute.py and
plugins/storage.py):

- `GET  /kr1/compute/v2/{tenant}/flavors/detail` → the emulator's NHN flavors, detail view;
- `GET  /kr1/compute/v2/{tenant}/servers/detail?limit=1000` → 1,000 servers, no next link;
- `GET  /kr1/object-storage/v1/AUTH_{tenant}/{container}?format=json&limit=10000` → 10,000
  objects; the same call with a `marker` (the proxy asks again because the page was full)
  → `[]`, the last page;
- `POST /kr1/compute/v2/{tenant}/servers` → 202 with Nova's create answer;
- `POST /identity/v2.0/tokens` → a token answer.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "kr1"
TENANT = "b3e4c1d2a5f60718293a4b5c6d7e8f90"
STORAGE_TENANT = "5c4b3a29180f4e6d8c7b6a5f4e3d2c1b"
STORAGE_ACCOUNT = f"AUTH_{STORAGE_TENANT}"
CONTAINER = "bench-container"
TOKEN = "7f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99"
SERVERS = 1_000
OBJECTS = 10_000
SUBNET_ID = "b83863ff-0355-4c73-8c10-0bdf66a69aab"
IMAGE_ID = "9956f822-29c9-4f81-9410-0c392d9c8c24"
NEW_SERVER_ID = "3a005d5b-63cf-4493-bfc6-49db990b5b50"
BASE = "https://kr1-api-instance-infrastructure.nhncloudservice.com"

FLAVORS_PATH = f"/{REGION}/compute/v2/{TENANT}/flavors/detail"
SERVERS_DETAIL_PATH = f"/{REGION}/compute/v2/{TENANT}/servers/detail"
SERVERS_PATH = f"/{REGION}/compute/v2/{TENANT}/servers"
OBJECTS_PATH = f"/{REGION}/object-storage/v1/{STORAGE_ACCOUNT}/{CONTAINER}"
TOKENS_PATH = "/identity/v2.0/tokens"
# the object the streaming rows upload and download (served by `upstream.transfer_app`)
TRANSFER_OBJECT = "transfer/blob.bin"
TRANSFER_PATH = f"{OBJECTS_PATH}/{TRANSFER_OBJECT}"


@dataclass(frozen=True)
class UpstreamRoute:
    """One answer of the static upstream. `marker`: None = any query; False = only without a
    `marker` query value; True = only with one. Exactly one of `file` / `body` is set."""

    method: str
    path: str
    status: int = 200
    file: str | None = None
    body: str | None = None
    marker: bool | None = None


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nhn-bench:{kind}:{name}"))


def _links(kind: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"href": f"{BASE}/v2/{TENANT}/{kind}/{item_id}", "rel": "self"},
        {"href": f"{BASE}/{TENANT}/{kind}/{item_id}", "rel": "bookmark"},
    ]


def flavors() -> dict[str, Any]:
    """NHN's flavor families (the emulator's seed), in Nova's `flavors/detail` view."""
    from nhn_proxy.emulator.compute import seed_flavors

    return {
        "flavors": [
            {
                "id": flavor.id,
                "name": flavor.name,
                "links": _links("flavors", flavor.id),
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
            for flavor in seed_flavors().values()
        ]
    }


def _server(index: int, flavor_ids: list[str]) -> dict[str, Any]:
    server_id = _uuid("server", str(index))
    mac = f"fa:16:3e:{index >> 16 & 0xFF:02x}:{index >> 8 & 0xFF:02x}:{index & 0xFF:02x}"
    fixed = f"192.168.{index // 250}.{index % 250 + 4}"
    addresses = [
        {"OS-EXT-IPS-MAC:mac_addr": mac, "version": 4, "addr": fixed, "OS-EXT-IPS:type": "fixed"}
    ]
    if index % 4 == 0:
        addresses.append(
            {
                "OS-EXT-IPS-MAC:mac_addr": mac,
                "version": 4,
                "addr": f"133.186.{index // 250 + 200}.{index % 250 + 2}",
                "OS-EXT-IPS:type": "floating",
            }
        )
    flavor_id = flavor_ids[index % len(flavor_ids)]
    active = index % 10 != 0
    day = index % 28 + 1
    return {
        "id": server_id,
        "name": f"web-{index:04d}",
        "status": "ACTIVE" if active else "SHUTOFF",
        "tenant_id": TENANT,
        "user_id": "6f9d5f1c0a7e4b3d9e8c7b6a5f4e3d2c",
        "created": f"2024-03-{day:02d}T09:{index % 60:02d}:12Z",
        "updated": f"2024-03-{day:02d}T09:{index % 60:02d}:58Z",
        "hostId": hashlib.sha224(f"{TENANT}:host-{index % 40}".encode()).hexdigest(),
        "addresses": {"Default Network": addresses},
        "links": _links("servers", server_id),
        "key_name": "demo-keypair",
        "image": "",
        "flavor": {
            "id": flavor_id,
            "links": [{"href": f"{BASE}/{TENANT}/flavors/{flavor_id}", "rel": "bookmark"}],
        },
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": "active" if active else "stopped",
        "OS-EXT-STS:power_state": 1 if active else 4,
        "OS-SRV-USG:launched_at": f"2024-03-{day:02d}T09:{index % 60:02d}:40.000000",
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-AZ:availability_zone": "kr-pub-a" if index % 2 else "kr-pub-b",
        "security_groups": [{"name": "default"}],
        "os-extended-volumes:volumes_attached": [{"id": _uuid("volume", str(index))}],
        "accessIPv4": "",
        "accessIPv6": "",
        "progress": 0,
        "config_drive": "",
        "metadata": {"os_distro": "ubuntu", "os_version": "22.04", "team": f"team-{index % 7}"},
        "NHN-EXT-ATTR:ephemeral_disk_size": 0,
        "NHN-EXT-ATTR:protect": False,
    }


def servers(flavor_ids: list[str], count: int = SERVERS) -> dict[str, Any]:
    """One full `servers/detail` page; no `servers_links`, as NHN shows it: the last page."""
    return {"servers": [_server(index, flavor_ids) for index in range(count)]}


def objects(count: int = OBJECTS) -> list[dict[str, Any]]:
    """A Swift JSON container listing (names sorted, as Swift lists them)."""
    listing = []
    for index in range(count):
        name = f"logs/2024/{index // 900 + 1:02d}/{index % 28 + 1:02d}/app-{index:05d}.log.gz"
        listing.append(
            {
                "hash": hashlib.md5(name.encode()).hexdigest(),
                "last_modified": f"2024-{index // 900 + 1:02d}-{index % 28 + 1:02d}"
                f"T03:{index % 60:02d}:07.123450",
                "bytes": 1024 + index * 37 % 900_000,
                "name": name,
                "content_type": "application/gzip",
            }
        )
    listing.sort(key=lambda item: item["name"])
    return listing


def token_answer() -> dict[str, Any]:
    return {
        "access": {
            "token": {
                "id": TOKEN,
                "expires": "2030-01-15T12:00:00Z",
                "tenant": {"id": TENANT, "name": "bench", "enabled": True},
                "issued_at": "2030-01-15T00:00:00.000000",
            },
            "serviceCatalog": [],
            "user": {"id": "6f9d5f1c0a7e4b3d9e8c7b6a5f4e3d2c", "name": "bench@example.com"},
        }
    }


def create_answer() -> dict[str, Any]:
    """Nova's 202 answer to `POST /v2/{tenant}/servers` (no name, no status)."""
    return {
        "server": {
            "security_groups": [{"name": "default"}],
            "OS-DCF:diskConfig": "MANUAL",
            "id": NEW_SERVER_ID,
            "links": _links("servers", NEW_SERVER_ID),
        }
    }


def create_request_body(flavor_id: str) -> dict[str, Any]:
    """The public `POST /compute/instances/create/` body used by the benchmark."""
    return {
        "name": "bench-01",
        "image_id": IMAGE_ID,
        "flavor_id": flavor_id,
        "subnet_id": SUBNET_ID,
        "keypair_name": "demo-keypair",
    }


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Canned:
    data_dir: Path
    routes: tuple[UpstreamRoute, ...]
    flavor_id: str  # a volume-backed flavor the create scenario asks for
    flavor_count: int
    sizes: dict[str, int]  # file name → bytes


def write_canned(data_dir: Path) -> Canned:
    """Write every canned answer into `data_dir` and describe the routes serving them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    flavor_doc = flavors()
    flavor_ids = [flavor["id"] for flavor in flavor_doc["flavors"]]
    files = {
        "flavors.json": flavor_doc,
        "servers.json": servers(flavor_ids),
        "objects.json": objects(),
        "empty-list.json": [],
        "token.json": token_answer(),
        "server-created.json": create_answer(),
    }
    sizes = {}
    for name, document in files.items():
        text = _dump(document)
        (data_dir / name).write_text(text)
        sizes[name] = len(text.encode())
    volume_flavor = next(f["id"] for f in flavor_doc["flavors"] if f["name"].startswith("m2."))
    routes = (
        UpstreamRoute("GET", FLAVORS_PATH, file="flavors.json"),
        UpstreamRoute("GET", SERVERS_DETAIL_PATH, file="servers.json"),
        UpstreamRoute("GET", OBJECTS_PATH, file="objects.json", marker=False),
        UpstreamRoute("GET", OBJECTS_PATH, file="empty-list.json", marker=True),
        UpstreamRoute("POST", SERVERS_PATH, status=202, body=_dump(create_answer())),
        UpstreamRoute("POST", TOKENS_PATH, status=200, body=_dump(token_answer())),
    )
    return Canned(data_dir, routes, volume_flavor, len(flavor_ids), sizes)

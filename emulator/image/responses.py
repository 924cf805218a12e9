"""Image (Glance v2): list with filters/paging and get, over seeded public NHN images.

Seeds several Ubuntu/Rocky/Windows base images and NKS node images flagged with
``nhncloud_allow_nks_cpu_flavor: "true"``. Custom properties are flattened into the image
object and can be used as list filters, as Glance does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from nhn_proxy.emulator.base import Ctx, Router, iso_z, json_response, parse_limit, seed_uuid
from nhn_proxy.emulator.errors import ApiError

router = Router()

# Owner of NHN's public images, as in the documented example.
NHN_IMAGE_OWNER = "c289b99209ca4e189095cdecebbd092d"
_VISIBILITIES = ("public", "private", "shared", "community")
_STATUSES = ("queued", "saving", "active", "killed", "deleted", "pending_delete", "importing")
_LIST_CONTROLS = {"limit", "marker", "sort_key", "sort_dir", "sort", "member_status"}


@dataclass
class Image:
    id: str
    name: str
    created: float
    size: int
    min_disk: int
    min_ram: int
    checksum: str
    properties: dict[str, str] = field(default_factory=dict)
    visibility: str = "public"
    status: str = "active"
    owner: str = NHN_IMAGE_OWNER
    tags: list[str] = field(default_factory=list)

    @property
    def is_windows(self) -> bool:
        return self.properties.get("os_type") == "windows"

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "visibility": self.visibility,
            "protected": True,
            "container_format": "bare",
            "disk_format": "qcow2",
            "min_disk": self.min_disk,
            "min_ram": self.min_ram,
            "size": self.size,
            "virtual_size": None,
            "checksum": self.checksum,
            "owner": self.owner,
            "created_at": iso_z(self.created),
            "updated_at": iso_z(self.created + 345_600),
            "tags": list(self.tags),
            "self": f"/v2/images/{self.id}",
            "file": f"/v2/images/{self.id}/file",
            "schema": "/v2/schemas/image",
        }
        view.update(self.properties)
        return view


# (name, os_type, os_distro, os_version, login, min_disk, min_ram, nks node image, created)
_SEED = (
    (
        "Ubuntu Server 24.04 LTS (2025.01.21)",
        "linux",
        "ubuntu",
        "Server 24.04 LTS",
        "ubuntu",
        20,
        0,
        False,
        1737424800,
    ),
    (
        "Ubuntu Server 22.04 LTS (2024.01.16)",
        "linux",
        "ubuntu",
        "Server 22.04 LTS",
        "ubuntu",
        20,
        0,
        False,
        1705371463,
    ),
    (
        "Ubuntu Server 20.04.6 LTS (2023.11.21)",
        "linux",
        "ubuntu",
        "Server 20.04 LTS",
        "ubuntu",
        20,
        0,
        False,
        1700532000,
    ),
    ("Rocky Linux 9.4 (2024.09.24)", "linux", "rocky", "9.4", "rocky", 20, 0, False, 1727136000),
    ("Rocky Linux 8.10 (2024.09.24)", "linux", "rocky", "8.10", "rocky", 20, 0, False, 1727136060),
    (
        "Windows 2022 STD (2024.09.24) KO",
        "windows",
        "windows",
        "2022 STD",
        "Administrator",
        50,
        2048,
        False,
        1727136120,
    ),
    (
        "Windows 2019 STD (2024.09.24) EN",
        "windows",
        "windows",
        "2019 STD",
        "Administrator",
        50,
        2048,
        False,
        1727136180,
    ),
    (
        "Ubuntu Server 22.04 LTS - Container (2025.01.21)",
        "linux",
        "ubuntu",
        "Server 22.04 LTS",
        "ubuntu",
        20,
        0,
        True,
        1737424860,
    ),
    (
        "Rocky Linux 8.10 - Container (2025.01.21)",
        "linux",
        "rocky",
        "8.10",
        "rocky",
        20,
        0,
        True,
        1737424920,
    ),
)


class ImageState:
    """Images of one region (all public seeds; ids differ per region like NHN's)."""

    def __init__(self, region: str) -> None:
        self.images: dict[str, Image] = {}
        for name, os_type, distro, version, login, min_disk, min_ram, nks, created in _SEED:
            image_id = seed_uuid(region, "image", name)
            properties = {
                "os_type": os_type,
                "os_distro": distro,
                "os_version": version,
                "os_architecture": "amd64",
                "login_username": login,
                "hypervisor_type": "qemu",
                "description": name,
                "nhncloud_allow_download": "false",
            }
            if nks:
                properties["nhncloud_allow_nks_cpu_flavor"] = "true"
            size = (9_126_805_504 if os_type == "windows" else 1_778_843_648) + len(name)
            self.images[image_id] = Image(
                id=image_id,
                name=name,
                created=float(created),
                size=size,
                min_disk=min_disk,
                min_ram=min_ram,
                checksum=seed_uuid(image_id, "checksum").replace("-", ""),
                properties=properties,
            )

    def visible(self, tenant_id: str) -> list[Image]:
        return [i for i in self.images.values() if i.visibility == "public" or i.owner == tenant_id]

    def find(self, tenant_id: str, image_id: str) -> Image | None:
        image = self.images.get(image_id)
        if image is None or (image.visibility != "public" and image.owner != tenant_id):
            return None
        return image


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


@router.route("GET", "/v2/images")
async def list_images(ctx: Ctx) -> web.StreamResponse:
    query = ctx.query
    views = [image.view() for image in _image_state(ctx).visible(ctx.tenant_id)]
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


@router.route("GET", "/v2/images/{image_id}")
async def get_image(ctx: Ctx) -> web.StreamResponse:
    image = _image_state(ctx).find(ctx.tenant_id, ctx.match["image_id"])
    if image is None:
        raise ApiError(404, f"No image found with ID {ctx.match['image_id']}")
    return json_response(image.view())

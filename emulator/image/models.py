"""Image's state: the public NHN images of one region (seeded, read-only).

Seeds several Ubuntu/Rocky/Windows base images and NKS node images flagged with
``nhncloud_allow_nks_cpu_flavor: "true"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nhn_proxy.emulator.base import seed_uuid

# Owner of NHN's public images, as in the documented example.
NHN_IMAGE_OWNER = "c289b99209ca4e189095cdecebbd092d"


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

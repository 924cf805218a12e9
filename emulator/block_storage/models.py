"""Block Storage's state for one region: NHN's volume types and each tenant's volumes, with
the volume state machine.

Every volume transition takes ``delay`` seconds and is applied from the clock before a
request reads or changes anything (``settle``), as compute does for servers; nothing
sleeps:

- ``creating`` → ``available`` (create),
- ``attaching`` → ``in-use`` (attach, started by compute's ``os-volume_attachments``),
- ``detaching`` → ``available`` (detach; the server's block device mapping goes then),
- ``deleting`` → gone (delete).

Attachments are made on the compute endpoint: compute's handlers reach these volumes
through the region's state and call ``begin_attach`` / ``begin_detach``. A volume attached
to a server that no longer exists (the server was deleted) is available again at the next
settle, as Nova detaches a deleted server's volumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

from nhn_proxy.emulator.base import new_uuid, seed_uuid

if TYPE_CHECKING:
    from nhn_proxy.emulator.state import RegionState

# The size range NHN's Block Storage overview states (10 GB to 2,000 GB); NHN's API guide
# names no bounds, so the emulator refuses outside it the way Cinder refuses a size outside a
# volume type's provisioning:min_vol_size / max_vol_size.
MIN_SIZE = 10
MAX_SIZE = 2000
# Cinder's osapi_max_limit default: the largest page a listing answers.
MAX_LIMIT = 1000
# NHN's default type (what a volume without volume_type gets, and what boot volumes show).
DEFAULT_TYPE = "General HDD"
# Cinder refuses to delete a volume in any other status (or attached, or with snapshots).
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")


@dataclass(frozen=True)
class VolumeType:
    id: str
    name: str
    backend: str
    # NHN's encrypted types need a Secure Key Manager key (nhn_encryption) on create
    encrypted: bool = False


# NHN's types: General HDD/SSD (API guide's example, backends hdd_general/ssd_general) and
# the console's Encrypted HDD/SSD (backend names of these two are the emulator's guess).
_TYPES = (
    ("General HDD", "hdd_general", False),
    ("General SSD", "ssd_general", False),
    ("Encrypted HDD", "hdd_encrypted", True),
    ("Encrypted SSD", "ssd_encrypted", True),
)


def seed_types(region: str) -> dict[str, VolumeType]:
    """The region's volume types by id (ids stable across resets)."""
    kinds = [
        VolumeType(seed_uuid(region, "volume_type", name), name, backend, encrypted)
        for name, backend, encrypted in _TYPES
    ]
    return {kind.id: kind for kind in kinds}


@dataclass
class Attachment:
    """The volume's one attachment (NHN volumes are never multi-attached)."""

    server_id: str
    device: str
    id: str
    attached_at: float


@dataclass
class Volume:
    id: str
    tenant_id: str
    user_id: str
    name: str | None
    description: str | None
    size: int
    volume_type: VolumeType
    zone: str
    created: float
    # creation order of volumes made in the same instant (listing order)
    sequence: int
    metadata: dict[str, str] = field(default_factory=dict)
    # NHN's nhn_encryption of an encrypted volume: {skm_key_id, skm_key_version}
    encryption: dict[str, Any] | None = None
    status: str = "creating"
    # (operation, started_at) while a transition is under way
    pending: tuple[str, float] | None = ("create", 0.0)
    updated: float = 0.0
    # set from the attach request on (the device is reserved then), cleared once detached
    attachment: Attachment | None = None

    @property
    def attached(self) -> Attachment | None:
        """The attachment Cinder shows: only once attached (in-use, or while detaching)."""
        if self.status in ("in-use", "detaching"):
            return self.attachment
        return None


# Each pending operation's final status (None: the volume is gone).
_FINAL_STATUS = {"create": "available", "attach": "in-use", "detach": "available", "delete": None}


class BlockStorageState:
    """Volume types (region-wide) and each tenant's volumes in one region."""

    def __init__(self, region: str, delay: float) -> None:
        self.region = region
        self.delay = delay
        self.types = seed_types(region)
        self.tenants: dict[str, dict[str, Volume]] = {}
        self._sequence = count(1)

    def volumes(self, tenant_id: str) -> dict[str, Volume]:
        return self.tenants.setdefault(tenant_id, {})

    def find(self, tenant_id: str, volume_id: str) -> Volume | None:
        return self.tenants.get(tenant_id, {}).get(volume_id)

    def find_type(self, ref: str) -> VolumeType | None:
        """A type by id or by name (Cinder's get_by_name_or_id)."""
        if ref in self.types:
            return self.types[ref]
        return next((kind for kind in self.types.values() if kind.name == ref), None)

    def default_type(self) -> VolumeType:
        found = self.find_type(DEFAULT_TYPE)
        assert found is not None
        return found

    def next_sequence(self) -> int:
        return next(self._sequence)

    def add(self, volume: Volume) -> Volume:
        self.volumes(volume.tenant_id)[volume.id] = volume
        return volume

    # -- transitions ---------------------------------------------------------------------

    def begin(self, volume: Volume, operation: str, status: str, now: float) -> None:
        volume.status = status
        volume.pending = (operation, now)
        volume.updated = now

    def begin_attach(self, volume: Volume, server_id: str, device: str, now: float) -> None:
        """Reserve ``device`` of ``server_id`` for the volume: ``attaching``, then ``in-use``."""
        volume.attachment = Attachment(server_id, device, new_uuid(), now)
        self.begin(volume, "attach", "attaching", now)

    def begin_detach(self, volume: Volume, now: float) -> None:
        """``detaching``, then ``available`` (the server's mapping is dropped then)."""
        self.begin(volume, "detach", "detaching", now)

    def devices_of(self, tenant_id: str, server_id: str) -> dict[str, str]:
        """Volume id → device of every volume attached (or being attached) to a server."""
        return {
            volume.id: volume.attachment.device
            for volume in self.tenants.get(tenant_id, {}).values()
            if volume.attachment is not None and volume.attachment.server_id == server_id
        }

    def settle(self, tenant_id: str, now: float, region: RegionState) -> None:
        """Finish every transition whose delay has passed; drop volumes done deleting; free
        the volumes of servers that are gone (compute settles first, in the region's state)."""
        volumes = self.tenants.get(tenant_id)
        if not volumes:
            return
        servers = region.compute.tenants.get(tenant_id)
        for volume in list(volumes.values()):
            if volume.pending is not None:
                operation, started = volume.pending
                if now >= started + self.delay:
                    finished = started + self.delay
                    final = _FINAL_STATUS[operation]
                    if final is None:
                        del volumes[volume.id]
                        continue
                    volume.status = final
                    volume.pending = None
                    volume.updated = finished
                    if operation == "attach" and volume.attachment is not None:
                        volume.attachment.attached_at = finished
                    if operation == "detach":
                        self._release(volume, region, tenant_id)
            attachment = volume.attachment
            if attachment is None:
                continue
            if servers is None or attachment.server_id not in servers.servers:
                # Nova detaches the volumes of a deleted server: the volume is free again.
                volume.attachment = None
                volume.status = "available"
                volume.pending = None
                volume.updated = now

    def _release(self, volume: Volume, region: RegionState, tenant_id: str) -> None:
        attachment = volume.attachment
        volume.attachment = None
        if attachment is None:
            return
        servers = region.compute.tenants.get(tenant_id)
        server = servers.servers.get(attachment.server_id) if servers is not None else None
        if server is not None and volume.id in server.volumes:
            server.volumes.remove(volume.id)

"""Compute's state: flavors and availability zones of a region, each tenant's key pairs and
servers, and the server state machine.

Server state changes take ``build_delay`` seconds and are computed from the clock when a
server is read (BUILD → ACTIVE, stop/start, reboot, resize, deleting → gone); nothing
sleeps. A server's ports live in the network's state; deleting a server frees them through
the region's state.

Resize (NHN Instance API "Change Instance Flavor"; Nova's state machine): ``RESIZE`` for
``build_delay``, then ``VERIFY_RESIZE`` (vm_state ``resized``) with the new flavor. NHN
confirms a resize itself ("VERIFY_RESIZE … NHN Cloud에서는 이 경우 자동으로 ACTIVE 상태가
됨"), so the emulator confirms it after another ``build_delay``: the server is back in the
state it was resized from (ACTIVE, or SHUTOFF for a server resized while stopped) with the
new flavor. Until then ``confirmResize`` does the same at once and ``revertResize`` goes
through ``REVERT_RESIZE`` (``build_delay``) back to the old flavor.

Key pairs: a public key is parsed as OpenSSH's wire format (its type, then the fields of
that type) as Nova does before it fingerprints it; fingerprints are written as NHN's
Instance API examples show them, OpenSSH's ``SHA256:<base64, no padding>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING

from nhn_proxy.emulator.base import seed_uuid
from nhn_proxy.emulator.errors import ApiError
from nhn_proxy.emulator.options import DEMO_KEYPAIR

if TYPE_CHECKING:
    from nhn_proxy.emulator.state import RegionState

_ZONES = {
    "kr1": ("kr-pub-a", "kr-pub-b"),
    "kr2": ("kr2-pub-a", "kr2-pub-b"),
    "kr3": ("kr3-pub-a", "kr3-pub-b"),
    "jp1": ("jp-pub-a", "jp-pub-b"),
}

# NHN flavor families; u2 boots from a local disk of the flavor's size, the rest from volumes.
# The flavor_type values are the kind NKS labels show (core, memory); unconfirmed per family.
_FLAVOR_FAMILIES = {
    "m2": ("general", ((1, 2), (2, 4), (2, 8), (4, 8), (4, 16), (8, 16), (8, 32), (16, 32))),
    "c2": ("core", ((2, 2), (4, 4), (8, 8), (16, 16), (32, 32))),
    "r2": ("memory", ((2, 16), (4, 32), (8, 64), (16, 128))),
    "t2": ("low", ((1, 1), (1, 2), (2, 4))),
    "x1": ("performance", ((8, 64), (16, 128), (32, 256))),
}
_U2_FLAVORS = ((1, 1, 20), (1, 2, 30), (2, 4, 50), (4, 8, 100))
# GPU flavors (NHN "GPU Instance" console guide, "GPU 인스턴스 타입별 사양": name, vCPUs, GiB
# of memory; a few of the nine listed). The Instance API boots them from a local disk
# (destination_type "local" for GPU and u2 flavors); NHN documents no fixed disk size for
# them (unconfirmed), so they report disk 0 and their local root disk takes the request's
# volume_size, as a root volume would.
_G2_FLAVORS = (
    ("g2.t4.c4m32", 4, 32),
    ("g2.t4.c8m64", 8, 64),
    ("g2.v100.c8m90", 8, 90),
    ("g2.v100.c16m180", 16, 180),
)
# Local-disk families: u2 and g2 (GPU) boot from the hypervisor's disk, never a volume.
LOCAL_DISK_FAMILIES = ("u2", "g2")
# NHN's console guide ("인스턴스 타입 변경"): m2, c2, r2, t2 and x1 instances change only to
# those families; u2 never changes (not even to another u2) and GPU instances cannot change
# ("GPU 인스턴스는 사양 변경을 할수 없습니다").
RESIZABLE_FAMILIES = ("m2", "c2", "r2", "t2", "x1")


def zones_of(region: str) -> tuple[str, ...]:
    return _ZONES.get(region, (f"{region}-pub-a", f"{region}-pub-b"))


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int
    disk: int
    flavor_type: str

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def local_disk(self) -> bool:
        """u2 and GPU flavors boot from a local disk, every other family from a volume."""
        return self.family in LOCAL_DISK_FAMILIES


def seed_flavors() -> dict[str, Flavor]:
    flavors: list[Flavor] = []
    for family, (kind, sizes) in _FLAVOR_FAMILIES.items():
        for vcpus, gib in sizes:
            name = f"{family}.c{vcpus}m{gib}"
            flavors.append(Flavor(seed_uuid("flavor", name), name, vcpus, gib * 1024, 0, kind))
    for vcpus, gib, disk in _U2_FLAVORS:
        name = f"u2.c{vcpus}m{gib}"
        flavors.append(Flavor(seed_uuid("flavor", name), name, vcpus, gib * 1024, disk, "local"))
    for name, vcpus, gib in _G2_FLAVORS:
        flavors.append(Flavor(seed_uuid("flavor", name), name, vcpus, gib * 1024, 0, "gpu"))
    return {f.id: f for f in flavors}


@dataclass
class Keypair:
    id: int
    name: str
    public_key: str
    fingerprint: str
    user_id: str
    created: float


@dataclass
class Nic:
    port_id: str
    network_id: str
    subnet_id: str
    ip: str
    mac: str


@dataclass
class Resize:
    """A resize under way or waiting to be confirmed: both flavors, and the vm_state the
    server goes back to (``active``, or ``stopped`` for a server resized while stopped)."""

    old: Flavor
    new: Flavor
    return_state: str


@dataclass
class Server:
    id: str
    name: str
    tenant_id: str
    user_id: str
    flavor: Flavor
    # the boot image (an image of the region's image state), None when booted otherwise
    image_id: str | None
    key_name: str | None
    zone: str
    created: float
    sequence: int
    nics: list[Nic]
    security_groups: list[str]
    metadata: dict[str, str]
    volumes: list[str]
    vm_state: str = "building"
    # (operation, started_at) while a transition is under way.
    pending: tuple[str, float] | None = ("build", 0.0)
    updated: float = 0.0
    launched_at: float | None = None
    resize: Resize | None = None


# What each pending operation looks like while under way, and the vm_state it ends in.
# "verify" is NHN's own confirmation of a resize: the server waits in VERIFY_RESIZE with no
# task running until it comes.
_TASK_STATES: dict[str, str | None] = {
    "build": "spawning",
    "stop": "powering-off",
    "start": "powering-on",
    "reboot": "rebooting",
    "hard_reboot": "rebooting_hard",
    "delete": "deleting",
    "resize": "resize_migrating",
    "verify": None,
    "revert_resize": "resize_reverting",
}
_FINAL_VM_STATE = {
    "build": "active",
    "stop": "stopped",
    "start": "active",
    "reboot": "active",
    "hard_reboot": "active",
}
_VM_STATUS = {
    "active": "ACTIVE",
    "stopped": "SHUTOFF",
    "building": "BUILD",
    "error": "ERROR",
    "resized": "VERIFY_RESIZE",
}
_POWER = {"active": 1, "stopped": 4, "building": 0, "error": 0}
# Nova's status for a task under way, whatever the vm_state (common._STATE_MAP)
_TASK_STATUS = {
    "rebooting": "REBOOT",
    "rebooting_hard": "HARD_REBOOT",
    "resize_migrating": "RESIZE",
    "resize_reverting": "REVERT_RESIZE",
}


def state_fields(server: Server) -> tuple[str, str, str | None, int]:
    """(status, vm_state, task_state, power_state) of a server as Nova reports them."""
    vm_state = server.vm_state
    task = _TASK_STATES[server.pending[0]] if server.pending else None
    status = _TASK_STATUS.get(task or "", _VM_STATUS.get(vm_state, "UNKNOWN"))
    # a resized server runs if it was resized while running
    powered = vm_state
    if vm_state == "resized" and server.resize is not None:
        powered = server.resize.return_state
    return status, vm_state, task, _POWER.get(powered, 0)


# -- key pairs ------------------------------------------------------------------------------

_INVALID_KEY = "Keypair data is invalid: failed to generate fingerprint"
# The fields after the type name in each OpenSSH public key type's wire format (RFC 4253
# §6.6, RFC 5656 §3.1, RFC 8709 §4): what Nova's key loader reads before fingerprinting.
_KEY_FIELDS = {
    "ssh-rsa": ("mpint", "mpint"),  # e, n
    "ssh-dss": ("mpint", "mpint", "mpint", "mpint"),  # p, q, g, y
    "ssh-ed25519": ("ed25519",),  # the 32-byte key
    "ecdsa-sha2-nistp256": ("curve", "string"),  # curve name, point
    "ecdsa-sha2-nistp384": ("curve", "string"),
    "ecdsa-sha2-nistp521": ("curve", "string"),
}


def _ssh_fields(blob: bytes) -> list[bytes]:
    """The SSH strings of a key blob (4-byte big-endian length, then the bytes), in order."""
    fields: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated length")
        length = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + length > len(blob):
            raise ValueError("truncated field")
        fields.append(blob[offset : offset + length])
        offset += length
    return fields


def public_key_blob(public_key: str) -> bytes:
    """The key data of one OpenSSH public key line (``<type> <base64> [comment]``), checked
    field by field against its type; Nova's 400 when it is not such a key."""
    parts = public_key.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in _KEY_FIELDS or "\n" in public_key.strip():
        raise ApiError(400, _INVALID_KEY)
    kind = parts[0]
    try:
        blob = base64.b64decode(parts[1], validate=True)
        fields = _ssh_fields(blob)
    except (binascii.Error, ValueError):
        raise ApiError(400, _INVALID_KEY) from None
    expected = _KEY_FIELDS[kind]
    if len(fields) != 1 + len(expected) or fields[0] != kind.encode():
        raise ApiError(400, _INVALID_KEY)
    for value, shape in zip(fields[1:], expected, strict=True):
        valid = {
            "mpint": bool(value) and value[0] < 0x80,  # a positive number
            "ed25519": len(value) == 32,
            "curve": value == kind.rsplit("-", 1)[-1].encode(),
            "string": bool(value),
        }[shape]
        if not valid:
            raise ApiError(400, _INVALID_KEY)
    return blob


def fingerprint(public_key: str) -> str:
    """The fingerprint NHN shows (its Instance API examples: ``SHA256:+EZoD…/DKiGnY4zf5tYrcix0``):
    OpenSSH's SHA-256 of the key data in base64 without padding."""
    digest = hashlib.sha256(public_key_blob(public_key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _ssh_string(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def _mpint(value: int) -> bytes:
    data = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading 0: positive
    return _ssh_string(data)


def rsa_public_key(modulus: int, comment: str) -> str:
    """An ``ssh-rsa`` public key line with exponent 65537 and the given modulus."""
    blob = _ssh_string(b"ssh-rsa") + _mpint(65537) + _mpint(modulus)
    return f"ssh-rsa {base64.b64encode(blob).decode()} {comment}"


def _fake_pem(kind: str, size: int) -> str:
    body = base64.b64encode(secrets.token_bytes(size)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"


def generate_keypair() -> tuple[str, str]:
    """A key pair as Nova generates one: a 2048-bit ``ssh-rsa`` public key commented
    ``Generated-by-Nova`` (well-formed, with a random modulus) and a PEM private key (random
    bytes of a real key's length: the emulator never needs it to work)."""
    modulus = secrets.randbits(2048) | (1 << 2047) | 1
    return rsa_public_key(modulus, "Generated-by-Nova"), _fake_pem("RSA PRIVATE KEY", 1190)


# a fixed (and useless) RSA public key, so the demo key pair's fingerprint is stable
DEMO_PUBLIC_KEY = rsa_public_key(
    int.from_bytes(hashlib.sha256(b"demo").digest() * 8, "big") | (1 << 2047) | 1,
    "demo@nhn-emulator",
)


@dataclass
class TenantCompute:
    keypairs: dict[str, Keypair] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)


class ComputeState:
    """Flavors (region-wide) and each tenant's key pairs and servers in one region."""

    def __init__(self, region: str, delay: float) -> None:
        self.region = region
        self.delay = delay
        self.flavors = seed_flavors()
        self.tenants: dict[str, TenantCompute] = {}
        self._sequence = count(1)
        self._keypair_ids = count(1)

    @property
    def zones(self) -> tuple[str, ...]:
        """The region's availability zones (NKS checks its clusters' zone against them)."""
        return zones_of(self.region)

    def next_sequence(self) -> int:
        """Creation order of servers made in the same instant (listing order)."""
        return next(self._sequence)

    def next_keypair_id(self) -> int:
        return next(self._keypair_ids)

    def tenant(self, tenant_id: str) -> TenantCompute:
        data = self.tenants.get(tenant_id)
        if data is None:
            data = self.tenants[tenant_id] = TenantCompute()
            # like the "Default Network": a demo needs a key pair before its first instance
            data.keypairs[DEMO_KEYPAIR] = Keypair(
                id=self.next_keypair_id(),
                name=DEMO_KEYPAIR,
                public_key=DEMO_PUBLIC_KEY,
                fingerprint=fingerprint(DEMO_PUBLIC_KEY),
                user_id="",
                created=0.0,
            )
        return data

    def settle(self, tenant_id: str, now: float, region: RegionState) -> None:
        """Finish every transition whose delay has passed; drop servers done deleting (their
        ports go back to the region's network)."""
        data = self.tenants.get(tenant_id)
        if data is None:
            return
        for server in list(data.servers.values()):
            # a resize chains two transitions (RESIZE, then NHN's own confirmation)
            while server.pending is not None and now >= server.pending[1] + self.delay:
                operation, started = server.pending
                finished = started + self.delay
                if operation == "delete":
                    for nic in server.nics:
                        region.network.delete_port(tenant_id, nic.port_id)
                    del data.servers[server.id]
                    break
                server.pending = None
                server.updated = finished
                if operation in ("resize", "verify", "revert_resize"):
                    self._settle_resize(server, operation, finished)
                    continue
                server.vm_state = _FINAL_VM_STATE[operation]
                if operation == "build":
                    server.launched_at = finished

    @staticmethod
    def _settle_resize(server: Server, operation: str, finished: float) -> None:
        resize = server.resize
        assert resize is not None
        if operation == "resize":
            # Nova's finish_resize: the new flavor, waiting for a confirmation
            server.flavor = resize.new
            server.vm_state = "resized"
            server.pending = ("verify", finished)
            if resize.return_state == "active":
                server.launched_at = finished
            return
        if operation == "revert_resize":
            server.flavor = resize.old
            if resize.return_state == "active":
                server.launched_at = finished
        # "verify": NHN confirms the resize itself
        server.vm_state = resize.return_state
        server.resize = None

    def confirm_resize(self, server: Server, now: float) -> None:
        """``confirmResize`` of a server waiting in VERIFY_RESIZE: done at once."""
        assert server.resize is not None
        server.vm_state = server.resize.return_state
        server.resize = None
        server.pending = None
        server.updated = now

    def find_flavor(self, ref: str) -> Flavor | None:
        if ref in self.flavors:
            return self.flavors[ref]
        # Nova accepts a flavor link too; take its last segment.
        return self.flavors.get(ref.rstrip("/").rsplit("/", 1)[-1])

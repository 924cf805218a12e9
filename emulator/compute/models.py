"""Compute's state: flavors and availability zones of a region, each tenant's key pairs and
servers, and the server state machine.

Server state changes take ``build_delay`` seconds and are computed from the clock when a
server is read (BUILD → ACTIVE, stop/start, reboot, deleting → gone); nothing sleeps. A
server's ports live in the network's state; deleting a server frees them through the
region's state.
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
    def local_disk(self) -> bool:
        return self.name.startswith("u2.")


def seed_flavors() -> dict[str, Flavor]:
    flavors: list[Flavor] = []
    for family, (kind, sizes) in _FLAVOR_FAMILIES.items():
        for vcpus, gib in sizes:
            name = f"{family}.c{vcpus}m{gib}"
            flavors.append(Flavor(seed_uuid("flavor", name), name, vcpus, gib * 1024, 0, kind))
    for vcpus, gib, disk in _U2_FLAVORS:
        name = f"u2.c{vcpus}m{gib}"
        flavors.append(Flavor(seed_uuid("flavor", name), name, vcpus, gib * 1024, disk, "local"))
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


# What each pending operation looks like while under way, and the vm_state it ends in.
_TASK_STATES = {
    "build": "spawning",
    "stop": "powering-off",
    "start": "powering-on",
    "reboot": "rebooting",
    "hard_reboot": "rebooting_hard",
    "delete": "deleting",
}
_FINAL_VM_STATE = {
    "build": "active",
    "stop": "stopped",
    "start": "active",
    "reboot": "active",
    "hard_reboot": "active",
}
# a well-formed but fixed (and useless) RSA public key blob, so its fingerprint is stable
DEMO_PUBLIC_KEY = "ssh-rsa {} demo@nhn-emulator".format(
    base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + hashlib.sha256(b"demo").digest() * 8).decode()
)
_VM_STATUS = {"active": "ACTIVE", "stopped": "SHUTOFF", "building": "BUILD", "error": "ERROR"}
_POWER = {"active": 1, "stopped": 4, "building": 0, "error": 0}


def state_fields(server: Server) -> tuple[str, str, str | None, int]:
    """(status, vm_state, task_state, power_state) of a server as Nova reports them."""
    vm_state = server.vm_state
    task = _TASK_STATES[server.pending[0]] if server.pending else None
    status = _VM_STATUS.get(vm_state, "UNKNOWN")
    if task == "rebooting":
        status = "REBOOT"
    elif task == "rebooting_hard":
        status = "HARD_REBOOT"
    return status, vm_state, task, _POWER.get(vm_state, 0)


def fingerprint(public_key: str) -> str:
    """Nova's fingerprint: colon-separated MD5 of the key blob."""
    parts = public_key.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint") from None
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def _fake_pem(kind: str, size: int) -> str:
    body = base64.b64encode(secrets.token_bytes(size)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"


def generate_keypair() -> tuple[str, str]:
    """A fake RSA key pair (public key in OpenSSH format, private key PEM)."""
    blob = b"\x00\x00\x00\x07ssh-rsa" + secrets.token_bytes(270)
    public_key = f"ssh-rsa {base64.b64encode(blob).decode()} Generated-by-Nova"
    return public_key, _fake_pem("RSA PRIVATE KEY", 1190)


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
            if server.pending is None:
                continue
            operation, started = server.pending
            if now < started + self.delay:
                continue
            finished = started + self.delay
            if operation == "delete":
                for nic in server.nics:
                    region.network.delete_port(tenant_id, nic.port_id)
                del data.servers[server.id]
                continue
            server.vm_state = _FINAL_VM_STATE[operation]
            server.pending = None
            server.updated = finished
            if operation == "build":
                server.launched_at = finished

    def find_flavor(self, ref: str) -> Flavor | None:
        if ref in self.flavors:
            return self.flavors[ref]
        # Nova accepts a flavor link too; take its last segment.
        return self.flavors.get(ref.rstrip("/").rsplit("/", 1)[-1])

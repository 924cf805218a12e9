"""Settings of the emulator: regions, delays and the users/tenants it accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEMO_USERNAME = "demo@example.com"
DEMO_PASSWORD = "demo-password"
# Fixed ids so a demo front end (and the docs) can name them without asking the emulator.
DEMO_TENANT_ID = "0d5a6a2c1f3e4b7d9c8e7f6a5b4c3d21"
DEMO_STORAGE_TENANT_ID = "7e1f0c3b9a8d4e2f8b6c5d4e3f2a1b09"
# Every tenant starts with this key pair in every region (like NHN's "Default Network").
DEMO_KEYPAIR = "demo-keypair"


@dataclass(frozen=True)
class DemoUser:
    """One API user: an e-mail login, its API password and its two tenants.

    NHN gives Object Storage its own tenant id, so every user carries both: ``tenant_id``
    for compute/network/image/NKS and ``storage_tenant_id`` for the ``AUTH_...`` account.
    """

    username: str = DEMO_USERNAME
    password: str = DEMO_PASSWORD
    tenant_id: str = DEMO_TENANT_ID
    storage_tenant_id: str = DEMO_STORAGE_TENANT_ID


@dataclass(frozen=True)
class EmulatorOptions:
    """What the emulator serves and how fast its resources settle (delays in seconds)."""

    regions: tuple[str, ...] = ("kr1", "kr2", "kr3", "jp1")
    token_lifetime: float = 12 * 3600
    # How long a server stays in BUILD; also used for reboot, stop/start and deletion.
    build_delay: float = 3.0
    # How long NKS clusters stay CREATE_IN_PROGRESS / DELETE_IN_PROGRESS.
    cluster_delay: float = 10.0
    # How long a volume stays creating / attaching / detaching / deleting; None: build_delay.
    volume_delay: float | None = None
    nks_regions: tuple[str, ...] = ("kr1", "kr2", "kr3")
    users: tuple[DemoUser, ...] = (DemoUser(),)

    def __post_init__(self) -> None:
        # Fail at start-up, never at request time, on settings that cannot work.
        if not self.regions:
            raise ValueError("EmulatorOptions.regions must name at least one region")
        for region in (*self.regions, *self.nks_regions):
            if not region or region != region.lower() or "/" in region:
                raise ValueError(f"EmulatorOptions: invalid region code {region!r}")
        delays = (self.build_delay, self.cluster_delay, self.volume_delay or 0.0)
        if min(self.token_lifetime, *delays) < 0:
            raise ValueError("EmulatorOptions: delays and token_lifetime must be >= 0")
        tenants = [t for u in self.users for t in (u.tenant_id, u.storage_tenant_id)]
        if len(tenants) != len(set(tenants)):
            raise ValueError("EmulatorOptions.users: every tenant id must be unique")


def options_from_settings(values: Mapping[str, Any]) -> EmulatorOptions:
    """The options that mirror the proxy's settings (their merged TOML tables): the same
    regions, NKS where the kubernetes plugin says it runs, the configured delays."""
    emulator = values.get("emulator", {})
    kubernetes = values.get("kubernetes", {})
    defaults = EmulatorOptions()
    return EmulatorOptions(
        regions=tuple(values["regions"]["allowed"]),
        nks_regions=tuple(kubernetes.get("regions", defaults.nks_regions)),
        build_delay=emulator.get("build_delay", defaults.build_delay),
        cluster_delay=emulator.get("cluster_delay", defaults.cluster_delay),
        token_lifetime=emulator.get("token_lifetime", defaults.token_lifetime),
    )

"""The emulator's whole in-memory state: tokens plus one set of service models per region.

``RegionState`` is how services reach each other: a handler gets it as ``ctx.regional``
(compute finds subnets, ports and security groups in ``.network`` and images in
``.image``), and ``settle`` hands it to the services whose transitions free another
service's resources (a deleted server's ports, a deleted cluster's node addresses, a deleted
server's volumes).
"""

from __future__ import annotations

from nhn_proxy.emulator.base import Clock
from nhn_proxy.emulator.block_storage.models import BlockStorageState
from nhn_proxy.emulator.compute.models import ComputeState
from nhn_proxy.emulator.identity.models import IdentityState
from nhn_proxy.emulator.image.models import ImageState
from nhn_proxy.emulator.kubernetes.models import KubernetesState
from nhn_proxy.emulator.network.models import NetworkState
from nhn_proxy.emulator.object_storage.models import ObjectStorageState
from nhn_proxy.emulator.options import EmulatorOptions


class RegionState:
    """Everything of one region; services look at each other's models through it."""

    def __init__(self, region: str, options: EmulatorOptions, now: float) -> None:
        self.region = region
        self.network = NetworkState(region, now)
        self.image = ImageState(region)
        self.compute = ComputeState(region, options.build_delay)
        self.kubernetes = (
            KubernetesState(region, options.cluster_delay)
            if region in options.nks_regions
            else None
        )
        self.object_storage = ObjectStorageState()
        volume_delay = options.volume_delay
        self.block_storage = BlockStorageState(
            region, options.build_delay if volume_delay is None else volume_delay
        )

    def settle(self, tenant_id: str, now: float) -> None:
        """Apply finished transitions before a request reads or changes anything."""
        self.compute.settle(tenant_id, now, self)
        # after compute: a volume whose server is gone by now is detached in the same pass
        self.block_storage.settle(tenant_id, now, self)
        if self.kubernetes is not None:
            self.kubernetes.settle(tenant_id, now, self)


class EmulatorState:
    def __init__(self, options: EmulatorOptions, clock: Clock) -> None:
        self.options = options
        self.clock = clock
        self.reset()

    def reset(self, keep_tokens: bool = False) -> None:
        tokens = self.identity.tokens if keep_tokens else {}
        self.identity = IdentityState(self.options)
        self.identity.tokens = tokens
        self._regions: dict[str, RegionState] = {}

    def region(self, region: str) -> RegionState:
        # Built on first use so a reset is cheap and unused regions cost nothing.
        found = self._regions.get(region)
        if found is None:
            found = self._regions[region] = RegionState(region, self.options, self.clock.now())
        return found

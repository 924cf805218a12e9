"""Kubernetes' (NKS) state: the clusters of one region and the versions NKS supports.

A cluster stays CREATE_IN_PROGRESS (and later DELETE_IN_PROGRESS) for ``cluster_delay``
seconds, computed from the clock when read. Its nodes take addresses from a subnet of the
network's state, reached (and given back) through the region's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

from nhn_proxy.emulator.base import seed_uuid

if TYPE_CHECKING:
    from nhn_proxy.emulator.state import RegionState

SUPPORTED_K8S = {
    "v1.28.3": False,
    "v1.29.3": True,
    "v1.30.3": True,
    "v1.31.4": True,
    "v1.32.3": True,
}
SUPPORTED_EVENTS = {
    "CLUSTER_CREATE": "Create a cluster",
    "CLUSTER_DELETE": "Delete a cluster",
    "CLUSTER_RESIZE": "Resize a cluster",
    "NODEGROUP_CREATE": "Create a node group",
    "NODEGROUP_DELETE": "Delete a node group",
    "NODEGROUP_UPGRADE": "Node group upgrade",
}


@dataclass
class Cluster:
    uuid: str
    name: str
    tenant_id: str
    user_id: str
    flavor_id: str
    keypair: str
    node_count: int
    fixed_network: str
    fixed_subnet: str
    labels: dict[str, Any]
    addons: list[Any]
    create_timeout: int
    created: float
    stack_id: str
    nodegroup_uuid: str
    nodegroup_id: int
    node_ips: list[str]
    ca_data: str
    client_cert: str
    client_key: str
    # "create" or "delete", and when that phase started.
    phase: str = "create"
    phase_started: float = 0.0


@dataclass
class TenantClusters:
    clusters: dict[str, Cluster] = field(default_factory=dict)


class KubernetesState:
    """NKS clusters of one region (only regions listed in ``nks_regions`` have one)."""

    def __init__(self, region: str, delay: float) -> None:
        self.region = region
        self.delay = delay
        self.tenants: dict[str, TenantClusters] = {}
        self._nodegroup_ids = count(1)
        self.template_id = seed_uuid(region, "cluster-template", "iaas_console")

    def tenant(self, tenant_id: str) -> TenantClusters:
        return self.tenants.setdefault(tenant_id, TenantClusters())

    def next_nodegroup_id(self) -> int:
        return next(self._nodegroup_ids)

    def settle(self, tenant_id: str, now: float, region: RegionState) -> None:
        """Drop clusters whose deletion finished and give their nodes' addresses back to the
        region's network."""
        data = self.tenants.get(tenant_id)
        if data is None:
            return
        for cluster in list(data.clusters.values()):
            if cluster.phase == "delete" and now >= cluster.phase_started + self.delay:
                subnet = region.network.find_subnet(tenant_id, cluster.fixed_subnet)
                if subnet is not None:
                    for address in cluster.node_ips:
                        subnet.release(address)
                del data.clusters[cluster.uuid]

    def status(self, cluster: Cluster, now: float) -> str:
        done = now >= cluster.phase_started + self.delay
        if cluster.phase == "create":
            return "CREATE_COMPLETE" if done else "CREATE_IN_PROGRESS"
        return "DELETE_IN_PROGRESS"

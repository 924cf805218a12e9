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
# NKS's add-on catalog (NKS user guide, "Add-on management": add-on types and the versions
# each add-on supports; API guide, "View a List of Add-ons": calico and coredns with their
# option schemas and k8s_min_version v1.26.0). The types cni and kube-dns are mandatory: a
# cluster needs one add-on of each. Later calico builds (v3.28.2-nks3, v3.30.2-nks3,
# v3.31.4-nks1) need platform version 1.202605.0 or later, newer than the emulated
# 1.202511.0, so they are not offered here.
ADDON_MIN_K8S = "v1.26.0"
ADDON_TYPES: dict[str, bool] = {  # type name -> mandatory
    "cni": True,
    "kube-dns": True,
    "cinder-csi-plugin": False,
    "metrics-server": False,
    "snapshot-controller": False,
    "nfs-csi-plugin": False,
}


@dataclass(frozen=True)
class AddonOption:
    """One entry of an add-on's ``option_schemas`` (data_type STRING, INTEGER or SELECT)."""

    name: str
    data_type: str
    default: str | None
    updatable: bool
    mandatory: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Addon:
    name: str
    type: str
    versions: tuple[str, ...]
    description: str
    options: tuple[AddonOption, ...] = ()


_CALICO_MODE = AddonOption("mode", "SELECT", "vxlan", False, False, ("vxlan", "ebpf"))
ADDONS: dict[str, Addon] = {
    addon.name: addon
    for addon in (
        Addon(
            "calico",
            "cni",
            ("v3.28.2-nks1", "v3.28.2-nks2", "v3.30.2-nks1", "v3.30.2-nks2"),
            "Calico is a CNI plugin for Kubernetes that provides networking and network security.",
            (_CALICO_MODE,),
        ),
        Addon(
            "coredns",
            "kube-dns",
            ("1.8.4-nks1", "1.8.4-nks2"),
            "CoreDNS is the default DNS server for Kubernetes clusters.",
        ),
        Addon(
            "cinder-csi-plugin",
            "cinder-csi-plugin",
            (
                "v1.27.101-nks1",
                "v1.27.101-nks2",
                "v1.27.102-nks1",
                "v1.27.102-nks2",
                "v1.27.102-nks3",
            ),
            "Cinder CSI Plugin is a CSI driver that provisions and manages NHN Cloud block "
            "storage.",
        ),
        Addon(
            "metrics-server",
            "metrics-server",
            ("v0.4.4-nks1", "v0.4.4-nks2"),
            "Metrics Server collects resource usage metrics from nodes and pods for "
            "autoscaling and monitoring.",
        ),
        Addon(
            "snapshot-controller",
            "snapshot-controller",
            ("v4.1.1-nks1", "v4.1.1-nks2"),
            "Snapshot Controller manages the life cycle of volume snapshots.",
        ),
        Addon(
            "nfs-csi-plugin",
            "nfs-csi-plugin",
            ("v1.0.1-nks1", "v1.0.1-nks2"),
            "NFS CSI Plugin is a CSI driver that provisions and manages NHN Cloud NFS.",
        ),
    )
}
# What a cluster created without ``addons`` gets: NHN's documented create example (calico in
# its default vxlan mode and CoreDNS); the API guide marks ``addons`` optional.
DEFAULT_ADDONS: tuple[dict[str, Any], ...] = (
    {"name": "calico", "version": "v3.28.2-nks1", "options": {"mode": "vxlan"}},
    {"name": "coredns", "version": "1.8.4-nks1", "options": {}},
)


def addon_uuid(name: str, version: str) -> str:
    return seed_uuid("nks-addon", name, version)


def addon_type_uuid(type_name: str) -> str:
    return seed_uuid("nks-addon-type", type_name)


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

"""Kubernetes' (NKS) state: the clusters of one region, their node groups and the versions
NKS supports.

Every transition lasts ``cluster_delay`` seconds, computed from the clock when read: a
cluster is CREATE_IN_PROGRESS, then CREATE_COMPLETE; a resize puts it (and the resized node
group) in UPDATE_IN_PROGRESS, then UPDATE_COMPLETE; a deleted cluster is DELETE_IN_PROGRESS,
then gone. A node group added to a cluster is CREATE_IN_PROGRESS, then CREATE_COMPLETE; a
deleted one DELETE_IN_PROGRESS, then gone. Nodes take addresses from the cluster's subnet in
the network's state, reached (and given back) through the region's state.
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


# NHN's default quota: at most 10 nodes per worker node group (NKS user guide)
NODE_QUOTA = 10
DEFAULT_WORKER = "default-worker"


@dataclass
class NodeGroup:
    """One worker node group; ``phase`` is "create", "update" (a resize) or "delete", and
    ``phase_started`` when that phase began."""

    uuid: str
    id: int
    name: str
    flavor_id: str
    image_id: str
    node_count: int
    labels: dict[str, Any]
    node_ips: list[str]
    created: float
    stack_id: str
    # the group made with the cluster (NHN's `default-worker`), which cannot be deleted
    default: bool = False
    min_node_count: int = 1
    # NHN's create answer shows null for a new group; the default group shows 10
    max_node_count: int | None = None
    phase: str = "create"
    phase_started: float = 0.0


@dataclass
class Cluster:
    uuid: str
    name: str
    tenant_id: str
    user_id: str
    flavor_id: str
    keypair: str
    fixed_network: str
    fixed_subnet: str
    labels: dict[str, Any]
    addons: list[Any]
    create_timeout: int
    created: float
    stack_id: str
    ca_data: str
    client_cert: str
    client_key: str
    # by uuid, in creation order (the default worker group first)
    nodegroups: dict[str, NodeGroup] = field(default_factory=dict)
    # "create", "update" (a resize) or "delete", and when that phase started.
    phase: str = "create"
    phase_started: float = 0.0

    @property
    def node_count(self) -> int:
        """Worker nodes of all node groups, as NKS counts them."""
        return sum(group.node_count for group in self.nodegroups.values())

    @property
    def node_ips(self) -> list[str]:
        return [address for group in self.nodegroups.values() for address in group.node_ips]

    def find_nodegroup(self, wanted: str) -> NodeGroup | None:
        """A node group by uuid or name (names are unique within a cluster)."""
        if wanted in self.nodegroups:
            return self.nodegroups[wanted]
        return next((g for g in self.nodegroups.values() if g.name == wanted), None)


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

    def done(self, phase_started: float, now: float) -> bool:
        return now >= phase_started + self.delay

    def settle(self, tenant_id: str, now: float, region: RegionState) -> None:
        """Drop clusters and node groups whose deletion finished and give their nodes'
        addresses back to the region's network."""
        data = self.tenants.get(tenant_id)
        if data is None:
            return
        for cluster in list(data.clusters.values()):
            subnet = region.network.find_subnet(tenant_id, cluster.fixed_subnet)
            if cluster.phase == "delete" and self.done(cluster.phase_started, now):
                if subnet is not None:
                    for address in cluster.node_ips:
                        subnet.release(address)
                del data.clusters[cluster.uuid]
                continue
            for group in list(cluster.nodegroups.values()):
                if group.phase == "delete" and self.done(group.phase_started, now):
                    if subnet is not None:
                        for address in group.node_ips:
                            subnet.release(address)
                    del cluster.nodegroups[group.uuid]

    def status(self, cluster: Cluster, now: float) -> str:
        done = self.done(cluster.phase_started, now)
        if cluster.phase == "create":
            return "CREATE_COMPLETE" if done else "CREATE_IN_PROGRESS"
        if cluster.phase == "update":
            return "UPDATE_COMPLETE" if done else "UPDATE_IN_PROGRESS"
        return "DELETE_IN_PROGRESS"

    def ready(self, cluster: Cluster, now: float) -> bool:
        """Whether the cluster has been created (and is not being deleted): it has its API
        address, kubeconfig and nodes."""
        return self.status(cluster, now) in (
            "CREATE_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE",
        )

    def nodegroup_status(self, cluster: Cluster, group: NodeGroup, now: float) -> str:
        if cluster.phase == "delete":
            return "DELETE_IN_PROGRESS"
        if group.phase == "delete":
            return "DELETE_IN_PROGRESS"
        done = self.done(group.phase_started, now)
        if group.phase == "update":
            return "UPDATE_COMPLETE" if done else "UPDATE_IN_PROGRESS"
        return "CREATE_COMPLETE" if done else "CREATE_IN_PROGRESS"

"""Network's state: NHN's VPCs, VPC subnets and routing tables plus the Neutron resources
NHN exposes (ports, floating IPs, security groups and rules).

A VPC *is* a Neutron network and a VPC subnet *is* a Neutron subnet (same ids), so both
views are rendered from one model. Every tenant of a region is seeded lazily as NHN's first use of
Compute and Network does (VPC console guide): a "Default Network" VPC (192.168.0.0/16), a
"default" subnet (192.168.0.0/24), the VPC's routing table ``vpc-{id}`` with an internet
gateway ``ig-{id}`` attached, and a "default" security group; the shared external
``public_network`` (owned by an NHN tenant) is visible to everyone. A VPC created later
gets its routing table but no internet gateway ("it must be created and connected"); the
emulator does not emulate internet gateways beyond the seeded one, so such a VPC stays
private (its subnets cannot take floating IPs, NKS sees no gateway). Compute and NKS reach
these resources through the region's state (``RegionState.network``).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from nhn_proxy.emulator.base import new_uuid, seed_uuid
from nhn_proxy.emulator.errors import ApiError

# Owner of the shared public network, as in NHN's examples.
PUBLIC_TENANT_ID = "e873d250f2ca40b78e2c12cfbaaeb740"
# Seed creation time of shared resources (2020-02-27 03:16:05 UTC, NHN's example).
_PUBLIC_CREATED = 1582773365.0
# Public address ranges of each region's external network (made up, stable per region).
_EXTERNAL_CIDRS = {
    "kr1": ("133.186.240.0/24", "133.186.241.0/24"),
    "kr2": ("125.6.36.0/24", "125.6.37.0/24"),
    "kr3": ("180.210.80.0/24", "180.210.81.0/24"),
    "jp1": ("160.251.10.0/24", "160.251.11.0/24"),
}
_OTHER_EXTERNAL_CIDRS = ("198.51.100.0/24", "203.0.113.0/24")
# Addresses below network+4 are the network address, the gateway and NHN's reserved pair;
# this keeps available_ip_count at 251 for a /24 as in NHN's examples.
_FIRST_HOST_OFFSET = 4
_RESERVED_PER_SUBNET = 5
# NHN allows at most 10 subnets in one VPC.
MAX_SUBNETS_PER_VPC = 10


def mac_address() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


@dataclass
class Vpc:
    id: str
    name: str
    tenant_id: str
    cidr: str
    created: float
    routingtable_id: str
    external: bool = False


@dataclass
class Subnet:
    id: str
    name: str
    vpc_id: str
    tenant_id: str
    cidr: str
    created: float
    external: bool = False
    used: set[str] = field(default_factory=set)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def available(self) -> int:
        return max(self.network.num_addresses - _RESERVED_PER_SUBNET - len(self.used), 0)

    def allocate(self, wanted: str | None = None) -> str:
        """Take a free address (``wanted`` if given); a full subnet is a 409 as in Neutron."""
        network = self.network
        if wanted is not None:
            try:
                address = ipaddress.IPv4Address(wanted)
            except ValueError:
                raise ApiError(
                    400, f"Invalid input: '{wanted}' is not a valid IP address."
                ) from None
            first = network.network_address + _FIRST_HOST_OFFSET
            if address not in network or address < first or address >= network.broadcast_address:
                raise ApiError(
                    400,
                    f"IP address {wanted} is not a valid IP for the specified subnet.",
                    kind="InvalidIpForSubnet",
                )
            if wanted in self.used:
                raise ApiError(
                    409,
                    f"IP address {wanted} already allocated in subnet {self.id}",
                    kind="IpAddressAlreadyAllocated",
                )
            self.used.add(wanted)
            return wanted
        host = int(network.network_address) + _FIRST_HOST_OFFSET
        while host < int(network.broadcast_address):
            candidate = str(ipaddress.IPv4Address(host))
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
            host += 1
        raise ApiError(
            409,
            f"No more IP addresses available on network {self.vpc_id}.",
            kind="IpAddressGenerationFailure",
        )

    def release(self, address: str) -> None:
        self.used.discard(address)


@dataclass
class RoutingTable:
    id: str
    name: str
    vpc_id: str
    tenant_id: str
    created: float
    default: bool = True
    # The internet gateway attached to the table (NHN's ``gateway_id`` / ``gateway_name``).
    gateway_id: str | None = None
    gateway_name: str | None = None


@dataclass
class Port:
    id: str
    network_id: str
    subnet_id: str
    tenant_id: str
    ip: str
    mac: str
    device_id: str
    device_owner: str
    security_group_ids: list[str]
    name: str = ""


@dataclass
class SecurityGroup:
    id: str
    name: str
    description: str
    tenant_id: str


@dataclass
class SecurityRule:
    id: str
    security_group_id: str
    tenant_id: str
    direction: str
    ethertype: str
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    description: str | None = None

    def signature(self) -> tuple[Any, ...]:
        return (
            self.security_group_id,
            self.direction,
            self.ethertype,
            self.protocol,
            self.port_range_min,
            self.port_range_max,
            self.remote_ip_prefix,
            self.remote_group_id,
        )


@dataclass
class FloatingIp:
    id: str
    address: str
    network_id: str
    subnet_id: str
    tenant_id: str
    port_id: str | None = None
    fixed_ip: str | None = None
    router_id: str | None = None
    delete_protection: bool = False
    label: str = ""
    associated_at: float = 0.0


@dataclass
class TenantNetwork:
    """One tenant's resources in one region."""

    vpcs: dict[str, Vpc] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    routingtables: dict[str, RoutingTable] = field(default_factory=dict)
    ports: dict[str, Port] = field(default_factory=dict)
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    rules: dict[str, SecurityRule] = field(default_factory=dict)
    floating_ips: dict[str, FloatingIp] = field(default_factory=dict)


class NetworkState:
    """Network resources of one region."""

    def __init__(self, region: str, clock_now: float) -> None:
        self.region = region
        self.seed_time = clock_now
        self.public = Vpc(
            id=seed_uuid(region, "public_network"),
            name="public_network",
            tenant_id=PUBLIC_TENANT_ID,
            cidr="0.0.0.0/0",
            created=_PUBLIC_CREATED,
            routingtable_id="",
            external=True,
        )
        self.public_subnets: dict[str, Subnet] = {}
        for index, cidr in enumerate(_EXTERNAL_CIDRS.get(region, _OTHER_EXTERNAL_CIDRS), 1):
            subnet = Subnet(
                id=seed_uuid(region, "public_subnet", str(index)),
                name=f"public_subnet_{index}",
                vpc_id=self.public.id,
                tenant_id=PUBLIC_TENANT_ID,
                cidr=cidr,
                created=_PUBLIC_CREATED,
                external=True,
            )
            self.public_subnets[subnet.id] = subnet
        self.tenants: dict[str, TenantNetwork] = {}

    # -- tenants and seed -------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantNetwork:
        found = self.tenants.get(tenant_id)
        if found is None:
            found = self.tenants[tenant_id] = self._seed_tenant(tenant_id)
        return found

    def _seed_tenant(self, tenant_id: str) -> TenantNetwork:
        data = TenantNetwork()
        created = self.seed_time
        vpc = self.new_vpc(
            tenant_id,
            "Default Network",
            "192.168.0.0/16",
            created,
            vpc_id=seed_uuid(self.region, tenant_id, "default-vpc"),
        )
        data.vpcs[vpc.id] = vpc
        table = self.default_table(vpc)
        # NHN's first-use setup attaches an internet gateway named after the table's id.
        table.gateway_id = seed_uuid(self.region, tenant_id, "default-igw")
        table.gateway_name = f"ig-{table.id[:13]}"
        data.routingtables[table.id] = table
        subnet = Subnet(
            id=seed_uuid(self.region, tenant_id, "default-subnet"),
            name="default",
            vpc_id=vpc.id,
            tenant_id=tenant_id,
            cidr="192.168.0.0/24",
            created=created,
        )
        data.subnets[subnet.id] = subnet
        group = SecurityGroup(
            id=seed_uuid(self.region, tenant_id, "default-sg"),
            name="default",
            description="Default security group",
            tenant_id=tenant_id,
        )
        data.security_groups[group.id] = group
        # NHN's documented default group (Security Groups API guide): ingress only from
        # members of the group itself (so nothing from outside: "blocks all incoming
        # traffic"), egress anywhere; IPv4 and IPv6 each, descriptions empty.
        for direction, ethertype in (
            ("ingress", "IPv4"),
            ("ingress", "IPv6"),
            ("egress", "IPv4"),
            ("egress", "IPv6"),
        ):
            rule = SecurityRule(
                id=seed_uuid(self.region, tenant_id, "default-sg", direction, ethertype),
                security_group_id=group.id,
                tenant_id=tenant_id,
                direction=direction,
                ethertype=ethertype,
                remote_group_id=group.id if direction == "ingress" else None,
                description="",
            )
            data.rules[rule.id] = rule
        return data

    @staticmethod
    def new_vpc(
        tenant_id: str, name: str, cidr: str, created: float, vpc_id: str | None = None
    ) -> Vpc:
        vpc_id = vpc_id or new_uuid()
        return Vpc(vpc_id, name, tenant_id, cidr, created, routingtable_id=seed_uuid(vpc_id, "rt"))

    @staticmethod
    def default_table(vpc: Vpc) -> RoutingTable:
        return RoutingTable(
            id=vpc.routingtable_id,
            name=f"vpc-{vpc.id[:13]}",
            vpc_id=vpc.id,
            tenant_id=vpc.tenant_id,
            created=vpc.created,
        )

    # -- lookups used by other services -----------------------------------------------

    def visible_vpcs(self, tenant_id: str) -> list[Vpc]:
        return [self.public, *self.tenant(tenant_id).vpcs.values()]

    def visible_subnets(self, tenant_id: str) -> list[Subnet]:
        return [*self.public_subnets.values(), *self.tenant(tenant_id).subnets.values()]

    def find_vpc(self, tenant_id: str, vpc_id: str) -> Vpc | None:
        if vpc_id == self.public.id:
            return self.public
        return self.tenant(tenant_id).vpcs.get(vpc_id)

    def find_subnet(self, tenant_id: str, subnet_id: str) -> Subnet | None:
        return self.public_subnets.get(subnet_id) or self.tenant(tenant_id).subnets.get(subnet_id)

    def vpc_or_404(self, tenant_id: str, vpc_id: str) -> Vpc:
        vpc = self.find_vpc(tenant_id, vpc_id)
        if vpc is None:
            raise ApiError(404, f"Network {vpc_id} could not be found.", kind="NetworkNotFound")
        return vpc

    def subnet_or_404(self, tenant_id: str, subnet_id: str) -> Subnet:
        subnet = self.find_subnet(tenant_id, subnet_id)
        if subnet is None:
            raise ApiError(404, f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
        return subnet

    def table_of(self, subnet: Subnet) -> RoutingTable | None:
        """The routing table of ``subnet``: its VPC's (default) table; None for the public
        network's subnets."""
        vpc = self.find_vpc(subnet.tenant_id, subnet.vpc_id)
        if vpc is None or vpc.external:
            return None
        return self.tenant(subnet.tenant_id).routingtables.get(vpc.routingtable_id)

    def internet_gateway_of(self, subnet: Subnet) -> str | None:
        """The id of the internet gateway ``subnet`` reaches through its routing table."""
        table = self.table_of(subnet)
        return table.gateway_id if table is not None else None

    def subnets_of(self, vpc: Vpc) -> list[Subnet]:
        if vpc.external:
            return list(self.public_subnets.values())
        return [s for s in self.tenant(vpc.tenant_id).subnets.values() if s.vpc_id == vpc.id]

    def security_group_named(self, tenant_id: str, name_or_id: str) -> SecurityGroup | None:
        groups = self.tenant(tenant_id).security_groups
        if name_or_id in groups:
            return groups[name_or_id]
        return next((g for g in groups.values() if g.name == name_or_id), None)

    def create_port(
        self,
        tenant_id: str,
        subnet: Subnet,
        *,
        device_id: str,
        device_owner: str,
        security_group_ids: list[str],
        fixed_ip: str | None = None,
    ) -> Port:
        port = Port(
            id=new_uuid(),
            network_id=subnet.vpc_id,
            subnet_id=subnet.id,
            tenant_id=tenant_id,
            ip=subnet.allocate(fixed_ip),
            mac=mac_address(),
            device_id=device_id,
            device_owner=device_owner,
            security_group_ids=list(security_group_ids),
        )
        self.tenant(tenant_id).ports[port.id] = port
        return port

    def delete_port(self, tenant_id: str, port_id: str) -> None:
        data = self.tenant(tenant_id)
        port = data.ports.pop(port_id, None)
        if port is None:
            return
        subnet = self.find_subnet(tenant_id, port.subnet_id)
        if subnet is not None:
            subnet.release(port.ip)
        for fip in data.floating_ips.values():
            if fip.port_id == port_id:
                fip.port_id = fip.fixed_ip = fip.router_id = None

    def floating_ips_of_port(self, tenant_id: str, port_id: str) -> list[FloatingIp]:
        return [f for f in self.tenant(tenant_id).floating_ips.values() if f.port_id == port_id]

"""Network's handlers: NHN's VPC API (vpcs, vpcsubnets, routing tables) and the Neutron
subset NHN exposes (networks, subnets, ports, floating IPs, security groups and rules),
with Neutron's list handling (filters, sorting, paging, ``fields``).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from nhn_proxy.emulator.base import (
    Ctx,
    empty_response,
    json_response,
    new_uuid,
    parse_limit,
    query_bool,
    seed_uuid,
    vpc_time,
)
from nhn_proxy.emulator.errors import ApiError
from nhn_proxy.emulator.network.models import (
    MAX_SUBNETS_PER_VPC,
    FloatingIp,
    NetworkState,
    Port,
    RoutingTable,
    SecurityGroup,
    SecurityRule,
    Subnet,
    TenantNetwork,
    Vpc,
)

# VPC CIDRs must lie in a private range and be at least a /24 (NHN's VPC console guide).
_PRIVATE_RANGES = tuple(
    ipaddress.ip_network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_MAX_VPC_PREFIX = 24


# -- views ------------------------------------------------------------------------------


def vpc_view(vpc: Vpc, *, micro: bool = False, external_flag: bool = True) -> dict[str, Any]:
    """A VPC as listed; the create and update answers (``external_flag=False``) carry no
    ``router:external``, as NHN's create example shows."""
    view: dict[str, Any] = {"router:external": vpc.external} if external_flag else {}
    return view | {
        "name": vpc.name,
        "tenant_id": vpc.tenant_id,
        "state": "available",
        "create_time": vpc_time(vpc.created, micro),
        "cidrv4": vpc.cidr,
        "shared": vpc.external,
        "id": vpc.id,
    }


def _table_ref(net: NetworkState, subnet: Subnet) -> dict[str, Any] | None:
    """The subnet's ``routingtable``: its VPC's default table (``explicit: false``, subnets
    are never attached to another one here) with the internet gateway attached to it, if
    any (``gateway_id``: what NKS looks at for the external network labels)."""
    table = net.table_of(subnet)
    if table is None:
        return None
    return {
        "gateway_id": table.gateway_id,
        "default_table": table.default,
        "explicit": False,
        "id": table.id,
        "name": table.name,
    }


def subnet_view(net: NetworkState, subnet: Subnet, *, detail: bool = False) -> dict[str, Any]:
    vpc = net.find_vpc(subnet.tenant_id, subnet.vpc_id) or net.public
    view: dict[str, Any] = {
        "router:external": subnet.external,
        "name": subnet.name,
        "tenant_id": subnet.tenant_id,
        "state": "available",
        "id": subnet.id,
        "routingtable": _table_ref(net, subnet),
        "create_time": vpc_time(subnet.created),
        "available_ip_count": subnet.available,
        "vpc": {
            "shared": vpc.external,
            "state": "available",
            "id": vpc.id,
            "cidrv4": vpc.cidr,
            "name": vpc.name,
        },
        "vpc_id": subnet.vpc_id,
        "routes": [],
        "shared": subnet.external,
        "cidr": subnet.cidr,
        "gateway": subnet.gateway,
    }
    if detail:
        view["enable_dhcp"] = True
        view["hidden"] = False
    return view


def subnet_short_view(subnet: Subnet) -> dict[str, Any]:
    return {
        "name": subnet.name,
        "tenant_id": subnet.tenant_id,
        "id": subnet.id,
        "state": "available",
        "create_time": vpc_time(subnet.created),
        "vpc_id": subnet.vpc_id,
        "shared": subnet.external,
        "cidr": subnet.cidr,
        "gateway": subnet.gateway,
    }


def network_view(net: NetworkState, vpc: Vpc) -> dict[str, Any]:
    return {
        "status": "ACTIVE",
        "subnets": [s.id for s in net.subnets_of(vpc)],
        "name": vpc.name,
        "router:external": vpc.external,
        "tenant_id": vpc.tenant_id,
        "admin_state_up": True,
        "mtu": 0,
        "shared": vpc.external,
        "port_security_enabled": True,
        "id": vpc.id,
    }


def neutron_subnet_view(subnet: Subnet) -> dict[str, Any]:
    network = subnet.network
    return {
        "name": subnet.name,
        "enable_dhcp": True,
        "network_id": subnet.vpc_id,
        "tenant_id": subnet.tenant_id,
        "dns_nameservers": [],
        "gateway_ip": subnet.gateway,
        "ipv6_ra_mode": None,
        "allocation_pools": [
            {
                "start": str(network.network_address + 2),
                "end": str(network.broadcast_address - 1),
            }
        ],
        "host_routes": [],
        "ip_version": 4,
        "ipv6_address_mode": None,
        "cidr": subnet.cidr,
        "id": subnet.id,
        "subnetpool_id": None,
    }


def port_view(port: Port) -> dict[str, Any]:
    return {
        "status": "ACTIVE",
        "name": port.name,
        "allowed_address_pairs": [],
        "admin_state_up": True,
        "network_id": port.network_id,
        "tenant_id": port.tenant_id,
        "extra_dhcp_opts": [],
        "binding:vnic_type": "normal",
        "device_owner": port.device_owner,
        "mac_address": port.mac,
        "port_security_enabled": True,
        "fixed_ips": [{"subnet_id": port.subnet_id, "ip_address": port.ip}],
        "id": port.id,
        "security_groups": list(port.security_group_ids),
        "device_id": port.device_id,
    }


def rule_view(rule: SecurityRule) -> dict[str, Any]:
    return {
        "direction": rule.direction,
        "protocol": rule.protocol,
        "description": rule.description,
        "port_range_max": rule.port_range_max,
        "id": rule.id,
        "remote_group_id": rule.remote_group_id,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "security_group_id": rule.security_group_id,
        "tenant_id": rule.tenant_id,
        "port_range_min": rule.port_range_min,
        "ethertype": rule.ethertype,
    }


def group_view(data: TenantNetwork, group: SecurityGroup) -> dict[str, Any]:
    rules = [rule_view(r) for r in data.rules.values() if r.security_group_id == group.id]
    return {
        "tenant_id": group.tenant_id,
        "description": group.description,
        "id": group.id,
        "security_group_rules": rules,
        "name": group.name,
    }


def floating_view(fip: FloatingIp, now: float, settle: float) -> dict[str, Any]:
    # NHN shows DOWN right after associating; ACTIVE follows asynchronously (after the
    # emulator's build delay, computed at read time).
    attached = fip.port_id is not None and now - fip.associated_at >= settle
    return {
        "floating_network_id": fip.network_id,
        "router_id": fip.router_id,
        "fixed_ip_address": fip.fixed_ip,
        "floating_ip_address": fip.address,
        "tenant_id": fip.tenant_id,
        "status": "ACTIVE" if attached else "DOWN",
        "port_id": fip.port_id,
        "id": fip.id,
        "delete_protection": fip.delete_protection,
        "label": fip.label,
    }


# -- Neutron-style list handling ---------------------------------------------------------

_LIST_CONTROLS = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "detail"}


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return any(query_bool(w) is value for w in wanted)
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(value, list | dict):
        return False
    return str(value) in wanted


def neutron_list(ctx: Ctx, collection: str, items: list[dict[str, Any]]) -> web.Response:
    """Filter (any field), sort, page (``<collection>_links``) and project like Neutron."""
    query = ctx.query
    for key in set(query.keys()) - _LIST_CONTROLS:
        wanted = query.getall(key)
        items = [item for item in items if key not in item or _matches(item[key], wanted)]
    sort_key = query.get("sort_key")
    if sort_key:
        descending = query.get("sort_dir", "asc").lower() == "desc"
        items = sorted(items, key=lambda item: str(item.get(sort_key, "")), reverse=descending)
    marker = query.get("marker")
    if marker:
        ids = [item.get("id") for item in items]
        if marker not in ids:
            raise ApiError(404, f"Marker {marker} could not be found.", kind="NotFound")
        items = items[ids.index(marker) + 1 :]
    limit = parse_limit(query.get("limit"), default=None, maximum=10_000)
    body: dict[str, Any] = {}
    if limit is not None and limit > 0 and len(items) > limit:
        items = items[:limit]
        params = [(k, v) for k, v in query.items() if k != "marker"]
        params.append(("marker", items[-1]["id"]))
        href = ctx.url(ctx.request.path.split(f"/{ctx.region}/network", 1)[-1])
        body[f"{collection}_links"] = [{"href": f"{href}?{urlencode(params)}", "rel": "next"}]
    fields = query.getall("fields", [])
    if fields:
        items = [{k: v for k, v in item.items() if k in fields} for item in items]
    body[collection] = items
    return json_response(body)


def _fields(ctx: Ctx, view: dict[str, Any]) -> dict[str, Any]:
    fields = ctx.query.getall("fields", [])
    return {k: v for k, v in view.items() if k in fields} if fields else view


def _net(ctx: Ctx) -> NetworkState:
    return ctx.regional.network


def _string(body: dict[str, Any], key: str, *, required: bool, resource: str) -> str | None:
    if key not in body or body[key] is None:
        if required:
            raise ApiError(
                400,
                f"Invalid input for {key}. Reason: '{key}' is required for {resource}.",
                kind="HTTPBadRequest",
            )
        return None
    value = body[key]
    if not isinstance(value, str):
        raise ApiError(
            400,
            f"Invalid input for {key}. Reason: '{value}' is not a valid string.",
            kind="HTTPBadRequest",
        )
    if len(value) > 255:
        raise ApiError(
            400,
            f"Invalid input for {key}. Reason: '{value[:32]}...' exceeds maximum length of 255.",
            kind="HTTPBadRequest",
        )
    return value


def _cidr(value: str, key: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise ApiError(
            400,
            f"Invalid input for {key}. Reason: '{value}' is not a valid IP subnet.",
            kind="HTTPBadRequest",
        ) from None
    return network


# -- VPCs ---------------------------------------------------------------------------------


async def list_vpcs(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    return neutron_list(ctx, "vpcs", [vpc_view(v) for v in net.visible_vpcs(ctx.tenant_id)])


def vpc_detail(net: NetworkState, vpc: Vpc) -> dict[str, Any]:
    view = vpc_view(vpc)
    tables = []
    if not vpc.external:
        tables = [{"default_table": True, "id": vpc.routingtable_id, "name": f"vpc-{vpc.id[:13]}"}]
    view["routingtables"] = tables
    view["subnets"] = [subnet_view(net, s, detail=True) for s in net.subnets_of(vpc)]
    return view


async def get_vpc(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    vpc = net.vpc_or_404(ctx.tenant_id, ctx.match["vpc_id"])
    return json_response({"vpc": _fields(ctx, vpc_detail(net, vpc))})


def _validate_vpc_cidr(value: str) -> str:
    """NHN's VPC console guide: a VPC lies in one of RFC 1918's private ranges (so never in
    link-local 169.254.0.0/16) and is at least a /24 ("10.0.0.0/28: range is too small");
    the wording and status of NHN's refusal are unconfirmed (Neutron's InvalidInput 400)."""
    network = _cidr(value, "cidrv4")
    if not any(network.subnet_of(private) for private in _PRIVATE_RANGES):
        raise ApiError(
            400,
            f"Invalid input for operation: VPC CIDR {value} must be within "
            "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.",
            kind="InvalidInput",
        )
    if network.prefixlen > _MAX_VPC_PREFIX:
        raise ApiError(
            400,
            f"Invalid input for operation: VPC CIDR {value} is too small; a VPC must be "
            f"/{_MAX_VPC_PREFIX} or larger.",
            kind="InvalidInput",
        )
    return str(network)


async def create_vpc(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("vpc")
    name = _string(body, "name", required=True, resource="vpc")
    cidr = _validate_vpc_cidr(_string(body, "cidrv4", required=True, resource="vpc") or "")
    net = _net(ctx)
    data = net.tenant(ctx.tenant_id)
    vpc = net.new_vpc(ctx.tenant_id, name or "", cidr, ctx.now)
    data.vpcs[vpc.id] = vpc
    table = net.default_table(vpc)
    data.routingtables[table.id] = table
    # Right after creation NHN prints create_time with microseconds.
    return json_response({"vpc": vpc_view(vpc, micro=True, external_flag=False)}, status=201)


def _own_vpc(ctx: Ctx) -> Vpc:
    net = _net(ctx)
    vpc = net.vpc_or_404(ctx.tenant_id, ctx.match["vpc_id"])
    if vpc.external:
        raise ApiError(403, f"Not authorized to modify network {vpc.id}.", kind="HTTPForbidden")
    return vpc


async def update_vpc(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("vpc")
    vpc = _own_vpc(ctx)
    name = _string(body, "name", required=False, resource="vpc")
    cidr_text = _string(body, "cidrv4", required=False, resource="vpc")
    if cidr_text is not None:
        cidr = ipaddress.IPv4Network(_validate_vpc_cidr(cidr_text))
        for subnet in _net(ctx).subnets_of(vpc):
            if not subnet.network.subnet_of(cidr):
                raise ApiError(
                    409,
                    f"VPC CIDR {cidr_text} does not contain subnet {subnet.id} ({subnet.cidr}).",
                    kind="InvalidInput",
                )
        vpc.cidr = str(cidr)
    if name is not None:
        vpc.name = name
    # network.md: the update answers the create's fields (no router:external).
    return json_response({"vpc": vpc_view(vpc, external_flag=False)})


async def delete_vpc(ctx: Ctx) -> web.StreamResponse:
    vpc = _own_vpc(ctx)
    net = _net(ctx)
    if net.subnets_of(vpc):
        # Neutron answers NetworkInUse for a network with ports; what NHN answers for a VPC
        # that still has subnets is unconfirmed.
        raise ApiError(
            409,
            f"Unable to complete operation on network {vpc.id}. There are one or "
            "more subnets still in use on the network.",
            kind="NetworkInUse",
        )
    data = net.tenant(ctx.tenant_id)
    del data.vpcs[vpc.id]
    data.routingtables.pop(vpc.routingtable_id, None)
    return empty_response(204)


# -- VPC subnets ------------------------------------------------------------------------


async def list_vpcsubnets(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    views = [subnet_view(net, s) for s in net.visible_subnets(ctx.tenant_id)]
    return neutron_list(ctx, "vpcsubnets", views)


async def get_vpcsubnet(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    subnet = net.subnet_or_404(ctx.tenant_id, ctx.match["subnet_id"])
    return json_response({"vpcsubnet": _fields(ctx, subnet_view(net, subnet, detail=True))})


async def create_vpcsubnet(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("vpcsubnet")
    vpc_id = _string(body, "vpc_id", required=True, resource="vpcsubnet") or ""
    cidr_text = _string(body, "cidr", required=True, resource="vpcsubnet") or ""
    name = _string(body, "name", required=True, resource="vpcsubnet") or ""
    net = _net(ctx)
    vpc = net.find_vpc(ctx.tenant_id, vpc_id)
    if vpc is None or vpc.external:
        raise ApiError(404, f"Network {vpc_id} could not be found.", kind="NetworkNotFound")
    cidr = _cidr(cidr_text, "cidr")
    if not cidr.subnet_of(ipaddress.IPv4Network(vpc.cidr)):
        raise ApiError(
            400,
            f"Invalid input for operation: Subnet CIDR {cidr} is not within the "
            f"VPC CIDR {vpc.cidr}.",
            kind="InvalidInput",
        )
    if cidr.prefixlen > 28:
        raise ApiError(
            400,
            f"Invalid input for operation: Subnet CIDR {cidr} is smaller than /28.",
            kind="InvalidInput",
        )
    siblings = net.subnets_of(vpc)
    if len(siblings) >= MAX_SUBNETS_PER_VPC:
        # NHN's limit of 10 subnets per VPC; its refusal is unconfirmed: Neutron's quota
        # error (OverQuota, 409).
        raise ApiError(
            409,
            f"Quota exceeded for resources: ['subnet']. VPC {vpc.id} already has "
            f"{len(siblings)} subnets; NHN allows at most {MAX_SUBNETS_PER_VPC} per VPC.",
            kind="OverQuota",
        )
    for sibling in siblings:
        if sibling.network.overlaps(cidr):
            raise ApiError(
                400,
                f"Invalid input for operation: Requested subnet with cidr: {cidr} "
                f"for network: {vpc.id} overlaps with another subnet.",
                kind="InvalidInput",
            )
    subnet = Subnet(new_uuid(), name, vpc.id, ctx.tenant_id, str(cidr), ctx.now)
    net.tenant(ctx.tenant_id).subnets[subnet.id] = subnet
    return json_response({"vpcsubnet": subnet_short_view(subnet)}, status=201)


def _own_subnet(ctx: Ctx) -> Subnet:
    subnet = _net(ctx).subnet_or_404(ctx.tenant_id, ctx.match["subnet_id"])
    if subnet.external:
        raise ApiError(403, f"Not authorized to modify subnet {subnet.id}.", kind="HTTPForbidden")
    return subnet


async def update_vpcsubnet(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("vpcsubnet")
    subnet = _own_subnet(ctx)
    name = _string(body, "name", required=False, resource="vpcsubnet")
    if name is not None:
        subnet.name = name
    return json_response({"vpcsubnet": subnet_short_view(subnet)})


async def delete_vpcsubnet(ctx: Ctx) -> web.StreamResponse:
    subnet = _own_subnet(ctx)
    if subnet.used:
        raise ApiError(
            409,
            f"Unable to complete operation on subnet {subnet.id}: One or more "
            "ports have an IP allocation from this subnet.",
            kind="SubnetInUse",
        )
    del _net(ctx).tenant(ctx.tenant_id).subnets[subnet.id]
    return empty_response(204)


# -- routing tables (read-only) ---------------------------------------------------------


def _table_view(
    net: NetworkState, table: RoutingTable, *, detail: bool, ids_only: bool
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": table.id,
        "name": table.name,
        "default_table": table.default,
        "distributed": True,
        "gateway_id": table.gateway_id,
        "gateway_name": table.gateway_name,
        "tenant_id": table.tenant_id,
        "state": "available",
        "create_time": vpc_time(table.created),
    }
    vpc = net.find_vpc(table.tenant_id, table.vpc_id)
    subnets = net.subnets_of(vpc) if vpc is not None else []
    if ids_only:
        view["vpcs"] = [table.vpc_id]
        view["subnets"] = [s.id for s in subnets]
        view["routes"] = [
            {
                "id": seed_uuid(table.id, "local"),
                "cidr": vpc.cidr if vpc else "",
                "mask": ipaddress.IPv4Network(vpc.cidr).prefixlen if vpc else 0,
                "gateway": "local",
                "routingtable_id": table.id,
                "tenant_id": table.tenant_id,
            }
        ]
        if table.gateway_id is not None:
            # An attached internet gateway adds the default route (network.md); what NHN
            # shows as its "gateway" address is unconfirmed (null here).
            view["routes"].append(
                {
                    "id": seed_uuid(table.id, "igw", table.gateway_id),
                    "cidr": "0.0.0.0/0",
                    "mask": 0,
                    "gateway": None,
                    "gateway_id": table.gateway_id,
                    "routingtable_id": table.id,
                    "tenant_id": table.tenant_id,
                }
            )
    elif detail:
        view["vpcs"] = [{"id": table.vpc_id, "name": vpc.name if vpc else ""}]
        view["subnets"] = [{"id": s.id, "name": s.name} for s in subnets]
    return view


async def list_routingtables(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    detail = query_bool(ctx.query.get("detail")) is True
    tables = net.tenant(ctx.tenant_id).routingtables.values()
    views = [_table_view(net, t, detail=detail, ids_only=False) for t in tables]
    return neutron_list(ctx, "routingtables", views)


async def get_routingtable(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    table = net.tenant(ctx.tenant_id).routingtables.get(ctx.match["table_id"])
    if table is None:
        raise ApiError(
            404,
            f"Routingtable {ctx.match['table_id']} could not be found.",
            kind="RoutingtableNotFound",
        )
    return json_response({"routingtable": _table_view(net, table, detail=True, ids_only=True)})


# -- Neutron networks / subnets / ports -------------------------------------------------


async def list_networks(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    views = [network_view(net, v) for v in net.visible_vpcs(ctx.tenant_id)]
    return neutron_list(ctx, "networks", views)


async def get_network(ctx: Ctx) -> web.StreamResponse:
    net = _net(ctx)
    vpc = net.vpc_or_404(ctx.tenant_id, ctx.match["network_id"])
    return json_response({"network": _fields(ctx, network_view(net, vpc))})


async def list_subnets(ctx: Ctx) -> web.StreamResponse:
    views = [neutron_subnet_view(s) for s in _net(ctx).visible_subnets(ctx.tenant_id)]
    return neutron_list(ctx, "subnets", views)


async def get_subnet(ctx: Ctx) -> web.StreamResponse:
    subnet = _net(ctx).subnet_or_404(ctx.tenant_id, ctx.match["subnet_id"])
    return json_response({"subnet": _fields(ctx, neutron_subnet_view(subnet))})


async def list_ports(ctx: Ctx) -> web.StreamResponse:
    ports = _net(ctx).tenant(ctx.tenant_id).ports.values()
    return neutron_list(ctx, "ports", [port_view(p) for p in ports])


async def get_port(ctx: Ctx) -> web.StreamResponse:
    port = _net(ctx).tenant(ctx.tenant_id).ports.get(ctx.match["port_id"])
    if port is None:
        raise ApiError(404, f"Port {ctx.match['port_id']} could not be found.", kind="PortNotFound")
    return json_response({"port": _fields(ctx, port_view(port))})


# -- floating IPs -------------------------------------------------------------------------


def _fip_or_404(ctx: Ctx) -> FloatingIp:
    fip = _net(ctx).tenant(ctx.tenant_id).floating_ips.get(ctx.match["fip_id"])
    if fip is None:
        raise ApiError(
            404, f"Floating IP {ctx.match['fip_id']} could not be found", kind="FloatingIPNotFound"
        )
    return fip


def _fip_response(ctx: Ctx, fip: FloatingIp, status: int = 200) -> web.Response:
    view = floating_view(fip, ctx.now, ctx.state.options.build_delay)
    return json_response({"floatingip": view}, status=status)


def _associate(ctx: Ctx, fip: FloatingIp, port_id: Any, fixed_ip: Any) -> None:
    net = _net(ctx)
    if port_id is None:
        fip.port_id = fip.fixed_ip = fip.router_id = None
        return
    if not isinstance(port_id, str):
        raise ApiError(
            400,
            f"Invalid input for port_id. Reason: '{port_id}' is not a valid UUID.",
            kind="HTTPBadRequest",
        )
    port = net.tenant(ctx.tenant_id).ports.get(port_id)
    if port is None:
        raise ApiError(404, f"Port {port_id} could not be found.", kind="PortNotFound")
    if fixed_ip is not None and fixed_ip != port.ip:
        raise ApiError(
            400,
            f"Bad floatingip request: Port {port_id} does not have fixed ip {fixed_ip}.",
            kind="BadRequest",
        )
    subnet = net.find_subnet(ctx.tenant_id, port.subnet_id)
    if subnet is None or net.internet_gateway_of(subnet) is None:
        # NHN: a floating IP connects only when the instance's subnet is on a routing
        # table attached to an internet gateway; Neutron's refusal when the external
        # network cannot be reached from the subnet is this 404.
        raise ApiError(
            404,
            f"External network {fip.network_id} is not reachable from subnet "
            f"{port.subnet_id}.  Therefore, cannot associate Port {port_id} with a "
            "Floating IP.",
            kind="ExternalGatewayForFloatingIPNotFound",
        )
    for other in net.floating_ips_of_port(ctx.tenant_id, port_id):
        if other.id != fip.id:
            raise ApiError(
                409,
                f"Cannot associate floating IP {fip.address} ({fip.id}) with port "
                f"{port_id} using fixed IP {port.ip}, as that fixed IP already has a "
                f"floating IP on external network {fip.network_id}.",
                kind="FloatingIPPortAlreadyAssociated",
            )
    fip.port_id = port.id
    fip.fixed_ip = port.ip
    fip.router_id = seed_uuid(net.region, ctx.tenant_id, "router")
    fip.associated_at = ctx.now


async def list_floatingips(ctx: Ctx) -> web.StreamResponse:
    settle = ctx.state.options.build_delay
    fips = _net(ctx).tenant(ctx.tenant_id).floating_ips.values()
    return neutron_list(ctx, "floatingips", [floating_view(f, ctx.now, settle) for f in fips])


async def get_floatingip(ctx: Ctx) -> web.StreamResponse:
    return _fip_response(ctx, _fip_or_404(ctx))


async def create_floatingip(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("floatingip")
    network_id = _string(body, "floating_network_id", required=True, resource="floatingip") or ""
    net = _net(ctx)
    vpc = net.vpc_or_404(ctx.tenant_id, network_id)
    if not vpc.external:
        raise ApiError(
            400,
            f"Bad floatingip request: Network {network_id} is not a valid external network.",
            kind="BadRequest",
        )
    protection = body.get("delete_protection", False)
    label = body.get("label", "")
    if not isinstance(protection, bool) or not isinstance(label, str):
        raise ApiError(
            400,
            "Invalid input: delete_protection must be a boolean and label a string.",
            kind="HTTPBadRequest",
        )
    address = None
    for subnet in net.public_subnets.values():
        try:
            address = subnet.allocate()
        except ApiError:
            continue
        break
    if address is None:
        raise ApiError(
            409,
            f"Unable to find any IP address on external network {network_id}.",
            kind="ExternalIpAddressExhausted",
        )
    fip = FloatingIp(
        new_uuid(),
        address,
        vpc.id,
        subnet.id,
        ctx.tenant_id,
        delete_protection=protection,
        label=label,
    )
    try:
        _associate(ctx, fip, body.get("port_id"), body.get("fixed_ip_address"))
    except ApiError:
        subnet.release(address)
        raise
    net.tenant(ctx.tenant_id).floating_ips[fip.id] = fip
    return _fip_response(ctx, fip, status=201)


async def update_floatingip(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("floatingip")
    fip = _fip_or_404(ctx)
    if "port_id" in body:
        _associate(ctx, fip, body["port_id"], body.get("fixed_ip_address"))
    if "delete_protection" in body:
        if not isinstance(body["delete_protection"], bool):
            raise ApiError(
                400,
                "Invalid input for delete_protection. Reason: not a boolean.",
                kind="HTTPBadRequest",
            )
        fip.delete_protection = body["delete_protection"]
    if "label" in body:
        if not isinstance(body["label"], str):
            raise ApiError(
                400, "Invalid input for label. Reason: not a string.", kind="HTTPBadRequest"
            )
        fip.label = body["label"]
    return _fip_response(ctx, fip)


async def delete_floatingip(ctx: Ctx) -> web.StreamResponse:
    fip = _fip_or_404(ctx)
    if fip.delete_protection:
        # NHN refuses deletion of protected floating IPs; status and body are unconfirmed.
        raise ApiError(
            409,
            f"Floating IP {fip.id} is protected from deletion.",
            kind="FloatingIPDeleteProtected",
        )
    net = _net(ctx)
    net.public_subnets[fip.subnet_id].release(fip.address)
    del net.tenant(ctx.tenant_id).floating_ips[fip.id]
    return empty_response(204)


# -- security groups and rules ----------------------------------------------------------


def _group_or_404(ctx: Ctx, group_id: str) -> SecurityGroup:
    group = _net(ctx).tenant(ctx.tenant_id).security_groups.get(group_id)
    if group is None:
        raise ApiError(
            404, f"Security group {group_id} does not exist", kind="SecurityGroupNotFound"
        )
    return group


async def list_security_groups(ctx: Ctx) -> web.StreamResponse:
    data = _net(ctx).tenant(ctx.tenant_id)
    views = [group_view(data, g) for g in data.security_groups.values()]
    return neutron_list(ctx, "security_groups", views)


async def get_security_group(ctx: Ctx) -> web.StreamResponse:
    group = _group_or_404(ctx, ctx.match["group_id"])
    view = group_view(_net(ctx).tenant(ctx.tenant_id), group)
    return json_response({"security_group": _fields(ctx, view)})


async def create_security_group(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("security_group")
    name = _string(body, "name", required=True, resource="security_group") or ""
    description = _string(body, "description", required=False, resource="security_group") or ""
    if name == "default":
        raise ApiError(
            409, "Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists"
        )
    data = _net(ctx).tenant(ctx.tenant_id)
    group = SecurityGroup(new_uuid(), name, description, ctx.tenant_id)
    data.security_groups[group.id] = group
    # Neutron gives every new group egress-anywhere rules for IPv4 and IPv6.
    for ethertype in ("IPv4", "IPv6"):
        rule = SecurityRule(new_uuid(), group.id, ctx.tenant_id, "egress", ethertype)
        data.rules[rule.id] = rule
    return json_response({"security_group": group_view(data, group)}, status=201)


async def update_security_group(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("security_group")
    group = _group_or_404(ctx, ctx.match["group_id"])
    name = _string(body, "name", required=False, resource="security_group")
    description = _string(body, "description", required=False, resource="security_group")
    if name is not None:
        if group.name == "default" and name != "default":
            raise ApiError(
                409,
                "Cannot update the default security group name.",
                kind="SecurityGroupCannotUpdateDefault",
            )
        group.name = name
    if description is not None:
        group.description = description
    return json_response({"security_group": group_view(_net(ctx).tenant(ctx.tenant_id), group)})


async def delete_security_group(ctx: Ctx) -> web.StreamResponse:
    group = _group_or_404(ctx, ctx.match["group_id"])
    data = _net(ctx).tenant(ctx.tenant_id)
    if group.name == "default":
        raise ApiError(
            409,
            "Insufficient rights for removing default security group.",
            kind="SecurityGroupCannotRemoveDefault",
        )
    if any(group.id in port.security_group_ids for port in data.ports.values()):
        raise ApiError(409, f"Security Group {group.id} in use.", kind="SecurityGroupInUse")
    del data.security_groups[group.id]
    for rule_id in [r.id for r in data.rules.values() if r.security_group_id == group.id]:
        del data.rules[rule_id]
    return empty_response(204)


async def list_rules(ctx: Ctx) -> web.StreamResponse:
    rules = _net(ctx).tenant(ctx.tenant_id).rules.values()
    return neutron_list(ctx, "security_group_rules", [rule_view(r) for r in rules])


def _rule_or_404(ctx: Ctx) -> SecurityRule:
    rule = _net(ctx).tenant(ctx.tenant_id).rules.get(ctx.match["rule_id"])
    if rule is None:
        raise ApiError(
            404,
            f"Security group rule {ctx.match['rule_id']} does not exist",
            kind="SecurityGroupRuleNotFound",
        )
    return rule


async def get_rule(ctx: Ctx) -> web.StreamResponse:
    return json_response({"security_group_rule": _fields(ctx, rule_view(_rule_or_404(ctx)))})


# Protocol names Neutron accepts for a rule (besides the numbers 0-255); "any" means null.
_PROTOCOL_NUMBERS = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "icmp": 1,
    "igmp": 2,
    "ipip": 4,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
}
# Protocols whose port_range_min/max are a port range (Neutron's SG_PORT_PROTO_NAMES).
_PORT_PROTOCOLS = {6, 17, 33, 132, 136}
_ICMP = 1
_ICMP_MAX = 255


def _bad_rule(message: str, kind: str) -> ApiError:
    return ApiError(400, message, kind=kind)


def _rule_protocol(value: Any) -> tuple[str | None, int | None]:
    """Neutron's protocol conversion: a name (any case) or a number 0-255 (int or digits);
    null and "any" mean every protocol. Returns (stored value, protocol number)."""
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None, None
    if isinstance(value, str) and value.lower() in _PROTOCOL_NUMBERS:
        return value.lower(), _PROTOCOL_NUMBERS[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.isdigit() and 0 <= int(value) <= 255:
        return value, int(value)
    names = sorted(["any", *_PROTOCOL_NUMBERS])
    raise _bad_rule(
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"{names} and integer representations [0 to 255] are supported.",
        "SecurityGroupRuleInvalidProtocol",
    )


def _port_number(value: Any) -> int | None:
    """A port attribute as Neutron converts it: an integer 0-65535 (NHN's own sample sends
    it as a string, "80"), or null."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _bad_rule(f"Invalid value for port {value}.", "SecurityGroupInvalidPortValue")
    return value


def _check_ports(
    protocol: str | None, number: int | None, low: int | None, high: int | None
) -> None:
    """Neutron's port checks: only tcp/udp (and the other port protocols) take a port range
    (1-65535, both ends, min <= max); for icmp the two fields are the ICMP type
    (port_range_min) and code (port_range_max), each 0-255, a code only with a type."""
    if low is None and high is None:
        return
    if protocol is None:
        raise _bad_rule(
            "Must also specify protocol if port range is given.",
            "SecurityGroupProtocolRequiredWithPorts",
        )
    if number in _PORT_PROTOCOLS:
        if low == 0 or high == 0:
            raise _bad_rule("Invalid value for port 0.", "SecurityGroupInvalidPortValue")
        if low is None or high is None or low > high:
            raise _bad_rule(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                "SecurityGroupInvalidPortRange",
            )
        return
    if number == _ICMP:
        fields = ((low, "type", "port_range_min"), (high, "code", "port_range_max"))
        for value, field, attr in fields:
            if value is not None and not 0 <= value <= _ICMP_MAX:
                raise _bad_rule(
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                    "SecurityGroupInvalidIcmpValue",
                )
        if low is None:
            raise _bad_rule(
                f"ICMP code (port-range-max) {high} is provided but ICMP type "
                "(port-range-min) is missing.",
                "SecurityGroupMissingIcmpType",
            )
        return
    raise _bad_rule(
        f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, "
        "SCTP and DCCP.",
        "SecurityGroupInvalidProtocolForPort",
    )


def _remote_prefix(value: Any, ethertype: str) -> str | None:
    """A CIDR of the rule's ethertype, normalised (host bits dropped, as Neutron does)."""
    if value is None:
        return None
    try:
        network = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
    except ValueError:
        network = None
    if network is None:
        raise ApiError(
            400,
            f"Invalid input for remote_ip_prefix. Reason: '{value}' is not a valid IP subnet.",
            kind="HTTPBadRequest",
        )
    if f"IPv{network.version}" != ethertype:
        raise _bad_rule(
            f"Conflicting value ethertype {ethertype} for CIDR {value}",
            "SecurityGroupRuleParameterConflict",
        )
    return str(network)


async def create_rule(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object("security_group_rule")
    group_id = (
        _string(body, "security_group_id", required=True, resource="security_group_rule") or ""
    )
    group = _group_or_404(ctx, group_id)
    direction = body.get("direction")
    if direction not in ("ingress", "egress"):
        raise ApiError(
            400,
            f"Invalid input for direction. Reason: {direction!r} is not in ['ingress', 'egress'].",
            kind="HTTPBadRequest",
        )
    ethertype = body.get("ethertype") or "IPv4"
    if ethertype != "IPv4":
        # NHN's API guide: "You can create a security rule for IPv4 only" (an IPv6 rule is
        # refused like an unsupported ethertype in Neutron).
        raise _bad_rule(
            f"Security group rule for ethertype '{ethertype}' not supported. "
            "Allowed values are ['IPv4'].",
            "SecurityGroupRuleInvalidEtherType",
        )
    protocol, number = _rule_protocol(body.get("protocol"))
    port_min = _port_number(body.get("port_range_min"))
    port_max = _port_number(body.get("port_range_max"))
    _check_ports(protocol, number, port_min, port_max)
    remote_prefix = _remote_prefix(body.get("remote_ip_prefix"), ethertype)
    remote_group = body.get("remote_group_id")
    if remote_group is not None:
        if remote_prefix is not None:
            raise _bad_rule(
                "Only remote_ip_prefix or remote_group_id may be provided.",
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            )
        remote_group = _group_or_404(ctx, str(remote_group)).id
    description = body.get("description")
    rule = SecurityRule(
        new_uuid(),
        group.id,
        ctx.tenant_id,
        direction,
        ethertype,
        protocol=protocol,
        port_range_min=port_min,
        port_range_max=port_max,
        remote_ip_prefix=remote_prefix,
        remote_group_id=remote_group,
        description=description if isinstance(description, str) else None,
    )
    data = _net(ctx).tenant(ctx.tenant_id)
    for existing in data.rules.values():
        if existing.signature() == rule.signature():
            raise ApiError(
                409,
                f"Security group rule already exists. Rule id is {existing.id}.",
                kind="SecurityGroupRuleExists",
            )
    data.rules[rule.id] = rule
    return json_response({"security_group_rule": rule_view(rule)}, status=201)


async def delete_rule(ctx: Ctx) -> web.StreamResponse:
    rule = _rule_or_404(ctx)
    del _net(ctx).tenant(ctx.tenant_id).rules[rule.id]
    return empty_response(204)


# -- version discovery --------------------------------------------------------------------

# Neutron's core collections the emulator serves (upstream's index lists core resources
# only, never extensions such as NHN's VPCs; subnetpools are not emulated).
_CORE_RESOURCES = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"))


async def list_versions(ctx: Ctx) -> web.StreamResponse:
    """Neutron's root (no token): its one API version."""
    version = {
        "status": "CURRENT",
        "id": "v2.0",
        "links": [{"href": ctx.url("/v2.0/"), "rel": "self"}],
    }
    return json_response({"versions": [version]})


async def list_resources(ctx: Ctx) -> web.StreamResponse:
    """``/v2.0/`` (token): the core resources with their collection links."""
    resources = [
        {
            "links": [{"href": ctx.url(f"/v2.0/{collection}"), "rel": "self"}],
            "name": name,
            "collection": collection,
        }
        for name, collection in _CORE_RESOURCES
    ]
    return json_response({"resources": resources})

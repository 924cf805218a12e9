"""What a console does with the network, through the proxy against the emulator: security
groups and their rules, floating IPs on a real instance, and NHN's limits on VPCs and
subnets, each with the native calls the proxy made and NHN's refusals in the standard shape.

NHN facts the emulator follows (and these tests rely on):

* Security Groups API guide: every project has a `default` group (ingress only from its own
  members, egress anywhere, IPv4 and IPv6); a new group has the two egress rules; "You can
  create a security rule for IPv4 only"; Neutron's 409s for a duplicate rule
  (`SecurityGroupRuleExists`), a group in use (`SecurityGroupInUse`) and the default group.
* Floating IP guides: `status` is ACTIVE when connected to an instance, DOWN when not (and
  still DOWN right after connecting); connecting needs the instance's subnet on a routing
  table with an internet gateway, which NHN's first-use setup gives the default VPC only.
* VPC console guide: a VPC is a private (RFC 1918) range of /24 or larger; at most 10
  subnets per VPC (the emulator answers Neutron's OverQuota 409).
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import (
    JSON,
    Stack,
    check_error,
    check_shape,
    create_keypair,
    create_subnet,
    create_vpc,
    default_subnet_id,
    flavor_id,
    ubuntu_image_id,
    unique,
)

pytestmark = pytest.mark.e2e

NETWORK = "/kr2/network/v2.0"
NONE = type(None)
GROUP_SHAPE = {"id": str, "name": str, "description": (str, NONE), "rules": list}
RULE_SHAPE = {
    "id": str,
    "direction": str,
    "ethertype": str,
    "protocol": (str, NONE),
    "port_range_min": (int, NONE),
    "port_range_max": (int, NONE),
    "remote_ip_prefix": (str, NONE),
    "remote_group_id": (str, NONE),
}
FIP_SHAPE = {"id": str, "floating_ip_address": str, "status": str, "port_id": (str, NONE)}
SSH = {
    "direction": "ingress",
    "protocol": "tcp",
    "port_range_min": 22,
    "port_range_max": 22,
    "remote_ip_prefix": "0.0.0.0/0",
}
PING = {"direction": "ingress", "protocol": "icmp", "port_range_min": 8}


async def create_group(stack: Stack, name: str | None = None) -> JSON:
    body = {"name": name or unique("sg"), "description": "console test"}
    reply = await stack.post("/security-groups/create/", "network", body)
    return reply.expect(201)["security_group"]


async def add_rule(stack: Stack, group_id: str, rule: JSON) -> JSON:
    reply = await stack.post(f"/security-groups/{group_id}/rules/create/", "network", rule)
    return reply.expect(201)["security_group_rule"]


async def wait_instance(stack: Stack, server_id: str, wanted: str | int) -> None:
    """Poll the instance until its status (or the HTTP status: 404 once gone) is `wanted`."""

    async def status() -> str | int:
        reply = await stack.get(f"/compute/instances/{server_id}/", "compute")
        return reply.body["server"]["status"] if reply.status == 200 else reply.status

    await stack.wait_for(status, lambda value: value == wanted, what=str(wanted))


async def create_instance(
    stack: Stack, *, subnet_id: str | None = None, security_groups: list[str] | None = None
) -> str:
    """An instance through the proxy (on the default subnet, whose VPC has NHN's internet
    gateway, unless `subnet_id` says otherwise), waited for until ACTIVE."""
    keypairs = (await stack.get("/compute/keypairs/", "compute")).expect(200)["keypairs"]
    if "e2e-key" not in {entry["keypair"]["name"] for entry in keypairs}:
        await create_keypair(stack)
    body: JSON = {
        "name": unique("vm"),
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": await flavor_id(stack),
        "subnet_id": subnet_id or await default_subnet_id(stack),
        "keypair_name": "e2e-key",
    }
    if security_groups is not None:
        body["security_groups"] = security_groups
    reply = await stack.post("/compute/instances/create/", "compute", body)
    server_id = reply.expect(201)["server"]["id"]
    await wait_instance(stack, server_id, "ACTIVE")
    return server_id


async def floating_ips(stack: Stack) -> dict[str, JSON]:
    listed = (await stack.get("/floatingip/", "network")).expect(200)["floatingips"]
    return {fip["id"]: fip for fip in listed}


async def native_body(stack: Stack, method: str) -> JSON:
    """The body of the last native `method` request."""
    return (await stack.native_requests(method=method))[-1]["body"]


# -- security groups ------------------------------------------------------------------------------


async def test_security_groups_list_create_get_delete(stack: Stack) -> None:
    reply, calls = await stack.traced("GET", "/security-groups/", "network")
    groups = reply.expect(200)["security_groups"]
    assert calls == [("GET", f"{NETWORK}/security-groups")]
    (default,) = groups
    check_shape(default, GROUP_SHAPE)
    assert default["name"] == "default"
    for rule in default["rules"]:
        check_shape(rule, RULE_SHAPE)
    # NHN's default group: members of the group may come in, everything may go out
    assert sorted(
        (rule["direction"], rule["ethertype"], rule["remote_group_id"]) for rule in default["rules"]
    ) == [
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
    ]

    body = {"name": "web", "description": "web servers"}
    reply, calls = await stack.traced("POST", "/security-groups/create/", "network", json=body)
    group = reply.expect(201)["security_group"]
    check_shape(group, GROUP_SHAPE)
    assert (group["name"], group["description"]) == ("web", "web servers")
    assert calls == [("POST", f"{NETWORK}/security-groups")]
    assert await native_body(stack, "POST") == {"security_group": body}
    # a new group lets everything out and nothing in
    assert sorted((rule["direction"], rule["ethertype"]) for rule in group["rules"]) == [
        ("egress", "IPv4"),
        ("egress", "IPv6"),
    ]

    reply, calls = await stack.traced("GET", f"/security-groups/{group['id']}/", "network")
    assert reply.expect(200)["security_group"] == group
    assert calls == [("GET", f"{NETWORK}/security-groups/{group['id']}")]
    listed = (await stack.get("/security-groups/", "network")).expect(200)["security_groups"]
    assert {item["name"] for item in listed} == {"default", "web"}

    reply, calls = await stack.traced("DELETE", f"/security-groups/{group['id']}", "network")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NETWORK}/security-groups/{group['id']}")]
    gone = await stack.get(f"/security-groups/{group['id']}/", "network")
    check_error(gone, 404, group["id"])


async def test_rules_create_duplicate_and_delete(stack: Stack) -> None:
    group = await create_group(stack)
    path = f"/security-groups/{group['id']}/rules/create/"

    reply, calls = await stack.traced("POST", path, "network", json=SSH)
    ssh = reply.expect(201)["security_group_rule"]
    check_shape(ssh, RULE_SHAPE)
    assert calls == [("POST", f"{NETWORK}/security-group-rules")]
    assert await native_body(stack, "POST") == {
        "security_group_rule": {"security_group_id": group["id"], "ethertype": "IPv4", **SSH}
    }
    assert {key: ssh[key] for key in SSH} == SSH
    assert (ssh["ethertype"], ssh["remote_group_id"]) == ("IPv4", None)

    # ICMP: port_range_min is the type (8: echo request), no code means every code
    ping = await add_rule(stack, group["id"], PING)
    assert (ping["protocol"], ping["port_range_min"], ping["port_range_max"]) == ("icmp", 8, None)
    assert ping["remote_ip_prefix"] is None
    # type 3 (unreachable) code 1: a type above the code is no "range" error for ICMP
    unreachable = await add_rule(
        stack, group["id"], {**PING, "port_range_min": 3, "port_range_max": 1}
    )
    assert (unreachable["port_range_min"], unreachable["port_range_max"]) == (3, 1)
    rules = (await stack.get(f"/security-groups/{group['id']}/", "network")).expect(200)[
        "security_group"
    ]["rules"]
    assert {ssh["id"], ping["id"], unreachable["id"]} <= {rule["id"] for rule in rules}

    duplicate = await stack.post(path, "network", SSH)
    check_error(duplicate, 409, "already exists", ssh["id"])
    ipv6 = await stack.post(path, "network", {"direction": "ingress", "ethertype": "IPv6"})
    check_error(ipv6, 400, "IPv6")  # NHN creates IPv4 rules only: its refusal passes through

    reply, calls = await stack.traced("DELETE", f"/security-groups/rules/{ssh['id']}/", "network")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NETWORK}/security-group-rules/{ssh['id']}")]
    again = await stack.delete(f"/security-groups/rules/{ssh['id']}/", "network")
    check_error(again, 404, ssh["id"])
    assert (await add_rule(stack, group["id"], SSH))["id"] != ssh["id"]  # no longer a duplicate


async def test_a_group_in_use_and_the_default_group_cannot_be_deleted(stack: Stack) -> None:
    group = await create_group(stack, "in-use")
    server_id = await create_instance(stack, security_groups=["in-use"])
    in_use = await stack.delete(f"/security-groups/{group['id']}/", "network")
    check_error(in_use, 409, group["id"], "in use")

    groups = (await stack.get("/security-groups/", "network")).expect(200)["security_groups"]
    default = next(item for item in groups if item["name"] == "default")
    refused = await stack.delete(f"/security-groups/{default['id']}/", "network")
    check_error(refused, 409, "default security group")

    assert (await stack.delete(f"/compute/instances/{server_id}/", "compute")).status == 204
    await wait_instance(stack, server_id, 404)
    assert (await stack.delete(f"/security-groups/{group['id']}/", "network")).status == 204


# -- floating IPs ---------------------------------------------------------------------------------


async def test_floating_ip_on_an_instance(stack: Stack) -> None:
    # create: the proxy looks the external network up, NHN allocates on it
    reply, calls = await stack.traced("POST", "/floatingip/create/", "network", json={})
    fip = reply.expect(201)["floatingip"]
    check_shape(fip, FIP_SHAPE)
    assert (fip["status"], fip["port_id"]) == ("DOWN", None)
    assert calls == [("GET", f"{NETWORK}/networks"), ("POST", f"{NETWORK}/floatingips")]
    (lookup,) = await stack.native_requests(method="GET")
    assert lookup["query"] == {"router:external": "True"}
    external = (await stack.native("GET", f"{NETWORK}/networks?router:external=True")).expect(200)[
        "networks"
    ][0]
    assert await native_body(stack, "POST") == {
        "floatingip": {"floating_network_id": external["id"]}
    }

    server_id = await create_instance(stack)
    (port,) = (await stack.native("GET", f"{NETWORK}/ports?device_id={server_id}")).expect(200)[
        "ports"
    ]
    path = f"/floatingip/{fip['id']}/associate/"
    reply, calls = await stack.traced("POST", path, "network", json={"server_id": server_id})
    associated = reply.expect(200)["floatingip"]
    check_shape(associated, FIP_SHAPE)
    assert associated["id"] == fip["id"] and associated["port_id"] == port["id"]
    assert associated["status"] == "DOWN"  # as NHN's example: ACTIVE follows
    assert calls == [("GET", f"{NETWORK}/ports"), ("PUT", f"{NETWORK}/floatingips/{fip['id']}")]
    (ports_call,) = await stack.native_requests(method="GET")
    assert ports_call["query"] == {"device_id": server_id}
    assert await native_body(stack, "PUT") == {"floatingip": {"port_id": port["id"]}}

    async def status() -> str:
        return (await floating_ips(stack))[fip["id"]]["status"]

    await stack.wait_for(status, lambda value: value == "ACTIVE", what="ACTIVE")
    server = (await stack.get(f"/compute/instances/{server_id}/", "compute")).expect(200)
    addresses = server["server"]["addresses"]["Default Network"]
    floating = [a["addr"] for a in addresses if a.get("OS-EXT-IPS:type") == "floating"]
    assert floating == [fip["floating_ip_address"]]

    path = f"/floatingip/{fip['id']}/disassociate/"
    reply, calls = await stack.traced("POST", path, "network")
    released = reply.expect(200)["floatingip"]
    assert (released["id"], released["port_id"], released["status"]) == (fip["id"], None, "DOWN")
    assert calls == [("PUT", f"{NETWORK}/floatingips/{fip['id']}")]
    assert await native_body(stack, "PUT") == {"floatingip": {"port_id": None}}

    reply, calls = await stack.traced("DELETE", f"/floatingip/{fip['id']}/", "network")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NETWORK}/floatingips/{fip['id']}")]
    assert fip["id"] not in await floating_ips(stack)
    check_error(await stack.delete(f"/floatingip/{fip['id']}/", "network"), 404, fip["id"])


async def test_floating_ip_on_a_given_external_network_and_deleted_while_attached(
    stack: Stack,
) -> None:
    external = (await stack.native("GET", f"{NETWORK}/networks?router:external=True")).expect(200)[
        "networks"
    ][0]
    body = {"external_network_id": external["id"]}
    reply, calls = await stack.traced("POST", "/floatingip/create/", "network", json=body)
    fip = reply.expect(201)["floatingip"]
    assert calls == [("POST", f"{NETWORK}/floatingips")]  # nothing to look up

    server_id = await create_instance(stack)
    path = f"/floatingip/{fip['id']}/associate/"
    assert (await stack.post(path, "network", {"server_id": server_id})).expect(200)["floatingip"][
        "port_id"
    ]
    # Neutron lets an attached floating IP go: it is detached and released
    assert (await stack.delete(f"/floatingip/{fip['id']}/", "network")).status == 204
    server = (await stack.get(f"/compute/instances/{server_id}/", "compute")).expect(200)
    kinds = [a.get("OS-EXT-IPS:type") for a in server["server"]["addresses"]["Default Network"]]
    assert kinds == ["fixed"]


async def test_associate_needs_an_instance_with_a_port(stack: Stack) -> None:
    fip = (await stack.post("/floatingip/create/", "network", {})).expect(201)["floatingip"]
    path = f"/floatingip/{fip['id']}/associate/"

    nobody = str(uuid.uuid4())
    reply, calls = await stack.traced("POST", path, "network", json={"server_id": nobody})
    check_error(reply, 409, nobody, "port_id")
    assert calls == [("GET", f"{NETWORK}/ports")]  # refused before any update

    server_id = await create_instance(stack)
    assert (await stack.delete(f"/compute/instances/{server_id}/", "compute")).status == 204
    await wait_instance(stack, server_id, 404)
    gone = await stack.post(path, "network", {"server_id": server_id})
    check_error(gone, 409, server_id)  # its port went with it
    assert (await floating_ips(stack))[fip["id"]]["port_id"] is None


async def test_associate_needs_an_internet_gateway(stack: Stack) -> None:
    """An instance in a new VPC (no internet gateway attached) cannot take a floating IP:
    NHN's refusal passes through."""
    vpc = await create_vpc(stack, "10.77.0.0/16")
    subnet = await create_subnet(stack, vpc["id"], "10.77.1.0/24")
    server_id = await create_instance(stack, subnet_id=subnet["id"])
    fip = (await stack.post("/floatingip/create/", "network", {})).expect(201)["floatingip"]
    reply = await stack.post(
        f"/floatingip/{fip['id']}/associate/", "network", {"server_id": server_id}
    )
    check_error(reply, 404, "not reachable", subnet["id"])
    assert (await floating_ips(stack))[fip["id"]]["port_id"] is None


# -- NHN's limits on VPCs and subnets -------------------------------------------------------------


async def test_a_vpc_is_24_or_larger(stack: Stack) -> None:
    reply, calls = await stack.traced(
        "POST", "/vpc/create/", "network", json={"name": "small", "cidr": "10.0.0.0/25"}
    )
    check_error(reply, 400, "10.0.0.0/25", "/24")
    assert calls == [("POST", f"{NETWORK}/vpcs")]  # NHN's refusal, passed through
    public = await stack.post("/vpc/create/", "network", {"name": "pub", "cidr": "8.8.0.0/16"})
    check_error(public, 400, "10.0.0.0/8")
    smallest = await stack.post("/vpc/create/", "network", {"name": "ok", "cidr": "10.0.0.0/24"})
    created = smallest.expect(201)["vpc"]
    # NHN's create answer has no router:external: a VPC created here is never external
    assert (created["cidrv4"], created["external"]) == ("10.0.0.0/24", False)


async def test_at_most_ten_subnets_per_vpc(stack: Stack) -> None:
    vpc = await create_vpc(stack, "10.88.0.0/16")
    for index in range(10):
        await create_subnet(stack, vpc["id"], f"10.88.{index}.0/24")
    body = {"vpc_id": vpc["id"], "name": "eleventh", "cidr": "10.88.10.0/24"}
    reply, calls = await stack.traced("POST", "/subnet/create/", "network", json=body)
    check_error(reply, 409, "quota", "10")
    assert calls == [("POST", f"{NETWORK}/vpcsubnets")]
    subnets = (await stack.get(f"/subnet/?vpc_id={vpc['id']}", "network")).expect(200)
    assert len(subnets["vpcsubnets"]) == 10

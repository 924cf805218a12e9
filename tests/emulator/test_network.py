"""Network: VPCs, VPC subnets, Neutron views, floating IPs and security groups."""

from __future__ import annotations

import re

from .doc_examples import EXAMPLES
from .shapes import assert_conforms

NET = "/kr1/network/v2.0"


async def test_vpc_list_has_public_network_and_default_vpc(emu):
    body = await emu.json("GET", f"{NET}/vpcs")
    assert_conforms(body, EXAMPLES["vpcs"])
    by_name = {v["name"]: v for v in body["vpcs"]}
    public = by_name["public_network"]
    assert public["router:external"] is True and public["cidrv4"] == "0.0.0.0/0"
    assert public["tenant_id"] != emu.tenant and public["shared"] is True
    default = by_name["Default Network"]
    assert default["cidrv4"] == "192.168.0.0/16" and default["tenant_id"] == emu.tenant
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", default["create_time"])
    internal = await emu.json("GET", f"{NET}/vpcs", params={"router:external": "false"})
    assert [v["name"] for v in internal["vpcs"]] == ["Default Network"]


async def test_vpc_detail_and_default_subnet(emu):
    vpcs = (await emu.json("GET", f"{NET}/vpcs", params={"name": "Default Network"}))["vpcs"]
    detail = await emu.json("GET", f"{NET}/vpcs/{vpcs[0]['id']}")
    assert_conforms(detail, EXAMPLES["vpc_get"])
    subnet = detail["vpc"]["subnets"][0]
    assert (subnet["name"], subnet["cidr"], subnet["gateway"]) == (
        "default",
        "192.168.0.0/24",
        "192.168.0.1",
    )
    assert detail["vpc"]["routingtables"][0]["name"] == f"vpc-{vpcs[0]['id'][:13]}"
    missing = await emu.call("GET", f"{NET}/vpcs/nope")
    assert missing.status == 404
    assert (await missing.json())["NeutronError"]["type"] == "NetworkNotFound"


async def test_vpc_create_update_delete(emu):
    created = await emu.json(
        "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "vpc-test1", "cidrv4": "10.10.0.0/16"}}
    )
    assert_conforms(created, EXAMPLES["vpc_create"])
    vpc_id = created["vpc"]["id"]
    updated = await emu.json(
        "PUT", f"{NET}/vpcs/{vpc_id}", json={"vpc": {"name": "renamed", "cidrv4": "10.10.0.0/20"}}
    )
    assert (updated["vpc"]["name"], updated["vpc"]["cidrv4"]) == ("renamed", "10.10.0.0/20")
    assert (await emu.call("DELETE", f"{NET}/vpcs/{vpc_id}")).status == 204
    assert (await emu.call("GET", f"{NET}/vpcs/{vpc_id}")).status == 404


async def test_vpc_cidr_validation(emu):
    for cidr in ("10.10.0.300/16", "10.10.0.1/16", "8.8.0.0/16", "10.0.0.0/30", 42):
        response = await emu.call(
            "POST", f"{NET}/vpcs", json={"vpc": {"name": "x", "cidrv4": cidr}}
        )
        assert response.status == 400, cidr
        error = (await response.json())["NeutronError"]
        assert set(error) == {"type", "message", "detail"}
    missing = await emu.call("POST", f"{NET}/vpcs", json={"vpc": {"name": "x"}})
    assert missing.status == 400
    malformed = await emu.call(
        "POST", f"{NET}/vpcs", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert malformed.status == 400 and "NeutronError" in await malformed.json()


async def test_vpc_with_subnets_cannot_be_deleted(emu):
    vpc = (
        await emu.json(
            "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.20.0.0/16"}}
        )
    )["vpc"]
    subnet = await emu.json(
        "POST",
        f"{NET}/vpcsubnets",
        201,
        json={"vpcsubnet": {"vpc_id": vpc["id"], "cidr": "10.20.1.0/24", "name": "s1"}},
    )
    assert_conforms(subnet, EXAMPLES["vpcsubnet_create"])
    assert subnet["vpcsubnet"]["gateway"] == "10.20.1.1"
    response = await emu.call("DELETE", f"{NET}/vpcs/{vpc['id']}")
    assert response.status == 409
    assert (await response.json())["NeutronError"]["type"] == "NetworkInUse"
    assert (await emu.call("DELETE", f"{NET}/vpcsubnets/{subnet['vpcsubnet']['id']}")).status == 204
    assert (await emu.call("DELETE", f"{NET}/vpcs/{vpc['id']}")).status == 204


async def test_subnet_rules(emu):
    vpc = (
        await emu.json(
            "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.30.0.0/16"}}
        )
    )["vpc"]
    path = f"{NET}/vpcsubnets"
    await emu.json(
        "POST",
        path,
        201,
        json={"vpcsubnet": {"vpc_id": vpc["id"], "cidr": "10.30.0.0/24", "name": "a"}},
    )
    cases = [
        ({"vpc_id": vpc["id"], "cidr": "10.99.0.0/24", "name": "outside"}, 400),
        ({"vpc_id": vpc["id"], "cidr": "10.30.0.128/25", "name": "overlap"}, 400),
        ({"vpc_id": vpc["id"], "cidr": "10.30.1.0/30", "name": "tiny"}, 400),
        ({"vpc_id": "no-such-vpc", "cidr": "10.30.2.0/24", "name": "x"}, 404),
        ({"vpc_id": vpc["id"], "name": "no-cidr"}, 400),
    ]
    for body, status in cases:
        response = await emu.call("POST", path, json={"vpcsubnet": body})
        assert response.status == status, body
        assert "NeutronError" in await response.json()
    listed = await emu.json("GET", path, params={"vpc_id": vpc["id"]})
    assert [s["name"] for s in listed["vpcsubnets"]] == ["a"]
    assert_conforms(listed, EXAMPLES["vpcsubnets"], opaque=("routes",))


async def test_subnet_with_servers_cannot_be_deleted(emu):
    subnet = await emu.default_subnet()
    server_id = await emu.create_server()
    response = await emu.call("DELETE", f"{NET}/vpcsubnets/{subnet['id']}")
    assert response.status == 409
    assert (await response.json())["NeutronError"]["type"] == "SubnetInUse"
    await emu.call("DELETE", emu.compute(f"/servers/{server_id}"))
    emu.settle()
    assert (await emu.call("DELETE", f"{NET}/vpcsubnets/{subnet['id']}")).status == 204


async def test_neutron_networks_and_subnets(emu):
    networks = await emu.json("GET", f"{NET}/networks")
    assert_conforms(networks, EXAMPLES["networks"])
    external = await emu.json("GET", f"{NET}/networks", params={"router:external": "True"})
    assert [n["name"] for n in external["networks"]] == ["public_network"]
    assert len(external["networks"][0]["subnets"]) == 2
    subnets = await emu.json("GET", f"{NET}/subnets")
    assert_conforms(subnets, EXAMPLES["subnets"])
    default = next(s for s in subnets["subnets"] if s["name"] == "default")
    assert default["gateway_ip"] == "192.168.0.1"
    paged = await emu.json("GET", f"{NET}/networks", params={"limit": "1"})
    assert len(paged["networks"]) == 1 and paged["networks_links"][0]["rel"] == "next"
    projected = await emu.json(
        "GET", f"{NET}/networks", params=[("fields", "id"), ("fields", "name")]
    )
    assert all(set(n) == {"id", "name"} for n in projected["networks"])


async def test_ports_of_servers(emu):
    server_id = await emu.create_server()
    ports = await emu.json("GET", f"{NET}/ports", params={"device_id": server_id})
    port = ports["ports"][0]
    assert_conforms({"port": port}, EXAMPLES["port"])
    assert port["device_owner"] == "compute:kr-pub-a"
    one = await emu.json("GET", f"{NET}/ports/{port['id']}")
    assert one["port"]["id"] == port["id"]


async def test_floating_ip_lifecycle(emu):
    public = (await emu.json("GET", f"{NET}/networks", params={"router:external": "true"}))[
        "networks"
    ][0]
    created = await emu.json(
        "POST",
        f"{NET}/floatingips",
        201,
        json={"floatingip": {"floating_network_id": public["id"]}},
    )
    fip = created["floatingip"]
    assert (fip["status"], fip["port_id"], fip["fixed_ip_address"]) == ("DOWN", None, None)
    listed = await emu.json("GET", f"{NET}/floatingips")
    assert_conforms(listed, EXAMPLES["floatingips"])
    server_id = await emu.create_server()
    port = (await emu.json("GET", f"{NET}/ports", params={"device_id": server_id}))["ports"][0]
    associated = await emu.json(
        "PUT", f"{NET}/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}}
    )
    assert associated["floatingip"]["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    emu.settle()
    assert (await emu.json("GET", f"{NET}/floatingips/{fip['id']}"))["floatingip"][
        "status"
    ] == "ACTIVE"
    server = await emu.server(server_id)
    kinds = [a["OS-EXT-IPS:type"] for a in server["addresses"]["Default Network"]]
    assert kinds == ["fixed", "floating"]
    protected = await emu.json(
        "PUT", f"{NET}/floatingips/{fip['id']}", json={"floatingip": {"delete_protection": True}}
    )
    assert protected["floatingip"]["delete_protection"] is True
    assert (await emu.call("DELETE", f"{NET}/floatingips/{fip['id']}")).status == 409
    await emu.json(
        "PUT",
        f"{NET}/floatingips/{fip['id']}",
        json={"floatingip": {"delete_protection": False, "port_id": None}},
    )
    assert (await emu.call("DELETE", f"{NET}/floatingips/{fip['id']}")).status == 204
    missing = await emu.call("GET", f"{NET}/floatingips/{fip['id']}")
    assert (await missing.json())["NeutronError"]["type"] == "FloatingIPNotFound"
    internal = (await emu.default_subnet())["vpc_id"]
    refused = await emu.call(
        "POST", f"{NET}/floatingips", json={"floatingip": {"floating_network_id": internal}}
    )
    assert refused.status == 400


async def test_security_groups_and_rules(emu):
    groups = await emu.json("GET", f"{NET}/security-groups")
    assert [g["name"] for g in groups["security_groups"]] == ["default"]
    created = await emu.json(
        "POST",
        f"{NET}/security-groups",
        201,
        json={"security_group": {"name": "webservers", "description": "web"}},
    )
    assert_conforms(created, EXAMPLES["security_group"])
    group_id = created["security_group"]["id"]
    assert [r["direction"] for r in created["security_group"]["security_group_rules"]] == [
        "egress",
        "egress",
    ]
    rule = {
        "security_group_id": group_id,
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": "22",
        "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0",
    }
    made = await emu.json(
        "POST", f"{NET}/security-group-rules", 201, json={"security_group_rule": rule}
    )
    assert made["security_group_rule"]["port_range_min"] == 22
    duplicate = await emu.call(
        "POST", f"{NET}/security-group-rules", json={"security_group_rule": rule}
    )
    assert duplicate.status == 409
    assert (await duplicate.json())["NeutronError"]["type"] == "SecurityGroupRuleExists"
    # The group is usable by name when creating a server, and then in use.
    server_id = await emu.create_server(security_groups=[{"name": "webservers"}])
    in_use = await emu.call("DELETE", f"{NET}/security-groups/{group_id}")
    assert in_use.status == 409
    await emu.call("DELETE", emu.compute(f"/servers/{server_id}"))
    emu.settle()
    rule_id = made["security_group_rule"]["id"]
    assert (await emu.call("DELETE", f"{NET}/security-group-rules/{rule_id}")).status == 204
    assert (await emu.call("DELETE", f"{NET}/security-groups/{group_id}")).status == 204
    default_id = groups["security_groups"][0]["id"]
    assert (await emu.call("DELETE", f"{NET}/security-groups/{default_id}")).status == 409


async def test_tenants_do_not_see_each_other(emu):
    await emu.json(
        "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "mine", "cidrv4": "10.40.0.0/16"}}
    )
    other = await emu.json("GET", f"{NET}/vpcs", tenant=emu.storage_tenant)
    assert "mine" not in [v["name"] for v in other["vpcs"]]
    kr2 = await emu.json("GET", "/kr2/network/v2.0/vpcs")
    assert "mine" not in [v["name"] for v in kr2["vpcs"]]


async def test_unemulated_network_endpoint_is_501(emu):
    response = await emu.call("POST", f"{NET}/routes", json={"route": {}})
    assert response.status == 501
    assert (await response.json())["NeutronError"]["type"] == "HTTPNotImplemented"


# -- NHN fidelity: VPC sizes, subnet limit, routing tables --------------------------------


async def test_vpc_cidr_must_be_a_private_24_or_larger(emu):
    """NHN's VPC console guide: one of RFC 1918's ranges, at least a /24."""
    for cidr in ("10.0.0.0/8", "10.0.0.0/24", "172.16.0.0/12", "192.168.0.0/24"):
        await emu.json("POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "ok", "cidrv4": cidr}})
    for cidr in ("10.0.0.0/25", "10.0.0.0/28", "192.253.0.0/24", "169.254.0.0/16", "172.0.0.0/8"):
        response = await emu.call(
            "POST", f"{NET}/vpcs", json={"vpc": {"name": "x", "cidrv4": cidr}}
        )
        assert response.status == 400, cidr
        assert (await response.json())["NeutronError"]["type"] == "InvalidInput", cidr
    small = await emu.call(
        "POST", f"{NET}/vpcs", json={"vpc": {"name": "x", "cidrv4": "10.1.0.0/25"}}
    )
    assert "/24 or larger" in (await small.json())["NeutronError"]["message"]
    # an update may not shrink a VPC below /24 either
    vpc = (
        await emu.json(
            "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.50.0.0/16"}}
        )
    )["vpc"]
    shrunk = await emu.call(
        "PUT", f"{NET}/vpcs/{vpc['id']}", json={"vpc": {"cidrv4": "10.50.0.0/26"}}
    )
    assert shrunk.status == 400


async def test_vpc_create_answer_has_no_router_external(emu):
    """NHN's create example has no router:external; the list and the detail have it."""
    created = await emu.json(
        "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "vpc-test1", "cidrv4": "10.10.0.0/16"}}
    )
    assert set(created["vpc"]) == set(EXAMPLES["vpc_create"]["vpc"])
    assert "router:external" not in created["vpc"]
    detail = await emu.json("GET", f"{NET}/vpcs/{created['vpc']['id']}")
    assert detail["vpc"]["router:external"] is False


async def test_at_most_ten_subnets_per_vpc(emu):
    vpc = (
        await emu.json(
            "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.60.0.0/16"}}
        )
    )["vpc"]
    for index in range(10):
        body = {"vpc_id": vpc["id"], "cidr": f"10.60.{index}.0/24", "name": f"s{index}"}
        await emu.json("POST", f"{NET}/vpcsubnets", 201, json={"vpcsubnet": body})
    eleventh = {"vpc_id": vpc["id"], "cidr": "10.60.10.0/24", "name": "s10"}
    refused = await emu.call("POST", f"{NET}/vpcsubnets", json={"vpcsubnet": eleventh})
    assert refused.status == 409
    error = (await refused.json())["NeutronError"]
    assert error["type"] == "OverQuota" and "at most 10" in error["message"]
    # the default VPC already holds its default subnet: nine more fit
    default_vpc = (await emu.default_subnet())["vpc_id"]
    for index in range(1, 10):
        body = {"vpc_id": default_vpc, "cidr": f"192.168.{index}.0/24", "name": f"d{index}"}
        await emu.json("POST", f"{NET}/vpcsubnets", 201, json={"vpcsubnet": body})
    body = {"vpc_id": default_vpc, "cidr": "192.168.10.0/24", "name": "d10"}
    assert (await emu.call("POST", f"{NET}/vpcsubnets", json={"vpcsubnet": body})).status == 409


async def test_default_routing_table_has_an_internet_gateway(emu):
    """NHN's first-use setup attaches an internet gateway ig-[id] to the default VPC's
    routing table; a VPC created later has none."""
    subnet = await emu.json("GET", f"{NET}/vpcsubnets/{(await emu.default_subnet())['id']}")
    table = subnet["vpcsubnet"]["routingtable"]
    assert table["gateway_id"] and table["default_table"] is True and table["explicit"] is False
    tables = (await emu.json("GET", f"{NET}/routingtables"))["routingtables"]
    (default,) = [t for t in tables if t["id"] == table["id"]]
    assert default["gateway_id"] == table["gateway_id"]
    assert default["gateway_name"] == f"ig-{table['id'][:13]}"
    detail = (await emu.json("GET", f"{NET}/routingtables/{table['id']}"))["routingtable"]
    routes = {route["cidr"]: route for route in detail["routes"]}
    assert routes["192.168.0.0/16"]["gateway"] == "local"
    assert routes["0.0.0.0/0"]["gateway_id"] == table["gateway_id"]
    with_gateway = await emu.json(
        "GET", f"{NET}/routingtables", params={"gateway_id": table["gateway_id"]}
    )
    assert [t["id"] for t in with_gateway["routingtables"]] == [table["id"]]

    vpc = (
        await emu.json(
            "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.70.0.0/16"}}
        )
    )["vpc"]
    created = await emu.json(
        "POST",
        f"{NET}/vpcsubnets",
        201,
        json={"vpcsubnet": {"vpc_id": vpc["id"], "cidr": "10.70.1.0/24", "name": "private"}},
    )
    fresh = await emu.json("GET", f"{NET}/vpcsubnets/{created['vpcsubnet']['id']}")
    assert fresh["vpcsubnet"]["routingtable"]["gateway_id"] is None
    own_id = fresh["vpcsubnet"]["routingtable"]["id"]
    assert (
        own_id
        == (await emu.json("GET", f"{NET}/vpcs/{vpc['id']}"))["vpc"]["routingtables"][0]["id"]
    )
    own = (await emu.json("GET", f"{NET}/routingtables/{own_id}"))["routingtable"]
    assert (own["gateway_id"], own["gateway_name"]) == (None, None)
    assert [route["cidr"] for route in own["routes"]] == ["10.70.0.0/16"]


# -- security groups and rules ------------------------------------------------------------


async def test_default_security_group_has_nhns_rules(emu):
    """NHN's API guide example: ingress from the group itself (IPv4, IPv6), egress anywhere
    (IPv4, IPv6): nothing from outside gets in."""
    (group,) = (await emu.json("GET", f"{NET}/security-groups"))["security_groups"]
    assert (group["name"], group["description"]) == ("default", "Default security group")
    rules = {(rule["direction"], rule["ethertype"]): rule for rule in group["security_group_rules"]}
    assert set(rules) == {
        ("ingress", "IPv4"),
        ("ingress", "IPv6"),
        ("egress", "IPv4"),
        ("egress", "IPv6"),
    }
    for (direction, _), rule in rules.items():
        assert rule["remote_group_id"] == (group["id"] if direction == "ingress" else None)
        assert rule["remote_ip_prefix"] is None and rule["protocol"] is None
        assert rule["port_range_min"] is None and rule["port_range_max"] is None
        assert rule["description"] == ""
    one = await emu.json("GET", f"{NET}/security-groups/{group['id']}")
    assert one["security_group"] == group


async def _group(emu, name: str = "rules") -> str:
    created = await emu.json(
        "POST", f"{NET}/security-groups", 201, json={"security_group": {"name": name}}
    )
    return created["security_group"]["id"]


async def _rule(emu, group_id: str, **fields) -> tuple[int, dict]:
    body = {"security_group_id": group_id, "direction": "ingress", **fields}
    response = await emu.call(
        "POST", f"{NET}/security-group-rules", json={"security_group_rule": body}
    )
    return response.status, await response.json()


async def test_icmp_rules_take_type_and_code(emu):
    """For icmp, port_range_min/max are the ICMP type and code (0-255), not a range."""
    group_id = await _group(emu)
    status, body = await _rule(emu, group_id, protocol="icmp", port_range_min=8)
    assert status == 201, body
    rule = body["security_group_rule"]
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"]) == ("icmp", 8, None)
    # type 3 (destination unreachable), code 1: min > max is fine for icmp
    status, body = await _rule(emu, group_id, protocol="ICMP", port_range_min=3, port_range_max=1)
    assert status == 201, body
    assert body["security_group_rule"]["protocol"] == "icmp"
    status, body = await _rule(emu, group_id, protocol="icmp")
    assert status == 201 and body["security_group_rule"]["port_range_min"] is None
    cases = [
        ({"port_range_min": 256}, "SecurityGroupInvalidIcmpValue", "ICMP type"),
        ({"port_range_min": 8, "port_range_max": 300}, "SecurityGroupInvalidIcmpValue", "code"),
        ({"port_range_max": 0}, "SecurityGroupMissingIcmpType", "type"),
    ]
    for fields, kind, text in cases:
        status, body = await _rule(emu, group_id, protocol="icmp", **fields)
        assert status == 400, fields
        assert body["NeutronError"]["type"] == kind, fields
        assert text in body["NeutronError"]["message"], fields


async def test_tcp_udp_ports_are_ranges(emu):
    group_id = await _group(emu)
    status, body = await _rule(
        emu,
        group_id,
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
    )
    assert status == 201, body
    status, body = await _rule(
        emu, group_id, protocol="udp", port_range_min="1000", port_range_max="2000"
    )
    assert status == 201 and body["security_group_rule"]["port_range_max"] == 2000
    status, body = await _rule(emu, group_id, protocol="6", port_range_min=80, port_range_max=80)
    assert status == 201 and body["security_group_rule"]["protocol"] == "6"
    cases = [
        (
            {"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
            "SecurityGroupInvalidPortRange",
        ),
        ({"protocol": "tcp", "port_range_min": 80}, "SecurityGroupInvalidPortRange"),
        (
            {"protocol": "udp", "port_range_min": 0, "port_range_max": 10},
            "SecurityGroupInvalidPortValue",
        ),
        (
            {"protocol": "tcp", "port_range_min": 1, "port_range_max": 65536},
            "SecurityGroupInvalidPortValue",
        ),
        (
            {"protocol": "tcp", "port_range_min": "x", "port_range_max": 1},
            "SecurityGroupInvalidPortValue",
        ),
        ({"port_range_min": 22, "port_range_max": 22}, "SecurityGroupProtocolRequiredWithPorts"),
        (
            {"protocol": "gre", "port_range_min": 1, "port_range_max": 2},
            "SecurityGroupInvalidProtocolForPort",
        ),
        ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": "256"}, "SecurityGroupRuleInvalidProtocol"),
    ]
    for fields, kind in cases:
        status, body = await _rule(emu, group_id, **fields)
        assert status == 400, fields
        assert body["NeutronError"]["type"] == kind, fields


async def test_only_ipv4_rules_can_be_created(emu):
    """NHN's API guide: "You can create a security rule for IPv4 only"."""
    group_id = await _group(emu)
    status, body = await _rule(emu, group_id, ethertype="IPv6", protocol="tcp")
    assert status == 400
    assert body["NeutronError"]["type"] == "SecurityGroupRuleInvalidEtherType"
    assert "IPv6" in body["NeutronError"]["message"]
    status, body = await _rule(emu, group_id, protocol="tcp", remote_ip_prefix="::/0")
    assert status == 400
    assert body["NeutronError"]["type"] == "SecurityGroupRuleParameterConflict"
    status, body = await _rule(emu, group_id, protocol="tcp", remote_ip_prefix="10.0.0.7/8")
    assert status == 201 and body["security_group_rule"]["remote_ip_prefix"] == "10.0.0.0/8"
    assert body["security_group_rule"]["ethertype"] == "IPv4"
    status, body = await _rule(
        emu, group_id, protocol="udp", remote_ip_prefix="10.0.0.0/8", remote_group_id=group_id
    )
    assert status == 400
    assert body["NeutronError"]["type"] == "SecurityGroupRemoteGroupAndRemoteIpPrefix"
    status, body = await _rule(emu, group_id, direction="sideways")
    assert status == 400


async def test_duplicate_rule_and_rule_delete(emu):
    group_id = await _group(emu)
    fields = {"protocol": "icmp", "port_range_min": 8, "remote_ip_prefix": "0.0.0.0/0"}
    status, made = await _rule(emu, group_id, **fields)
    assert status == 201
    rule_id = made["security_group_rule"]["id"]
    status, body = await _rule(emu, group_id, **{**fields, "description": "other text"})
    assert status == 409
    error = body["NeutronError"]
    assert error["type"] == "SecurityGroupRuleExists" and rule_id in error["message"]
    got = await emu.json("GET", f"{NET}/security-group-rules/{rule_id}")
    assert got["security_group_rule"]["security_group_id"] == group_id
    assert (await emu.call("DELETE", f"{NET}/security-group-rules/{rule_id}")).status == 204
    gone = await emu.call("DELETE", f"{NET}/security-group-rules/{rule_id}")
    assert gone.status == 404
    assert (await gone.json())["NeutronError"]["type"] == "SecurityGroupRuleNotFound"
    status, _ = await _rule(emu, group_id, **fields)
    assert status == 201  # no longer a duplicate


async def test_security_group_in_use_and_default_group(emu):
    group_id = await _group(emu, "web")
    server_id = await emu.create_server(security_groups=[{"name": "web"}])
    port = (await emu.json("GET", f"{NET}/ports", params={"device_id": server_id}))["ports"][0]
    assert group_id in port["security_groups"]
    in_use = await emu.call("DELETE", f"{NET}/security-groups/{group_id}")
    assert in_use.status == 409
    error = (await in_use.json())["NeutronError"]
    assert error["type"] == "SecurityGroupInUse" and group_id in error["message"]
    default = (await emu.json("GET", f"{NET}/security-groups", params={"name": "default"}))[
        "security_groups"
    ][0]
    refused = await emu.call("DELETE", f"{NET}/security-groups/{default['id']}")
    assert refused.status == 409
    assert (await refused.json())["NeutronError"]["type"] == "SecurityGroupCannotRemoveDefault"
    again = await emu.call(
        "POST", f"{NET}/security-groups", json={"security_group": {"name": "default"}}
    )
    assert again.status == 409
    await emu.call("DELETE", emu.compute(f"/servers/{server_id}"))
    emu.settle()
    assert (await emu.call("DELETE", f"{NET}/security-groups/{group_id}")).status == 204
    missing = await emu.call("GET", f"{NET}/security-groups/{group_id}")
    assert missing.status == 404
    assert (await missing.json())["NeutronError"]["type"] == "SecurityGroupNotFound"


# -- floating IPs -------------------------------------------------------------------------


async def _floating_ip(emu) -> dict:
    public = (await emu.json("GET", f"{NET}/networks", params={"router:external": "True"}))[
        "networks"
    ][0]
    body = {"floatingip": {"floating_network_id": public["id"]}}
    return (await emu.json("POST", f"{NET}/floatingips", 201, json=body))["floatingip"]


async def test_floating_ip_status_follows_the_association(emu):
    """ACTIVE when connected to an instance, DOWN when not (NHN's API guide); right after
    associating NHN still shows DOWN."""
    fip = await _floating_ip(emu)
    assert fip["status"] == "DOWN"
    server_id = await emu.create_server()
    (port,) = (await emu.json("GET", f"{NET}/ports", params={"device_id": server_id}))["ports"]
    path = f"{NET}/floatingips/{fip['id']}"
    associated = (await emu.json("PUT", path, json={"floatingip": {"port_id": port["id"]}}))[
        "floatingip"
    ]
    assert (associated["port_id"], associated["status"]) == (port["id"], "DOWN")
    assert associated["router_id"]
    emu.settle()
    assert (await emu.json("GET", path))["floatingip"]["status"] == "ACTIVE"
    listed = await emu.json("GET", f"{NET}/floatingips", params={"port_id": port["id"]})
    assert [item["id"] for item in listed["floatingips"]] == [fip["id"]]
    released = (await emu.json("PUT", path, json={"floatingip": {"port_id": None}}))["floatingip"]
    assert (released["port_id"], released["fixed_ip_address"], released["status"]) == (
        None,
        None,
        "DOWN",
    )


async def test_an_associated_floating_ip_can_be_deleted(emu):
    """Neutron disassociates and deletes; the instance loses its floating address."""
    fip = await _floating_ip(emu)
    server_id = await emu.create_server()
    (port,) = (await emu.json("GET", f"{NET}/ports", params={"device_id": server_id}))["ports"]
    await emu.json(
        "PUT", f"{NET}/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}}
    )
    emu.settle()
    kinds = [
        a["OS-EXT-IPS:type"] for a in (await emu.server(server_id))["addresses"]["Default Network"]
    ]
    assert kinds == ["fixed", "floating"]
    assert (await emu.call("DELETE", f"{NET}/floatingips/{fip['id']}")).status == 204
    kinds = [
        a["OS-EXT-IPS:type"] for a in (await emu.server(server_id))["addresses"]["Default Network"]
    ]
    assert kinds == ["fixed"]
    other = await _floating_ip(emu)
    await emu.json(
        "PUT", f"{NET}/floatingips/{other['id']}", json={"floatingip": {"port_id": port["id"]}}
    )


async def test_floating_ip_needs_an_internet_gateway(emu):
    """NHN: the instance's subnet must be on a routing table attached to an internet
    gateway; a new VPC has none."""
    vpc = (
        await emu.json(
            "POST", f"{NET}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.80.0.0/16"}}
        )
    )["vpc"]
    subnet = (
        await emu.json(
            "POST",
            f"{NET}/vpcsubnets",
            201,
            json={"vpcsubnet": {"vpc_id": vpc["id"], "cidr": "10.80.1.0/24", "name": "p"}},
        )
    )["vpcsubnet"]
    server_id = await emu.create_server(networks=[{"subnet": subnet["id"]}])
    (port,) = (await emu.json("GET", f"{NET}/ports", params={"device_id": server_id}))["ports"]
    fip = await _floating_ip(emu)
    refused = await emu.call(
        "PUT", f"{NET}/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}}
    )
    assert refused.status == 404
    error = (await refused.json())["NeutronError"]
    assert error["type"] == "ExternalGatewayForFloatingIPNotFound"
    assert subnet["id"] in error["message"]
    assert (await emu.json("GET", f"{NET}/floatingips/{fip['id']}"))["floatingip"][
        "port_id"
    ] is None
    public = fip["floating_network_id"]
    at_create = await emu.call(
        "POST",
        f"{NET}/floatingips",
        json={"floatingip": {"floating_network_id": public, "port_id": port["id"]}},
    )
    assert at_create.status == 404


async def test_ports_filter_by_device_id(emu):
    first = await emu.create_server("a")
    second = await emu.create_server("b")
    for server_id in (first, second):
        ports = (await emu.json("GET", f"{NET}/ports", params={"device_id": server_id}))["ports"]
        assert [port["device_id"] for port in ports] == [server_id]
    none = await emu.json("GET", f"{NET}/ports", params={"device_id": "no-such-server"})
    assert none == {"ports": []}

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

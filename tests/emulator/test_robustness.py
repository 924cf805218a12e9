"""The emulator never answers 500 to bad input: every write route gets junk bodies."""

from __future__ import annotations

import re

from nhn_proxy.emulator.app import ROUTERS

PREFIX = {
    "identity": "/identity",
    "compute": "/kr1/compute",
    "image": "/kr1/image",
    "network": "/kr1/network",
    "kubernetes": "/kr1/kubernetes",
    "object_storage": "/kr1/object-storage",
}
FIELDS = (
    "name",
    "cidrv4",
    "cidr",
    "vpc_id",
    "flavorRef",
    "imageRef",
    "networks",
    "key_name",
    "floating_network_id",
    "port_id",
    "security_group_id",
    "direction",
    "port_range_min",
    "public_key",
    "block_device_mapping_v2",
    "labels",
    "node_count",
    "passwordCredentials",
    "tenantId",
    "min_count",
    "metadata",
    "security_groups",
    "user_data",
    "fixed_ip",
)
JUNK = (None, 1, -1, 1.5, True, "", "x", [], [1, {}], {}, {"a": [None]})


def wrapper_of(path: str) -> str | None:
    """The body wrapper a route expects, guessed from its path (None: top-level fields)."""
    for marker, wrapper in (
        ("security-group-rules", "security_group_rule"),
        ("security-groups", "security_group"),
        ("vpcsubnets", "vpcsubnet"),
        ("vpcs", "vpc"),
        ("floatingips", "floatingip"),
        ("os-keypairs", "keypair"),
        ("metadata", "meta"),
        ("tokens", "auth"),
        ("servers", "server"),
    ):
        if marker in path:
            return wrapper
    return None


def junk_bodies(wrapper: str | None):
    yield b"{"
    yield b"null"
    yield b"[]"
    yield b'"text"'
    for value in JUNK:
        yield {wrapper or "x": value}
    for field in FIELDS:
        for value in JUNK:
            yield {wrapper: {field: value}} if wrapper else {field: value}


def fill(template: str, emu, ids: dict[str, str]) -> str:
    path = template.replace("{tenant_id}", emu.tenant)
    path = path.replace("{account}", f"AUTH_{emu.storage_tenant}")
    return re.sub(r"\{(\w+)[^}]*\}", lambda m: ids.get(m.group(1), "x"), path)


async def existing_ids(emu) -> dict[str, str]:
    """Real resources, so handlers get past their 404 checks and look at the body."""
    net = "/kr1/network/v2.0"
    server_id = await emu.create_server()
    emu.settle()
    vpc = await emu.json(
        "POST", f"{net}/vpcs", 201, json={"vpc": {"name": "v", "cidrv4": "10.9.0.0/16"}}
    )
    subnet = await emu.default_subnet()
    public = (await emu.json("GET", f"{net}/networks", params={"router:external": "true"}))[
        "networks"
    ][0]
    fip = await emu.json(
        "POST",
        f"{net}/floatingips",
        201,
        json={"floatingip": {"floating_network_id": public["id"]}},
    )
    group = await emu.json(
        "POST", f"{net}/security-groups", 201, json={"security_group": {"name": "g"}}
    )
    return {
        "server_id": server_id,
        "vpc_id": vpc["vpc"]["id"],
        "subnet_id": subnet["id"],
        "fip_id": fip["floatingip"]["id"],
        "group_id": group["security_group"]["id"],
        "key": "role",
        "name": "demo-key",
    }


async def test_no_write_route_answers_500(emu):
    ids = await existing_ids(emu)
    for service, router in ROUTERS.items():
        if service not in PREFIX:
            continue
        tenant = emu.storage_tenant if service == "object_storage" else emu.tenant
        for route in router.routes:
            if route.method not in ("POST", "PUT"):
                continue
            path = PREFIX[service] + fill(route.template, emu, ids)
            for body in junk_bodies(wrapper_of(route.template)):
                kwargs = (
                    {"data": body, "headers": {"Content-Type": "application/json"}}
                    if isinstance(body, bytes)
                    else {"json": body}
                )
                response = await emu.call(route.method, path, tenant=tenant, **kwargs)
                assert response.status < 500 or response.status == 501, (
                    route.method,
                    path,
                    body,
                    response.status,
                    await response.text(),
                )


async def test_servers_with_junk_inside_valid_bodies(emu):
    base = await emu.server_body()
    for field in FIELDS:
        for value in JUNK:
            body = {"server": {**base["server"], field: value}}
            response = await emu.call("POST", emu.compute("/servers"), json=body)
            assert response.status in (202, 400, 409), (field, value, await response.text())


async def test_actions_with_junk_arguments(emu):
    server_id = await emu.create_server()
    emu.settle()
    path = emu.compute(f"/servers/{server_id}/action")
    for action in ("reboot", "os-stop", "os-start", "addSecurityGroup", "removeSecurityGroup"):
        for value in JUNK:
            response = await emu.call("POST", path, json={action: value})
            assert response.status in (202, 400, 404, 409), (action, value, await response.text())


async def test_cluster_create_with_junk_inside_valid_bodies(emu):
    from .test_kubernetes import cluster_body

    base = await cluster_body(emu)
    keys = [*base, *(f"labels.{k}" for k in base["labels"])]
    for key in keys:
        for value in JUNK:
            body = {**base, "labels": dict(base["labels"]), "name": "c"}
            if key.startswith("labels."):
                body["labels"][key[len("labels.") :]] = value
            else:
                body[key] = value
            response = await emu.call("POST", "/kr1/kubernetes/v1/clusters", json=body)
            assert response.status in (202, 400, 404, 409), (key, value, await response.text())
            if response.status == 202:
                await emu.call("DELETE", "/kr1/kubernetes/v1/clusters/c")
                emu.clock.advance(60)

"""Every route of the seed spec, with and without its trailing slash, over real sockets:
the public shape of each answer (spec fields and types, design §8 wrappers) and the native
method and path the proxy called on the emulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from nhn_proxy.emulator import DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID
from tests.e2e.conftest import (
    JSON,
    Stack,
    check_shape,
    cluster_body,
    create_cluster,
    create_container,
    create_keypair,
    create_server,
    create_subnet,
    create_vpc,
    default_subnet_id,
    flavor_id,
    ubuntu_image_id,
)

pytestmark = pytest.mark.e2e

SLASHES = pytest.mark.parametrize("slash", ["/", ""], ids=["slash", "no-slash"])
NONE = type(None)
T = DEMO_TENANT_ID
ACCOUNT = f"AUTH_{DEMO_STORAGE_TENANT_ID}"
COMPUTE = f"/kr2/compute/v2/{T}"
NETWORK = "/kr2/network/v2.0"
NKS = "/kr2/kubernetes/v1/clusters"
SWIFT = f"/kr2/object-storage/v1/{ACCOUNT}"

TOKEN_SHAPE = {"token": str, "tenant_id": str, "expires_at": str}
TOKEN_EXTRAS = {"storage_account": (str, NONE)}
FLAVOR_SHAPE = {"id": str, "name": str, "vcpus": int, "ram": int, "disk": int}
KEYPAIR_SHAPE = {"name": str, "public_key": str, "fingerprint": str}
IMAGE_SHAPE = {"id": str, "name": str, "status": str, "created_at": str}
SERVER_SHAPE = {"id": str, "name": str, "status": str, "addresses": dict, "created": str}
SERVER_DETAIL_SHAPE = {**SERVER_SHAPE, "flavor": dict, "image": dict}
VPC_SHAPE = {"id": str, "name": str, "cidrv4": str, "state": str}
VPC_EXTRAS = {"external": bool}
SUBNET_SHAPE = {
    "id": str,
    "name": str,
    "vpc_id": str,
    "cidr": str,
    "gateway": (str, NONE),
    "external": bool,
}
FIP_SHAPE = {"id": str, "floating_ip_address": str, "status": str, "port_id": (str, NONE)}
CLUSTER_SHAPE = {"uuid": str, "name": str, "status": str, "node_count": int}
CLUSTER_DETAIL_EXTRAS = {
    key: (str, NONE)
    for key in (
        "status_reason",
        "kubernetes_version",
        "api_address",
        "created_at",
        "updated_at",
        "health_status",
        "fixed_network",
        "fixed_subnet",
        "flavor_id",
        "keypair",
    )
}


def check_addresses(addresses: dict[str, Any]) -> None:
    for entries in addresses.values():
        assert isinstance(entries, list)
        for entry in entries:
            assert isinstance(entry["addr"], str)
            assert entry["version"] in (4, 6)


def check_server_detail(server: JSON) -> None:
    check_shape(server, SERVER_DETAIL_SHAPE)
    check_shape(server["flavor"], {"id": str})
    check_shape(server["image"], {"id": (str, NONE)})
    check_addresses(server["addresses"])


# -- token ---------------------------------------------------------------------------------------


@SLASHES
async def test_token(stack: Stack, slash: str) -> None:
    await stack.clear_requests()
    reply = await stack.token_reply(slash=slash)
    token = reply.expect(200)
    check_shape(token, TOKEN_SHAPE, extras=TOKEN_EXTRAS)
    assert token["tenant_id"] == DEMO_TENANT_ID
    assert token["expires_at"].endswith("Z")
    assert token["storage_account"] is None
    (entry,) = await stack.native_requests()
    assert (entry["method"], entry["path"]) == ("POST", "/identity/v2.0/tokens")
    assert entry["body"]["auth"]["tenantId"] == DEMO_TENANT_ID
    assert entry["body"]["auth"]["passwordCredentials"]["password"] == "***"  # journal redacts

    storage = (await stack.token_reply(DEMO_STORAGE_TENANT_ID, slash=slash)).expect(200)
    check_shape(storage, TOKEN_SHAPE, extras=TOKEN_EXTRAS)
    assert storage["storage_account"] == ACCOUNT


# -- compute -------------------------------------------------------------------------------------


@SLASHES
async def test_flavors(stack: Stack, slash: str) -> None:
    reply, calls = await stack.traced("GET", f"/compute/flavors{slash}", "compute")
    flavors = reply.expect(200)["flavors"]
    assert flavors
    for flavor in flavors:
        check_shape(flavor, FLAVOR_SHAPE)
    assert {"m2.c2m4", "u2.c2m4"} <= {flavor["name"] for flavor in flavors}
    assert calls == [("GET", f"{COMPUTE}/flavors/detail")]


@SLASHES
async def test_keypairs(stack: Stack, slash: str) -> None:
    created = await create_keypair(stack, "e2e-key")
    reply, calls = await stack.traced("GET", f"/compute/keypairs{slash}", "compute")
    keypairs = reply.expect(200)["keypairs"]
    for entry in keypairs:  # the demo tenant may have seeded key pairs too
        check_shape(entry, {"keypair": dict})
        check_shape(entry["keypair"], KEYPAIR_SHAPE)
    ours = [entry["keypair"] for entry in keypairs if entry["keypair"]["name"] == "e2e-key"]
    assert ours == [
        {
            "name": "e2e-key",
            "public_key": created["public_key"],
            "fingerprint": created["fingerprint"],
        }
    ]
    assert calls == [("GET", f"{COMPUTE}/os-keypairs")]


@SLASHES
async def test_images_need_no_tenant(stack: Stack, slash: str) -> None:
    reply, calls = await stack.traced("GET", f"/compute/images{slash}", "network")
    images = reply.expect(200)["images"]
    assert images
    for image in images:
        check_shape(image, IMAGE_SHAPE)
    assert calls == [("GET", "/kr2/image/v2/images")]
    (entry,) = await stack.native_requests()
    assert entry["has_token"] is True


@SLASHES
async def test_instances_list(stack: Stack, slash: str) -> None:
    server = await create_server(stack, "listed-vm")
    reply, calls = await stack.traced("GET", f"/compute/instances{slash}", "compute")
    servers = reply.expect(200)["servers"]
    assert [s["id"] for s in servers] == [server["id"]]
    check_shape(servers[0], SERVER_SHAPE)
    check_addresses(servers[0]["addresses"])
    assert servers[0]["name"] == "listed-vm"
    assert servers[0]["status"] in ("BUILD", "ACTIVE")
    assert calls == [("GET", f"{COMPUTE}/servers/detail")]


@SLASHES
async def test_instance_get(stack: Stack, slash: str) -> None:
    server = await create_server(stack, "my-instance")
    await stack.advance(1)  # past the build delay
    reply, calls = await stack.traced("GET", f"/compute/instances/{server['id']}{slash}", "compute")
    detail = reply.expect(200)["server"]
    check_server_detail(detail)
    assert detail["id"] == server["id"]
    assert detail["status"] == "ACTIVE"
    assert detail["flavor"]["id"] == await flavor_id(stack)
    addresses = [entry["addr"] for entries in detail["addresses"].values() for entry in entries]
    assert addresses and all(addr.startswith("192.168.0.") for addr in addresses)
    assert calls == [("GET", f"{COMPUTE}/servers/{server['id']}")]


@SLASHES
async def test_instance_create(stack: Stack, slash: str) -> None:
    await create_keypair(stack)
    body = {
        "name": "my-new-instance",
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": await flavor_id(stack, "m2.c2m4"),
        "subnet_id": await default_subnet_id(stack),
        "keypair_name": "e2e-key",
        "volume_size": 30,
        "security_groups": ["default"],
        "availability_zone": "kr2-pub-a",
    }
    reply, calls = await stack.traced(
        "POST", f"/compute/instances/create{slash}", "compute", json=body
    )
    server = reply.expect(201)["server"]
    check_shape(server, {"id": str, "name": str, "status": str})
    assert server["name"] == "my-new-instance" and server["status"] == "BUILD"
    assert calls == [("GET", f"{COMPUTE}/flavors/detail"), ("POST", f"{COMPUTE}/servers")]
    native = (await stack.native_requests(method="POST"))[0]["body"]["server"]
    assert native["name"] == "my-new-instance"
    assert native["key_name"] == "e2e-key"
    assert native["networks"] == [{"subnet": body["subnet_id"]}]
    assert native["availability_zone"] == "kr2-pub-a"
    assert native["block_device_mapping_v2"][0]["destination_type"] == "volume"
    assert native["block_device_mapping_v2"][0]["volume_size"] == 30
    # the emulator really has it
    got = await stack.native("GET", stack.compute_path(f"/servers/{server['id']}"))
    assert got.expect(200)["server"]["name"] == "my-new-instance"


@SLASHES
async def test_instance_delete(stack: Stack, slash: str) -> None:
    server = await create_server(stack)
    await stack.advance(1)
    reply, calls = await stack.traced(
        "DELETE", f"/compute/instances/{server['id']}{slash}", "compute"
    )
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{COMPUTE}/servers/{server['id']}")]


@SLASHES
async def test_instance_action(stack: Stack, slash: str) -> None:
    server = await create_server(stack)
    await stack.advance(1)
    reply, calls = await stack.traced(
        "POST",
        f"/compute/instances/{server['id']}/action{slash}",
        "compute",
        json={"action": "stop"},
    )
    assert reply.expect(200) == {"status": "success", "action": "stop"}
    assert calls == [("POST", f"{COMPUTE}/servers/{server['id']}/action")]
    (entry,) = await stack.native_requests()
    assert entry["body"] == {"os-stop": None}


# -- VPC, subnets, floating IPs --------------------------------------------------------------


@SLASHES
async def test_vpc_list(stack: Stack, slash: str) -> None:
    reply, calls = await stack.traced("GET", f"/vpc{slash}", "network")
    vpcs = reply.expect(200)["vpcs"]
    for vpc in vpcs:
        check_shape(vpc, VPC_SHAPE, extras=VPC_EXTRAS)
    by_name = {vpc["name"]: vpc for vpc in vpcs}
    assert by_name["Default Network"]["external"] is False
    assert by_name["Default Network"]["cidrv4"] == "192.168.0.0/16"
    assert [vpc["external"] for vpc in vpcs].count(True) == 1  # NHN's shared public network
    assert calls == [("GET", f"{NETWORK}/vpcs")]


@SLASHES
async def test_vpc_create(stack: Stack, slash: str) -> None:
    body = {"name": "my-new-vpc", "cidr": "10.0.0.0/16"}
    reply, calls = await stack.traced("POST", f"/vpc/create{slash}", "network", json=body)
    vpc = reply.expect(201)["vpc"]
    check_shape(vpc, {"id": str, "name": str, "cidrv4": str}, extras={**VPC_SHAPE, **VPC_EXTRAS})
    assert (vpc["name"], vpc["cidrv4"]) == ("my-new-vpc", "10.0.0.0/16")
    assert calls == [("POST", f"{NETWORK}/vpcs")]
    (entry,) = await stack.native_requests()
    assert entry["body"] == {"vpc": {"name": "my-new-vpc", "cidrv4": "10.0.0.0/16"}}


@SLASHES
async def test_vpc_get(stack: Stack, slash: str) -> None:
    vpc = await create_vpc(stack)
    subnet = await create_subnet(stack, vpc["id"])
    reply, calls = await stack.traced("GET", f"/vpc/{vpc['id']}{slash}", "network")
    detail = reply.expect(200)["vpc"]
    check_shape(detail, VPC_SHAPE, extras={**VPC_EXTRAS, "subnets": list})
    assert detail["id"] == vpc["id"] and detail["external"] is False
    assert [s["id"] for s in detail["subnets"]] == [subnet["id"]]
    check_shape(detail["subnets"][0], SUBNET_SHAPE)
    assert calls == [("GET", f"{NETWORK}/vpcs/{vpc['id']}")]


@SLASHES
async def test_vpc_delete(stack: Stack, slash: str) -> None:
    vpc = await create_vpc(stack)
    reply, calls = await stack.traced("DELETE", f"/vpc/{vpc['id']}{slash}", "network")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NETWORK}/vpcs/{vpc['id']}")]
    assert (await stack.get(f"/vpc/{vpc['id']}/", "network")).status == 404


@SLASHES
async def test_subnet_list(stack: Stack, slash: str) -> None:
    vpc = await create_vpc(stack)
    subnet = await create_subnet(stack, vpc["id"])
    reply, calls = await stack.traced("GET", f"/subnet{slash}", "network")
    subnets = reply.expect(200)["vpcsubnets"]
    for item in subnets:
        check_shape(item, SUBNET_SHAPE)
    assert subnet["id"] in {item["id"] for item in subnets}
    assert "default" in {item["name"] for item in subnets}
    assert calls == [("GET", f"{NETWORK}/vpcsubnets")]


@SLASHES
async def test_subnet_create(stack: Stack, slash: str) -> None:
    vpc = await create_vpc(stack)
    body = {"vpc_id": vpc["id"], "name": "my-new-subnet", "cidr": "172.16.1.0/24"}
    reply, calls = await stack.traced("POST", f"/subnet/create{slash}", "network", json=body)
    subnet = reply.expect(201)["vpcsubnet"]
    check_shape(subnet, SUBNET_SHAPE)
    assert (subnet["vpc_id"], subnet["name"], subnet["cidr"]) == (
        vpc["id"],
        "my-new-subnet",
        "172.16.1.0/24",
    )
    assert subnet["gateway"] == "172.16.1.1"
    assert calls == [("POST", f"{NETWORK}/vpcsubnets")]


@SLASHES
async def test_subnet_get(stack: Stack, slash: str) -> None:
    vpc = await create_vpc(stack)
    subnet = await create_subnet(stack, vpc["id"])
    reply, calls = await stack.traced("GET", f"/subnet/{subnet['id']}{slash}", "network")
    got = reply.expect(200)["vpcsubnet"]
    check_shape(got, SUBNET_SHAPE)
    assert got == subnet
    assert calls == [("GET", f"{NETWORK}/vpcsubnets/{subnet['id']}")]


@SLASHES
async def test_subnet_delete(stack: Stack, slash: str) -> None:
    vpc = await create_vpc(stack)
    subnet = await create_subnet(stack, vpc["id"])
    reply, calls = await stack.traced("DELETE", f"/subnet/{subnet['id']}{slash}", "network")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NETWORK}/vpcsubnets/{subnet['id']}")]
    assert (await stack.get(f"/subnet/{subnet['id']}/", "network")).status == 404


@SLASHES
async def test_floatingip_list(stack: Stack, slash: str) -> None:
    vpcs = (await stack.get("/vpc/", "network")).expect(200)["vpcs"]
    public = next(vpc for vpc in vpcs if vpc["external"])
    created = await stack.native(
        "POST",
        stack.network_path("/v2.0/floatingips"),
        json={"floatingip": {"floating_network_id": public["id"]}},
    )
    fip_id = created.expect(201)["floatingip"]["id"]
    reply, calls = await stack.traced("GET", f"/floatingip{slash}", "network")
    fips = reply.expect(200)["floatingips"]
    assert [fip["id"] for fip in fips] == [fip_id]
    check_shape(fips[0], FIP_SHAPE)
    assert fips[0]["status"] == "DOWN" and fips[0]["port_id"] is None
    assert calls == [("GET", f"{NETWORK}/floatingips")]


# -- NKS -----------------------------------------------------------------------------------------


@SLASHES
async def test_cluster_create(stack: Stack, slash: str) -> None:
    body = await cluster_body(stack, "my-cluster")
    reply, calls = await stack.traced("POST", f"/nks/clusters/create{slash}", "network", json=body)
    cluster = reply.expect(201)["cluster"]
    check_shape(cluster, CLUSTER_SHAPE)
    assert cluster["name"] == "my-cluster"
    assert cluster["status"] == "CREATE_IN_PROGRESS" and cluster["node_count"] == 1
    # the version table, the node image and the external network are looked up
    # (concurrently), then the cluster is created
    assert sorted(calls) == sorted(
        [
            ("GET", "/kr2/kubernetes/v1/supports"),
            ("GET", "/kr2/image/v2/images"),
            ("GET", f"{NETWORK}/networks"),
            ("POST", NKS),
        ]
    )
    assert calls[-1] == ("POST", NKS)
    entries = await stack.native_requests(service="kubernetes", method="POST")
    assert entries[0]["headers"]["OpenStack-API-Version"] == "container-infra latest"
    native = entries[0]["body"]
    assert native["name"] == "my-cluster"
    assert native["cluster_template_id"] == "iaas_console"
    assert native["labels"]["master_lb_floating_ip_enabled"] == "True"
    assert native["labels"]["external_network_id"]
    assert all(isinstance(value, str) for value in native["labels"].values())


@SLASHES
async def test_cluster_list(stack: Stack, slash: str) -> None:
    created = await create_cluster(stack, "listed")
    reply, calls = await stack.traced("GET", f"/nks/clusters{slash}", "network")
    clusters = reply.expect(200)["clusters"]
    assert [c["uuid"] for c in clusters] == [created["uuid"]]
    check_shape(clusters[0], CLUSTER_SHAPE)
    assert calls == [("GET", NKS)]


@SLASHES
async def test_cluster_get(stack: Stack, slash: str) -> None:
    created = await create_cluster(stack, "shown")
    await stack.advance(1)  # past the cluster delay
    reply, calls = await stack.traced("GET", f"/nks/clusters/shown{slash}", "network")
    cluster = reply.expect(200)["cluster"]
    check_shape(cluster, CLUSTER_SHAPE, extras=CLUSTER_DETAIL_EXTRAS)
    assert cluster["uuid"] == created["uuid"]
    assert cluster["status"] == "CREATE_COMPLETE"
    assert cluster["kubernetes_version"] == "v1.29.3"
    assert calls == [("GET", f"{NKS}/shown")]


@SLASHES
async def test_cluster_config(stack: Stack, slash: str) -> None:
    await create_cluster(stack, "configured")
    await stack.advance(1)
    reply, calls = await stack.traced("GET", f"/nks/clusters/configured/config{slash}", "network")
    config = reply.expect(200)
    check_shape(config, {"config": str})
    assert config["config"].startswith("apiVersion: v1")
    assert "clusters:" in config["config"]
    assert calls == [("GET", f"{NKS}/configured/config")]


@SLASHES
async def test_cluster_delete(stack: Stack, slash: str) -> None:
    await create_cluster(stack, "doomed")
    await stack.advance(1)
    reply, calls = await stack.traced("DELETE", f"/nks/clusters/doomed{slash}", "network")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NKS}/doomed")]


# -- object storage ------------------------------------------------------------------------------


@SLASHES
async def test_container_list(stack: Stack, slash: str) -> None:
    await create_container(stack, "container1")
    await create_container(stack, "container2")
    reply, calls = await stack.traced("GET", f"/storage/containers{slash}", "storage")
    assert reply.expect(200) == {"containers": ["container1", "container2"]}
    assert calls == [("GET", SWIFT)]
    (entry,) = await stack.native_requests()
    assert entry["query"]["format"] == "json"


@SLASHES
async def test_container_create(stack: Stack, slash: str) -> None:
    body = {"name": "my-new-container"}
    reply, calls = await stack.traced(
        "POST", f"/storage/containers/create{slash}", "storage", json=body
    )
    assert reply.expect(201) == {"status": 201, "container": "my-new-container"}
    assert calls == [("PUT", f"{SWIFT}/my-new-container")]


@SLASHES
async def test_container_objects(stack: Stack, slash: str) -> None:
    await create_container(stack, "photos")
    for name in ("file1.txt", "folder/file3.json"):
        uploaded = await stack.native(
            "PUT", stack.storage_path(f"/photos/{name}"), storage=True, data=b"hello"
        )
        assert uploaded.status == 201, uploaded
    reply, calls = await stack.traced("GET", f"/storage/containers/photos{slash}", "storage")
    assert reply.expect(200) == {"objects": ["file1.txt", "folder/file3.json"]}
    assert calls == [("GET", f"{SWIFT}/photos")]


@SLASHES
async def test_container_delete(stack: Stack, slash: str) -> None:
    await create_container(stack, "empty")
    reply, calls = await stack.traced("DELETE", f"/storage/containers/empty{slash}", "storage")
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{SWIFT}/empty")]


# -- details around the routes ------------------------------------------------------------------


async def test_cors_preflight_allows_the_spec_headers(stack: Stack) -> None:
    headers = {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-nhn-region,x-nhn-token,x-nhn-tenant-id",
    }
    reply = await stack.call("OPTIONS", "/compute/instances/", headers=headers)
    assert reply.status == 200, reply
    assert reply.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    allowed = reply.headers["Access-Control-Allow-Headers"].lower()
    for name in ("x-nhn-region", "x-nhn-token", "x-nhn-tenant-id"):
        assert name in allowed


async def test_region_header_is_case_insensitive(stack: Stack) -> None:
    reply, calls = await stack.traced("GET", "/vpc/", "network", headers={"X-NHN-Region": "KR2"})
    assert reply.status == 200, reply
    assert calls == [("GET", f"{NETWORK}/vpcs")]


async def test_subnet_list_filtered_by_vpc(stack: Stack) -> None:
    vpc = await create_vpc(stack)
    subnet = await create_subnet(stack, vpc["id"])
    await stack.headers("network")
    await stack.clear_requests()
    reply = await stack.get(f"/subnet/?vpc_id={vpc['id']}", "network")
    assert [item["id"] for item in reply.expect(200)["vpcsubnets"]] == [subnet["id"]]
    (entry,) = await stack.native_requests()
    assert entry["query"] == {"vpc_id": vpc["id"]}


async def test_private_cluster_needs_no_external_network(stack: Stack) -> None:
    """A private cluster whose subnet's routing table has no internet gateway: the subnet is
    read (NKS wants the external labels whenever its router reaches one), nothing more."""
    body = {**(await cluster_body(stack, "private")), "is_public": False}
    reply, calls = await stack.traced("POST", "/nks/clusters/create/", "network", json=body)
    assert reply.expect(201)["cluster"]["name"] == "private"
    subnet = f"/kr2/network/v2.0/vpcsubnets/{body['subnet_id']}"
    assert sorted(calls) == [
        ("GET", "/kr2/image/v2/images"),
        ("GET", "/kr2/kubernetes/v1/supports"),
        ("GET", subnet),
        ("POST", NKS),
    ]
    native = (await stack.native_requests(service="kubernetes", method="POST"))[0]["body"]
    assert native["labels"]["master_lb_floating_ip_enabled"] == "False"
    assert "external_network_id" not in native["labels"]


@pytest.mark.parametrize("name", ["my+container@1", "사진-2024", "a%b", "dots.and_under~"])
async def test_container_names_are_one_encoded_segment(stack: Stack, name: str) -> None:
    created = await stack.post("/storage/containers/create/", "storage", {"name": name})
    assert created.expect(201) == {"status": 201, "container": name}
    listed = await stack.get("/storage/containers/", "storage")
    assert listed.expect(200) == {"containers": [name]}
    segment = quote(name, safe="")
    objects = await stack.get(f"/storage/containers/{segment}/", "storage")
    assert objects.expect(200) == {"objects": []}
    deleted = await stack.delete(f"/storage/containers/{segment}", "storage")
    assert deleted.status == 204, deleted
    paths = [path for method, path in await stack.native_calls() if method == "PUT"]
    assert paths == [f"{SWIFT}/{segment}"]


async def test_object_names_come_back_as_stored(stack: Stack) -> None:
    await create_container(stack, "docs")
    names = ["a b.txt", "folder/file3.json", "한글.png", "q?x=1#frag"]
    for name in names:
        put = await stack.native(
            "PUT", stack.storage_path(f"/docs/{quote(name, safe='/')}"), storage=True, data=b"1"
        )
        assert put.status == 201, (name, put)
    reply = await stack.get("/storage/containers/docs/", "storage")
    assert reply.expect(200) == {"objects": sorted(names)}

"""Whole scenarios a front end runs, with the emulator's real (short) transition delays:
an instance from VPC to deletion, an NKS cluster from creation to deletion, and a container
from creation to deletion."""

from __future__ import annotations

import ipaddress

import pytest

from nhn_proxy.emulator import DEMO_STORAGE_TENANT_ID
from tests.e2e.conftest import (
    JSON,
    Reply,
    Stack,
    check_error,
    create_keypair,
    flavor_id,
    ubuntu_image_id,
)

pytestmark = pytest.mark.e2e


async def instance_status(stack: Stack, server_id: str) -> str | int:
    """The instance's status, or the HTTP status when it cannot be read (404: gone)."""
    reply = await stack.get(f"/compute/instances/{server_id}/", "compute")
    return reply.body["server"]["status"] if reply.status == 200 else reply.status


async def wait_status(
    stack: Stack, server_id: str, wanted: str | int, allowed: set[str | int]
) -> list[str | int]:
    """Poll until the instance shows `wanted`; every status seen on the way is in `allowed`."""
    seen: list[str | int] = []

    async def probe() -> str | int:
        status = await instance_status(stack, server_id)
        seen.append(status)
        return status

    await stack.wait_for(probe, lambda status: status == wanted, timeout=10, what=str(wanted))
    assert set(seen) <= allowed | {wanted}, seen
    return seen


async def act(stack: Stack, server_id: str, action: str) -> None:
    reply = await stack.post(
        f"/compute/instances/{server_id}/action/", "compute", {"action": action}
    )
    assert reply.expect(200) == {"status": "success", "action": action}


async def test_instance_lifecycle(stack: Stack) -> None:
    token = (await stack.token_reply()).expect(200)
    assert token["token"]

    vpc = (
        await stack.post("/vpc/create/", "network", {"name": "web-vpc", "cidr": "10.10.0.0/16"})
    ).expect(201)["vpc"]
    subnet = (
        await stack.post(
            "/subnet/create/",
            "network",
            {"vpc_id": vpc["id"], "name": "web-subnet", "cidr": "10.10.1.0/24"},
        )
    ).expect(201)["vpcsubnet"]
    await create_keypair(stack, "web-key")
    body = {
        "name": "web-01",
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": await flavor_id(stack, "u2.c2m4"),  # a local-disk flavor
        "subnet_id": subnet["id"],
        "keypair_name": "web-key",
    }
    created = (await stack.post("/compute/instances/create/", "compute", body)).expect(201)
    server_id = created["server"]["id"]
    assert created["server"] == {"id": server_id, "name": "web-01", "status": "BUILD"}
    root_disk = (await stack.native_requests(method="POST", service="compute"))[-1]["body"][
        "server"
    ]["block_device_mapping_v2"][0]
    # NHN's Terraform guide requires volume_size for a local root disk too: the flavor's disk
    flavors = (await stack.get("/compute/flavors/", "compute")).expect(200)["flavors"]
    disk = next(flavor["disk"] for flavor in flavors if flavor["id"] == body["flavor_id"])
    assert root_disk["destination_type"] == "local" and root_disk["volume_size"] == disk > 0

    await wait_status(stack, server_id, "ACTIVE", {"BUILD"})
    server = (await stack.get(f"/compute/instances/{server_id}", "compute")).expect(200)["server"]
    assert list(server["addresses"]) == ["web-vpc"]
    (address,) = server["addresses"]["web-vpc"]
    assert ipaddress.ip_address(address["addr"]) in ipaddress.ip_network("10.10.1.0/24")
    listed = (await stack.get("/compute/instances", "compute")).expect(200)["servers"]
    assert [(s["id"], s["status"]) for s in listed] == [(server_id, "ACTIVE")]

    await act(stack, server_id, "stop")
    await wait_status(stack, server_id, "SHUTOFF", {"ACTIVE"})
    await act(stack, server_id, "start")
    await wait_status(stack, server_id, "ACTIVE", {"SHUTOFF"})
    await act(stack, server_id, "reboot")
    await wait_status(stack, server_id, "ACTIVE", {"REBOOT", "ACTIVE"})
    actions = [
        entry["body"]
        for entry in await stack.native_requests(method="POST", service="compute")
        if entry["path"].endswith("/action")
    ]
    assert actions == [{"os-stop": None}, {"os-start": None}, {"reboot": {"type": "SOFT"}}]

    deleted = await stack.delete(f"/compute/instances/{server_id}/", "compute")
    assert deleted.status == 204
    await wait_status(stack, server_id, 404, {"ACTIVE", "DELETED"})
    gone = await stack.get(f"/compute/instances/{server_id}/", "compute")
    check_error(gone, 404, server_id)

    # with the instance gone its port is released: the subnet and the VPC can go too
    assert (await stack.delete(f"/subnet/{subnet['id']}/", "network")).status == 204
    assert (await stack.delete(f"/vpc/{vpc['id']}/", "network")).status == 204
    vpcs = (await stack.get("/vpc/", "network")).expect(200)["vpcs"]
    assert vpc["id"] not in {item["id"] for item in vpcs}


async def cluster_reply(stack: Stack, name: str) -> Reply:
    return await stack.get(f"/nks/clusters/{name}/", "network")


async def test_nks_lifecycle(stack: Stack) -> None:
    await create_keypair(stack, "k8s-key")
    vpc = (
        await stack.post("/vpc/create/", "network", {"name": "k8s-vpc", "cidr": "172.20.0.0/16"})
    ).expect(201)["vpc"]
    subnet = (
        await stack.post(
            "/subnet/create/",
            "network",
            {"vpc_id": vpc["id"], "name": "k8s-subnet", "cidr": "172.20.0.0/24"},
        )
    ).expect(201)["vpcsubnet"]
    body: JSON = {
        "cluster_name": "demo-k8s",
        "vpc_id": vpc["id"],
        "subnet_id": subnet["id"],
        "instance_type": await flavor_id(stack, "m2.c4m8"),
        "keypair_name": "k8s-key",
        "kubernetes_version": "v1.30.3",
        "availability_zone": "kr2-pub-b",
        "is_public": True,
        "node_count": 2,
    }
    created = (await stack.post("/nks/clusters/create/", "network", body)).expect(201)
    uuid = created["cluster"]["uuid"]
    assert created == {
        "cluster": {
            "uuid": uuid,
            "name": "demo-k8s",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 2,
        }
    }
    # the proxy found the node image and the region's external network by itself
    (native,) = await stack.native_requests(service="kubernetes", method="POST")
    labels = native["body"]["labels"]
    images = (await stack.get("/compute/images/", "network")).expect(200)["images"]
    assert labels["node_image"] in {image["id"] for image in images}
    public = next(
        item
        for item in (await stack.get("/vpc/", "network")).expect(200)["vpcs"]
        if item["external"]
    )
    assert labels["external_network_id"] == public["id"]
    assert labels["external_subnet_id_list"]

    # the kubeconfig is refused while the cluster is being created
    early = await stack.get("/nks/clusters/demo-k8s/config/", "network")
    check_error(early, 409, "CREATE_COMPLETE")

    seen: list[str] = []

    async def status() -> str | int:
        reply = await cluster_reply(stack, "demo-k8s")
        value = reply.body["cluster"]["status"] if reply.status == 200 else reply.status
        seen.append(value)
        return value

    await stack.wait_for(status, lambda s: s == "CREATE_COMPLETE", what="CREATE_COMPLETE")
    assert set(seen) <= {"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}
    cluster = (await cluster_reply(stack, uuid)).expect(200)["cluster"]  # by uuid too
    assert (cluster["name"], cluster["node_count"]) == ("demo-k8s", 2)
    assert cluster["kubernetes_version"] == "v1.30.3"
    assert (cluster["fixed_network"], cluster["fixed_subnet"]) == (vpc["id"], subnet["id"])
    listed = (await stack.get("/nks/clusters", "network")).expect(200)["clusters"]
    assert listed == [
        {"uuid": uuid, "name": "demo-k8s", "status": "CREATE_COMPLETE", "node_count": 2}
    ]

    config = (await stack.get("/nks/clusters/demo-k8s/config/", "network")).expect(200)
    assert list(config) == ["config"] and isinstance(config["config"], str)
    text = config["config"]
    assert text.startswith("apiVersion: v1\n")
    for marker in ("clusters:", "contexts:", "users:", "client-key-data:", "kind: Config"):
        assert marker in text
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with the test dependencies
        pass
    else:
        parsed = yaml.safe_load(text)
        assert parsed["kind"] == "Config"
        assert parsed["clusters"][0]["name"] == "demo-k8s"
        assert parsed["clusters"][0]["cluster"]["server"].startswith("https://")

    assert (await stack.delete("/nks/clusters/demo-k8s/", "network")).status == 204
    seen.clear()
    await stack.wait_for(status, lambda s: s == 404, what="the cluster to disappear")
    assert set(seen) <= {"DELETE_IN_PROGRESS", 404}
    check_error(await cluster_reply(stack, "demo-k8s"), 404, "demo-k8s")
    assert (await stack.get("/nks/clusters/", "network")).expect(200) == {"clusters": []}


async def test_container_lifecycle(stack: Stack) -> None:
    token = (await stack.token_reply(DEMO_STORAGE_TENANT_ID)).expect(200)
    assert token["storage_account"].startswith("AUTH_")

    first = await stack.post("/storage/containers/create/", "storage", {"name": "backups"})
    assert first.expect(201) == {"status": 201, "container": "backups"}
    again = await stack.post("/storage/containers/create", "storage", {"name": "backups"})
    assert again.expect(202) == {"status": 202, "container": "backups"}
    assert (await stack.get("/storage/containers/", "storage")).expect(200) == {
        "containers": ["backups"]
    }
    assert (await stack.get("/storage/containers/backups/", "storage")).expect(200) == {
        "objects": []
    }

    deleted = await stack.delete("/storage/containers/backups/", "storage")
    assert deleted.status == 204 and deleted.text == ""
    check_error(await stack.get("/storage/containers/backups/", "storage"), 404)
    assert (await stack.get("/storage/containers/", "storage")).expect(200) == {"containers": []}
    check_error(await stack.delete("/storage/containers/backups/", "storage"), 404)

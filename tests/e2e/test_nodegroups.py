"""NKS node groups and versions through the proxy against the emulator (issue 12): the
versions NKS offers, a created cluster's node groups, adding and deleting a group (at once
and as a task), NKS's refusal to delete `default-worker`, resizing a group as a task until
UPDATE_COMPLETE, and a cluster create with a version NKS no longer offers, refused before
anything is created.

NHN facts (NKS API guide "Node Groups", "Resize" and "Supported versions"; NHN's Terraform
provider `nhncloud_kubernetes_nodegroup_v1` / `..._cluster_resize_v1`; Magnum's node group
API, which NKS is):

* `GET /v1/supports` maps each version to whether new clusters may use it;
* a node group is created with `name`, `flavor_id`, `image_id`, `node_count` and the labels
  `availability_zone`, `boot_volume_type`, `boot_volume_size`, `ca_enable` (202, the group
  without a status), then CREATE_IN_PROGRESS → CREATE_COMPLETE; a deleted one
  DELETE_IN_PROGRESS, then gone;
* deleting the default group is Magnum's 400 "Deleting a default nodegroup is not
  supported.";
* `actions/resize` `{"node_count", "nodegroup"}` answers 202 `{"uuid"}` and the cluster goes
  UPDATE_IN_PROGRESS → UPDATE_COMPLETE.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import (
    API,
    CLUSTER_DELAY,
    JSON,
    Reply,
    Stack,
    StackFactory,
    check_error,
    check_shape,
    cluster_body,
    flavor_id,
)

pytestmark = pytest.mark.e2e

NKS = "/kr2/kubernetes/v1"
ASYNC = {"Prefer": "respond-async"}
TASK_SETTINGS = {"poll_initial": 0.05, "poll_max": 0.2, "deadline": 20}
FINAL = {"succeeded", "failed", "timed_out", "interrupted"}
NODEGROUP_SHAPE = {
    "uuid": str,
    "name": str,
    "status": str,
    "node_count": int,
    "flavor_id": (str, type(None)),
    "image_id": (str, type(None)),
}
NODEGROUP_DETAIL_SHAPE = {
    **NODEGROUP_SHAPE,
    "status_reason": (str, type(None)),
    "role": (str, type(None)),
    "min_node_count": (int, type(None)),
    "max_node_count": (int, type(None)),
    "kubernetes_version": (str, type(None)),
    "availability_zone": (str, type(None)),
    "boot_volume_type": (str, type(None)),
    "boot_volume_size": (int, type(None)),
    "node_addresses": list,
    "created_at": (str, type(None)),
    "updated_at": (str, type(None)),
}
# NHN's supported-version table (the emulator's), newest first
VERSIONS = [
    {"version": "v1.32.3", "can_create": True},
    {"version": "v1.31.4", "can_create": True},
    {"version": "v1.30.3", "can_create": True},
    {"version": "v1.29.3", "can_create": True},
    {"version": "v1.28.3", "can_create": False},
]


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    """The proxy (with short task polls) in front of the emulator."""
    return await make_stack(settings={"tasks": TASK_SETTINGS})


async def ready_cluster(stack: Stack, name: str) -> JSON:
    """A cluster created through the proxy and past CREATE_COMPLETE."""
    reply = await stack.post("/nks/clusters/create/", "network", await cluster_body(stack, name))
    cluster = reply.expect(201)["cluster"]
    await stack.advance(CLUSTER_DELAY)
    shown = (await stack.get(f"/nks/clusters/{name}/", "network")).expect(200)["cluster"]
    assert shown["status"] == "CREATE_COMPLETE"
    return cluster


async def nodegroup_body(stack: Stack, name: str = "workers-2", **changes: Any) -> JSON:
    return {
        "name": name,
        "instance_type": await flavor_id(stack, "m2.c4m8"),
        "availability_zone": "kr2-pub-a",
        **changes,
    }


async def settled_task(stack: Stack, task: JSON) -> JSON:
    """Poll the task route until the task settles; the final task."""
    reply = await stack.wait_for(
        lambda: stack.get(f"/tasks/{task['id']}/", "network"),
        lambda reply: reply.expect(200)["task"]["status"] in FINAL,
        timeout=20,
        what=f"task {task['id']}",
    )
    return reply.body["task"]


def accepted(reply: Reply, operation: str) -> JSON:
    task = reply.expect(202)["task"]
    assert reply.headers["Location"] == f"{API}/tasks/{task['id']}/"
    assert task["operation"] == operation and task["status"] == "pending"
    return task


async def keep_advancing(stack: Stack, until: asyncio.Future[Any]) -> None:
    """Move the emulator's clock on while a task waits, so transitions settle at once."""
    while not until.done():
        await stack.advance(CLUSTER_DELAY)
        await asyncio.sleep(0.05)


async def follow_with_clock(stack: Stack, task: JSON) -> JSON:
    settled = asyncio.ensure_future(settled_task(stack, task))
    await asyncio.gather(settled, keep_advancing(stack, settled))
    return settled.result()


# -- versions -----------------------------------------------------------------------------------


async def test_versions_newest_first(stack: Stack) -> None:
    reply, calls = await stack.traced("GET", "/nks/versions/", "network")
    assert reply.expect(200) == {"kubernetes_versions": VERSIONS}
    assert calls == [("GET", f"{NKS}/supports")]
    # and without the trailing slash
    assert (await stack.get("/nks/versions", "network")).expect(200)["kubernetes_versions"]


async def test_cluster_create_with_a_version_nks_does_not_offer_creates_nothing(
    stack: Stack,
) -> None:
    body = {**(await cluster_body(stack, "old-k8s")), "kubernetes_version": "v1.28.3"}
    reply, calls = await stack.traced("POST", "/nks/clusters/create/", "network", json=body)
    check_error(
        reply,
        400,
        "kubernetes_version",
        "v1.28.3",
        "use one of: v1.32.3, v1.31.4, v1.30.3, v1.29.3",
    )
    assert ("GET", f"{NKS}/supports") in calls
    assert ("POST", f"{NKS}/clusters") not in calls
    listed = (await stack.native("GET", f"{NKS}/clusters")).expect(200)["clusters"]
    assert listed == []


async def test_cluster_create_reads_the_version_table_with_its_lookups(stack: Stack) -> None:
    body = {**(await cluster_body(stack, "new-k8s")), "kubernetes_version": "v1.32.3"}
    reply, calls = await stack.traced("POST", "/nks/clusters/create/", "network", json=body)
    assert reply.expect(201)["cluster"]["name"] == "new-k8s"
    assert ("GET", f"{NKS}/supports") in calls
    assert calls[-1] == ("POST", f"{NKS}/clusters")


# -- node groups --------------------------------------------------------------------------------


async def test_a_created_cluster_lists_and_shows_its_default_worker_group(stack: Stack) -> None:
    cluster = await ready_cluster(stack, "ng-list")
    reply, calls = await stack.traced("GET", "/nks/clusters/ng-list/nodegroups/", "network")
    (group,) = reply.expect(200)["nodegroups"]
    check_shape(group, NODEGROUP_SHAPE)
    assert group["name"] == "default-worker" and group["status"] == "CREATE_COMPLETE"
    assert group["node_count"] == 1 and group["flavor_id"] == await flavor_id(stack)
    # one native call: NKS's list carries every field
    assert calls == [("GET", f"{NKS}/clusters/ng-list/nodegroups")]

    for which in ("default-worker", group["uuid"]):
        path = f"/nks/clusters/{cluster['uuid']}/nodegroups/{which}"
        shown = (await stack.get(path, "network")).expect(200)["nodegroup"]
        check_shape(shown, NODEGROUP_DETAIL_SHAPE)
        assert {key: shown[key] for key in NODEGROUP_SHAPE} == group
        assert shown["kubernetes_version"] == "v1.29.3" and shown["role"] == "worker"
        assert shown["availability_zone"] == "kr2-pub-a" and shown["boot_volume_size"] == 50
        assert len(shown["node_addresses"]) == 1
    check_error(await stack.get("/nks/clusters/ng-list/nodegroups/nope/", "network"), 404)
    check_error(await stack.get("/nks/clusters/nope/nodegroups/", "network"), 404)


async def test_add_and_delete_a_node_group(stack: Stack) -> None:
    await ready_cluster(stack, "ng-sync")
    body = await nodegroup_body(stack, node_count=2, boot_volume_type="General HDD")
    reply, calls = await stack.traced(
        "POST", "/nks/clusters/ng-sync/nodegroups/create/", "network", json=body
    )
    created = reply.expect(201)["nodegroup"]
    assert created == {"uuid": created["uuid"], "name": "workers-2", "status": "CREATE_IN_PROGRESS"}
    # the node image is looked up as for cluster create, then the group is created
    assert calls == [
        ("GET", "/kr2/image/v2/images"),
        ("POST", f"{NKS}/clusters/ng-sync/nodegroups"),
    ]
    (post,) = [
        e for e in await stack.native_requests(service="kubernetes") if e["method"] == "POST"
    ]
    images = (await stack.get("/compute/images/", "network")).expect(200)["images"]
    assert post["body"]["image_id"] in {image["id"] for image in images}
    assert post["body"] == {
        "name": "workers-2",
        "flavor_id": body["instance_type"],
        "image_id": post["body"]["image_id"],
        "node_count": 2,
        "labels": {
            "availability_zone": "kr2-pub-a",
            "boot_volume_type": "General HDD",
            "boot_volume_size": "50",
            "ca_enable": "false",
        },
    }
    assert post["status"] == 202

    listed = (await stack.get("/nks/clusters/ng-sync/nodegroups/", "network")).expect(200)
    assert [group["name"] for group in listed["nodegroups"]] == ["default-worker", "workers-2"]
    await stack.advance(CLUSTER_DELAY)
    shown = (await stack.get("/nks/clusters/ng-sync/nodegroups/workers-2/", "network")).expect(200)
    assert shown["nodegroup"]["status"] == "CREATE_COMPLETE"
    assert shown["nodegroup"]["node_count"] == 2 and len(shown["nodegroup"]["node_addresses"]) == 2
    cluster = (await stack.get("/nks/clusters/ng-sync/", "network")).expect(200)["cluster"]
    assert cluster["node_count"] == 3

    # the same name again is NKS's 409
    check_error(
        await stack.post("/nks/clusters/ng-sync/nodegroups/create/", "network", body),
        409,
        "already exists",
    )

    reply, calls = await stack.traced(
        "DELETE", "/nks/clusters/ng-sync/nodegroups/workers-2/", "network"
    )
    assert reply.status == 204 and reply.text == ""
    assert calls == [("DELETE", f"{NKS}/clusters/ng-sync/nodegroups/workers-2")]
    shown = (await stack.get("/nks/clusters/ng-sync/nodegroups/workers-2", "network")).expect(200)
    assert shown["nodegroup"]["status"] == "DELETE_IN_PROGRESS"
    await stack.advance(CLUSTER_DELAY)
    check_error(await stack.get("/nks/clusters/ng-sync/nodegroups/workers-2/", "network"), 404)


async def test_a_node_group_waits_for_its_cluster(stack: Stack) -> None:
    body = await cluster_body(stack, "ng-early")
    (await stack.post("/nks/clusters/create/", "network", body)).expect(201)
    reply = await stack.post(
        "/nks/clusters/ng-early/nodegroups/create/", "network", await nodegroup_body(stack)
    )
    check_error(reply, 409, "API address is not available")


async def test_add_and_delete_a_node_group_as_tasks(stack: Stack) -> None:
    cluster = await ready_cluster(stack, "ng-task")
    reply = await stack.post(
        "/nks/clusters/ng-task/nodegroups/create/",
        "network",
        await nodegroup_body(stack, "workers-3"),
        headers=ASYNC,
    )
    task = await follow_with_clock(stack, accepted(reply, "nks.nodegroup.create"))
    assert task["status"] == "succeeded", task
    group = task["result"]["nodegroup"]
    assert task["resource"] == {"type": "nodegroup", "id": f"ng-task/{group['uuid']}"}
    assert group["name"] == "workers-3" and group["status"] == "CREATE_COMPLETE"
    shown = await stack.get(f"/nks/clusters/{cluster['uuid']}/nodegroups/workers-3/", "network")
    assert task["result"] == shown.expect(200)

    reply = await stack.delete(
        f"/nks/clusters/ng-task/nodegroups/{group['uuid']}/", "network", headers=ASYNC
    )
    task = await follow_with_clock(stack, accepted(reply, "nks.nodegroup.delete"))
    assert task["status"] == "succeeded", task
    assert task["resource"] == {"type": "nodegroup", "id": f"ng-task/{group['uuid']}"}
    assert task["result"] is None
    check_error(await stack.get("/nks/clusters/ng-task/nodegroups/workers-3/", "network"), 404)


async def test_the_default_worker_group_cannot_be_deleted(stack: Stack) -> None:
    await ready_cluster(stack, "ng-default")
    reply, calls = await stack.traced(
        "DELETE", "/nks/clusters/ng-default/nodegroups/default-worker/", "network"
    )
    # NKS's own 400, in the standard shape
    check_error(reply, 400, "Deleting a default nodegroup is not supported")
    assert calls == [("DELETE", f"{NKS}/clusters/ng-default/nodegroups/default-worker")]
    # as a task it fails with the same message
    reply = await stack.delete(
        "/nks/clusters/ng-default/nodegroups/default-worker/", "network", headers=ASYNC
    )
    task = await settled_task(stack, accepted(reply, "nks.nodegroup.delete"))
    assert task["status"] == "failed"
    assert task["error"] == {"error": "Deleting a default nodegroup is not supported.", "code": 400}
    listed = (await stack.get("/nks/clusters/ng-default/nodegroups/", "network")).expect(200)
    assert [group["status"] for group in listed["nodegroups"]] == ["CREATE_COMPLETE"]


# -- resize -------------------------------------------------------------------------------------


async def test_resize(stack: Stack) -> None:
    cluster = await ready_cluster(stack, "rs-sync")
    reply, calls = await stack.traced(
        "POST",
        "/nks/clusters/rs-sync/resize/",
        "network",
        json={"nodegroup": "default-worker", "node_count": 2},
    )
    assert reply.expect(202) == {
        "cluster": {"uuid": cluster["uuid"], "name": "rs-sync", "status": "UPDATE_IN_PROGRESS"}
    }
    # read first (name, uuid), then resized by uuid
    assert calls == [
        ("GET", f"{NKS}/clusters/rs-sync"),
        ("POST", f"{NKS}/clusters/{cluster['uuid']}/actions/resize"),
    ]
    (post,) = [
        e for e in await stack.native_requests(service="kubernetes") if e["method"] == "POST"
    ]
    assert post["body"] == {"node_count": 2, "nodegroup": "default-worker"}
    assert post["status"] == 202
    shown = (await stack.get("/nks/clusters/rs-sync/", "network")).expect(200)["cluster"]
    assert shown["status"] == "UPDATE_IN_PROGRESS" and shown["node_count"] == 2
    # NKS refuses a second resize while the first runs, and a size out of bounds
    busy = await stack.post("/nks/clusters/rs-sync/resize/", "network", {"node_count": 1})
    check_error(busy, 400, "UPDATE_IN_PROGRESS")
    await stack.advance(CLUSTER_DELAY)
    too_big = await stack.post("/nks/clusters/rs-sync/resize/", "network", {"node_count": 11})
    check_error(too_big, 400, "outside the allowed range")
    check_error(
        await stack.post("/nks/clusters/rs-sync/resize/", "network", {"node_count": 0}),
        400,
        "node_count",
    )
    check_error(
        await stack.post(
            "/nks/clusters/rs-sync/resize/", "network", {"node_count": 2, "nodegroup": "nope"}
        ),
        404,
    )
    missing, calls = await stack.traced(
        "POST", "/nks/clusters/nope/resize/", "network", json={"node_count": 2}
    )
    check_error(missing, 404)
    assert calls == [("GET", f"{NKS}/clusters/nope")]


async def test_resize_as_a_task_until_update_complete(stack: Stack) -> None:
    cluster = await ready_cluster(stack, "rs-task")
    reply = await stack.post(
        "/nks/clusters/rs-task/resize/", "network", {"node_count": 3}, headers=ASYNC
    )
    task = await follow_with_clock(stack, accepted(reply, "nks.cluster.resize"))
    assert task["status"] == "succeeded", task
    assert task["resource"] == {"type": "cluster", "id": cluster["uuid"]}
    result = task["result"]["cluster"]
    assert result["status"] == "UPDATE_COMPLETE" and result["node_count"] == 3
    assert task["result"] == (await stack.get("/nks/clusters/rs-task/", "network")).expect(200)
    group = (await stack.get("/nks/clusters/rs-task/nodegroups/default-worker/", "network")).expect(
        200
    )["nodegroup"]
    assert group["node_count"] == 3 and group["status"] == "UPDATE_COMPLETE"
    # the kubeconfig is still there after the change
    config = (await stack.get("/nks/clusters/rs-task/config/", "network")).expect(200)
    assert config["config"].startswith("apiVersion: v1")

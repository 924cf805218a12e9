"""Async tasks over real sockets (design §4): the proxy with its in-memory task store in
front of the emulator; instances and NKS clusters created and deleted with
`Prefer: respond-async`, followed through the task routes and the event stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from nhn_proxy.emulator import DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID
from tests.e2e.conftest import (
    API,
    BUILD_DELAY,
    CLUSTER_DELAY,
    JSON,
    Reply,
    Stack,
    StackFactory,
    check_error,
    cluster_body,
    create_keypair,
    create_server,
    default_subnet_id,
    flavor_id,
    ubuntu_image_id,
    unique,
)

pytestmark = pytest.mark.e2e

ASYNC = {"Prefer": "respond-async"}
TASK_SETTINGS = {"poll_initial": 0.05, "poll_max": 0.2, "deadline": 20}
FINAL = {"succeeded", "failed", "timed_out", "interrupted"}

TaskStackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
def make_task_stack(make_stack: StackFactory) -> TaskStackFactory:
    """`make_stack` with a `[tasks]` section (short polls) in the proxy's settings."""

    async def make(
        *, build_delay: float = BUILD_DELAY, cluster_delay: float = CLUSTER_DELAY, **tasks: Any
    ) -> Stack:
        return await make_stack(
            build_delay=build_delay,
            cluster_delay=cluster_delay,
            timeout=2.0,
            settings={"tasks": {**TASK_SETTINGS, **tasks}},
        )

    return make


@pytest.fixture
async def stack(make_task_stack: TaskStackFactory) -> Stack:
    return await make_task_stack()


def accepted(reply: Reply, operation: str) -> JSON:
    """Checks a 202 task answer; returns the task."""
    task = reply.expect(202)["task"]
    assert reply.headers["Location"] == f"{API}/tasks/{task['id']}/"
    assert reply.headers["Preference-Applied"] == "respond-async"
    assert task["operation"] == operation
    assert task["status"] == "pending"
    assert task["events_url"].startswith(f"{API}/tasks/{task['id']}/events?ticket=")
    return task


async def follow(stack: Stack, task: JSON, headers: dict[str, str] | None = None) -> list[JSON]:
    """Read the task's event stream (by its ticket, no headers) to its end; the tasks sent."""
    url = stack.proxy_url + task["events_url"]
    async with (
        asyncio.timeout(30),
        stack.session.get(url, headers=headers or {}) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        text = await response.text()
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            assert fields["event"] == "task"
            data = json.loads(fields["data"])
            assert int(fields["id"]) == len(events)  # versions 0, 1, 2, … without a gap
            events.append(data["task"])
    assert events and events[-1]["status"] in FINAL
    statuses = [event["status"] for event in events]
    assert len(statuses) == len(set(statuses)), statuses  # one event per status change
    return events


async def task_reply(stack: Stack, task_id: str, kind: str = "network") -> Reply:
    return await stack.get(f"/tasks/{task_id}/", kind)


async def instance_body(stack: Stack) -> JSON:
    await create_keypair(stack)
    return {
        "name": unique("vm"),
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": await flavor_id(stack),
        "subnet_id": await default_subnet_id(stack),
        "keypair_name": "e2e-key",
    }


async def test_instance_create_as_a_task_from_202_to_succeeded(stack: Stack) -> None:
    body = await instance_body(stack)
    reply = await stack.post("/compute/instances/create/", "compute", body, headers=ASYNC)
    task = accepted(reply, "compute.instance.create")

    events = await follow(stack, task)
    assert [event["status"] for event in events] == ["pending", "running", "succeeded"]
    final = events[-1]
    server_id = final["resource"]["id"]
    assert final["resource"] == {"type": "instance", "id": server_id}
    assert final["error"] is None
    # the result is the instance exactly as the public route shows it
    shown = (await stack.get(f"/compute/instances/{server_id}/", "compute")).expect(200)
    assert final["result"] == shown
    assert shown["server"]["status"] == "ACTIVE" and shown["server"]["name"] == body["name"]
    # the task route (with the same headers as the create) says the same
    stored = (await task_reply(stack, task["id"], "compute")).expect(200)["task"]
    assert {**stored, "events_url": ""} == {**final, "events_url": ""}
    # and the task went to NHN with the token: one create, then GETs of that server
    created = await stack.native_requests(method="POST")
    assert any(entry["path"].endswith("/servers") for entry in created)


async def test_instance_delete_as_a_task(stack: Stack) -> None:
    server = await create_server(stack)
    await stack.wait_for(
        lambda: stack.get(f"/compute/instances/{server['id']}/", "compute"),
        lambda reply: reply.body["server"]["status"] == "ACTIVE",
        what="ACTIVE",
    )
    reply = await stack.delete(f"/compute/instances/{server['id']}/", "compute", headers=ASYNC)
    task = accepted(reply, "compute.instance.delete")
    events = await follow(stack, task)
    assert [event["status"] for event in events] == ["pending", "running", "succeeded"]
    assert events[-1]["resource"] == {"type": "instance", "id": server["id"]}
    assert events[-1]["result"] is None
    gone = await stack.get(f"/compute/instances/{server['id']}/", "compute")
    check_error(gone, 404)


async def test_nks_cluster_create_and_delete_as_tasks(stack: Stack) -> None:
    name = unique("k8s")[:20]
    body = await cluster_body(stack, name)
    reply = await stack.post("/nks/clusters/create/", "network", body, headers=ASYNC)
    task = accepted(reply, "nks.cluster.create")
    events = await follow(stack, task)
    assert [event["status"] for event in events] == ["pending", "running", "succeeded"]
    final = events[-1]
    assert final["resource"]["type"] == "cluster"
    shown = (await stack.get(f"/nks/clusters/{name}/", "network")).expect(200)
    assert final["result"] == shown
    assert shown["cluster"]["status"] == "CREATE_COMPLETE"
    # started without X-NHN-Tenant-ID (NKS does not need it): visible without it only
    (await task_reply(stack, task["id"], "network")).expect(200)
    check_error(await task_reply(stack, task["id"], "compute"), 404)

    reply = await stack.delete(f"/nks/clusters/{name}/", "network", headers=ASYNC)
    task = accepted(reply, "nks.cluster.delete")
    events = await follow(stack, task)
    assert events[-1]["status"] == "succeeded"
    assert events[-1]["resource"] == {"type": "cluster", "id": name}
    check_error(await stack.get(f"/nks/clusters/{name}/", "network"), 404)


async def test_upstream_fault_on_the_create_call_fails_the_task_with_502(stack: Stack) -> None:
    body = await instance_body(stack)
    await stack.fault(
        service="compute",
        method="POST",
        path=f"/v2/{DEMO_TENANT_ID}/servers",
        action="status",
        status=500,
        message="compute is on fire",
    )
    reply = await stack.post("/compute/instances/create/", "compute", body, headers=ASYNC)
    task = accepted(reply, "compute.instance.create")  # validation passed: the call is the task's
    events = await follow(stack, task)
    assert [event["status"] for event in events] == ["pending", "failed"]
    final = events[-1]
    assert final["error"]["code"] == 502
    assert "fire" in final["error"]["error"]
    assert final["resource"] is None and final["result"] is None


async def test_validation_errors_stay_synchronous(stack: Stack) -> None:
    reply = await stack.post(
        "/compute/instances/create/", "compute", {"name": "no-image"}, headers=ASYNC
    )
    check_error(reply, 400, "image_id")
    assert "Preference-Applied" not in reply.headers
    listing = (await stack.get("/tasks/", "compute")).expect(200)
    assert listing == {"tasks": [], "next": None}


async def test_deadline_ends_a_task_timed_out(make_task_stack: TaskStackFactory) -> None:
    stack = await make_task_stack(build_delay=30, deadline=0.5)
    body = await instance_body(stack)
    reply = await stack.post("/compute/instances/create/", "compute", body, headers=ASYNC)
    events = await follow(stack, accepted(reply, "compute.instance.create"))
    assert [event["status"] for event in events] == ["pending", "running", "timed_out"]
    assert events[-1]["error"]["code"] == 504


async def test_tasks_are_visible_only_to_their_token(stack: Stack) -> None:
    body = await instance_body(stack)
    reply = await stack.post("/compute/instances/create/", "compute", body, headers=ASYNC)
    task = accepted(reply, "compute.instance.create")
    await follow(stack, task)

    mine = (await stack.get("/tasks/", "compute")).expect(200)
    assert [item["id"] for item in mine["tasks"]] == [task["id"]]
    # another token (the Object Storage tenant's) sees nothing, and gets 404 — never 403
    other = await stack.token(DEMO_STORAGE_TENANT_ID)
    stranger = {"X-NHN-Token": other["token"], "X-NHN-Tenant-ID": DEMO_TENANT_ID}
    check_error(await stack.call("GET", f"/tasks/{task['id']}/", headers=stranger), 404)
    check_error(await stack.call("GET", f"/tasks/{task['id']}/events", headers=stranger), 404)
    listing = (await stack.call("GET", "/tasks/", headers=stranger)).expect(200)
    assert listing == {"tasks": [], "next": None}
    # the stream also opens with the owner's headers instead of the ticket
    url = f"{stack.proxy_url}{API}/tasks/{task['id']}/events"
    headers = await stack.headers("compute")
    async with stack.session.get(url, headers={**headers, "Last-Event-ID": "1"}) as response:
        assert response.status == 200
        assert '"status": "succeeded"' in await response.text()

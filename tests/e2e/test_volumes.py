"""Block storage volumes end to end, over real sockets: the volume plugin's routes (types,
create, list with every page, get, delete) and compute's attach/detach routes, against the
emulator's Cinder v2 and Nova os-volume_attachments with their short transition delays —
with and without `Prefer: respond-async`, NHN's errors passed through in the standard
shape."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from nhn_proxy.emulator import DEMO_TENANT_ID
from nhn_proxy.plugins import volume as volume_plugin
from tests.e2e.conftest import (
    API,
    JSON,
    Reply,
    Stack,
    StackFactory,
    check_error,
    check_shape,
    create_server,
    unique,
)

pytestmark = pytest.mark.e2e

ASYNC = {"Prefer": "respond-async"}
TASK_SETTINGS = {"poll_initial": 0.05, "poll_max": 0.2, "deadline": 20}
NONE = type(None)
CINDER = f"/kr2/block-storage/v2/{DEMO_TENANT_ID}"
NOVA = f"/kr2/compute/v2/{DEMO_TENANT_ID}"
ZONE = "kr2-pub-a"  # the region's first zone: where instances and volumes go by default
VOLUME_SHAPE = {
    "id": str,
    "name": (str, NONE),
    "size": int,
    "status": str,
    "volume_type": (str, NONE),
    "availability_zone": str,
    "attachments": list,
    "created_at": str,
}
ATTACHMENT_SHAPE = {"server_id": str, "volume_id": str, "device": (str, NONE)}


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    # short task polls, so a task settles soon after the emulator's 0.3 s transitions
    return await make_stack(settings={"tasks": TASK_SETTINGS})


async def create_volume(stack: Stack, **fields: Any) -> JSON:
    body = {"name": unique("vol"), "size": 10, **fields}
    created = (await stack.post("/volumes/create/", "compute", body)).expect(201)["volume"]
    check_shape(created, VOLUME_SHAPE)
    return created


async def volume_reply(stack: Stack, volume_id: str) -> Reply:
    return await stack.get(f"/volumes/{volume_id}/", "compute")


async def wait_volume(stack: Stack, volume_id: str, wanted: str | int) -> JSON | None:
    """Poll the public route until the volume shows `wanted` (a status, or 404: gone)."""

    async def probe() -> Reply:
        return await volume_reply(stack, volume_id)

    def reached(reply: Reply) -> bool:
        if reply.status != 200:
            return reply.status == wanted
        return reply.body["volume"]["status"] == wanted

    reply = await stack.wait_for(probe, reached, what=f"volume {wanted}")
    return reply.body["volume"] if reply.status == 200 else None


async def active_server(stack: Stack) -> JSON:
    server = await create_server(stack)
    await stack.wait_for(
        lambda: stack.get(f"/compute/instances/{server['id']}/", "compute"),
        lambda reply: reply.body["server"]["status"] == "ACTIVE",
        what="ACTIVE",
    )
    return server


def accepted(reply: Reply, operation: str) -> JSON:
    task = reply.expect(202)["task"]
    assert reply.headers["Location"] == f"{API}/tasks/{task['id']}/"
    assert reply.headers["Preference-Applied"] == "respond-async"
    assert task["operation"] == operation and task["status"] == "pending"
    return task


async def follow(stack: Stack, task: JSON) -> list[JSON]:
    """The task's events (its stream, opened with the task's ticket) up to the final one."""
    async with (
        asyncio.timeout(30),
        stack.session.get(stack.proxy_url + task["events_url"]) as response,
    ):
        assert response.status == 200, await response.text()
        text = await response.text()
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            events.append(json.loads(fields["data"])["task"])
    assert events and events[-1]["status"] in {"succeeded", "failed", "timed_out"}, events
    return events


# -- types, create, list, get -------------------------------------------------------------------


async def test_volume_types(stack: Stack) -> None:
    reply, calls = await stack.traced("GET", "/volumes/types/", "compute")
    kinds = reply.expect(200)["volume_types"]
    assert calls == [("GET", f"{CINDER}/types")]
    for kind in kinds:
        check_shape(kind, {"id": str, "name": str})
    names = [kind["name"] for kind in kinds]
    assert {"General HDD", "General SSD"} <= set(names)
    # every listed name is a volume_type a new volume accepts
    created = await create_volume(stack, volume_type="General SSD")
    assert created["volume_type"] == "General SSD"
    assert (await stack.get("/volumes/types", "compute")).expect(200) == {"volume_types": kinds}


async def test_create_then_list_every_page_and_get(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = []
    for index in range(5):
        volume = await create_volume(stack, name=f"data-{index}", availability_zone=ZONE)
        assert volume["status"] == "creating" and volume["attachments"] == []
        assert (volume["name"], volume["size"], volume["availability_zone"]) == (
            f"data-{index}",
            10,
            ZONE,
        )
        assert volume["volume_type"] == "General HDD"  # NHN's default type
        created.append(volume)
    posted = await stack.native_requests(method="POST", service="block_storage")
    assert [entry["body"] for entry in posted] == [
        {"volume": {"size": 10, "name": f"data-{index}", "availability_zone": ZONE}}
        for index in range(5)
    ]

    # pages of two: the proxy follows Cinder's volumes_links until the short last page
    monkeypatch.setattr(volume_plugin, "PAGE_SIZE", 2)
    reply, _ = await stack.traced("GET", "/volumes/", "compute")
    listed = reply.expect(200)["volumes"]
    assert [v["id"] for v in listed] == [v["id"] for v in reversed(created)]  # newest first
    for item in listed:
        check_shape(item, VOLUME_SHAPE)
    pages = await stack.native_requests(method="GET", service="block_storage")
    assert [entry["path"] for entry in pages] == [f"{CINDER}/volumes/detail"] * 3
    assert [entry["query"] for entry in pages] == [
        {"limit": "2"},
        {"limit": "2", "marker": listed[1]["id"]},
        {"limit": "2", "marker": listed[3]["id"]},
    ]

    first = created[0]
    await wait_volume(stack, first["id"], "available")
    reply, calls = await stack.traced("GET", f"/volumes/{first['id']}", "compute")
    shown = reply.expect(200)["volume"]
    assert calls == [("GET", f"{CINDER}/volumes/{first['id']}")]
    assert shown == {**first, "status": "available"}
    everything = (await stack.get("/volumes/", "compute")).expect(200)["volumes"]
    assert {v["id"] for v in everything} == {v["id"] for v in created}


async def test_create_as_a_task_succeeds_once_available(stack: Stack) -> None:
    body = {"name": "async-data", "size": 20, "volume_type": "General SSD"}
    reply = await stack.post("/volumes/create/", "compute", body, headers=ASYNC)
    task = accepted(reply, "volume.create")
    events = await follow(stack, task)
    assert [event["status"] for event in events] == ["pending", "running", "succeeded"]
    final = events[-1]
    volume_id = final["resource"]["id"]
    assert final["resource"] == {"type": "volume", "id": volume_id} and final["error"] is None
    shown = (await volume_reply(stack, volume_id)).expect(200)
    assert final["result"] == shown
    assert shown["volume"]["status"] == "available"
    assert (shown["volume"]["name"], shown["volume"]["size"]) == ("async-data", 20)
    stored = (await stack.get(f"/tasks/{task['id']}/", "compute")).expect(200)["task"]
    assert stored["status"] == "succeeded" and stored["result"] == shown


# -- attach, detach, delete -------------------------------------------------------------------


async def test_attach_detach_and_delete(stack: Stack) -> None:
    server = await active_server(stack)
    server_id = server["id"]
    first = await create_volume(stack, name="data-a", availability_zone=ZONE)
    second = await create_volume(stack, name="data-b", availability_zone=ZONE)
    await wait_volume(stack, first["id"], "available")
    await wait_volume(stack, second["id"], "available")

    # attach (200, the attachment as Nova reserved it), then the volume becomes in-use
    attach_path = f"/compute/instances/{server_id}/volumes/attach/"
    reply, calls = await stack.traced(
        "POST", attach_path, "compute", json={"volume_id": first["id"]}
    )
    attachment = reply.expect(200)["attachment"]
    check_shape(attachment, ATTACHMENT_SHAPE)
    assert attachment == {"server_id": server_id, "volume_id": first["id"], "device": "/dev/vdb"}
    assert calls == [("POST", f"{NOVA}/servers/{server_id}/os-volume_attachments")]
    (sent,) = await stack.native_requests(method="POST")
    assert sent["body"] == {"volumeAttachment": {"volumeId": first["id"]}}
    in_use = await wait_volume(stack, first["id"], "in-use")
    assert in_use is not None
    assert in_use["attachments"] == [{"server_id": server_id, "device": "/dev/vdb"}]

    # an attached volume cannot be deleted: NHN's (Cinder's) 400 in the standard shape
    refused = await stack.delete(f"/volumes/{first['id']}/", "compute")
    check_error(refused, 400, "Invalid volume", "attached")

    # with Prefer: respond-async, a task follows the volume until it is in-use
    reply = await stack.post(attach_path, "compute", {"volume_id": second["id"]}, headers=ASYNC)
    task = accepted(reply, "compute.volume.attach")
    events = await follow(stack, task)
    assert [event["status"] for event in events] == ["pending", "running", "succeeded"]
    final = events[-1]
    assert final["resource"] == {"type": "volume", "id": second["id"]}
    assert final["result"]["volume"]["status"] == "in-use"
    assert final["result"]["volume"]["attachments"] == [
        {"server_id": server_id, "device": "/dev/vdc"}
    ]
    assert final["result"] == (await volume_reply(stack, second["id"])).expect(200)
    listed = (await stack.get("/volumes/", "compute")).expect(200)["volumes"]
    assert {v["id"]: v["status"] for v in listed} == {
        first["id"]: "in-use",
        second["id"]: "in-use",
    }

    # detach (204) and delete (204) each volume; the volume is gone once deleted
    for volume in (first, second):
        reply, calls = await stack.traced(
            "DELETE", f"/compute/instances/{server_id}/volumes/{volume['id']}/", "compute"
        )
        assert reply.status == 204 and reply.text == ""
        assert calls == [
            ("DELETE", f"{NOVA}/servers/{server_id}/os-volume_attachments/{volume['id']}")
        ]
        free = await wait_volume(stack, volume["id"], "available")
        assert free is not None and free["attachments"] == []
        reply, calls = await stack.traced("DELETE", f"/volumes/{volume['id']}/", "compute")
        assert reply.status == 204 and reply.text == ""
        assert calls == [("DELETE", f"{CINDER}/volumes/{volume['id']}")]
        await wait_volume(stack, volume["id"], 404)
        check_error(await volume_reply(stack, volume["id"]), 404, volume["id"])
    assert (await stack.get("/volumes/", "compute")).expect(200) == {"volumes": []}


async def test_attach_refused_across_zones_and_twice(stack: Stack) -> None:
    server = await active_server(stack)
    elsewhere = await create_volume(stack, availability_zone="kr2-pub-b")
    await wait_volume(stack, elsewhere["id"], "available")
    attach_path = f"/compute/instances/{server['id']}/volumes/attach/"
    refused = await stack.post(attach_path, "compute", {"volume_id": elsewhere["id"]})
    check_error(refused, 400, "availability_zone", "kr2-pub-b")
    missing = await stack.post(attach_path, "compute", {"volume_id": unique("vol")})
    check_error(missing, 404, "could not be found")
    # not attached: Nova's 404 passed through
    detach = await stack.delete(
        f"/compute/instances/{server['id']}/volumes/{elsewhere['id']}/", "compute"
    )
    check_error(detach, 404, "not attached")


# -- errors -----------------------------------------------------------------------------------


async def test_unknown_volume_is_404(stack: Stack) -> None:
    missing = "0b7f3a3c-2d6e-4f1a-9b8c-7d6e5f4a3b2c"
    reply, calls = await stack.traced("GET", f"/volumes/{missing}/", "compute")
    check_error(reply, 404, missing)
    assert calls == [("GET", f"{CINDER}/volumes/{missing}")]
    check_error(await stack.delete(f"/volumes/{missing}/", "compute"), 404, missing)


@pytest.mark.parametrize("size", [0, 9, 2001, "10"])
async def test_bad_size_is_400_without_a_native_call(stack: Stack, size: Any) -> None:
    reply, calls = await stack.traced(
        "POST", "/volumes/create/", "compute", json={"name": "bad", "size": size}
    )
    check_error(reply, 400, "size")
    assert calls == []


async def test_unknown_volume_type_is_nhns_404(stack: Stack) -> None:
    body = {"name": "typed", "size": 10, "volume_type": "Premium NVMe"}
    check_error(await stack.post("/volumes/create/", "compute", body), 404, "Premium NVMe")
    assert (await stack.get("/volumes/", "compute")).expect(200) == {"volumes": []}

# ruff: noqa: E501
"""Block Storage (Cinder v2) and compute's volume attachments against block-storage.md and
compute.md: volume types, volumes with their timed transitions (creating → available,
attaching → in-use, detaching → available, deleting → gone) on the emulator's clock,
paging, Cinder's and Nova's errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nhn_proxy.emulator import EmulatorOptions
from nhn_proxy.emulator.state import RegionState

from .conftest import BUILD_DELAY, CLUSTER_DELAY
from .shapes import assert_conforms

# Longer than BUILD_DELAY, so the tests tell volume_delay and build_delay apart.
VOLUME_DELAY = 5.0

# block-storage.md, verbatim
TYPES_EXAMPLE = json.loads(
    r"""{"volume_types": [{"os-volume-type-access:is_public": true, "extra_specs": {"volume_backend_name": "ssd_general"}, "id": "4e36aa51-df30-422e-aff1-eba1f3d9612f", "name": "General SSD", "description": null}, {"os-volume-type-access:is_public": true, "extra_specs": {"volume_backend_name": "hdd_general"}, "id": "6bda35e2-b2b9-497a-8f65-67a73839c856", "name": "General HDD", "description": null}]}"""
)
VOLUMES_EXAMPLE = json.loads(
    r"""{"volumes": [{"id": "90712f4f-2faa-4e4f-8eb1-9313a8595570", "links": [{"href": "https://kr1-api-block-storage-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/volumes/90712f4f-2faa-4e4f-8eb1-9313a8595570", "rel": "self"}, {"href": "https://kr1-api-block-storage-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/volumes/90712f4f-2faa-4e4f-8eb1-9313a8595570", "rel": "bookmark"}], "name": null}]}"""
)
VOLUME_EXAMPLE = json.loads(
    r"""{"volume": {"id": "17975e9d-1533-40db-bd02-2072cd2ccb7f", "name": "data-01", "status": "in-use", "size": 50, "volume_type": "General HDD", "availability_zone": "kr-pub-a", "bootable": "false", "encrypted": false, "multiattach": false, "attachments": [{"server_id": "4b293d31-ebd5-4a7f-be03-874b90021e54", "attachment_id": "0c5d2b3e-7a0b-4d9c-9f56-6a0c8d2f1e11", "volume_id": "17975e9d-1533-40db-bd02-2072cd2ccb7f", "device": "/dev/vdb", "id": "17975e9d-1533-40db-bd02-2072cd2ccb7f"}], "links": [{"href": "https://kr1-api-block-storage-infrastructure.nhncloudservice.com/v2/6cdebe3eb0094910bc41f1d42ebe4cb7/volumes/17975e9d-1533-40db-bd02-2072cd2ccb7f", "rel": "self"}, {"href": "https://kr1-api-block-storage-infrastructure.nhncloudservice.com/6cdebe3eb0094910bc41f1d42ebe4cb7/volumes/17975e9d-1533-40db-bd02-2072cd2ccb7f", "rel": "bookmark"}], "snapshot_id": null, "source_volid": null, "consistencygroup_id": null, "user_id": "5e6524d826084188ae549815b3e33380", "os-vol-tenant-attr:tenant_id": "6cdebe3eb0094910bc41f1d42ebe4cb7", "metadata": {}, "description": null, "created_at": "2018-12-18T05:43:12.000000", "replication_status": "disabled", "os-volume-replication:extended_status": null, "os-volume-replication:driver_data": null}}"""
)
ATTACH_EXAMPLE = json.loads(
    r"""{"volumeAttachment": {"device": "/dev/vdb", "id": "a07f71dc-8151-4e7d-a0cc-cd24a3f11113", "serverId": "4b293d31-ebd5-4a7f-be03-874b90021e54", "volumeId": "a07f71dc-8151-4e7d-a0cc-cd24a3f11113"}}"""
)
DELETE_IN_USE = (
    "Invalid volume: Volume status must be available or error or error_restoring or "
    "error_extending or error_managing and must not be migrating, attached, belong to a "
    "group, have snapshots or be disassociated from snapshots after volume transfer."
)
NOT_DETACHABLE = (
    "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
    "attach_status must be 'attached' to detach."
)


@pytest.fixture
def options() -> EmulatorOptions:
    return EmulatorOptions(
        build_delay=BUILD_DELAY, cluster_delay=CLUSTER_DELAY, volume_delay=VOLUME_DELAY
    )


def cinder(emu: Any, path: str = "", region: str = "kr1") -> str:
    return f"/{region}/block-storage/v2/{emu.tenant}{path}"


async def create_volume(emu: Any, region: str = "kr1", **fields: Any) -> dict[str, Any]:
    body = {"size": 10, "name": "data", **fields}
    answer = await emu.json("POST", cinder(emu, "/volumes", region), 202, json={"volume": body})
    return answer["volume"]


async def volume(emu: Any, volume_id: str, region: str = "kr1") -> dict[str, Any]:
    return (await emu.json("GET", cinder(emu, f"/volumes/{volume_id}", region)))["volume"]


async def error(response: Any, status: int, fault: str) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert list(body) == [fault] and body[fault]["code"] == status, body
    return body[fault]["message"]


def settle_volumes(emu: Any) -> None:
    emu.clock.advance(VOLUME_DELAY + 0.001)


async def active_server(emu: Any, name: str = "web-01", **overrides: Any) -> str:
    server_id = await emu.create_server(name, **overrides)
    emu.settle()
    assert (await emu.server(server_id))["status"] == "ACTIVE"
    return server_id


async def available_volume(emu: Any, **fields: Any) -> dict[str, Any]:
    created = await create_volume(emu, **fields)
    settle_volumes(emu)
    found = await volume(emu, created["id"])
    assert found["status"] == "available"
    return found


def attachments_path(emu: Any, server_id: str, rest: str = "") -> str:
    return emu.compute(f"/servers/{server_id}/os-volume_attachments{rest}")


async def attach(emu: Any, server_id: str, volume_id: str, status: int = 200, **extra: Any) -> Any:
    body = {"volumeAttachment": {"volumeId": volume_id, **extra}}
    return await emu.json("POST", attachments_path(emu, server_id), status, json=body)


# -- options and state -----------------------------------------------------------------------


def test_volume_delay_defaults_to_build_delay() -> None:
    assert RegionState("kr1", EmulatorOptions(build_delay=7.0), 0.0).block_storage.delay == 7.0
    options = EmulatorOptions(build_delay=7.0, volume_delay=0.5)
    assert RegionState("kr1", options, 0.0).block_storage.delay == 0.5
    with pytest.raises(ValueError, match="delays"):
        EmulatorOptions(volume_delay=-1.0)


# -- volume types ----------------------------------------------------------------------------


async def test_volume_types_are_nhns(emu):
    body = await emu.json("GET", cinder(emu, "/types"))
    assert_conforms(body, TYPES_EXAMPLE)
    names = [kind["name"] for kind in body["volume_types"]]
    assert names == ["General HDD", "General SSD", "Encrypted HDD", "Encrypted SSD"]
    backends = {k["name"]: k["extra_specs"]["volume_backend_name"] for k in body["volume_types"]}
    assert backends["General HDD"] == "hdd_general" and backends["General SSD"] == "ssd_general"
    # stable ids per region (they survive a reset), distinct between regions
    again = await emu.json("GET", cinder(emu, "/types"))
    other = await emu.json("GET", cinder(emu, "/types", "kr2"))
    assert again == body
    assert not {k["id"] for k in body["volume_types"]} & {k["id"] for k in other["volume_types"]}
    first = body["volume_types"][0]
    assert await emu.json("GET", cinder(emu, f"/types/{first['id']}")) == {"volume_type": first}
    missing = await emu.call("GET", cinder(emu, "/types/nope"))
    assert await error(missing, 404, "itemNotFound") == "Volume type nope could not be found."


# -- create, get, list -------------------------------------------------------------------------


async def test_create_answers_202_creating_then_available_after_volume_delay(emu):
    created = await create_volume(
        emu, size=20, name="data-01", volume_type="General SSD", description="logs"
    )
    assert_conforms({"volume": created}, VOLUME_EXAMPLE)
    assert created["status"] == "creating" and created["attachments"] == []
    assert (created["size"], created["name"], created["description"]) == (20, "data-01", "logs")
    assert created["volume_type"] == "General SSD" and created["availability_zone"] == "kr-pub-a"
    assert created["bootable"] == "false" and created["encrypted"] is False
    assert created["os-vol-tenant-attr:tenant_id"] == emu.tenant
    assert created["created_at"] == "2026-01-01T00:00:00.000000"  # microseconds, no zone
    assert created["links"][0]["href"].endswith(
        f"/kr1/block-storage/v2/{emu.tenant}/volumes/{created['id']}"
    )
    assert "nhn_encryption" not in created

    emu.clock.advance(BUILD_DELAY + 0.5)  # a server would be built by now; a volume is not
    assert (await volume(emu, created["id"]))["status"] == "creating"
    emu.clock.advance(VOLUME_DELAY - BUILD_DELAY)
    shown = await volume(emu, created["id"])
    assert_conforms({"volume": shown}, VOLUME_EXAMPLE)
    assert shown["status"] == "available"
    assert {k: v for k, v in shown.items() if k not in ("status", "updated_at")} == {
        k: v for k, v in created.items() if k not in ("status", "updated_at")
    }


async def test_create_defaults_type_zone_and_name(emu):
    created = await emu.json(
        "POST", cinder(emu, "/volumes", "kr2"), 202, json={"volume": {"size": "15"}}
    )
    assert created["volume"]["volume_type"] == "General HDD"  # NHN's default type
    assert created["volume"]["availability_zone"] == "kr2-pub-a"  # the region's first zone
    assert created["volume"]["name"] is None and created["volume"]["size"] == 15
    second = await create_volume(emu, availability_zone="kr-pub-b", metadata={"team": "db"})
    assert second["availability_zone"] == "kr-pub-b" and second["metadata"] == {"team": "db"}


@pytest.mark.parametrize(
    ("volume_body", "status", "fault", "message"),
    [
        (
            {"name": "x"},
            400,
            "badRequest",
            "Invalid input received: Volume size 'None' must be an integer and greater than 0",
        ),
        (
            {"size": 0},
            400,
            "badRequest",
            "Invalid input received: Volume size '0' must be an integer and greater than 0",
        ),
        (
            {"size": "ten"},
            400,
            "badRequest",
            "Invalid input received: Volume size 'ten' must be an integer and greater than 0",
        ),
        (
            {"size": True},
            400,
            "badRequest",
            "Invalid input received: Volume size 'True' must be an integer and greater than 0",
        ),
        (
            {"size": 9},
            400,
            "badRequest",
            "Invalid input received: Specified volume size of '9' is less than the minimum "
            "required size of '10' for volume type 'General HDD'.",
        ),
        (
            {"size": 2001, "volume_type": "General SSD"},
            400,
            "badRequest",
            "Invalid input received: Specified volume size of '2001' is greater than the "
            "maximum allowable size of '2000' for volume type 'General SSD'.",
        ),
        (
            {"size": 10, "volume_type": "Premium NVMe"},
            404,
            "itemNotFound",
            "Volume type with name Premium NVMe could not be found.",
        ),
        (
            {"size": 10, "availability_zone": "kr2-pub-a"},
            400,
            "badRequest",
            "Invalid input received: Availability zone 'kr2-pub-a' is invalid.",
        ),
        (
            {"size": 10, "volume_type": "Encrypted HDD"},
            400,
            "badRequest",
            "Invalid input received: nhn_encryption with skm_appkey and skm_key_id is "
            "required for volume type 'Encrypted HDD'.",
        ),
        (
            {"size": 10, "snapshot_id": "nope"},
            404,
            "itemNotFound",
            "Snapshot nope could not be found.",
        ),
        (
            {"size": 10, "name": "n" * 256},
            400,
            "badRequest",
            "Invalid input received: name has more than 255 characters.",
        ),
    ],
)
async def test_create_errors_are_cinders(emu, volume_body, status, fault, message):
    response = await emu.call("POST", cinder(emu, "/volumes"), json={"volume": volume_body})
    assert await error(response, status, fault) == message
    assert (await emu.json("GET", cinder(emu, "/volumes")))["volumes"] == []


async def test_create_needs_a_volume_object(emu):
    for body in ({}, {"volume": "x"}, []):
        response = await emu.call("POST", cinder(emu, "/volumes"), json=body)
        assert await error(response, 400, "badRequest") == (
            "Missing required element 'volume' in request body."
        )


async def test_encrypted_volume_carries_nhn_encryption(emu):
    key = {"skm_appkey": "appkey-1", "skm_key_id": "key-1"}
    created = await create_volume(emu, volume_type="Encrypted SSD", nhn_encryption=key)
    assert created["encrypted"] is True
    assert created["nhn_encryption"] == {"skm_key_id": "key-1", "skm_key_version": 1}


async def test_lists_newest_first_with_cinders_paging(emu):
    ids = []
    for index in range(5):
        ids.append((await create_volume(emu, name=f"v{index}"))["id"])
        emu.clock.advance(1)
    newest_first = ids[::-1]

    plain = await emu.json("GET", cinder(emu, "/volumes"))
    assert_conforms(plain, VOLUMES_EXAMPLE)
    assert [v["id"] for v in plain["volumes"]] == newest_first
    assert set(plain["volumes"][0]) == {"id", "links", "name"}
    assert "volumes_links" not in plain  # a page short of the limit is the last

    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    pages = 0
    while True:
        page = await emu.json("GET", cinder(emu, "/volumes/detail"), params=params)
        pages += 1
        for item in page["volumes"]:
            assert_conforms({"volume": item}, VOLUME_EXAMPLE)
        seen += [item["id"] for item in page["volumes"]]
        links = page.get("volumes_links")
        if not links:
            break
        # Cinder links the next page (limit and marker) whenever a page is full
        (link,) = links
        assert link["rel"] == "next"
        assert link["href"].startswith(f"http://127.0.0.1:{emu.client.port}/kr1/block-storage/")
        assert f"marker={page['volumes'][-1]['id']}" in link["href"] and "limit=2" in link["href"]
        params = {"limit": "2", "marker": page["volumes"][-1]["id"]}
    assert seen == newest_first and pages == 3

    filtered = await emu.json("GET", cinder(emu, "/volumes/detail"), params={"name": "v2"})
    assert [v["id"] for v in filtered["volumes"]] == [ids[2]]
    # one second apart: only the first one has had its VOLUME_DELAY by now
    ready = await emu.json("GET", cinder(emu, "/volumes"), params={"status": "available"})
    assert [v["id"] for v in ready["volumes"]] == [ids[0]]
    missing = await emu.call("GET", cinder(emu, "/volumes/detail"), params={"marker": "nope"})
    assert await error(missing, 404, "itemNotFound") == "Marker nope could not be found."
    bad = await emu.call("GET", cinder(emu, "/volumes/detail"), params={"limit": "x"})
    await error(bad, 400, "badRequest")


async def test_volumes_belong_to_their_region_and_tenant(emu):
    created = await create_volume(emu)
    assert (await emu.json("GET", cinder(emu, "/volumes", "kr2")))["volumes"] == []
    other_region = await emu.call("GET", cinder(emu, f"/volumes/{created['id']}", "kr2"))
    assert await error(other_region, 404, "itemNotFound") == (
        f"Volume {created['id']} could not be found."
    )
    # another tenant's URL is refused before anything is read
    foreign = f"/kr1/block-storage/v2/{'f' * 32}/volumes"
    assert (await emu.call("GET", foreign)).status == 403


# -- delete ----------------------------------------------------------------------------------


async def test_delete_is_timed_and_refused_while_busy(emu):
    created = await create_volume(emu)
    path = cinder(emu, f"/volumes/{created['id']}")
    # still creating: Cinder refuses
    assert await error(await emu.call("DELETE", path), 400, "badRequest") == DELETE_IN_USE
    settle_volumes(emu)
    response = await emu.call("DELETE", path)
    assert response.status == 202 and await response.text() == ""
    assert (await volume(emu, created["id"]))["status"] == "deleting"
    again = await emu.call("DELETE", path)
    assert await error(again, 400, "badRequest") == DELETE_IN_USE
    settle_volumes(emu)
    gone = await emu.call("GET", path)
    assert await error(gone, 404, "itemNotFound") == f"Volume {created['id']} could not be found."
    assert await error(await emu.call("DELETE", path), 404, "itemNotFound")
    assert (await emu.json("GET", cinder(emu, "/volumes")))["volumes"] == []


# -- attachments (compute endpoint) -------------------------------------------------------------


async def test_attach_then_detach_with_timed_transitions(emu):
    server_id = await active_server(emu)
    data = await available_volume(emu, name="data-01")

    answer = await attach(emu, server_id, data["id"])
    assert_conforms(answer, ATTACH_EXAMPLE)
    assert answer == {
        "volumeAttachment": {
            "device": "/dev/vdb",
            "id": data["id"],
            "serverId": server_id,
            "volumeId": data["id"],
        }
    }
    attaching = await volume(emu, data["id"])
    assert attaching["status"] == "attaching" and attaching["attachments"] == []
    server = await emu.server(server_id)
    attached_ids = [item["id"] for item in server["os-extended-volumes:volumes_attached"]]
    assert attached_ids[-1] == data["id"] and len(attached_ids) == 2  # root volume first
    listed = await emu.json("GET", attachments_path(emu, server_id))
    assert [(a["volumeId"], a["device"]) for a in listed["volumeAttachments"]] == [
        (attached_ids[0], "/dev/vda"),
        (data["id"], "/dev/vdb"),
    ]
    # no detach and no delete before the attach has finished
    detach_early = await emu.call("DELETE", attachments_path(emu, server_id, f"/{data['id']}"))
    assert await error(detach_early, 400, "badRequest") == NOT_DETACHABLE
    delete_early = await emu.call("DELETE", cinder(emu, f"/volumes/{data['id']}"))
    assert await error(delete_early, 400, "badRequest") == DELETE_IN_USE

    settle_volumes(emu)
    in_use = await volume(emu, data["id"])
    assert_conforms({"volume": in_use}, VOLUME_EXAMPLE)
    assert in_use["status"] == "in-use"
    (attachment,) = in_use["attachments"]
    assert {k: attachment[k] for k in ("server_id", "volume_id", "device", "id")} == {
        "server_id": server_id,
        "volume_id": data["id"],
        "device": "/dev/vdb",
        "id": data["id"],
    }
    one = await emu.json("GET", attachments_path(emu, server_id, f"/{data['id']}"))
    assert one == answer

    # in use: Cinder refuses the delete, Nova a second attach
    delete = await emu.call("DELETE", cinder(emu, f"/volumes/{data['id']}"))
    assert await error(delete, 400, "badRequest") == DELETE_IN_USE
    twice = await emu.call(
        "POST",
        attachments_path(emu, server_id),
        json={"volumeAttachment": {"volumeId": data["id"]}},
    )
    assert await error(twice, 400, "badRequest") == (
        f"Invalid volume: volume '{data['id']}' status must be 'available'. Currently in 'in-use'"
    )

    detach = await emu.call("DELETE", attachments_path(emu, server_id, f"/{data['id']}"))
    assert detach.status == 202 and await detach.text() == ""
    detaching = await volume(emu, data["id"])
    assert detaching["status"] == "detaching" and len(detaching["attachments"]) == 1
    settle_volumes(emu)
    free = await volume(emu, data["id"])
    assert free["status"] == "available" and free["attachments"] == []
    server = await emu.server(server_id)
    assert [item["id"] for item in server["os-extended-volumes:volumes_attached"]] == [
        attached_ids[0]
    ]
    gone = await emu.call("GET", attachments_path(emu, server_id, f"/{data['id']}"))
    assert await error(gone, 404, "itemNotFound") == (
        f"Instance {server_id} is not attached to volume {data['id']}"
    )
    response = await emu.call("DELETE", cinder(emu, f"/volumes/{data['id']}"))
    assert response.status == 202


async def test_devices_follow_the_mapping(emu):
    server_id = await active_server(emu)
    first = await available_volume(emu, name="one")
    second = await available_volume(emu, name="two")
    third = await available_volume(emu, name="three")
    assert (await attach(emu, server_id, first["id"]))["volumeAttachment"]["device"] == "/dev/vdb"
    assert (await attach(emu, server_id, second["id"]))["volumeAttachment"]["device"] == "/dev/vdc"
    settle_volumes(emu)
    await emu.json("DELETE", attachments_path(emu, server_id, f"/{first['id']}"), 202)
    settle_volumes(emu)
    # the freed name is taken again; a wanted device that is in use is Nova's 409
    taken = await emu.call(
        "POST",
        attachments_path(emu, server_id),
        json={"volumeAttachment": {"volumeId": third["id"], "device": "/dev/vdc"}},
    )
    assert await error(taken, 409, "conflictingRequest") == (
        "The supplied device path (/dev/vdc) is in use."
    )
    assert (await attach(emu, server_id, third["id"]))["volumeAttachment"]["device"] == "/dev/vdb"


async def test_local_disk_servers_attach_from_vdb(emu):
    u2 = await emu.flavor("u2.c1m1")
    body = await emu.server_body("local-01", flavorRef=u2["id"])
    body["server"]["block_device_mapping_v2"][0]["destination_type"] = "local"
    server_id = (await emu.json("POST", emu.compute("/servers"), 202, json=body))["server"]["id"]
    emu.settle()
    data = await available_volume(emu)
    assert (await attach(emu, server_id, data["id"]))["volumeAttachment"]["device"] == "/dev/vdb"
    listed = await emu.json("GET", attachments_path(emu, server_id))
    assert [a["device"] for a in listed["volumeAttachments"]] == ["/dev/vdb"]


async def test_attach_errors_are_novas(emu):
    server_id = await emu.create_server()  # still building
    data = await create_volume(emu)  # still creating
    building = await emu.call(
        "POST",
        attachments_path(emu, server_id),
        json={"volumeAttachment": {"volumeId": data["id"]}},
    )
    assert await error(building, 409, "conflictingRequest") == (
        f"Cannot 'attach_volume' instance {server_id} while it is in vm_state building"
    )
    emu.settle()

    async def refused(volume_id: Any, status: int, fault: str, target: str = server_id) -> str:
        response = await emu.call(
            "POST",
            attachments_path(emu, target),
            json={"volumeAttachment": {"volumeId": volume_id}},
        )
        return await error(response, status, fault)

    assert await refused(data["id"], 400, "badRequest") == (
        f"Invalid volume: volume '{data['id']}' status must be 'available'. Currently in 'creating'"
    )
    assert await refused("nope", 404, "itemNotFound") == "Volume nope could not be found."
    assert await refused(data["id"], 404, "itemNotFound", "no-server") == (
        "Instance no-server could not be found."
    )
    assert "'volumeId' is a required property" in await refused(None, 400, "badRequest")
    settle_volumes(emu)
    elsewhere = await create_volume(emu, availability_zone="kr-pub-b")
    settle_volumes(emu)
    assert await refused(elsewhere["id"], 400, "badRequest") == (
        f"Invalid volume: Instance {server_id} and volume {elsewhere['id']} are not in the "
        "same availability_zone. Instance is in kr-pub-a. Volume is in kr-pub-b"
    )
    missing_body = await emu.call("POST", attachments_path(emu, server_id), json={})
    await error(missing_body, 400, "badRequest")
    # a stopping server is busy
    await emu.json("POST", emu.compute(f"/servers/{server_id}/action"), 202, json={"os-stop": None})
    assert await refused(data["id"], 409, "conflictingRequest") == (
        f"Cannot 'attach_volume' instance {server_id} while it is in task_state powering-off"
    )
    emu.settle()  # a stopped server takes volumes
    await attach(emu, server_id, data["id"])


async def test_detach_errors_are_novas(emu):
    server_id = await active_server(emu)
    data = await available_volume(emu)
    not_attached = await emu.call("DELETE", attachments_path(emu, server_id, f"/{data['id']}"))
    assert await error(not_attached, 404, "itemNotFound") == (
        f"Instance {server_id} is not attached to volume {data['id']}"
    )
    unknown = await emu.call("DELETE", attachments_path(emu, "nope", f"/{data['id']}"))
    assert await error(unknown, 404, "itemNotFound") == "Instance nope could not be found."
    root = (await emu.server(server_id))["os-extended-volumes:volumes_attached"][0]["id"]
    root_detach = await emu.call("DELETE", attachments_path(emu, server_id, f"/{root}"))
    assert await error(root_detach, 400, "badRequest") == "Cannot detach a root device volume"
    listed = await emu.call("GET", attachments_path(emu, "nope"))
    assert await error(listed, 404, "itemNotFound") == "Instance nope could not be found."


async def test_a_deleted_servers_volumes_are_available_again(emu):
    server_id = await active_server(emu)
    data = await available_volume(emu)
    await attach(emu, server_id, data["id"])
    settle_volumes(emu)
    assert (await volume(emu, data["id"]))["status"] == "in-use"
    assert (await emu.call("DELETE", emu.compute(f"/servers/{server_id}"))).status == 204
    assert (await volume(emu, data["id"]))["status"] == "in-use"  # the server is deleting
    emu.settle()
    free = await volume(emu, data["id"])
    assert free["status"] == "available" and free["attachments"] == []
    assert (await emu.call("DELETE", cinder(emu, f"/volumes/{data['id']}"))).status == 202

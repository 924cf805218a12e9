"""Compute: flavors, zones, key pairs and the server lifecycle against compute.md."""

from __future__ import annotations

import pytest

from .conftest import BUILD_DELAY
from .doc_examples import EXAMPLES
from .shapes import assert_conforms


async def test_flavor_lists_match_documented_examples(emu):
    plain = await emu.json("GET", emu.compute("/flavors"))
    assert_conforms(plain, EXAMPLES["flavors"])
    detail = await emu.json("GET", emu.compute("/flavors/detail"))
    assert_conforms(detail, EXAMPLES["flavors_detail"])
    by_name = {f["name"]: f for f in detail["flavors"]}
    for family in ("m2", "c2", "r2", "t2", "u2"):
        assert any(name.startswith(family + ".") for name in by_name)
    assert by_name["m2.c2m4"]["vcpus"] == 2 and by_name["m2.c2m4"]["ram"] == 4096
    assert by_name["m2.c2m4"]["disk"] == 0 and by_name["m2.c2m4"]["swap"] == ""
    u2_disks = [f["disk"] for name, f in by_name.items() if name.startswith("u2.")]
    assert min(u2_disks) >= 20 and max(u2_disks) <= 100
    assert all(f["disk"] == 0 for name, f in by_name.items() if not name.startswith("u2."))
    link = plain["flavors"][0]["links"][0]["href"]
    assert link.endswith(f"/kr1/compute/v2/{emu.tenant}/flavors/{plain['flavors'][0]['id']}")


async def test_flavor_filters_and_get(emu):
    big = await emu.json("GET", emu.compute("/flavors/detail"), params={"minRam": "65536"})
    assert big["flavors"] and all(f["ram"] >= 65536 for f in big["flavors"])
    local = await emu.json("GET", emu.compute("/flavors/detail"), params={"minDisk": "1"})
    assert all(f["name"].startswith("u2.") for f in local["flavors"])
    flavor = await emu.flavor("u2.c1m1")
    one = await emu.json("GET", emu.compute(f"/flavors/{flavor['id']}"))
    assert one["flavor"]["disk"] == 20
    missing = await emu.call("GET", emu.compute("/flavors/nope"))
    assert missing.status == 404 and "itemNotFound" in await missing.json()


@pytest.mark.parametrize(
    ("region", "zones"),
    [
        ("kr1", ["kr-pub-a", "kr-pub-b"]),
        ("kr2", ["kr2-pub-a", "kr2-pub-b"]),
        ("kr3", ["kr3-pub-a", "kr3-pub-b"]),
        ("jp1", ["jp-pub-a", "jp-pub-b"]),
    ],
)
async def test_availability_zones_per_region(emu, region, zones):
    body = await emu.json("GET", emu.compute("/os-availability-zone", region))
    assert_conforms(body, EXAMPLES["availability_zones"])
    assert [z["zoneName"] for z in body["availabilityZoneInfo"]] == zones


async def test_unknown_region_is_404(emu):
    response = await emu.call("GET", emu.compute("/flavors", "us1"))
    assert response.status == 404
    assert "itemNotFound" in await response.json()


async def test_keypair_lifecycle(emu):
    created = await emu.json("POST", emu.compute("/os-keypairs"), json={"keypair": {"name": "gen"}})
    assert_conforms(created, EXAMPLES["keypair_create"])
    assert created["keypair"]["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    public = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 me@host"
    imported = await emu.json(
        "POST", emu.compute("/os-keypairs"), json={"keypair": {"name": "imp", "public_key": public}}
    )
    assert "private_key" not in imported["keypair"]
    listed = await emu.json("GET", emu.compute("/os-keypairs"))
    assert_conforms(listed, EXAMPLES["keypairs"])
    names = sorted(k["keypair"]["name"] for k in listed["keypairs"])
    assert names == ["demo-keypair", "gen", "imp"]
    one = await emu.json("GET", emu.compute("/os-keypairs/imp"))
    assert_conforms(one, EXAMPLES["keypair_get"])
    assert one["keypair"]["public_key"] == public
    duplicate = await emu.call(
        "POST", emu.compute("/os-keypairs"), json={"keypair": {"name": "imp"}}
    )
    assert duplicate.status == 409
    assert (await duplicate.json())["conflictingRequest"][
        "message"
    ] == "Key pair 'imp' already exists."
    bad = await emu.call(
        "POST",
        emu.compute("/os-keypairs"),
        json={"keypair": {"name": "x", "public_key": "not a key"}},
    )
    assert bad.status == 400 and "badRequest" in await bad.json()
    assert (await emu.call("DELETE", emu.compute("/os-keypairs/imp"))).status == 202
    gone = await emu.call("GET", emu.compute("/os-keypairs/imp"))
    assert gone.status == 404
    assert (await gone.json())["itemNotFound"]["message"].startswith(
        "Keypair imp not found for user "
    )


async def test_create_server_answer_and_full_view(emu):
    body = await emu.server_body("web-01")
    answer = await emu.json("POST", emu.compute("/servers"), 202, json=body)
    assert_conforms(answer, EXAMPLES["server_create"])
    assert set(answer["server"]) == {"id", "links", "security_groups"}
    server = await emu.server(answer["server"]["id"])
    assert_conforms({"server": server}, EXAMPLES["server_get"])
    assert server["status"] == "BUILD"
    assert server["OS-EXT-STS:task_state"] == "spawning"
    address = server["addresses"]["Default Network"][0]
    assert address["OS-EXT-IPS:type"] == "fixed" and address["version"] == 4
    assert address["addr"].startswith("192.168.0.")
    assert server["metadata"]["volume_size"] == "50"
    emu.settle()
    server = await emu.server(answer["server"]["id"])
    assert server["status"] == "ACTIVE" and server["OS-EXT-STS:power_state"] == 1
    assert server["OS-SRV-USG:launched_at"] is not None


async def test_server_lists_and_paging(emu):
    ids = [await emu.create_server(f"s{i}") for i in range(3)]
    plain = await emu.json("GET", emu.compute("/servers"))
    assert_conforms(plain, EXAMPLES["servers"])
    assert sorted(s["id"] for s in plain["servers"]) == sorted(ids)
    page = await emu.json("GET", emu.compute("/servers/detail"), params={"limit": "2"})
    assert len(page["servers"]) == 2
    assert_conforms({"server": page["servers"][0]}, EXAMPLES["server_get"])
    next_link = page["servers_links"][0]
    assert next_link["rel"] == "next" and f"marker={page['servers'][1]['id']}" in next_link["href"]
    rest = await emu.json(
        "GET",
        emu.compute("/servers/detail"),
        params={"limit": "2", "marker": page["servers"][1]["id"]},
    )
    assert len(rest["servers"]) == 1 and "servers_links" not in rest
    named = await emu.json("GET", emu.compute("/servers/detail"), params={"name": "^s1$"})
    assert [s["name"] for s in named["servers"]] == ["s1"]
    bad_marker = await emu.call("GET", emu.compute("/servers"), params={"marker": "nope"})
    assert bad_marker.status == 400


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"flavorRef": "no-such-flavor"}, "Flavor no-such-flavor could not be found."),
        ({"imageRef": "no-such-image"}, "Can not find requested image"),
        ({"key_name": "missing-key"}, "Invalid key_name provided."),
        ({"networks": [{"subnet": "no-such-subnet"}]}, "Subnet no-such-subnet could not be found."),
        ({"networks": []}, "networks"),
        ({"security_groups": [{"name": "nope"}]}, "Security group nope not found"),
        ({"availability_zone": "kr9-pub-z"}, "availability zone is not available"),
        ({"name": ""}, "name"),
        ({"block_device_mapping_v2": None}, "block_device_mapping_v2"),
        ({"user_data": "%%%"}, "User data needs to be valid base 64."),
        ({"max_count": 11}, "max_count"),
    ],
)
async def test_create_server_validation(emu, override, message):
    body = await emu.server_body()
    for key, value in override.items():
        if value is None:
            body["server"].pop(key)
        else:
            body["server"][key] = value
    response = await emu.call("POST", emu.compute("/servers"), json=body)
    assert response.status == 400, await response.text()
    assert message in (await response.json())["badRequest"]["message"]


async def test_create_server_bdm_rules(emu):
    # u2 flavors must boot from their local disk.
    u2 = await emu.flavor("u2.c1m1")
    body = await emu.server_body(flavorRef=u2["id"])
    response = await emu.call("POST", emu.compute("/servers"), json=body)
    assert response.status == 400
    body["server"]["block_device_mapping_v2"][0]["destination_type"] = "local"
    response = await emu.call("POST", emu.compute("/servers"), json=body)
    assert response.status == 202
    server = await emu.server((await response.json())["server"]["id"])
    assert server["os-extended-volumes:volumes_attached"] == []
    # A root volume smaller than the image's minimum is refused.
    body = await emu.server_body()
    body["server"]["block_device_mapping_v2"][0]["volume_size"] = 5
    assert (await emu.call("POST", emu.compute("/servers"), json=body)).status == 400


async def test_create_server_malformed_bodies(emu):
    for raw in (b"{", b"[]", b'{"server": "x"}', b'{"server": {}}'):
        response = await emu.call(
            "POST", emu.compute("/servers"), data=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
        assert "badRequest" in await response.json()


async def test_stop_start_reboot_transitions(emu):
    server_id = await emu.create_server()
    action = emu.compute(f"/servers/{server_id}/action")
    # Still building: stop is refused with Nova's conflict message.
    response = await emu.call("POST", action, json={"os-stop": None})
    assert response.status == 409
    assert (await response.json())["conflictingRequest"]["message"] == (
        f"Cannot 'os-stop' instance {server_id} while it is in vm_state building"
    )
    emu.settle()
    response = await emu.call("POST", action, json={"os-start": None})
    assert response.status == 409
    assert (
        "while it is in vm_state active" in (await response.json())["conflictingRequest"]["message"]
    )

    response = await emu.call("POST", action, json={"os-stop": None})
    assert response.status == 202 and await response.read() == b""
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", "powering-off")
    again = await emu.call("POST", action, json={"os-stop": None})
    assert "task_state powering-off" in (await again.json())["conflictingRequest"]["message"]
    emu.settle()
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:power_state"]) == (
        "SHUTOFF",
        "stopped",
        4,
    )
    soft = await emu.call("POST", action, json={"reboot": {"type": "SOFT"}})
    assert soft.status == 409

    assert (await emu.call("POST", action, json={"os-start": None})).status == 202
    emu.settle()
    assert (await emu.server(server_id))["status"] == "ACTIVE"

    assert (await emu.call("POST", action, json={"reboot": {"type": "SOFT"}})).status == 202
    assert (await emu.server(server_id))["status"] == "REBOOT"
    assert (await emu.call("POST", action, json={"reboot": {"type": "HARD"}})).status == 202
    assert (await emu.server(server_id))["status"] == "HARD_REBOOT"
    emu.settle()
    assert (await emu.server(server_id))["status"] == "ACTIVE"


async def test_bad_actions(emu):
    server_id = await emu.create_server()
    emu.settle()
    action = emu.compute(f"/servers/{server_id}/action")
    unknown = await emu.call("POST", action, json={"explode": None})
    assert unknown.status == 400
    assert (await unknown.json())["badRequest"]["message"] == "There is no such action: explode"
    bad_reboot = await emu.call("POST", action, json={"reboot": {"type": "MEDIUM"}})
    assert bad_reboot.status == 400
    unemulated = await emu.call("POST", action, json={"shelve": None})
    assert unemulated.status == 501 and "notImplemented" in await unemulated.json()
    missing = await emu.call("POST", emu.compute("/servers/nope/action"), json={"os-stop": None})
    assert missing.status == 404


async def test_delete_server_goes_through_deleting_then_404(emu):
    server_id = await emu.create_server()
    emu.settle()
    ports = await emu.json("GET", "/kr1/network/v2.0/ports", params={"device_id": server_id})
    assert len(ports["ports"]) == 1
    response = await emu.call("DELETE", emu.compute(f"/servers/{server_id}"))
    assert response.status == 204
    server = await emu.server(server_id)
    assert server["OS-EXT-STS:task_state"] == "deleting"
    conflict = await emu.call(
        "POST", emu.compute(f"/servers/{server_id}/action"), json={"os-stop": None}
    )
    assert conflict.status == 409
    emu.clock.advance(BUILD_DELAY / 2)
    assert (await emu.call("GET", emu.compute(f"/servers/{server_id}"))).status == 200
    emu.settle()
    gone = await emu.call("GET", emu.compute(f"/servers/{server_id}"))
    assert gone.status == 404
    assert await gone.json() == {
        "itemNotFound": {"code": 404, "message": f"Instance {server_id} could not be found."}
    }
    ports = await emu.json("GET", "/kr1/network/v2.0/ports", params={"device_id": server_id})
    assert ports["ports"] == []


async def test_rename_and_metadata(emu):
    server_id = await emu.create_server()
    renamed = await emu.json(
        "PUT", emu.compute(f"/servers/{server_id}"), json={"server": {"name": "new"}}
    )
    assert renamed["server"]["name"] == "new"
    meta = await emu.json("GET", emu.compute(f"/servers/{server_id}/metadata"))
    assert meta["metadata"]["os_distro"] == "ubuntu"
    put = await emu.json(
        "PUT", emu.compute(f"/servers/{server_id}/metadata/role"), json={"meta": {"role": "web"}}
    )
    assert put == {"meta": {"role": "web"}}
    assert (
        await emu.call("DELETE", emu.compute(f"/servers/{server_id}/metadata/role"))
    ).status == 204


async def test_servers_are_separate_per_region(emu):
    await emu.create_server("in-kr1")
    kr2 = await emu.json("GET", emu.compute("/servers", "kr2"))
    assert kr2["servers"] == []


async def test_unemulated_compute_endpoint_is_501(emu):
    response = await emu.call("GET", emu.compute("/os-server-groups"))
    assert response.status == 501
    body = await response.json()
    assert body["notImplemented"]["code"] == 501

"""Compute: flavors, zones, key pairs and the server lifecycle against compute.md."""

from __future__ import annotations

import base64
import hashlib

import pytest

from .conftest import BUILD_DELAY
from .doc_examples import EXAMPLES
from .shapes import assert_conforms


def ssh_string(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def ssh_key(kind: str, *fields: bytes, comment: str = "me@host") -> str:
    """An OpenSSH public key line of `kind` with these wire-format fields after the type."""
    blob = ssh_string(kind.encode()) + b"".join(ssh_string(f) for f in fields)
    return f"{kind} {base64.b64encode(blob).decode()} {comment}".strip()


RSA_KEY = ssh_key("ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc3" * 256)
ED25519_KEY = ssh_key("ssh-ed25519", b"\x11" * 32)
ECDSA_KEY = ssh_key("ecdsa-sha2-nistp256", b"nistp256", b"\x04" + b"\x22" * 64)


def sha256_fingerprint(public_key: str) -> str:
    """OpenSSH's SHA256 fingerprint, as NHN's examples show it."""
    digest = hashlib.sha256(base64.b64decode(public_key.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


async def test_flavor_lists_match_documented_examples(emu):
    plain = await emu.json("GET", emu.compute("/flavors"))
    assert_conforms(plain, EXAMPLES["flavors"])
    detail = await emu.json("GET", emu.compute("/flavors/detail"))
    assert_conforms(detail, EXAMPLES["flavors_detail"])
    by_name = {f["name"]: f for f in detail["flavors"]}
    for family in ("m2", "c2", "r2", "t2", "x1", "u2", "g2"):
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


async def test_gpu_flavors_from_nhn_gpu_guide(emu):
    """NHN's GPU Instance guide: g2.<gpu>.c<vCPUs>m<GiB>; no fixed local disk documented."""
    by_name = {
        f["name"]: f for f in (await emu.json("GET", emu.compute("/flavors/detail")))["flavors"]
    }
    expected = {
        "g2.t4.c4m32": (4, 32),
        "g2.t4.c8m64": (8, 64),
        "g2.v100.c8m90": (8, 90),
        "g2.v100.c16m180": (16, 180),
    }
    for name, (vcpus, gib) in expected.items():
        flavor = by_name[name]
        assert (flavor["vcpus"], flavor["ram"], flavor["disk"]) == (vcpus, gib * 1024, 0)
        assert flavor["extra_specs"] == {"flavor_type": "gpu"}


async def test_keypair_lifecycle(emu):
    created = await emu.json("POST", emu.compute("/os-keypairs"), json={"keypair": {"name": "gen"}})
    assert_conforms(created, EXAMPLES["keypair_create"])
    generated = created["keypair"]
    assert generated["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert generated["private_key"].endswith("-----END RSA PRIVATE KEY-----\n")
    # Nova's generated public key: a well-formed 2048-bit ssh-rsa key, fingerprinted as NHN shows
    assert generated["public_key"].startswith("ssh-rsa AAAAB3NzaC1yc2E")
    assert generated["public_key"].endswith(" Generated-by-Nova")
    assert generated["fingerprint"] == sha256_fingerprint(generated["public_key"])
    blob = base64.b64decode(generated["public_key"].split()[1])
    assert blob[:11] == ssh_string(b"ssh-rsa") and blob[11:18] == ssh_string(b"\x01\x00\x01")
    assert int.from_bytes(blob[18:22], "big") == 257 and len(blob) == 22 + 257
    reimported = await emu.json(
        "POST",
        emu.compute("/os-keypairs"),
        json={"keypair": {"name": "again", "public_key": generated["public_key"]}},
    )
    assert reimported["keypair"]["fingerprint"] == generated["fingerprint"]
    public = RSA_KEY
    imported = await emu.json(
        "POST", emu.compute("/os-keypairs"), json={"keypair": {"name": "imp", "public_key": public}}
    )
    assert "private_key" not in imported["keypair"]
    assert imported["keypair"]["fingerprint"] == sha256_fingerprint(public)
    listed = await emu.json("GET", emu.compute("/os-keypairs"))
    assert_conforms(listed, EXAMPLES["keypairs"])
    names = sorted(k["keypair"]["name"] for k in listed["keypairs"])
    assert names == ["again", "demo-keypair", "gen", "imp"]
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
    deleted = await emu.call("DELETE", emu.compute("/os-keypairs/imp"))
    assert deleted.status == 202 and await deleted.read() == b""
    gone = await emu.call("GET", emu.compute("/os-keypairs/imp"))
    assert gone.status == 404
    assert (await gone.json())["itemNotFound"]["message"].startswith(
        "Keypair imp not found for user "
    )
    again = await emu.call("DELETE", emu.compute("/os-keypairs/imp"))
    assert again.status == 404 and "itemNotFound" in await again.json()


@pytest.mark.parametrize("public_key", [ED25519_KEY, ECDSA_KEY, RSA_KEY.rsplit(" ", 1)[0]])
async def test_keypair_import_reads_every_openssh_key_type(emu, public_key):
    answer = await emu.json(
        "POST",
        emu.compute("/os-keypairs"),
        json={"keypair": {"name": "typed", "public_key": public_key}},
    )
    assert answer["keypair"]["fingerprint"] == sha256_fingerprint(public_key)
    assert answer["keypair"]["public_key"] == public_key


@pytest.mark.parametrize(
    "public_key",
    [
        "not a key",
        "ssh-rsa",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 me@host",  # the modulus is cut short
        "ssh-rsa %%%% me@host",  # not base64
        ssh_key("ssh-rsa", b"\x01\x00\x01"),  # no modulus
        ssh_key("ssh-rsa", b"\x01\x00\x01", b"\xc3" * 256),  # a negative modulus
        ssh_key("ssh-ed25519", b"\x11" * 31),  # a 31-byte Ed25519 key
        ssh_key("ecdsa-sha2-nistp256", b"nistp384", b"\x04" + b"\x22" * 64),  # wrong curve
        "ssh-ed25519 " + RSA_KEY.split()[1],  # the data names another type
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAB3NzaC1yc2E\n---- END SSH2 PUBLIC KEY ----",
        RSA_KEY + "\n" + ED25519_KEY,  # two keys
    ],
)
async def test_keypair_import_refuses_what_is_not_an_openssh_public_key(emu, public_key):
    response = await emu.call(
        "POST",
        emu.compute("/os-keypairs"),
        json={"keypair": {"name": "bad", "public_key": public_key}},
    )
    assert response.status == 400
    assert await response.json() == {
        "badRequest": {
            "code": 400,
            "message": "Keypair data is invalid: failed to generate fingerprint",
        }
    }
    assert (await emu.call("GET", emu.compute("/os-keypairs/bad"))).status == 404


async def test_keypair_bad_key_under_a_taken_name_is_400_as_nova_checks_it_first(emu):
    response = await emu.call(
        "POST",
        emu.compute("/os-keypairs"),
        json={"keypair": {"name": "demo-keypair", "public_key": "ssh-rsa AAAA"}},
    )
    assert response.status == 400 and "badRequest" in await response.json()


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


async def test_local_root_disk_volume_size_is_ignored_for_u2(emu):
    """NHN: a u2 root disk has the flavor's size and volume_size "is ignored" (its Terraform
    guide sends 30 for u2.c2m4, a 50 GB flavor); it must still be a number."""
    u2 = await emu.flavor("u2.c2m4")
    for size in (30, 50, 1, 5000):
        body = await emu.server_body(flavorRef=u2["id"])
        root = body["server"]["block_device_mapping_v2"][0]
        root.update(destination_type="local", volume_size=size)
        answer = await emu.json("POST", emu.compute("/servers"), 202, json=body)
        server = await emu.server(answer["server"]["id"])
        assert server["os-extended-volumes:volumes_attached"] == []
        assert "volume_size" not in server["metadata"]
    body = await emu.server_body(flavorRef=u2["id"])
    body["server"]["block_device_mapping_v2"][0].update(destination_type="local", volume_size="x")
    response = await emu.call("POST", emu.compute("/servers"), json=body)
    assert (
        response.status == 400 and "volume_size" in (await response.json())["badRequest"]["message"]
    )
    # without any block device mapping a u2 flavor boots from the image onto its disk
    body = await emu.server_body(flavorRef=u2["id"])
    del body["server"]["block_device_mapping_v2"]
    assert (await emu.call("POST", emu.compute("/servers"), json=body)).status == 202


async def test_gpu_flavor_boots_from_a_local_disk_of_the_requested_size(emu):
    g2 = await emu.flavor("g2.t4.c4m32")
    body = await emu.server_body(flavorRef=g2["id"])
    root = body["server"]["block_device_mapping_v2"][0]
    response = await emu.call("POST", emu.compute("/servers"), json=body)  # a volume: refused
    assert response.status == 400
    assert "destination_type must be 'local'" in (await response.json())["badRequest"]["message"]
    root.update(destination_type="local", volume_size=100)
    answer = await emu.json("POST", emu.compute("/servers"), 202, json=body)
    server = await emu.server(answer["server"]["id"])
    assert server["flavor"]["id"] == g2["id"]
    assert server["os-extended-volumes:volumes_attached"] == []  # no boot volume
    assert server["metadata"]["volume_size"] == "100"
    emu.settle()
    assert (await emu.server(answer["server"]["id"]))["status"] == "ACTIVE"
    # no fixed disk: the size is required and bounded like a root volume's
    for size in (None, 5, 2001):
        body = await emu.server_body(flavorRef=g2["id"])
        body["server"]["block_device_mapping_v2"][0].update(
            destination_type="local", volume_size=size
        )
        assert (await emu.call("POST", emu.compute("/servers"), json=body)).status == 400
    body = await emu.server_body(flavorRef=g2["id"])
    del body["server"]["block_device_mapping_v2"]
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


async def resized(emu, server_id: str, flavor: str = "m2.c4m8") -> dict:
    """Ask for a resize of an ACTIVE server to `flavor`; the flavor as listed."""
    new = await emu.flavor(flavor)
    response = await emu.call(
        "POST",
        emu.compute(f"/servers/{server_id}/action"),
        json={"resize": {"flavorRef": new["id"]}},
    )
    assert response.status == 202 and await response.read() == b"", await response.text()
    return new


async def test_resize_waits_in_verify_resize_then_nhn_confirms_it(emu):
    server_id = await emu.create_server()
    emu.settle()
    old = await emu.flavor("m2.c2m4")
    new = await resized(emu, server_id)
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:vm_state"]) == ("RESIZE", "active")
    assert server["OS-EXT-STS:task_state"] == "resize_migrating"
    assert server["flavor"]["id"] == old["id"]  # Nova shows the new flavor once migrated
    emu.settle()
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:vm_state"]) == ("VERIFY_RESIZE", "resized")
    assert server["OS-EXT-STS:task_state"] is None and server["OS-EXT-STS:power_state"] == 1
    assert server["flavor"]["id"] == new["id"]
    listed = await emu.json(
        "GET", emu.compute("/servers/detail"), params={"status": "VERIFY_RESIZE"}
    )
    assert [s["id"] for s in listed["servers"]] == [server_id]
    # NHN turns VERIFY_RESIZE into ACTIVE by itself, one more delay later
    emu.clock.advance(BUILD_DELAY / 2)
    assert (await emu.server(server_id))["status"] == "VERIFY_RESIZE"
    emu.settle()
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:vm_state"]) == ("ACTIVE", "active")
    assert server["flavor"]["id"] == new["id"] and server["OS-EXT-STS:task_state"] is None
    confirm = await emu.call(
        "POST", emu.compute(f"/servers/{server_id}/action"), json={"confirmResize": None}
    )
    assert confirm.status == 409
    assert (await confirm.json())["conflictingRequest"]["message"] == (
        f"Cannot 'confirmResize' instance {server_id} while it is in vm_state active"
    )


async def test_resize_settles_at_once_after_both_delays(emu):
    server_id = await emu.create_server()
    emu.settle()
    new = await resized(emu, server_id)
    emu.settle(2 * BUILD_DELAY)
    server = await emu.server(server_id)
    assert (server["status"], server["flavor"]["id"]) == ("ACTIVE", new["id"])


async def test_confirm_resize_in_verify_resize(emu):
    server_id = await emu.create_server()
    emu.settle()
    new = await resized(emu, server_id, "c2.c4m4")
    action = emu.compute(f"/servers/{server_id}/action")
    early = await emu.call("POST", action, json={"confirmResize": None})
    assert early.status == 409
    # Nova checks the vm_state first: still active while the resize runs
    assert "vm_state active" in (await early.json())["conflictingRequest"]["message"]
    emu.settle()
    confirm = await emu.call("POST", action, json={"confirmResize": None})
    assert confirm.status == 204 and await confirm.read() == b""
    server = await emu.server(server_id)
    assert (server["status"], server["flavor"]["id"]) == ("ACTIVE", new["id"])
    emu.settle(2 * BUILD_DELAY)  # nothing left to confirm
    assert (await emu.server(server_id))["flavor"]["id"] == new["id"]


async def test_revert_resize_goes_back_to_the_old_flavor(emu):
    server_id = await emu.create_server()
    emu.settle()
    old = await emu.flavor("m2.c2m4")
    await resized(emu, server_id, "r2.c2m16")
    action = emu.compute(f"/servers/{server_id}/action")
    emu.settle()
    revert = await emu.call("POST", action, json={"revertResize": None})
    assert revert.status == 202 and await revert.read() == b""
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == (
        "REVERT_RESIZE",
        "resize_reverting",
    )
    again = await emu.call("POST", action, json={"confirmResize": None})
    assert "task_state resize_reverting" in (await again.json())["conflictingRequest"]["message"]
    emu.settle()
    server = await emu.server(server_id)
    assert (server["status"], server["flavor"]["id"]) == ("ACTIVE", old["id"])
    emu.settle(2 * BUILD_DELAY)
    assert (await emu.server(server_id))["flavor"]["id"] == old["id"]
    late = await emu.call("POST", action, json={"revertResize": None})
    assert late.status == 409


async def test_a_stopped_server_resizes_and_stays_stopped(emu):
    server_id = await emu.create_server()
    emu.settle()
    action = emu.compute(f"/servers/{server_id}/action")
    assert (await emu.call("POST", action, json={"os-stop": None})).status == 202
    emu.settle()
    new = await resized(emu, server_id, "m2.c4m16")
    assert (await emu.server(server_id))["status"] == "RESIZE"
    emu.settle()
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:power_state"]) == ("VERIFY_RESIZE", 4)
    emu.settle()
    server = await emu.server(server_id)
    assert (server["status"], server["OS-EXT-STS:vm_state"]) == ("SHUTOFF", "stopped")
    assert server["flavor"]["id"] == new["id"]


async def test_delete_a_server_waiting_in_verify_resize(emu):
    server_id = await emu.create_server()
    emu.settle()
    await resized(emu, server_id)
    emu.settle()
    assert (await emu.call("DELETE", emu.compute(f"/servers/{server_id}"))).status == 204
    assert (await emu.server(server_id))["OS-EXT-STS:task_state"] == "deleting"
    emu.settle()
    assert (await emu.call("GET", emu.compute(f"/servers/{server_id}"))).status == 404


async def test_resize_errors_as_nova_and_nhn_answer_them(emu):
    server_id = await emu.create_server()
    action = emu.compute(f"/servers/{server_id}/action")
    m2 = await emu.flavor("m2.c4m8")

    async def error(body, status):
        response = await emu.call("POST", action, json=body)
        assert response.status == status, await response.text()
        key = "badRequest" if status == 400 else "conflictingRequest"
        return (await response.json())[key]["message"]

    # still building: Nova's state check comes before the flavor's
    assert await error({"resize": {"flavorRef": m2["id"]}}, 409) == (
        f"Cannot 'resize' instance {server_id} while it is in vm_state building"
    )
    emu.settle()
    assert "'flavorRef' is a required property" in await error({"resize": {}}, 400)
    assert "'flavorRef' is a required property" in await error({"resize": None}, 400)
    assert "Additional properties" in await error(
        {"resize": {"flavorRef": m2["id"], "disk": 1}}, 400
    )
    assert "flavorRef" in await error({"resize": {"flavorRef": ""}}, 400)
    assert await error({"resize": {"flavorRef": "nope"}}, 400) == "Flavor nope could not be found."
    same = (await emu.flavor("m2.c2m4"))["id"]
    assert await error({"resize": {"flavorRef": same}}, 400) == (
        "When resizing, instances must change flavor!"
    )
    for name in ("u2.c2m4", "g2.t4.c4m32"):
        flavor = await emu.flavor(name)
        message = await error({"resize": {"flavorRef": flavor["id"]}}, 400)
        assert f"Flavor {name} is not allowed" in message
    for verb in ("confirmResize", "revertResize"):
        assert await error({verb: None}, 409) == (
            f"Cannot '{verb}' instance {server_id} while it is in vm_state active"
        )
    # a flavor link works as well as an id (Nova takes the last segment)
    link = f"http://emulator/{emu.tenant}/flavors/{m2['id']}"
    assert (await emu.call("POST", action, json={"resize": {"flavorRef": link}})).status == 202
    assert "task_state resize_migrating" in await error({"resize": {"flavorRef": same}}, 409)
    assert "task_state resize_migrating" in await error({"os-stop": None}, 409)


@pytest.mark.parametrize("flavor", ["u2.c1m1", "g2.t4.c4m32"])
async def test_local_disk_instances_cannot_be_resized(emu, flavor):
    local = await emu.flavor(flavor)
    body = await emu.server_body(flavorRef=local["id"])
    body["server"]["block_device_mapping_v2"][0]["destination_type"] = "local"
    server_id = (await emu.json("POST", emu.compute("/servers"), 202, json=body))["server"]["id"]
    emu.settle()
    target = await emu.flavor("m2.c4m8")
    response = await emu.call(
        "POST",
        emu.compute(f"/servers/{server_id}/action"),
        json={"resize": {"flavorRef": target["id"]}},
    )
    assert response.status == 400
    message = (await response.json())["badRequest"]["message"]
    assert f"has flavor {flavor}" in message and "cannot change the flavor" in message


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

"""Control plane: faults, reset, request journal, clock and the description endpoint."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from nhn_proxy.emulator import EmulatorOptions, create_app, endpoints

FLAVORS_GLOB = "/v2/*/flavors*"


async def add_fault(emu, **fault):
    response = await emu.client.post("/_emulator/faults", json=fault)
    assert response.status == 201, await response.text()
    return (await response.json())["fault"]


def test_endpoints_templates():
    assert endpoints("http://127.0.0.1:9000/") == {
        "identity": "http://127.0.0.1:9000/identity",
        "compute": "http://127.0.0.1:9000/{region}/compute",
        "image": "http://127.0.0.1:9000/{region}/image",
        "network": "http://127.0.0.1:9000/{region}/network",
        "kubernetes": "http://127.0.0.1:9000/{region}/kubernetes",
        "object_storage": "http://127.0.0.1:9000/{region}/object-storage",
        "block_storage": "http://127.0.0.1:9000/{region}/block-storage",
    }


def test_bad_options_fail_at_start_up():
    with pytest.raises(ValueError):
        EmulatorOptions(regions=())
    with pytest.raises(ValueError):
        EmulatorOptions(build_delay=-1)


async def test_status_fault_uses_the_services_error_format(emu):
    fault = await add_fault(
        emu,
        service="compute",
        method="GET",
        path=FLAVORS_GLOB,
        action="status",
        status=503,
        times=1,
    )
    assert fault["times"] == 1 and fault["region"] == "*"
    response = await emu.call("GET", emu.compute("/flavors"))
    assert response.status == 503
    assert (await response.json())["serviceUnavailable"]["code"] == 503
    assert (await emu.call("GET", emu.compute("/flavors"))).status == 200  # used up
    await add_fault(emu, service="network", path="/v2.0/vpcs", action="status", status=500, times=1)
    body = await (await emu.call("GET", "/kr1/network/v2.0/vpcs")).json()
    assert body["NeutronError"]["type"] == "HTTPInternalServerError"
    await add_fault(emu, service="kubernetes", path="*", action="status", status=409, times=1)
    body = await (await emu.call("GET", "/kr1/kubernetes/v1/clusters")).json()
    assert body["errors"][0]["status"] == 409
    await add_fault(emu, service="object_storage", action="status", status=404, times=1)
    response = await emu.call("GET", emu.swift(), tenant=emu.storage_tenant)
    assert "<h1>Not Found</h1>" in await response.text()
    await add_fault(emu, service="identity", action="status", status=500, times=1)
    response = await emu.issue()
    assert (await response.json())["error"]["code"] == 500


async def test_fault_filters_method_path_and_region(emu):
    await add_fault(
        emu,
        service="*",
        method="POST",
        path="^/v2/[0-9a-f]+/os-keypairs$",
        region="kr2",
        action="status",
        status=500,
    )
    assert (await emu.call("GET", emu.compute("/os-keypairs", "kr2"))).status == 200
    assert (
        await emu.call("POST", emu.compute("/os-keypairs", "kr1"), json={"keypair": {"name": "a"}})
    ).status == 200
    assert (
        await emu.call("POST", emu.compute("/os-keypairs", "kr2"), json={"keypair": {"name": "a"}})
    ).status == 500
    listed = await (await emu.client.get("/_emulator/faults")).json()
    fault = listed["faults"][0]
    assert fault["hits"] == 1 and fault["times"] is None
    assert (await emu.client.delete(f"/_emulator/faults/{fault['id']}")).status == 204
    assert (await emu.client.delete(f"/_emulator/faults/{fault['id']}")).status == 404
    assert (
        await emu.call("POST", emu.compute("/os-keypairs", "kr2"), json={"keypair": {"name": "b"}})
    ).status == 200


async def test_latency_and_slow_body(emu):
    await add_fault(
        emu, service="compute", path=FLAVORS_GLOB, action="latency", seconds=0.2, times=1
    )
    started = time.monotonic()
    assert (await emu.call("GET", emu.compute("/flavors"))).status == 200
    assert time.monotonic() - started >= 0.2
    await add_fault(
        emu, service="compute", path=FLAVORS_GLOB, action="slow_body", seconds=0.2, times=1
    )
    started = time.monotonic()
    response = await emu.call("GET", emu.compute("/flavors"))
    body = await response.json()
    assert time.monotonic() - started >= 0.15 and body["flavors"]


async def test_drop_truncated_malformed_wrong_type_huge(emu):
    await add_fault(emu, service="compute", action="drop", times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await emu.call("GET", emu.compute("/flavors"))

    await add_fault(emu, service="compute", action="truncated", times=1)
    with pytest.raises(aiohttp.ClientPayloadError):
        response = await emu.call("GET", emu.compute("/flavors"))
        await response.read()

    await add_fault(emu, service="compute", action="malformed", times=1)
    response = await emu.call("GET", emu.compute("/flavors"))
    assert response.status == 200 and response.content_type == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(await response.text())

    await add_fault(emu, service="compute", action="wrong_content_type", times=1)
    response = await emu.call("GET", emu.compute("/flavors"))
    assert response.status == 200 and response.content_type == "text/html"

    await add_fault(emu, service="compute", action="huge_body", times=1)
    response = await emu.call("GET", emu.compute("/flavors"))
    body = await response.read()
    assert len(body) == 20 * 1024 * 1024
    assert json.loads(body)["padding"]


async def test_bad_fault_bodies_are_400(emu):
    for fault in (
        {"action": "explode"},
        {"action": "status"},
        {"action": "latency", "seconds": -1},
        {"action": "latency", "service": "nope"},
        {"action": "drop", "times": 0},
        {"action": "drop", "path": "^("},
        [1],
    ):
        response = await emu.client.post("/_emulator/faults", json=fault)
        assert response.status == 400, fault
        assert "error" in await response.json()
    response = await emu.client.post("/_emulator/faults", data=b"{")
    assert response.status == 400
    assert (await emu.client.delete("/_emulator/faults")).status == 204


async def test_request_journal(emu):
    await emu.client.delete("/_emulator/requests")
    await emu.call(
        "GET",
        "/kr1/object-storage/v1/AUTH_" + emu.storage_tenant + "/c%20d/o%2Fx?format=json",
        tenant=emu.storage_tenant,
    )
    await emu.call("GET", "/kr1/network/v2.0/vpcs", params={"router:external": "true"})
    entries = (await (await emu.client.get("/_emulator/requests")).json())["requests"]
    token_call = entries[0]
    assert token_call["path"] == "/identity/v2.0/tokens"
    assert token_call["body"]["auth"]["passwordCredentials"]["password"] == "***"
    assert token_call["has_token"] is False
    swift_call = next(e for e in entries if e["service"] == "object_storage")
    assert swift_call["path"].endswith("/c%20d/o%2Fx")
    assert swift_call["query"] == {"format": "json"}
    assert swift_call["has_token"] is True
    assert "X-Auth-Token" not in swift_call["headers"]
    last = entries[-1]
    assert (last["method"], last["service"], last["region"], last["status"]) == (
        "GET",
        "network",
        "kr1",
        200,
    )
    assert last["query"] == {"router:external": "true"}
    only_network = (await (await emu.client.get("/_emulator/requests?service=network")).json())[
        "requests"
    ]
    assert [e["service"] for e in only_network] == ["network"]
    assert (await emu.client.delete("/_emulator/requests")).status == 204
    assert (await (await emu.client.get("/_emulator/requests")).json())["requests"] == []


async def test_journal_is_bounded(aiohttp_client):
    client = await aiohttp_client(create_app())
    await asyncio.gather(*(client.get("/kr1/network/v2.0/vpcs") for _ in range(1005)))
    entries = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert len(entries) == 1000


async def test_reset_restores_the_seed(emu):
    await emu.create_server()
    await emu.client.post("/_emulator/faults", json={"action": "latency", "path": "/nothing"})
    response = await emu.client.post("/_emulator/reset", json={"keep_tokens": True})
    assert response.status == 200
    assert (await emu.json("GET", emu.compute("/servers")))["servers"] == []
    keypairs = (await emu.json("GET", emu.compute("/os-keypairs")))["keypairs"]
    assert [k["keypair"]["name"] for k in keypairs] == ["demo-keypair"]  # the seed only
    assert (await (await emu.client.get("/_emulator/faults")).json())["faults"] == []
    assert (await emu.default_subnet())["name"] == "default"
    await emu.client.post("/_emulator/reset")
    assert (await emu.call("GET", emu.compute("/servers"))).status == 401


async def test_clock_advance_settles_transitions(aiohttp_client):
    client = await aiohttp_client(create_app(EmulatorOptions(build_delay=3600)))
    from .conftest import Emu, FakeClock

    emu = Emu(client, FakeClock())
    server_id = await emu.create_server()
    assert (await emu.server(server_id))["status"] == "BUILD"
    response = await client.post("/_emulator/clock", json={"advance": 3601})
    assert response.status == 200 and (await response.json())["offset"] == 3601
    assert (await emu.server(server_id))["status"] == "ACTIVE"
    assert (await client.post("/_emulator/clock", json={"advance": "x"})).status == 400


async def test_real_time_transitions_with_short_delays(aiohttp_client):
    client = await aiohttp_client(create_app(EmulatorOptions(build_delay=0.05, cluster_delay=0.05)))
    from .conftest import Emu, FakeClock

    emu = Emu(client, FakeClock())
    server_id = await emu.create_server()
    assert (await emu.server(server_id))["status"] == "BUILD"
    await asyncio.sleep(0.08)
    assert (await emu.server(server_id))["status"] == "ACTIVE"


async def test_description(emu):
    body = await (await emu.client.get("/_emulator/")).json()
    assert body["regions"] == ["kr1", "kr2", "kr3", "jp1"]
    assert body["nks_regions"] == ["kr1", "kr2", "kr3"]
    assert body["settings"]["build_delay"] == 3.0
    assert "POST /v2/{tenant_id}/servers" in body["services"]["compute"]["routes"]
    assert body["services"]["object_storage"]["prefix"] == "/{region}/object-storage"


async def test_block_storage_and_unknown_prefixes(emu):
    response = await emu.call("GET", f"/kr1/block-storage/v2/{emu.tenant}/snapshots")
    assert response.status == 501 and "notImplemented" in await response.json()
    assert (await emu.client.get("/nowhere")).status == 404

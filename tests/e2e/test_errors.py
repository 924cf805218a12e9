"""Every class of error, end to end: `{"error": str, "code": int}` with the matching status
and an X-Request-ID header, whether the proxy refuses the request itself, NHN (the emulator)
refuses it, or the upstream misbehaves (faults injected through `/_emulator/faults`)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import yarl

from nhn_proxy.app import create_app
from nhn_proxy.emulator import endpoints
from nhn_proxy.settings import load_settings
from tests.e2e.conftest import (
    Stack,
    StackFactory,
    check_error,
    cluster_body,
    create_container,
    create_server,
    create_subnet,
    create_vpc,
    free_port,
    settings_toml,
    start_server,
)

pytestmark = pytest.mark.e2e

FLAVORS = "/compute/flavors/"
FLAVORS_NATIVE = "*/flavors/detail"


async def assert_still_serving(stack: Stack) -> None:
    """After a failure the proxy answers the next requests normally."""
    await stack.clear_faults()
    assert (await stack.get(FLAVORS, "compute")).expect(200)["flavors"]
    assert "vpcs" in (await stack.get("/vpc/", "network")).expect(200)
    assert (await stack.control("GET", "/faults")).expect(200) == {"faults": []}


# -- authentication -------------------------------------------------------------------------------


async def test_expired_token_is_401(stack: Stack) -> None:
    headers = await stack.headers("compute")
    assert (await stack.get(FLAVORS, "compute")).status == 200
    await stack.advance(13 * 3600)  # past the emulator's 12 h token lifetime
    reply = await stack.call("GET", FLAVORS, headers=headers)
    check_error(reply, 401)
    # a fresh token works again
    stack.forget_tokens()
    assert (await stack.get(FLAVORS, "compute")).status == 200


async def test_missing_token_is_401_without_upstream_call(stack: Stack) -> None:
    headers = await stack.headers("compute")
    del headers["X-NHN-Token"]
    await stack.clear_requests()
    check_error(await stack.call("GET", FLAVORS, headers=headers), 401, "X-NHN-Token")
    empty = {**headers, "X-NHN-Token": ""}
    check_error(await stack.call("GET", "/vpc", headers=empty), 401, "X-NHN-Token")
    assert await stack.native_calls() == []


async def test_wrong_password_is_401(stack: Stack) -> None:
    reply = await stack.token_reply(password="not-the-password")
    check_error(reply, 401)


# -- not found ------------------------------------------------------------------------------------


async def test_unknown_resources_are_404(stack: Stack) -> None:
    missing = str(uuid.uuid4())
    check_error(await stack.get(f"/compute/instances/{missing}/", "compute"), 404, missing)
    check_error(await stack.get(f"/vpc/{missing}/", "network"), 404)
    check_error(await stack.delete(f"/vpc/{missing}", "network"), 404)
    check_error(await stack.get(f"/subnet/{missing}/", "network"), 404)
    check_error(await stack.get("/nks/clusters/no-such-cluster/", "network"), 404)
    check_error(await stack.get("/nks/clusters/no-such-cluster/config/", "network"), 404)
    check_error(await stack.get("/storage/containers/no-such-container/", "storage"), 404)
    check_error(await stack.call("GET", "/no/such/route/"), 404)


# -- conflicts ------------------------------------------------------------------------------------


async def test_deleting_a_vpc_with_subnets_is_409(stack: Stack) -> None:
    vpc = await create_vpc(stack)
    await create_subnet(stack, vpc["id"])
    check_error(await stack.delete(f"/vpc/{vpc['id']}/", "network"), 409, "subnet")


async def test_deleting_a_non_empty_container_is_409(stack: Stack) -> None:
    await create_container(stack, "full")
    put = await stack.native("PUT", stack.storage_path("/full/a.txt"), storage=True, data=b"x")
    assert put.status == 201, put
    check_error(await stack.delete("/storage/containers/full/", "storage"), 409)
    objects = await stack.get("/storage/containers/full/", "storage")
    assert objects.expect(200) == {"objects": ["a.txt"]}


async def test_stopping_a_stopped_instance_is_409(stack: Stack) -> None:
    server = await create_server(stack)
    await stack.advance(1)
    action = f"/compute/instances/{server['id']}/action/"
    assert (await stack.post(action, "compute", {"action": "stop"})).status == 200
    await stack.advance(1)
    detail = await stack.get(f"/compute/instances/{server['id']}/", "compute")
    assert detail.expect(200)["server"]["status"] == "SHUTOFF"
    check_error(await stack.post(action, "compute", {"action": "stop"}), 409, "stop")


# -- validation -----------------------------------------------------------------------------------


async def test_validation_errors_name_the_field(stack: Stack) -> None:
    await stack.headers("compute")
    await stack.headers("storage")
    await stack.clear_requests()
    body = {"name": "x", "image_id": "i", "subnet_id": "s", "keypair_name": "k"}
    reply = await stack.post("/compute/instances/create/", "compute", body)
    check_error(reply, 400, "flavor_id")
    reply = await stack.post("/vpc/create/", "network", {"name": "v", "cidr": "10.0.0.1/16"})
    check_error(reply, 400, "cidr")
    reply = await stack.post("/vpc/create", "network", {"name": 5, "cidr": "10.0.0.0/16"})
    check_error(reply, 400, "name")
    reply = await stack.post("/compute/instances/x/action/", "compute", {"action": "explode"})
    check_error(reply, 400, "action")
    reply = await stack.post("/storage/containers/create/", "storage", {"name": "a/b"})
    check_error(reply, 400, "name")
    reply = await stack.post(
        "/vpc/create/", "network", {"name": "v", "cidr": "10.0.0.0/16", "x": 1}
    )
    check_error(reply, 400, "x")
    assert await stack.native_calls() == []  # nothing reached NHN


async def test_missing_headers_are_400(stack: Stack) -> None:
    headers = await stack.headers("compute")
    no_tenant = {k: v for k, v in headers.items() if k != "X-NHN-Tenant-ID"}
    check_error(await stack.call("GET", FLAVORS, headers=no_tenant), 400, "X-NHN-Tenant-ID")
    no_region = {k: v for k, v in headers.items() if k != "X-NHN-Region"}
    check_error(await stack.call("GET", FLAVORS, headers=no_region), 400, "X-NHN-Region")
    bad_region = {**headers, "X-NHN-Region": "xx9"}
    check_error(await stack.call("GET", FLAVORS, headers=bad_region), 400, "X-NHN-Region")
    storage = await stack.headers("storage")
    no_account = {k: v for k, v in storage.items() if k != "X-NHN-Storage-Account"}
    check_error(
        await stack.call("GET", "/storage/containers/", headers=no_account),
        400,
        "X-NHN-Storage-Account",
    )


async def test_nks_in_jp1_is_400_without_upstream_call(stack: Stack) -> None:
    await stack.headers("network")
    await stack.clear_requests()
    reply = await stack.get("/nks/clusters/", "network", region="jp1")
    check_error(reply, 400, "jp1")
    assert await stack.native_calls() == []
    # the same token works for NKS in kr2, and for the other services in jp1
    assert (await stack.get("/nks/clusters/", "network")).status == 200
    assert (await stack.get("/vpc/", "network", region="jp1")).status == 200


async def test_unknown_flavor_on_create_is_400_naming_the_field(stack: Stack) -> None:
    server_body = {
        "name": "x",
        "image_id": str(uuid.uuid4()),
        "flavor_id": str(uuid.uuid4()),
        "subnet_id": str(uuid.uuid4()),
        "keypair_name": "k",
    }
    reply = await stack.post("/compute/instances/create/", "compute", server_body)
    check_error(reply, 400, "flavor_id")


# -- upstream faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native_status", "public_status"),
    [(500, 502), (502, 502), (503, 503), (504, 504)],
)
async def test_upstream_5xx(stack: Stack, native_status: int, public_status: int) -> None:
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="status", status=native_status)
    check_error(await stack.get(FLAVORS, "compute"), public_status)
    await assert_still_serving(stack)


async def test_upstream_4xx_keeps_status_and_message(stack: Stack) -> None:
    await stack.fault(
        service="compute",
        path=FLAVORS_NATIVE,
        action="status",
        status=403,
        message="Policy doesn't allow this",
    )
    check_error(await stack.get(FLAVORS, "compute"), 403, "Policy doesn't allow this")
    await assert_still_serving(stack)


@pytest.mark.parametrize("action", ["drop", "malformed", "truncated", "wrong_content_type"])
async def test_broken_upstream_answers_are_502(stack: Stack, action: str) -> None:
    fault = await stack.fault(service="compute", path=FLAVORS_NATIVE, action=action)
    check_error(await stack.get(FLAVORS, "compute"), 502)
    faults = (await stack.control("GET", "/faults")).expect(200)["faults"]
    assert next(f["hits"] for f in faults if f["id"] == fault["id"]) >= 1
    await assert_still_serving(stack)


async def test_broken_answers_on_other_services(stack: Stack) -> None:
    """Faults on a network, NKS, storage and identity call are 502s as well."""
    await stack.headers("storage")
    await stack.headers("network")
    cases = [
        ({"service": "network", "action": "malformed"}, ("GET", "/vpc/", "network")),
        ({"service": "kubernetes", "action": "drop"}, ("GET", "/nks/clusters/", "network")),
        (
            {"service": "object_storage", "action": "status", "status": 500},
            ("GET", "/storage/containers/", "storage"),
        ),
    ]
    for fault, (method, path, kind) in cases:
        await stack.fault(**fault)
        check_error(await stack.call(method, path, kind=kind), 502)
        await stack.clear_faults()
    await stack.fault(service="identity", action="truncated")
    check_error(await stack.token_reply(), 502)
    await assert_still_serving(stack)


async def test_upstream_too_slow_is_504(make_stack: StackFactory) -> None:
    stack = await make_stack(timeout=1)
    await stack.headers("compute")
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="latency", seconds=3)
    started = time.monotonic()
    reply = await stack.get(FLAVORS, "compute")
    elapsed = time.monotonic() - started
    check_error(reply, 504)
    assert 0.8 < elapsed < 2.5, elapsed
    # other routes were never blocked, and the slow one works once NHN is fast again
    assert (await stack.get("/vpc/", "network")).status == 200
    await assert_still_serving(stack)


async def test_errors_carry_the_clients_request_id(stack: Stack) -> None:
    headers = {**(await stack.headers("compute")), "X-Request-ID": "e2e-trace-42"}
    reply = await stack.call("GET", f"/compute/instances/{uuid.uuid4()}/", headers=headers)
    check_error(reply, 404)
    assert reply.headers["X-Request-ID"] == "e2e-trace-42"
    (entry,) = await stack.native_requests(service="compute")
    assert entry["headers"].get("X-Request-ID") == "e2e-trace-42"


async def test_a_foreign_tenant_is_refused(stack: Stack) -> None:
    """A token of one tenant cannot reach another tenant's compute URL (NHN refuses it)."""
    headers = {**(await stack.headers("compute")), "X-NHN-Tenant-ID": "f" * 32}
    reply = await stack.call("GET", FLAVORS, headers=headers)
    assert reply.status in (400, 403), reply
    check_error(reply, reply.status)
    assert (await stack.get(FLAVORS, "compute")).status == 200


async def test_wrong_method_is_405(stack: Stack) -> None:
    reply = await stack.call("PUT", "/vpc/", kind="network", json={})
    check_error(reply, 405)


async def test_errors_to_an_allowed_origin_carry_cors_headers(stack: Stack) -> None:
    origin = {"Origin": "http://localhost:3000"}
    reply = await stack.call("GET", FLAVORS, headers=origin)  # no token: 401
    check_error(reply, 401)
    assert reply.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"
    missing = await stack.call("GET", "/no/such/route/", headers=origin)
    check_error(missing, 404)
    assert missing.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"


# -- more ways for a request or an upstream to go wrong ---------------------------------------


async def test_dropped_create_is_not_retried(stack: Stack) -> None:
    """A POST whose connection NHN drops is a 502 and is sent once: never a double create."""
    await create_container(stack, "warm-up")  # storage token issued, pool warm
    vpc_count = len((await stack.get("/vpc/", "network")).expect(200)["vpcs"])
    await stack.clear_requests()
    await stack.fault(service="network", method="POST", path="/v2.0/vpcs", action="drop")
    reply = await stack.post("/vpc/create/", "network", {"name": "once", "cidr": "10.1.0.0/16"})
    check_error(reply, 502)
    assert await stack.native_calls() == [("POST", "/kr2/network/v2.0/vpcs")]
    await stack.clear_faults()
    assert len((await stack.get("/vpc/", "network")).expect(200)["vpcs"]) == vpc_count


async def test_upstream_body_over_the_limit_is_502(make_stack: StackFactory) -> None:
    stack = await make_stack(max_body_size=64 * 1024)
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="huge_body", bytes=256 * 1024)
    check_error(await stack.get(FLAVORS, "compute"), 502)
    await assert_still_serving(stack)


async def test_slow_upstream_body_is_504(make_stack: StackFactory) -> None:
    stack = await make_stack(timeout=1)
    await stack.fault(service="network", path="/v2.0/vpcs", action="slow_body", seconds=3)
    check_error(await stack.get("/vpc/", "network"), 504)
    await assert_still_serving(stack)


async def test_unreachable_upstream_is_502(make_stack: StackFactory) -> None:
    stack = await make_stack()
    await stack.headers("compute")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    path = stack.settings_path.with_name("dead.toml")
    path.write_text(settings_toml(endpoints(dead), timeout=2))
    runner, url = await start_server(create_app(load_settings(path, environ={})))
    try:
        dead_stack = Stack(url, dead, stack.session, path, tokens=dict(stack.tokens))
        check_error(await dead_stack.get(FLAVORS, "compute"), 502)
        check_error(await dead_stack.token_reply(), 502)
    finally:
        await runner.cleanup()


async def test_slow_calls_do_not_block_other_requests(make_stack: StackFactory) -> None:
    stack = await make_stack(timeout=1)
    await stack.headers("compute")
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="latency", seconds=3)
    slow = asyncio.ensure_future(stack.get(FLAVORS, "compute"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    replies = await asyncio.gather(*(stack.get("/vpc/", "network") for _ in range(10)))
    assert [reply.status for reply in replies] == [200] * 10
    assert time.monotonic() - started < 0.8
    check_error(await slow, 504)


async def test_bad_request_bodies_are_400(stack: Stack) -> None:
    headers = {**(await stack.headers("network")), "Content-Type": "application/json"}
    url = f"{stack.proxy_url}/api/nhn/vpc/create/"
    for raw, field in ((b'{"name": "x", "cidr": ', "json"), (b"[1, 2]", "object")):
        async with stack.session.post(url, data=raw, headers=headers) as response:
            body = await response.json()
            assert response.status == 400, body
            assert body == {"error": body["error"], "code": 400}
            assert field in body["error"].lower(), body
            assert response.headers.get("X-Request-ID")


async def test_body_over_the_limit_is_413(stack: Stack) -> None:
    big = {"name": "x" * (2 * 1024 * 1024), "cidr": "10.0.0.0/16"}
    check_error(await stack.post("/vpc/create/", "network", big), 413)
    await assert_still_serving(stack)


async def test_a_header_sent_twice_is_400(stack: Stack) -> None:
    headers = await stack.headers("network")
    twice = [*headers.items(), ("X-NHN-Region", "kr1")]
    async with stack.session.get(f"{stack.proxy_url}/api/nhn/vpc/", headers=twice) as response:
        body = await response.json()
    assert response.status == 400 and body["code"] == 400, body
    assert "X-NHN-Region" in body["error"]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/compute/instances/%2E%2E/", "compute"),
        ("/compute/instances/a%2Fb/", "compute"),
        ("/compute/instances/" + "a" * 300 + "/", "compute"),
        ("/vpc/x%3Fy=1/", "network"),
        ("/nks/clusters/..%2Fconfig/", "network"),
        ("/storage/containers/a%2Fb/", "storage"),
        ("/storage/containers/%2E%2E/", "storage"),
    ],
)
async def test_invalid_path_parameters_never_reach_nhn(stack: Stack, path: str, kind: str) -> None:
    await stack.headers(kind)
    await stack.clear_requests()
    url = f"{stack.proxy_url}/api/nhn{path}"
    async with stack.session.get(
        yarl.URL(url, encoded=True), headers=await stack.headers(kind)
    ) as response:
        body = await response.json()
        assert response.status in (400, 404), (response.status, body)
        assert body == {"error": body["error"], "code": response.status}
    assert await stack.native_calls() == []


@pytest.mark.parametrize(
    ("service", "status", "public"), [("image", 500, 502), ("network", 503, 503)]
)
async def test_failed_nks_lookup_creates_nothing(
    stack: Stack, service: str, status: int, public: int
) -> None:
    body = await cluster_body(stack, "never")
    await stack.clear_requests()
    await stack.fault(service=service, method="GET", action="status", status=status)
    check_error(await stack.post("/nks/clusters/create/", "network", body), public)
    assert ("POST", "/kr2/kubernetes/v1/clusters") not in await stack.native_calls()
    await stack.clear_faults()
    assert (await stack.get("/nks/clusters/", "network")).expect(200) == {"clusters": []}

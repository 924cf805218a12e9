"""Upstream resilience, end to end, counted on the emulator's journal of native requests:
idempotent calls (GET) are retried on a dropped connection or a 502/503/504 within the
overall deadline and `upstream.retries`; POST and DELETE never are; a per-endpoint circuit
breaker answers 503 at once while open, lets one probe through after
`upstream.breaker_open_seconds` and closes when NHN is well again; one slow NHN call never
holds up the others."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from nhn_proxy.emulator import DEMO_STORAGE_TENANT_ID as STORAGE_TENANT
from tests.e2e.conftest import (
    JSON,
    Stack,
    StackFactory,
    check_error,
    create_server,
)

pytestmark = pytest.mark.e2e

FLAVORS = "/compute/flavors/"
FLAVORS_NATIVE = "*/flavors/detail"
FAST = 0.05  # an open circuit answers within this many seconds
PROMPT = 0.2  # other requests, while one NHN call is slow


async def tries(stack: Stack, method: str, suffix: str, region: str = "kr2") -> list[JSON]:
    """The journalled native requests of `method` in `region` whose path ends with `suffix`."""
    return [
        entry
        for entry in await stack.native_requests(method=method, region=region)
        if entry["path"].endswith(suffix)
    ]


async def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def healthz(stack: Stack) -> Any:
    async with stack.session.get(f"{stack.proxy_url}/healthz") as response:
        await response.read()
        return response


# -- retries ---------------------------------------------------------------------------------------

RETRIED_GETS = [  # (service, fault path, public route, header kind, native path suffix)
    ("compute", FLAVORS_NATIVE, FLAVORS, "compute", "/flavors/detail"),
    ("network", "/v2.0/vpcs", "/vpc/", "network", "/v2.0/vpcs"),
    ("object_storage", "/v1/*", "/storage/containers/", "storage", f"/AUTH_{STORAGE_TENANT}"),
]


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "status", "status": 503},
        {"action": "status", "status": 502},
        {"action": "status", "status": 504},
        {"action": "drop"},
    ],
    ids=lambda fault: str(fault.get("status", fault["action"])),
)
async def test_a_get_meeting_one_failure_is_retried_and_succeeds(
    stack: Stack, fault: dict[str, Any]
) -> None:
    await stack.headers("compute")
    await stack.headers("storage")
    for service, native, public, kind, suffix in RETRIED_GETS:
        await stack.clear_requests()
        await stack.fault(service=service, method="GET", path=native, times=1, **fault)
        reply = await stack.get(public, kind)
        assert reply.status == 200, (service, reply)
        entries = await tries(stack, "GET", suffix)
        assert len(entries) == 2, (service, [(e["path"], e["status"]) for e in entries])
        assert entries[-1]["status"] == 200
        assert entries[0]["path"] == entries[1]["path"]
    assert (await stack.control("GET", "/faults")).expect(200) == {"faults": []}


async def test_a_post_or_delete_meeting_one_503_is_not_retried(stack: Stack) -> None:
    server = await create_server(stack)
    await stack.advance(1)  # ACTIVE
    action = f"/compute/instances/{server['id']}/action/"

    await stack.clear_requests()
    # one 503 only: a retry would get through and really stop the instance
    await stack.fault(
        service="compute", method="POST", path="*/action", action="status", status=503, times=1
    )
    check_error(await stack.post(action, "compute", {"action": "stop"}), 503)
    assert len(await tries(stack, "POST", "/action")) == 1

    await stack.clear_faults()
    await stack.clear_requests()
    await stack.fault(service="compute", method="DELETE", action="status", status=503, times=1)
    check_error(await stack.delete(f"/compute/instances/{server['id']}/", "compute"), 503)
    assert len(await tries(stack, "DELETE", server["id"])) == 1
    # the instance was neither stopped nor deleted behind the caller's back
    await stack.advance(1)
    shown = await stack.get(f"/compute/instances/{server['id']}/", "compute")
    assert shown.expect(200)["server"]["status"] == "ACTIVE"


@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_retries_stop_after_the_setting(make_stack: StackFactory, retries: int) -> None:
    stack = await make_stack(
        retries=retries, retry_backoff=0.01, retry_backoff_max=0.02, breaker_failures=0
    )
    await stack.headers("compute")
    await stack.clear_requests()
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="status", status=503)
    check_error(await stack.get(FLAVORS, "compute"), 503)
    assert len(await tries(stack, "GET", "/flavors/detail")) == retries + 1


async def test_retries_stay_within_the_upstream_timeout(make_stack: StackFactory) -> None:
    """Many retries allowed, long pauses: the deadline (`upstream.timeout`) ends them."""
    timeout = 1.0
    stack = await make_stack(
        timeout=timeout,
        retries=10,
        retry_backoff=0.3,
        retry_backoff_max=0.6,
        breaker_failures=0,
    )
    await stack.headers("compute")
    await stack.clear_requests()
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="status", status=503)
    reply, elapsed = await timed(stack.get(FLAVORS, "compute"))
    check_error(reply, 503)
    assert elapsed < timeout + 0.15, elapsed
    assert 2 <= len(await tries(stack, "GET", "/flavors/detail")) < 11


async def test_a_timed_out_get_is_not_retried_past_the_deadline(make_stack: StackFactory) -> None:
    stack = await make_stack(timeout=0.5, retries=3, retry_backoff=0.01)
    await stack.headers("compute")
    await stack.clear_requests()
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="latency", seconds=1)
    reply, elapsed = await timed(stack.get(FLAVORS, "compute"))
    check_error(reply, 504)
    assert elapsed < 0.5 + 0.3, elapsed
    assert len(await tries(stack, "GET", "/flavors/detail")) == 1


# -- circuit breaker -------------------------------------------------------------------------------


async def test_the_circuit_opens_answers_fast_and_closes_after_a_probe(
    make_stack: StackFactory,
) -> None:
    open_seconds = 0.5
    stack = await make_stack(retries=0, breaker_failures=3, breaker_open_seconds=open_seconds)
    await stack.headers("compute")
    await stack.clear_requests()
    await stack.fault(
        service="compute", region="kr2", path=FLAVORS_NATIVE, action="status", status=503
    )

    async def count() -> int:
        return len(await tries(stack, "GET", "/flavors/detail"))

    # three failures reach NHN and open the circuit
    for _ in range(3):
        check_error(await stack.get(FLAVORS, "compute"), 503)
    assert await count() == 3
    # while open: 503 at once, without reaching NHN
    for _ in range(3):
        reply, elapsed = await timed(stack.get(FLAVORS, "compute"))
        check_error(reply, 503, "circuit open")
        assert elapsed < FAST, elapsed
    assert await count() == 3
    # another region's endpoint, and another service of the same region, still work
    assert (await stack.get(FLAVORS, "compute", region="kr1")).status == 200
    assert len(await tries(stack, "GET", "/flavors/detail", region="kr1")) == 1
    assert (await stack.get("/vpc/", "network")).status == 200

    # after open_seconds one probe goes through; NHN still fails: open again
    await asyncio.sleep(open_seconds + 0.05)
    check_error(await stack.get(FLAVORS, "compute"), 503)
    assert await count() == 4
    reply, elapsed = await timed(stack.get(FLAVORS, "compute"))
    check_error(reply, 503, "circuit open")
    assert elapsed < FAST and await count() == 4

    # NHN recovers: the next probe succeeds and closes the circuit
    await stack.clear_faults()
    await asyncio.sleep(open_seconds + 0.05)
    assert (await stack.get(FLAVORS, "compute")).status == 200
    assert await count() == 5
    for _ in range(3):
        assert (await stack.get(FLAVORS, "compute")).status == 200
    assert await count() == 8


# -- one slow call holds up nothing ----------------------------------------------------------------


async def test_other_requests_are_answered_promptly_while_one_call_is_slow(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(timeout=4)
    await stack.headers("compute")
    await stack.headers("storage")
    await stack.clear_requests()
    await stack.fault(service="compute", path=FLAVORS_NATIVE, action="latency", seconds=2, times=1)
    slow = asyncio.ensure_future(timed(stack.get(FLAVORS, "compute")))
    await stack.wait_for(
        lambda: tries(stack, "GET", "/flavors/detail"), bool, timeout=2, what="the slow call"
    )
    others = [
        ("the same route", stack.get(FLAVORS, "compute")),
        ("another service", stack.get("/vpc/", "network")),
        ("a create", stack.post("/vpc/create/", "network", {"name": "v", "cidr": "10.7.0.0/16"})),
        ("a token", stack.token_reply()),
        ("storage", stack.get("/storage/containers/", "storage")),
        ("health", healthz(stack)),
    ]
    for what, call in others:
        reply, elapsed = await timed(call)
        assert reply.status < 500, (what, reply)
        assert elapsed < PROMPT, (what, elapsed)
    assert not slow.done()
    reply, elapsed = await slow
    assert reply.status == 200, reply
    assert elapsed >= 1.9, elapsed

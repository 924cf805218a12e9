"""Retries of idempotent upstream calls and the per-endpoint circuit breaker."""

from __future__ import annotations

import aiohttp
import pytest

from nhn_proxy.app import create_app
from nhn_proxy.resilience import CircuitBreaker, backoff_delay
from nhn_proxy.settings import load_settings
from tests.conftest import COMPUTE_KR2, compute_headers

FLAVORS = f"{COMPUTE_KR2}/flavors/detail"
SERVERS = f"{COMPUTE_KR2}/servers"
ONE_FLAVOR = {"flavors": [{"id": "f", "name": "m2.c1m2", "vcpus": 1, "ram": 2048, "disk": 0}]}


def settings_with(**upstream):
    base = {"retry_backoff": 0.001, "retry_backoff_max": 0.002}
    return load_settings(environ={}, overrides={"upstream": {**base, **upstream}})


@pytest.fixture
async def proxy(aiohttp_client, nhn):
    async def make(**upstream):
        return await aiohttp_client(create_app(settings_with(**upstream)))

    return make


def calls_to(nhn, method, url):
    return [call for call in nhn.calls() if call.method == method and call.url == url]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "body": "busy"},
        {"status": 502, "body": "bad gateway"},
        {"status": 504, "body": ""},
        {"exception": aiohttp.ClientConnectionError("reset")},
    ],
)
async def test_get_is_retried_after_a_transient_failure(proxy, nhn, failure):
    client = await proxy()
    nhn.get(FLAVORS, **failure)
    nhn.get(FLAVORS, payload=ONE_FLAVOR)
    response = await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
    assert response.status == 200
    assert len(calls_to(nhn, "GET", FLAVORS)) == 2


async def test_retries_are_bounded(proxy, nhn):
    client = await proxy(retries=2)
    nhn.get(FLAVORS, status=503, body="busy", repeat=True)
    response = await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
    assert response.status == 503
    assert len(calls_to(nhn, "GET", FLAVORS)) == 3


@pytest.mark.parametrize(
    "failure",
    [{"status": 500, "body": "oops"}, {"status": 404, "body": "no"}, {"status": 401, "body": "x"}],
)
async def test_other_statuses_are_not_retried(proxy, nhn, failure):
    client = await proxy()
    nhn.get(FLAVORS, **failure, repeat=True)
    await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
    assert len(calls_to(nhn, "GET", FLAVORS)) == 1


async def test_timeouts_are_not_retried(proxy, nhn):
    client = await proxy()
    nhn.get(FLAVORS, exception=TimeoutError(), repeat=True)
    response = await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
    assert response.status == 504
    assert len(calls_to(nhn, "GET", FLAVORS)) == 1


async def test_post_and_delete_are_never_retried(proxy, nhn):
    client = await proxy(breaker_failures=0)
    nhn.post(f"{COMPUTE_KR2}/servers/s-1/action", status=503, body="busy", repeat=True)
    nhn.delete(f"{SERVERS}/s-1", exception=aiohttp.ClientConnectionError("reset"), repeat=True)
    action = await client.post(
        "/api/nhn/compute/instances/s-1/action/",
        json={"action": "stop"},
        headers=compute_headers(),
    )
    assert action.status == 503
    deleted = await client.delete("/api/nhn/compute/instances/s-1/", headers=compute_headers())
    assert deleted.status == 502
    assert len(calls_to(nhn, "POST", f"{COMPUTE_KR2}/servers/s-1/action")) == 1
    assert len(calls_to(nhn, "DELETE", f"{SERVERS}/s-1")) == 1


async def test_circuit_opens_and_answers_503_without_calling(proxy, nhn):
    client = await proxy(retries=0, breaker_failures=3, breaker_open_seconds=60)
    nhn.get(FLAVORS, exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    for _ in range(3):
        response = await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
        assert response.status == 502
    response = await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
    assert response.status == 503
    assert "circuit open" in (await response.json())["error"]
    assert len(calls_to(nhn, "GET", FLAVORS)) == 3
    # another region's endpoint is not affected
    nhn.get(FLAVORS.replace("kr2", "kr1"), payload=ONE_FLAVOR)
    other = await client.get("/api/nhn/compute/flavors/", headers=compute_headers("kr1"))
    assert other.status == 200


def test_breaker_half_open_probe_closes_or_reopens():
    now = [0.0]
    breaker = CircuitBreaker(failures=2, open_seconds=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.0
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.failure()  # the probe failed: open again
    assert breaker.state == "open"
    now[0] = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_backoff_grows_is_capped_and_jittered():
    delays = [backoff_delay(attempt, 0.1, 1.0) for attempt in range(1, 8)]
    assert 0.05 <= delays[0] <= 0.1
    assert 0.1 <= delays[1] <= 0.2
    assert all(0.5 <= delay <= 1.0 for delay in delays[4:])

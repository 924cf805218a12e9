"""The proxy as users start it — `nhn-proxy serve --config FILE` in its own process — against
a fake NHN upstream on loopback, over real sockets: the spec's answers come back and NHN
sees the native requests it documents."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import free_port

pytestmark = pytest.mark.e2e
TENANT = "04a2c5b7de7e4d66b970ad950081a7c3"


class FakeNhn:
    """Answers canned native bodies and remembers what it was asked."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
                "json": json.loads(body) if body else None,
            }
        )
        path = request.path
        if path == "/identity/v2.0/tokens":
            return web.json_response(
                {
                    "access": {
                        "token": {
                            "id": "e42a092ed6ee4d99949bf25f5f6ecc60",
                            "expires": "2030-01-15T12:00:00Z",
                            "tenant": {"id": TENANT},
                        },
                        "serviceCatalog": [],
                    }
                }
            )
        if path == f"/kr2/compute/v2/{TENANT}/flavors/detail":
            return web.json_response(
                {
                    "flavors": [
                        {
                            "id": "flavor-id-123",
                            "name": "m2.c2m4",
                            "vcpus": 2,
                            "ram": 4096,
                            "disk": 0,
                            "links": [],
                            "swap": "",
                            "rxtx_factor": 1.0,
                        }
                    ]
                }
            )
        if path == "/kr2/network/v2.0/vpcs":
            return web.json_response(
                {
                    "vpcs": [
                        {
                            "id": "vpc-id-123",
                            "name": "my-vpc",
                            "cidrv4": "10.0.0.0/16",
                            "state": "available",
                            "router:external": False,
                            "shared": False,
                            "tenant_id": TENANT,
                            "create_time": "2023-01-16 07:20:11",
                        }
                    ]
                }
            )
        return web.json_response(
            {"itemNotFound": {"code": 404, "message": "nothing here"}}, status=404
        )


@pytest.fixture
async def fake_nhn():
    fake = FakeNhn()
    runner = web.AppRunner(fake.app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    fake.base = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def proxy_process(fake_nhn, tmp_path: Path):
    port = free_port()
    config = tmp_path / "proxy.toml"
    base = fake_nhn.base
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\n\n[upstream.endpoints]\n'
        f'identity = "{base}/identity"\ncompute = "{base}/{{region}}/compute"\n'
        f'image = "{base}/{{region}}/image"\nnetwork = "{base}/{{region}}/network"\n'
        f'kubernetes = "{base}/{{region}}/kubernetes"\n'
        f'object_storage = "{base}/{{region}}/object-storage"\n'
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("NHN_PROXY_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "nhn_proxy", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"proxy did not start: {process.communicate()[1][-2000:]}")
            await asyncio.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


async def test_spec_answers_and_native_requests_over_real_sockets(proxy_process, fake_nhn):
    url, process = proxy_process
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{url}/api/nhn/token/",
            json={"tenant_id": TENANT, "username": "user@example.com", "password": "pw-123456"},
        ) as response:
            assert response.status == 200
            token = await response.json()
        assert token == {
            "token": "e42a092ed6ee4d99949bf25f5f6ecc60",
            "tenant_id": TENANT,
            "expires_at": "2030-01-15T12:00:00Z",
            "storage_account": None,
        }
        headers = {"X-NHN-Token": token["token"], "X-NHN-Region": "kr2", "X-NHN-Tenant-ID": TENANT}
        async with session.get(f"{url}/api/nhn/compute/flavors/", headers=headers) as response:
            assert response.status == 200
            assert await response.json() == {
                "flavors": [
                    {"id": "flavor-id-123", "name": "m2.c2m4", "vcpus": 2, "ram": 4096, "disk": 0}
                ]
            }
        async with session.get(f"{url}/api/nhn/vpc", headers=headers) as response:
            assert await response.json() == {
                "vpcs": [
                    {
                        "id": "vpc-id-123",
                        "name": "my-vpc",
                        "cidrv4": "10.0.0.0/16",
                        "state": "available",
                        "external": False,
                    }
                ]
            }
        async with session.get(f"{url}/api/nhn/compute/instances/nope/", headers=headers) as r:
            assert r.status == 404
            assert await r.json() == {"error": "nothing here", "code": 404}

    token_call, flavors_call, vpcs_call, missing_call = fake_nhn.seen
    assert (token_call["method"], token_call["path"]) == ("POST", "/identity/v2.0/tokens")
    assert token_call["json"] == {
        "auth": {
            "tenantId": TENANT,
            "passwordCredentials": {"username": "user@example.com", "password": "pw-123456"},
        }
    }
    assert (flavors_call["method"], flavors_call["path"]) == (
        "GET",
        f"/kr2/compute/v2/{TENANT}/flavors/detail",
    )
    assert flavors_call["headers"]["X-Auth-Token"] == token["token"]
    assert vpcs_call["path"] == "/kr2/network/v2.0/vpcs"
    assert missing_call["path"] == f"/kr2/compute/v2/{TENANT}/servers/nope"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    stderr = process.stderr.read().decode()
    assert "pw-123456" not in stderr and token["token"] not in stderr
    assert "nhn_proxy.access" in stderr


async def raw_exchange(url: str, request: bytes) -> tuple[int, dict, bytes]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(65536), timeout=10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "message"),
    [
        (
            b"GET /api/nhn/vpc/ HTTP/1.1\r\nHost: x\r\nX-NHN-Token: "
            + b"leakme" * 200_000
            + b"\r\n\r\n",
            "request line or header field too long",
        ),
        (b"GET /api/nhn/vpc/ HTTP/1.1\r\nHost: x\r\nX-NHN-Region: kr1\rX-Evil: 1\r\n\r\n", ""),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "too long"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n", "malformed"),
    ],
)
async def test_requests_refused_by_the_http_parser_get_the_standard_shape(
    proxy_process, fake_nhn, request_bytes, message
):
    url, process = proxy_process
    status, headers, body = await raw_exchange(url, request_bytes)
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Request-ID"]
    payload = json.loads(body)
    assert payload["code"] == 400 and message in payload["error"]
    assert fake_nhn.seen == []
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert "leakme" not in process.stderr.read().decode()

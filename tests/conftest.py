"""Shared fixtures: settings, the proxy app in-process, and aioresponses standing in for NHN
(loopback traffic passes through to the test server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aioresponses import aioresponses

from nhn_proxy.app import create_app
from nhn_proxy.hookspecs import DemoAccount
from nhn_proxy.settings import Settings, load_settings
from tests.redis_server import redis_server  # noqa: F401  (a real Redis for task stores)

TENANT = "04a2c5b7de7e4d66b970ad950081a7c3"
TOKEN = "e42a092ed6ee4d99949bf25f5f6ecc60"
STORAGE_ACCOUNT = "AUTH_6dbc368b94894416bec4cdfc65b5e067"
COMPUTE_KR2 = f"https://kr2-api-instance-infrastructure.nhncloudservice.com/v2/{TENANT}"
IMAGE_KR2 = "https://kr2-api-image-infrastructure.nhncloudservice.com"
NETWORK_KR2 = "https://kr2-api-network-infrastructure.nhncloudservice.com"
KUBERNETES_KR2 = "https://kr2-api-kubernetes-infrastructure.nhncloudservice.com"
STORAGE_KR2 = f"https://kr2-api-object-storage.nhncloudservice.com/v1/{STORAGE_ACCOUNT}"
BLOCK_STORAGE_KR2 = f"https://kr2-api-block-storage-infrastructure.nhncloudservice.com/v2/{TENANT}"
IDENTITY = "https://api-identity-infrastructure.nhncloudservice.com"
# a demo account as `serve --emulator` hands it to nhn_proxy_demo_examples
DEMO = DemoAccount(
    username="demo@example.com",
    password="demo-password",
    tenant_id=TENANT,
    storage_tenant_id=STORAGE_ACCOUNT.removeprefix("AUTH_"),
    keypair_name="demo-keypair",
    region="kr2",
)


def compute_headers(region: str = "kr2") -> dict[str, str]:
    return {"X-NHN-Token": TOKEN, "X-NHN-Region": region, "X-NHN-Tenant-ID": TENANT}


def network_headers(region: str = "kr2") -> dict[str, str]:
    return {"X-NHN-Token": TOKEN, "X-NHN-Region": region}


def storage_headers(region: str = "kr2") -> dict[str, str]:
    return {"X-NHN-Token": TOKEN, "X-NHN-Region": region, "X-NHN-Storage-Account": STORAGE_ACCOUNT}


@dataclass
class NativeCall:
    """One request the proxy sent to (mocked) NHN."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any


class FakeNhn(aioresponses):
    """aioresponses with a readable log of what the proxy sent."""

    def calls(self) -> list[NativeCall]:
        result = []
        for (method, url), requests in self.requests.items():
            for request in requests:
                data = request.kwargs.get("data")
                body = json.loads(data) if data else None
                headers = dict(request.kwargs.get("headers") or {})
                result.append(NativeCall(method, str(url), headers, body))
        return result

    def only_call(self) -> NativeCall:
        calls = self.calls()
        assert len(calls) == 1, (
            f"expected one native call, got {[(c.method, c.url) for c in calls]}"
        )
        return calls[0]


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={})


@pytest.fixture
def nhn() -> Iterator[FakeNhn]:
    with FakeNhn(passthrough=["http://127.0.0.1", "http://localhost"]) as fake:
        yield fake


@pytest.fixture
async def client(aiohttp_client, settings, nhn):
    """The proxy in-process with NHN mocked."""
    return await aiohttp_client(create_app(settings))

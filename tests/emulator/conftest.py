"""Fixtures for the emulator tests: an app on a fake clock and a small client helper."""

from __future__ import annotations

from typing import Any

import pytest

from nhn_proxy.emulator import (
    DEMO_PASSWORD,
    DEMO_STORAGE_TENANT_ID,
    DEMO_TENANT_ID,
    DEMO_USERNAME,
    EmulatorOptions,
    create_app,
)

BUILD_DELAY = 3.0
CLUSTER_DELAY = 10.0


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Emu:
    """A test client for the emulator with shortcuts for the common native calls."""

    def __init__(self, client: Any, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.tenant = DEMO_TENANT_ID
        self.storage_tenant = DEMO_STORAGE_TENANT_ID
        self._tokens: dict[str, str] = {}

    async def issue(self, tenant: str = DEMO_TENANT_ID, password: str = DEMO_PASSWORD) -> Any:
        body = {
            "auth": {
                "tenantId": tenant,
                "passwordCredentials": {"username": DEMO_USERNAME, "password": password},
            }
        }
        return await self.client.post("/identity/v2.0/tokens", json=body)

    async def token(self, tenant: str = DEMO_TENANT_ID) -> str:
        if tenant not in self._tokens:
            response = await self.issue(tenant)
            assert response.status == 200, await response.text()
            self._tokens[tenant] = (await response.json())["access"]["token"]["id"]
        return self._tokens[tenant]

    async def headers(self, tenant: str = DEMO_TENANT_ID) -> dict[str, str]:
        return {"X-Auth-Token": await self.token(tenant)}

    async def call(
        self, method: str, path: str, *, tenant: str = DEMO_TENANT_ID, **kwargs: Any
    ) -> Any:
        headers = {**(await self.headers(tenant)), **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def json(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        text = await response.text()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        return await response.json() if text else None

    def compute(self, path: str = "", region: str = "kr1") -> str:
        return f"/{region}/compute/v2/{self.tenant}{path}"

    def swift(self, path: str = "", region: str = "kr1") -> str:
        return f"/{region}/object-storage/v1/AUTH_{self.storage_tenant}{path}"

    # -- seed lookups ------------------------------------------------------------------

    async def flavor(self, name: str = "m2.c2m4", region: str = "kr1") -> dict[str, Any]:
        flavors = (await self.json("GET", self.compute("/flavors/detail", region)))["flavors"]
        return next(f for f in flavors if f["name"] == name)

    async def image(
        self, name: str = "Ubuntu Server 22.04 LTS (2024.01.16)", region: str = "kr1"
    ) -> dict[str, Any]:
        body = await self.json("GET", f"/{region}/image/v2/images", params={"name": name})
        return body["images"][0]

    async def default_subnet(self, region: str = "kr1") -> dict[str, Any]:
        body = await self.json(
            "GET", f"/{region}/network/v2.0/vpcsubnets", params={"name": "default"}
        )
        return body["vpcsubnets"][0]

    async def keypair(self, name: str = "demo-key", region: str = "kr1") -> str:
        response = await self.call(
            "POST", self.compute("/os-keypairs", region), json={"keypair": {"name": name}}
        )
        assert response.status in (200, 409)
        return name

    async def server_body(
        self, name: str = "web-01", region: str = "kr1", **overrides: Any
    ) -> dict[str, Any]:
        image = await self.image(region=region)
        flavor = await self.flavor(region=region)
        subnet = await self.default_subnet(region)
        server = {
            "name": name,
            "imageRef": image["id"],
            "flavorRef": flavor["id"],
            "networks": [{"subnet": subnet["id"]}],
            "key_name": await self.keypair(region=region),
            "block_device_mapping_v2": [
                {
                    "source_type": "image",
                    "uuid": image["id"],
                    "boot_index": 0,
                    "volume_size": 50,
                    "destination_type": "volume",
                    "delete_on_termination": True,
                }
            ],
            "security_groups": [{"name": "default"}],
        }
        server.update(overrides)
        return {"server": server}

    async def create_server(
        self, name: str = "web-01", region: str = "kr1", **overrides: Any
    ) -> str:
        body = await self.server_body(name, region, **overrides)
        answer = await self.json("POST", self.compute("/servers", region), 202, json=body)
        return answer["server"]["id"]

    async def server(self, server_id: str, region: str = "kr1") -> dict[str, Any]:
        return (await self.json("GET", self.compute(f"/servers/{server_id}", region)))["server"]

    def settle(self, seconds: float = BUILD_DELAY) -> None:
        self.clock.advance(seconds + 0.001)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def options() -> EmulatorOptions:
    return EmulatorOptions(build_delay=BUILD_DELAY, cluster_delay=CLUSTER_DELAY)


@pytest.fixture
async def emu(aiohttp_client: Any, clock: FakeClock, options: EmulatorOptions) -> Emu:
    client = await aiohttp_client(create_app(options, clock=clock))
    return Emu(client, clock)

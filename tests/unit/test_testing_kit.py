"""The plugin authors' kit (`nhn_proxy.testing`) used the way they use it: a throwaway
plugin served next to the built-ins, demo headers that work, and the emulator's control
plane (faults, reset, clock) changing what the proxy answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from nhn_proxy.emulator import DEMO_TENANT_ID
from nhn_proxy.keys import OPENAPI
from nhn_proxy.plugin import Call, Header, PluginConfig, Route, hookimpl

# Allowed in a test module (pytest refuses it only in non-root conftest files); the
# fixtures are then known to the whole session, as they are in a plugin's own test suite.
pytest_plugins = ["nhn_proxy.testing"]

if TYPE_CHECKING:  # imported by pytest first, so that its asserts are rewritten
    from nhn_proxy.testing import NhnClient, NhnEmulator

FLAVORS = "/api/nhn/compute/flavors/"


class HelloPlugin:
    """A plugin object with one route: echoes what the core checked for it."""

    name = "hello"

    async def hello(self, call: Call) -> dict[str, Any]:
        return {"region": call.ctx.region, "tenant": call.ctx.tenant_id, "who": dict(call.query)}

    @hookimpl
    def nhn_proxy_routes(self, config: PluginConfig) -> list[Route]:
        return [
            Route(
                "GET",
                "/hello/",
                self.hello,
                summary="Say hello",
                tags=("hello",),
                needs=frozenset({Header.TOKEN, Header.REGION, Header.TENANT}),
            )
        ]


@pytest.fixture
def nhn_extra_plugins() -> list[object]:
    return [HelloPlugin()]


async def test_extra_plugin_served_with_the_demo_headers(nhn_client: NhnClient) -> None:
    response = await nhn_client.get("/api/nhn/hello/")
    assert response.status == 200, await response.text()
    assert await response.json() == {"region": "kr1", "tenant": DEMO_TENANT_ID, "who": {}}
    assert "/api/nhn/hello/" in nhn_client.app[OPENAPI]["paths"]


async def test_headers_given_by_the_test_replace_the_demo_ones(nhn_client: NhnClient) -> None:
    response = await nhn_client.get("/api/nhn/hello/", headers={})
    assert response.status == 401
    assert (await response.json())["code"] == 401


async def test_demo_headers_work_on_a_builtin_route(
    nhn_client: NhnClient, nhn_demo_headers: dict[str, str], nhn_emulator: NhnEmulator
) -> None:
    assert nhn_demo_headers["X-NHN-Region"] == "kr1"
    assert nhn_demo_headers["X-NHN-Tenant-ID"] == DEMO_TENANT_ID
    response = await nhn_client.get(FLAVORS)
    assert response.status == 200, await response.text()
    assert (await response.json())["flavors"], "the emulator has flavors"
    # the proxy really went to the emulator, with the token the emulator issued
    native = await nhn_emulator.requests(service="compute")
    assert [entry["native_path"] for entry in native] == [f"/v2/{DEMO_TENANT_ID}/flavors/detail"]
    assert native[0]["has_token"]


async def test_storage_headers_work_on_a_storage_route(
    nhn_client: NhnClient, nhn_storage_headers: dict[str, str]
) -> None:
    response = await nhn_client.get("/api/nhn/storage/containers/", headers=nhn_storage_headers)
    assert response.status == 200, await response.text()


async def test_fault_changes_the_answer_and_reset_clears_it(
    nhn_client: NhnClient, nhn_emulator: NhnEmulator
) -> None:
    fault = await nhn_emulator.fault(
        "compute", path="/v2/*/flavors/detail", status=403, message="not your project"
    )
    assert fault["action"] == "status" and fault["status"] == 403
    response = await nhn_client.get(FLAVORS)
    assert response.status == 403
    assert await response.json() == {"error": "not your project", "code": 403}

    await nhn_emulator.reset(keep_tokens=True)
    assert (await nhn_client.get(FLAVORS)).status == 200


async def test_reset_forgets_tokens_unless_kept(
    nhn_client: NhnClient, nhn_emulator: NhnEmulator
) -> None:
    await nhn_emulator.reset()
    response = await nhn_client.get(FLAVORS)
    assert response.status == 401


async def test_latency_fault_against_a_one_off_app(
    aiohttp_client: Any,
    nhn_app_factory: Any,
    nhn_emulator: NhnEmulator,
    nhn_demo_headers: dict[str, str],
) -> None:
    app = nhn_app_factory(upstream={"timeout": 0.3, "retries": 0})
    client = await aiohttp_client(app)
    await nhn_emulator.fault("compute", "latency", seconds=1.0, times=1)
    response = await client.get(FLAVORS, headers=nhn_demo_headers)
    assert response.status == 504
    assert (await client.get(FLAVORS, headers=nhn_demo_headers)).status == 200


async def test_one_off_app_with_a_plugin_disabled(
    aiohttp_client: Any, nhn_app_factory: Any, nhn_demo_headers: dict[str, str]
) -> None:
    client = await aiohttp_client(nhn_app_factory(HelloPlugin(), plugins={"disabled": ["compute"]}))
    assert (await client.get(FLAVORS, headers=nhn_demo_headers)).status == 404
    assert (await client.get("/api/nhn/hello/", headers=nhn_demo_headers)).status == 200


async def test_clock_expires_the_demo_token(
    nhn_client: NhnClient, nhn_emulator: NhnEmulator, nhn_settings: Any
) -> None:
    before = await nhn_emulator.clock()
    lifetime = nhn_settings.raw["emulator"]["token_lifetime"]
    moved = await nhn_emulator.advance(lifetime + 1)
    assert moved["offset"] == before["offset"] + lifetime + 1
    response = await nhn_client.get(FLAVORS)
    assert response.status == 401


async def test_control_plane_refusal_is_an_error(nhn_emulator: NhnEmulator) -> None:
    with pytest.raises(ValueError, match="action must be one of"):
        await nhn_emulator.fault("compute", "explode")

"""A pytest plugin for testing nhn-cloud-proxy plugins: the proxy with your plugin, the
in-process NHN Cloud emulator behind it, and a client that already holds a demo token.

    # conftest.py (at the root of your tests)
    pytest_plugins = ["nhn_proxy.testing"]

    async def test_zones(nhn_client):
        assert (await nhn_client.get("/api/nhn/compute/availability-zones/")).status == 200

Everything is real: the emulator listens on a loopback socket, the proxy calls it over
HTTP, and the emulator's control plane (`/_emulator/...`: reset, faults, clock) is called
over HTTP too. An installed plugin (entry point `nhn_proxy.plugins`) is loaded like in
production; add others with the `nhn_extra_plugins` fixture. Override
`nhn_settings_overrides` to change settings (it also sets the emulator's regions and delays,
e.g. `{"emulator": {"build_delay": 0}}`). Every fixture is function-scoped.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from nhn_proxy.app import create_app
from nhn_proxy.emulator import (
    DEMO_PASSWORD,
    DEMO_STORAGE_TENANT_ID,
    DEMO_TENANT_ID,
    DEMO_USERNAME,
    endpoints,
    options_from_settings,
)
from nhn_proxy.emulator import create_app as create_emulator_app
from nhn_proxy.settings import Settings, load_settings

__all__ = [
    "NhnClient",
    "NhnEmulator",
    "nhn_app",
    "nhn_app_factory",
    "nhn_client",
    "nhn_demo_headers",
    "nhn_emulator",
    "nhn_extra_plugins",
    "nhn_settings",
    "nhn_settings_overrides",
    "nhn_storage_headers",
    "nhn_test_client",
]

JSON = dict[str, Any]


class NhnEmulator:
    """The running emulator: its `url`, the proxy's `endpoints` for it, and its control
    plane. Each method is one HTTP call to `/_emulator/...`; a refused call raises
    ValueError with the emulator's message."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.url = str(server.make_url("")).rstrip("/")
        self.endpoints: dict[str, str] = endpoints(self.url)
        self._session = session

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        async with self._session.request(method, f"{self.url}/_emulator{path}", json=body) as r:
            answer = await r.json() if r.content_type == "application/json" else None
            if r.status >= 400:
                raise ValueError(f"emulator {method} /_emulator{path}: {r.status} {answer}")
            return answer

    async def reset(self, *, keep_tokens: bool = False) -> None:
        """Forget every resource, fault and journal entry and set the clock back; with
        `keep_tokens`, tokens already issued stay valid."""
        await self._control("POST", "/reset", {"keep_tokens": keep_tokens})

    async def fault(
        self,
        service: str = "*",
        action: str = "status",
        *,
        method: str = "*",
        path: str = "*",
        region: str = "*",
        status: int | None = None,
        seconds: float | None = None,
        times: int | None = None,
        message: str | None = None,
        bytes: int | None = None,
    ) -> JSON:
        """Make the emulator misbehave on matching native requests until reset (or for
        `times` requests) and return the fault as the emulator stored it.

        `service`: "identity", "compute", "image", "network", "kubernetes",
        "object_storage", "block_storage" or "*". `path`: the native path after the service
        prefix, a glob (`/v2/*/servers*`) or a regular expression (`^/v2/...`). `action`:
        "status" (answer `status`, 400-599, in the service's error style), "latency" (wait
        `seconds`, then answer), "drop" (close the connection without an answer),
        "malformed", "truncated", "slow_body", "wrong_content_type", "huge_body" (`bytes`).
        """
        body: JSON = {
            "service": service,
            "action": action,
            "method": method,
            "path": path,
            "region": region,
        }
        optional = {
            "status": status,
            "seconds": seconds,
            "times": times,
            "message": message,
            "bytes": bytes,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return (await self._control("POST", "/faults", body))["fault"]

    async def clear_faults(self) -> None:
        """Remove every fault (resources and tokens stay)."""
        await self._control("DELETE", "/faults")

    async def requests(self, **filters: str) -> list[JSON]:
        """The native requests the emulator received, oldest first; filter by `service`,
        `method` or `region`. Tokens are not recorded, passwords are masked."""
        return (await self._control("GET", f"/requests?{urlencode(filters)}"))["requests"]

    async def advance(self, seconds: float) -> JSON:
        """Move the emulator's clock forward (servers finish building, tokens expire …);
        returns `{"offset", "now", "utc"}`."""
        return await self._control("POST", "/clock", {"advance": seconds})

    async def clock(self) -> JSON:
        """The emulator's time: `{"offset", "now", "utc"}`."""
        return await self._control("GET", "/clock")


class NhnClient:
    """A test client of the proxy that sends `headers` (working demo headers) with every
    request unless the request passes `headers=` itself. Requests return aiohttp
    responses: `await (await client.get(path)).json()`."""

    def __init__(self, client: TestClient, headers: Mapping[str, str]) -> None:
        self.client = client
        self.headers = dict(headers)

    @property
    def app(self) -> web.Application:
        return self.client.app  # type: ignore[return-value]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.headers)
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, tables key by key."""
    merged = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _settings(emulator: NhnEmulator, overrides: Mapping[str, Any]) -> Settings:
    # environ={}: the developer's NHN_PROXY_* variables and config file never leak in
    pointed = {"upstream": {"endpoints": emulator.endpoints}}
    return load_settings(environ={}, overrides=_merged(overrides, pointed))


async def _issue_token(client: TestClient, tenant_id: str) -> JSON:
    credentials = {"tenant_id": tenant_id, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    response = await client.post("/api/nhn/token/", json=credentials)
    answer = await response.json()
    assert response.status == 200, f"POST /api/nhn/token/ answered {response.status}: {answer}"
    return answer


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def nhn_settings_overrides() -> dict[str, Any]:
    """Settings tables for this test, e.g. `{"plugins": {"disabled": ["storage"]}}` or a
    section of your plugin; override this fixture in a module or conftest. Upstream
    endpoints always point at `nhn_emulator`."""
    return {}


@pytest.fixture
def nhn_extra_plugins() -> list[object]:
    """Plugin modules or objects registered besides the built-in and installed ones;
    override it to test a plugin that is not installed (or a throwaway one)."""
    return []


@pytest_asyncio.fixture
async def nhn_emulator(
    aiohttp_server: Any, nhn_settings_overrides: dict[str, Any]
) -> AsyncIterator[NhnEmulator]:
    """The NHN Cloud emulator on a loopback port, with the regions and delays of the
    settings (`nhn_settings_overrides`), and its control plane (`NhnEmulator`)."""
    base = load_settings(environ={}, overrides=nhn_settings_overrides)
    server = await aiohttp_server(create_emulator_app(options_from_settings(base.raw)))
    async with aiohttp.ClientSession() as session:
        yield NhnEmulator(server, session)


@pytest.fixture
def nhn_settings(nhn_emulator: NhnEmulator, nhn_settings_overrides: dict[str, Any]) -> Settings:
    """The proxy's settings: defaults, `nhn_settings_overrides`, every upstream endpoint
    pointed at `nhn_emulator`; no file and no environment variable is read."""
    return _settings(nhn_emulator, nhn_settings_overrides)


@pytest.fixture
def nhn_app(nhn_settings: Settings, nhn_extra_plugins: list[object]) -> web.Application:
    """The proxy app (not started) with `nhn_settings` and `nhn_extra_plugins`."""
    return create_app(nhn_settings, extra_plugins=nhn_extra_plugins)


@pytest.fixture
def nhn_app_factory(
    nhn_emulator: NhnEmulator, nhn_settings_overrides: dict[str, Any]
) -> Callable[..., web.Application]:
    """`make(*extra_plugins, **sections)`: a one-off proxy app on `nhn_emulator` with these
    extra plugins and settings tables merged over `nhn_settings_overrides`, e.g.
    `make(my_plugin, plugins={"disabled": ["storage"]})`. Serve it with `aiohttp_client`."""

    def make(*extra_plugins: object, **sections: Mapping[str, Any]) -> web.Application:
        settings = _settings(nhn_emulator, _merged(nhn_settings_overrides, sections))
        return create_app(settings, extra_plugins=extra_plugins)

    return make


@pytest_asyncio.fixture
async def nhn_test_client(aiohttp_client: Any, nhn_app: web.Application) -> TestClient:
    """`nhn_app` served on a loopback port: pytest-aiohttp's client, without default
    headers (`nhn_client` is the same server with the demo headers)."""
    return await aiohttp_client(nhn_app)


@pytest_asyncio.fixture
async def nhn_demo_headers(nhn_test_client: TestClient, nhn_settings: Settings) -> dict[str, str]:
    """Headers that work on Compute, Network and NKS routes: a demo token issued by the
    emulator through the proxy's `POST /api/nhn/token/`, the first allowed region and the
    demo tenant."""
    token = await _issue_token(nhn_test_client, DEMO_TENANT_ID)
    return {
        "X-NHN-Token": token["token"],
        "X-NHN-Region": nhn_settings.regions.allowed[0],
        "X-NHN-Tenant-ID": DEMO_TENANT_ID,
    }


@pytest_asyncio.fixture
async def nhn_storage_headers(
    nhn_test_client: TestClient, nhn_settings: Settings
) -> dict[str, str]:
    """Headers that work on Object Storage routes: a token of the demo storage tenant, the
    first allowed region and `X-NHN-Storage-Account`."""
    token = await _issue_token(nhn_test_client, DEMO_STORAGE_TENANT_ID)
    return {
        "X-NHN-Token": token["token"],
        "X-NHN-Region": nhn_settings.regions.allowed[0],
        "X-NHN-Storage-Account": token.get("storage_account") or f"AUTH_{DEMO_STORAGE_TENANT_ID}",
    }


@pytest_asyncio.fixture
async def nhn_client(nhn_test_client: TestClient, nhn_demo_headers: dict[str, str]) -> NhnClient:
    """A client of `nhn_app` sending `nhn_demo_headers` with every request that does not
    pass `headers=`; `.app` is the proxy app."""
    return NhnClient(nhn_test_client, nhn_demo_headers)

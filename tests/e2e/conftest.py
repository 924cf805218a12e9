"""End-to-end fixtures: the emulator and the proxy as two separate servers on loopback.

The proxy is configured only through a TOML settings file (its `[upstream.endpoints]` point
at the emulator) and is driven with a plain `aiohttp.ClientSession` over real sockets. The
emulator's control plane (`/_emulator/...`) shows what the proxy sent natively, injects
faults and moves the clock.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from nhn_proxy import emulator
from nhn_proxy.app import create_app
from nhn_proxy.emulator import (
    DEMO_PASSWORD,
    DEMO_STORAGE_TENANT_ID,
    DEMO_TENANT_ID,
    DEMO_USERNAME,
    EmulatorOptions,
)
from nhn_proxy.server import ProxyRunner
from nhn_proxy.settings import load_settings
from tests.helpers import free_port  # noqa: F401 (also re-exported)

T = TypeVar("T")

REGION = "kr2"
BUILD_DELAY = 0.3
CLUSTER_DELAY = 0.5
UPSTREAM_TIMEOUT = 2.0
API = "/api/nhn"
JSON = dict[str, Any]


def bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here
    assert server is not None and server.sockets
    return server.sockets[0].getsockname()[1]


async def start_server(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port, as `nhn-proxy serve` does (ProxyRunner: parser
    errors in the standard shape); returns the runner and its base URL."""
    runner = ProxyRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{bound_port(site)}"


def settings_toml(
    endpoints: Mapping[str, str],
    *,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
    **upstream: float,
) -> str:
    """A proxy settings file: `[upstream]` keys (e.g. timeout) and the endpoints, plus any
    other `sections` (e.g. `{"cors": {"allow_origins": ["*"]}}`; `logging` merges)."""
    tables = {key: dict(value) for key, value in (sections or {}).items()}
    tables["logging"] = {"level": "WARNING", **tables.get("logging", {})}
    lines = [
        "[upstream]",
        *(f"{key} = {value}" for key, value in {"connect_timeout": 1, **upstream}.items()),
        "",
        "[upstream.endpoints]",
        *(f'{service} = "{url}"' for service, url in endpoints.items()),
        "",
    ]
    for name, table in tables.items():
        lines += [f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items()), ""]
    return "\n".join(lines)


@dataclass
class Reply:
    """One answer of the proxy (or of the emulator), read whole."""

    status: int
    headers: Mapping[str, str]
    text: str
    body: Any = None

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.text[:300]!r}>"

    def expect(self, status: int) -> Any:
        assert self.status == status, f"expected {status}, got {self!r}"
        return self.body


@dataclass
class Stack:
    """The proxy in front of the emulator, with shortcuts for the tests."""

    proxy_url: str
    emulator_url: str
    session: aiohttp.ClientSession
    settings_path: Path
    region: str = REGION
    tokens: dict[str, JSON] = field(default_factory=dict)  # token answers by tenant id

    # -- the public API -------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        region: str | None = None,
    ) -> Reply:
        """`method` `/api/nhn{path}` with the headers of `kind` (compute, network, storage)."""
        sent = dict(await self.headers(kind, region=region)) if kind else {}
        sent.update(headers or {})
        reply = await self._request(method, f"{self.proxy_url}{API}{path}", sent, json)
        assert reply.headers.get("X-Request-ID"), f"{method} {path}: no X-Request-ID"
        return reply

    async def get(self, path: str, kind: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, kind=kind, **kwargs)

    async def post(self, path: str, kind: str | None, json: Any, **kwargs: Any) -> Reply:
        return await self.call("POST", path, kind=kind, json=json, **kwargs)

    async def delete(self, path: str, kind: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, kind=kind, **kwargs)

    async def token_reply(
        self, tenant_id: str = DEMO_TENANT_ID, password: str = DEMO_PASSWORD, slash: str = "/"
    ) -> Reply:
        body = {"tenant_id": tenant_id, "username": DEMO_USERNAME, "password": password}
        return await self.call("POST", f"/token{slash}", json=body)

    async def token(self, tenant_id: str = DEMO_TENANT_ID) -> JSON:
        """The (cached) token answer of the proxy for `tenant_id`."""
        if tenant_id not in self.tokens:
            self.tokens[tenant_id] = (await self.token_reply(tenant_id)).expect(200)
        return self.tokens[tenant_id]

    def forget_tokens(self) -> None:
        self.tokens.clear()

    async def headers(self, kind: str | None, *, region: str | None = None) -> dict[str, str]:
        """The X-NHN-* headers a front end sends for a route of `kind`."""
        region = region or self.region
        if kind in (None, "none"):
            return {}
        if kind == "storage":
            token = await self.token(DEMO_STORAGE_TENANT_ID)
            return {
                "X-NHN-Token": token["token"],
                "X-NHN-Region": region,
                "X-NHN-Storage-Account": token["storage_account"],
            }
        token = await self.token(DEMO_TENANT_ID)
        headers = {"X-NHN-Token": token["token"], "X-NHN-Region": region}
        if kind == "compute":
            headers["X-NHN-Tenant-ID"] = DEMO_TENANT_ID
        elif kind != "network":
            raise ValueError(f"unknown header kind {kind!r}")
        return headers

    # -- the emulator, natively and through its control plane -----------------------------------

    async def native(
        self,
        method: str,
        path: str,
        *,
        storage: bool = False,
        json: Any = None,
        data: bytes | None = None,
    ) -> Reply:
        """A native call straight to the emulator (`path` after the base URL), with a token."""
        token = await self.token(DEMO_STORAGE_TENANT_ID if storage else DEMO_TENANT_ID)
        headers = {"X-Auth-Token": token["token"]}
        return await self._request(method, f"{self.emulator_url}{path}", headers, json, data)

    def compute_path(self, rest: str = "") -> str:
        return f"/{self.region}/compute/v2/{DEMO_TENANT_ID}{rest}"

    def storage_path(self, rest: str = "") -> str:
        return f"/{self.region}/object-storage/v1/AUTH_{DEMO_STORAGE_TENANT_ID}{rest}"

    def network_path(self, rest: str = "") -> str:
        return f"/{self.region}/network{rest}"

    async def control(self, method: str, path: str, json: Any = None) -> Reply:
        return await self._request(method, f"{self.emulator_url}/_emulator{path}", {}, json)

    async def native_requests(self, **filters: str) -> list[JSON]:
        """The emulator's journal of native requests (oldest first)."""
        query = "&".join(f"{key}={value}" for key, value in filters.items())
        reply = await self.control("GET", f"/requests?{query}" if query else "/requests")
        return reply.expect(200)["requests"]

    async def traced(self, method: str, path: str, kind: str | None = None, **kwargs: Any):
        """Call the proxy with a clean journal: (its reply, the native (method, path) calls)."""
        await self.headers(kind)  # tokens are issued before the journal is cleared
        await self.clear_requests()
        reply = await self.call(method, path, kind=kind, **kwargs)
        return reply, await self.native_calls()

    async def native_calls(self) -> list[tuple[str, str]]:
        """(method, path) of every native request since the journal was last cleared."""
        return [(entry["method"], entry["path"]) for entry in await self.native_requests()]

    async def clear_requests(self) -> None:
        (await self.control("DELETE", "/requests")).expect(204)

    async def fault(self, **spec: Any) -> JSON:
        """Inject a fault (see emulator/control.py); returns the fault as stored."""
        return (await self.control("POST", "/faults", spec)).expect(201)["fault"]

    async def clear_faults(self) -> None:
        (await self.control("DELETE", "/faults")).expect(204)

    async def advance(self, seconds: float) -> None:
        (await self.control("POST", "/clock", {"advance": seconds})).expect(200)

    # -- waiting ------------------------------------------------------------------------

    async def wait_for(
        self,
        probe: Callable[[], Awaitable[T]],
        predicate: Callable[[T], bool],
        *,
        timeout: float = 10.0,
        interval: float = 0.05,
        what: str = "condition",
    ) -> T:
        """Call `probe` until `predicate(result)` holds; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = await probe()
            if predicate(last):
                return last
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last!r}")
            await asyncio.sleep(interval)

    # -- plumbing -------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        json: Any = None,
        data: bytes | None = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        async with self.session.request(method, url, **kwargs) as response:
            text = await response.text()
            body = None
            if text and response.content_type == "application/json":
                body = await response.json()
            return Reply(response.status, response.headers.copy(), text, body)


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client for tests that start their own processes (replicas, workers, CLI)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[StackFactory]:
    """Start an emulator and a proxy configured for it; everything stops after the test."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def make(
        *,
        build_delay: float = BUILD_DELAY,
        cluster_delay: float = CLUSTER_DELAY,
        timeout: float = UPSTREAM_TIMEOUT,
        token_lifetime: float = 12 * 3600,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        **upstream: float,
    ) -> Stack:
        """`upstream` holds further `[upstream]` settings, e.g. max_body_size=1024;
        `settings` other sections, e.g. `{"cors": {"allow_origins": ["*"]}}`."""
        options = EmulatorOptions(
            build_delay=build_delay, cluster_delay=cluster_delay, token_lifetime=token_lifetime
        )
        emulator_runner, emulator_url = await start_server(emulator.create_app(options))
        runners.append(emulator_runner)
        path = tmp_path / f"proxy-{len(runners)}.toml"
        path.write_text(
            settings_toml(
                emulator.endpoints(emulator_url), sections=settings, timeout=timeout, **upstream
            )
        )
        proxy_runner, proxy_url = await start_server(create_app(load_settings(path, environ={})))
        runners.insert(0, proxy_runner)  # the proxy stops before its upstream
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        sessions.append(session)
        return Stack(proxy_url, emulator_url, session, path)

    yield make
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


# -- resources for a test (through the proxy where it can, natively where it cannot) -----------


async def create_keypair(stack: Stack, name: str = "e2e-key") -> JSON:
    """The proxy has no keypair-create route: create one natively in the emulator."""
    reply = await stack.native(
        "POST", stack.compute_path("/os-keypairs"), json={"keypair": {"name": name}}
    )
    return reply.expect(200)["keypair"]


async def create_vpc(stack: Stack, cidr: str = "172.16.0.0/16") -> JSON:
    body = {"name": unique("vpc"), "cidr": cidr}
    return (await stack.post("/vpc/create/", "network", body)).expect(201)["vpc"]


async def create_subnet(stack: Stack, vpc_id: str, cidr: str = "172.16.1.0/24") -> JSON:
    body = {"vpc_id": vpc_id, "name": unique("subnet"), "cidr": cidr}
    return (await stack.post("/subnet/create/", "network", body)).expect(201)["vpcsubnet"]


async def flavor_id(stack: Stack, name: str = "m2.c2m4") -> str:
    flavors = (await stack.get("/compute/flavors/", "compute")).expect(200)["flavors"]
    return next(flavor["id"] for flavor in flavors if flavor["name"] == name)


async def ubuntu_image_id(stack: Stack) -> str:
    images = (await stack.get("/compute/images/", "network")).expect(200)["images"]
    return next(image["id"] for image in images if "ubuntu" in image["name"].lower())


async def default_subnet_id(stack: Stack) -> str:
    subnets = (await stack.get("/subnet/", "network")).expect(200)["vpcsubnets"]
    return next(subnet["id"] for subnet in subnets if subnet["name"] == "default")


async def create_server(stack: Stack, name: str | None = None) -> JSON:
    await create_keypair(stack)
    body = {
        "name": name or unique("vm"),
        "image_id": await ubuntu_image_id(stack),
        "flavor_id": await flavor_id(stack),
        "subnet_id": await default_subnet_id(stack),
        "keypair_name": "e2e-key",
    }
    return (await stack.post("/compute/instances/create/", "compute", body)).expect(201)["server"]


async def cluster_body(stack: Stack, name: str) -> JSON:
    await create_keypair(stack)
    vpc = await create_vpc(stack)
    subnet = await create_subnet(stack, vpc["id"])
    return {
        "cluster_name": name,
        "vpc_id": vpc["id"],
        "subnet_id": subnet["id"],
        "instance_type": await flavor_id(stack),
        "keypair_name": "e2e-key",
        "kubernetes_version": "v1.29.3",
        "availability_zone": "kr2-pub-a",
    }


async def create_cluster(stack: Stack, name: str) -> JSON:
    body = await cluster_body(stack, name)
    reply = await stack.post("/nks/clusters/create/", "network", body)
    return reply.expect(201)["cluster"]


async def create_container(stack: Stack, name: str) -> None:
    (await stack.post("/storage/containers/create/", "storage", {"name": name})).expect(201)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- shape checks ---------------------------------------------------------------------------------


def check_shape(
    value: Any, spec: Mapping[str, Any], *, extras: Mapping[str, Any] | None = None
) -> None:
    """`value` is an object with exactly the keys of `spec` (plus any of `extras`), each of
    the given type (a type or a tuple of types; `bool` is never accepted as an `int`)."""
    assert isinstance(value, dict), f"not an object: {value!r}"
    extras = extras or {}
    missing = set(spec) - set(value)
    unexpected = set(value) - set(spec) - set(extras)
    assert not missing, f"missing fields {sorted(missing)} in {value!r}"
    assert not unexpected, f"undocumented fields {sorted(unexpected)} in {value!r}"
    for key, kind in {**spec, **extras}.items():
        if key not in value:
            continue
        item = value[key]
        assert isinstance(item, kind), f"{key}={item!r} is not {kind}"
        if kind is int or (isinstance(kind, tuple) and int in kind and bool not in kind):
            assert not isinstance(item, bool), f"{key}={item!r} is a bool, not an int"


def check_error(reply: Reply, status: int, *contains: str) -> str:
    """The standard error shape with `status`, an X-Request-ID, and the message mentioning
    each of `contains` (case-insensitive); returns the message."""
    assert reply.status == status, f"expected {status}, got {reply!r}"
    assert isinstance(reply.body, dict), f"not a JSON object: {reply!r}"
    assert reply.body == {"error": reply.body["error"], "code": status}, reply
    assert isinstance(reply.body["error"], str) and reply.body["error"]
    assert reply.headers.get("X-Request-ID"), f"no X-Request-ID on {reply!r}"
    for text in contains:
        assert text.lower() in reply.body["error"].lower(), (text, reply.body["error"])
    return reply.body["error"]

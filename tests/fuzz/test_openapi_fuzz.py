"""Property-based fuzzing of the proxy's own OpenAPI document with schemathesis.

The proxy is pointed at the embedded emulator, both served on loopback from a background
event loop, and schemathesis drives the proxy over real sockets, one test per operation of
the document the proxy serves (`/api/docs/openapi.json`). Every answer must have a
documented status code, the documented content type and headers, and a body that matches
the documented response schema; and

- `test_openapi_fuzz`: no upstream fault is injected, so the answer is never a 5xx;
- `test_openapi_fuzz_with_upstream_faults`: every native call meets an injected fault
  (an NHN 5xx, a malformed, truncated or mistyped body, a dropped connection, a timeout),
  so 502, 503 and 504 are expected; a 500 (a bug of the proxy) never is.

To reach the real handlers (and not only the header checks), a case is adjusted after it is
generated, by a choice that depends only on the generated data (so a derandomized run sends
the very same requests every time):

- most cases get a valid demo token and the documented X-NHN-* headers (`HEADER_MODES`);
  a fifth keep the generated values, which must then be refused with a 4xx; some send a
  valid token with the other headers as generated, or the token of the other tenant
  (compute on Object Storage and the reverse), and some keep a generated region;
- half of the cases with a resource in the path address a resource that exists (created by
  the fixture; DELETE gets resources of its own), and request bodies get real image,
  flavor, subnet, VPC and key pair ids, so that creates and actions can succeed;
- a third of the long-running operations ask for `Prefer: respond-async` (answered 202
  with a task), and the task event stream is read with a real task, with its ticket or its
  owner's headers, from the start or after the last event.

The budget is fixed (`MAX_EXAMPLES` / `FAULT_EXAMPLES` per operation, plus schemathesis'
explicit examples and, without faults, its coverage cases) and generation is derandomized
with a fixed `SEED`: CI sends the same requests on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import threading
import time
import zlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nhn_proxy import emulator
from nhn_proxy.app import create_app
from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID, DEMO_USERNAME
from nhn_proxy.keys import OPENAPI
from nhn_proxy.openapi import DOC_PATH
from nhn_proxy.server import ProxyRunner
from nhn_proxy.settings import load_settings

pytestmark = [
    pytest.mark.fuzz,
    # the servers' thread uses the global `random` (retry jitter, the emulator's MAC
    # addresses) while Hypothesis draws a case, which Hypothesis takes for a strategy's use;
    # generation itself does not read it (the same requests are sent on every run)
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

T = TypeVar("T")
SEED = 20240502  # fixed: with derandomize=True every run generates the same cases
MAX_EXAMPLES = 20  # generated cases per operation (fuzzing phase)
FAULT_EXAMPLES = 8  # the same, with an upstream fault in every case
REGION = "kr2"  # where the fixture's resources live
API = "/api/nhn"
# X-NHN-* headers of a case, by a stable choice: as generated (then only a 4xx will do),
# a valid token with the rest as generated, valid headers but with the token of the other
# tenant (compute <-> object storage), or all valid (most cases)
HEADER_MODES = ("generated", "generated", "token", "other-token", *["valid"] * 6)
# an answer on loopback takes milliseconds; fail loudly rather than hang
REQUEST_TIMEOUT = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# routes that never call NHN (see `checks_token_later`)
NO_UPSTREAM = frozenset({f"{API}/tasks/"})
EVENTS = f"{API}/tasks/{{task_id}}/events/"
# the proxy's settings file; tasks poll often so that the seeded task settles at once
SETTINGS_TOML = """
[upstream]
{upstream}

[upstream.endpoints]
{endpoints}

[tasks]
poll_initial = 0.05
poll_max = 0.2

[logging]
level = "WARNING"
"""
UPSTREAM = {"timeout": REQUEST_TIMEOUT - 5, "connect_timeout": 1}


# -- the generation ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def only_the_seed_decides(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hypothesis also draws constants found in the local (non-test) modules loaded so far,
    so the cases would change with what else the run imported (`pytest tests/fuzz` against
    `pytest tests`). Pin that pool empty: the cases depend on `SEED` and the document only.
    (A private hook of Hypothesis; without it, runs of one command are still repeatable.)"""
    from hypothesis.internal.conjecture import providers

    if not hasattr(providers, "_get_local_constants"):
        yield
        return
    empty = providers.Constants()
    monkeypatch.setattr(providers, "_get_local_constants", lambda: empty)
    providers.CONSTANTS_CACHE.cache.clear()  # allowed constants cached with the old pool
    yield
    providers.CONSTANTS_CACHE.cache.clear()


# -- the servers ----------------------------------------------------------------------------


async def start_server(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port as `nhn-proxy serve` does; (runner, base URL)."""
    runner = ProxyRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server  # aiohttp keeps the asyncio server here
    assert server is not None and server.sockets
    return runner, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


class LoopThread:
    """An asyncio loop in a daemon thread: the servers run there, while the synchronous
    Hypothesis tests talk to them over real sockets."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-servers")
        self.thread.daemon = True
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class FuzzStack:
    """The running proxy and emulator, demo credentials, and resources that exist."""

    proxy_url: str
    emulator_url: str
    http: requests.Session
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # by tenant id
    # path parameter -> values that exist; DELETE uses `victims`, which it may destroy
    existing: dict[str, list[str]] = field(default_factory=dict)
    victims: dict[str, list[str]] = field(default_factory=dict)
    # operation path -> body field -> a value that exists
    body_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_ticket: str = ""

    # -- calls --------------------------------------------------------------------------

    def call(self, method: str, path: str, kind: str | None, **kwargs: Any) -> requests.Response:
        headers = {**(self.auth_headers(kind) if kind else {}), **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"{self.proxy_url}{API}{path}", headers=headers, timeout=30, **kwargs
        )

    def expect(self, status: int, method: str, path: str, kind: str | None, **kwargs: Any):
        answer = self.call(method, path, kind, **kwargs)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def token(self, tenant_id: str) -> dict[str, Any]:
        if tenant_id not in self.tokens:
            body = {"tenant_id": tenant_id, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
            self.tokens[tenant_id] = self.expect(200, "POST", "/token/", None, json=body)
        return self.tokens[tenant_id]

    def auth_headers(self, kind: str) -> dict[str, str]:
        """Valid X-NHN-* headers: `storage` for Object Storage, `compute` for the rest."""
        if kind == "storage":
            token = self.token(DEMO_STORAGE_TENANT_ID)
            return {
                "X-NHN-Token": token["token"],
                "X-NHN-Region": REGION,
                "X-NHN-Storage-Account": token["storage_account"],
            }
        return {
            "X-NHN-Token": self.token(DEMO_TENANT_ID)["token"],
            "X-NHN-Region": REGION,
            "X-NHN-Tenant-ID": DEMO_TENANT_ID,
        }

    def native(self, method: str, path: str, *, storage: bool = False, **kwargs: Any) -> None:
        tenant = DEMO_STORAGE_TENANT_ID if storage else DEMO_TENANT_ID
        headers = {"X-Auth-Token": self.token(tenant)["token"]}
        answer = self.http.request(
            method, f"{self.emulator_url}{path}", headers=headers, timeout=30, **kwargs
        )
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text)

    def wait_for(self, probe: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    # -- resources that exist -----------------------------------------------------------------

    def seed_resources(self) -> None:
        """Resources for the fuzzed paths and bodies, made through the proxy where it can."""
        compute = f"/{REGION}/compute/v2/{DEMO_TENANT_ID}"
        self.native("POST", f"{compute}/os-keypairs", json={"keypair": {"name": "fuzz-key"}})
        images = self.expect(200, "GET", "/compute/images/", "compute")["images"]
        flavors = self.expect(200, "GET", "/compute/flavors/", "compute")["flavors"]
        subnets = self.expect(200, "GET", "/subnet/", "compute")["vpcsubnets"]
        image_id = next(image["id"] for image in images if "ubuntu" in image["name"].lower())
        flavor_id = next(flavor["id"] for flavor in flavors if flavor["name"] == "m2.c2m4")
        subnet_id = next(subnet["id"] for subnet in subnets if subnet["name"] == "default")
        server = {
            "image_id": image_id,
            "flavor_id": flavor_id,
            "subnet_id": subnet_id,
            "keypair_name": "fuzz-key",
        }

        def new_server(name: str) -> str:
            body = {"name": name, **server}
            return self.expect(201, "POST", "/compute/instances/create/", "compute", json=body)[
                "server"
            ]["id"]

        def new_vpc(name: str, cidr: str) -> str:
            body = {"name": name, "cidr": cidr}
            return self.expect(201, "POST", "/vpc/create/", "compute", json=body)["vpc"]["id"]

        def new_subnet(vpc_id: str, name: str, cidr: str) -> str:
            body = {"vpc_id": vpc_id, "name": name, "cidr": cidr}
            answer = self.expect(201, "POST", "/subnet/create/", "compute", json=body)
            return answer["vpcsubnet"]["id"]

        servers = [new_server("fuzz-keep"), new_server("fuzz-victim")]
        vpcs = [new_vpc("fuzz-keep", "172.16.0.0/16"), new_vpc("fuzz-victim", "172.17.0.0/16")]
        kept_subnets = [new_subnet(vpcs[0], "fuzz-keep", "172.16.1.0/24")]
        victim_subnets = [new_subnet(vpcs[0], "fuzz-victim", "172.16.2.0/24")]
        cluster = {
            "vpc_id": vpcs[0],
            "subnet_id": kept_subnets[0],
            "instance_type": flavor_id,
            "keypair_name": "fuzz-key",
            "kubernetes_version": "v1.29.3",
            "availability_zone": f"{REGION}-pub-a",
        }
        for name in ("fuzz-keep", "fuzz-victim"):
            body = {"cluster_name": name, **cluster}
            self.expect(201, "POST", "/nks/clusters/create/", "compute", json=body)
        for name in ("fuzz-keep", "fuzz-victim"):
            self.expect(201, "POST", "/storage/containers/create/", "storage", json={"name": name})
        account = f"/{REGION}/object-storage/v1/AUTH_{DEMO_STORAGE_TENANT_ID}"
        self.native("PUT", f"{account}/fuzz-keep/hello.txt", storage=True, data=b"hello")

        # a settled task, to read its event stream (with its ticket or its owner's headers)
        answer = self.call(
            "POST",
            "/compute/instances/create/",
            "compute",
            json={"name": "fuzz-task", **server},
            headers={"Prefer": "respond-async"},
        )
        assert answer.status_code == 202, answer.text
        task = answer.json()["task"]
        self.wait_for(
            lambda: (
                self.expect(200, "GET", f"/tasks/{task['id']}/", "compute")["task"]["status"]
                == "succeeded"
            ),
            "the seeded task",
        )
        self.task_ticket = task["events_url"].split("ticket=", 1)[1]

        self.existing = {
            "server_id": [servers[0]],
            "vpc_id": [vpcs[0]],  # has subnets: DELETE would be a 409
            "subnet_id": [kept_subnets[0]],
            "cluster_name": ["fuzz-keep"],
            "container_name": ["fuzz-keep"],  # has an object: DELETE would be a 409
            "task_id": [task["id"]],
        }
        self.victims = {  # vpcs[0] and fuzz-keep are not empty: deleting them is a 409
            "server_id": [servers[1]],
            "vpc_id": [vpcs[1], vpcs[0]],
            "subnet_id": [victim_subnets[0]],
            "cluster_name": ["fuzz-victim"],
            "container_name": ["fuzz-victim", "fuzz-keep"],
        }
        self.body_values = {
            f"{API}/compute/instances/create/": server,
            f"{API}/nks/clusters/create/": cluster,
            f"{API}/subnet/create/": {"vpc_id": vpcs[1]},
        }


@contextlib.contextmanager
def serve(directory: Path, **upstream: float) -> Iterator[FuzzStack]:
    """An emulator and a proxy configured for it by a settings file (`upstream` overrides
    `[upstream]` keys), served from a background loop until the block ends."""
    loop = LoopThread()
    runners: list[web.AppRunner] = []

    async def start() -> tuple[str, str]:
        options = emulator.EmulatorOptions(build_delay=0.1, cluster_delay=0.1)
        emulator_runner, emulator_url = await start_server(emulator.create_app(options))
        runners.append(emulator_runner)
        endpoints = emulator.endpoints(emulator_url).items()
        path = directory / "proxy.toml"
        path.write_text(
            SETTINGS_TOML.format(
                upstream="\n".join(f"{k} = {v}" for k, v in {**UPSTREAM, **upstream}.items()),
                endpoints="\n".join(f'{service} = "{url}"' for service, url in endpoints),
            )
        )
        proxy_runner, proxy_url = await start_server(create_app(load_settings(path, environ={})))
        runners.insert(0, proxy_runner)  # the proxy stops before its upstream
        return proxy_url, emulator_url

    async def stop() -> None:
        for runner in runners:
            await runner.cleanup()

    http = requests.Session()
    try:
        proxy_url, emulator_url = loop.run(start())
        yield FuzzStack(proxy_url, emulator_url, http)
    finally:
        http.close()
        loop.run(stop())
        loop.close()


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzStack]:
    """The proxy in front of the emulator with resources to address, once for the module."""
    with serve(tmp_path_factory.mktemp("fuzz")) as stack:
        stack.seed_resources()
        yield stack


# -- the document ---------------------------------------------------------------------------


def proxy_document() -> dict[str, Any]:
    """The proxy's OpenAPI document, built at collection time so that schemathesis can make
    one test per operation; `test_served_document_is_the_fuzzed_one` checks that it is
    exactly what the running proxy serves at /api/docs/openapi.json."""
    return create_app(load_settings(environ={}))[OPENAPI]


DOCUMENT = proxy_document()
schema = schemathesis.openapi.from_dict(
    copy.deepcopy(DOCUMENT), config=schemathesis.Config.from_dict({"seed": SEED})
)


def test_served_document_is_the_fuzzed_one(fuzz_stack: FuzzStack) -> None:
    served = fuzz_stack.http.get(f"{fuzz_stack.proxy_url}{DOC_PATH}", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


# -- steering generated cases ---------------------------------------------------------------


def generated_key(case: schemathesis.Case) -> str:
    """The generated data of `case`, as stable text (taken before any change is made)."""
    generated = {
        "headers": dict(case.headers),
        "path": case.path_parameters,
        "query": case.query,
        "body": case.body,
    }
    # NotSet (no body) and other non-JSON values by type name, never by repr (an address)
    return json.dumps(
        [case.operation.label, generated], sort_keys=True, default=lambda o: type(o).__name__
    )


def pick(key: str, salt: str, choices: int) -> int:
    """A stable choice in range(choices): a function of the generated data only, so that a
    derandomized run makes the same choices every time."""
    return zlib.crc32(f"{salt}:{key}".encode()) % choices


def documented_regions(case: schemathesis.Case) -> list[str]:
    """The X-NHN-Region values the operation documents (its enum)."""
    operation = DOCUMENT["paths"][case.operation.path][case.operation.method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "X-NHN-Region":
            return parameter["schema"]["enum"]
    return []


def steer(case: schemathesis.Case, stack: FuzzStack) -> bool:
    """Make `case` reach deeper (see the module docstring); whether it now carries valid
    credentials (headers, or the ticket of a task's event stream)."""
    # schemathesis may share containers between the cases it derives from one another:
    # change copies only, or an edit would leak into cases generated later
    case.headers = copy.deepcopy(case.headers)
    case.path_parameters = copy.deepcopy(case.path_parameters)
    case.query = copy.deepcopy(case.query)
    case.body = copy.deepcopy(case.body)
    key = generated_key(case)
    operation = case.operation
    declared = {parameter.name for parameter in operation.headers}
    mode = HEADER_MODES[pick(key, "headers", len(HEADER_MODES))]
    injected = mode != "generated"
    kinds = ["compute", "storage"]
    if operation.path.startswith(f"{API}/storage/"):
        kinds.reverse()
    valid = stack.auth_headers(kinds[0])
    if mode == "other-token":  # the mistake the README warns about
        valid["X-NHN-Token"] = stack.auth_headers(kinds[1])["X-NHN-Token"]
    elif mode == "token":
        valid = {"X-NHN-Token": valid["X-NHN-Token"]}
    region = case.headers.get("X-NHN-Region")
    if region in documented_regions(case) and pick(key, "region", 3) == 0:
        valid.pop("X-NHN-Region", None)  # another documented region than the resources' one
    if injected:
        case.headers.update({name: value for name, value in valid.items() if name in declared})
    if "Prefer" in declared and pick(key, "prefer", 3) == 0:
        case.headers["Prefer"] = "respond-async"
    resources = stack.victims if operation.method.upper() == "DELETE" else stack.existing
    for name in case.path_parameters:
        values = resources.get(name)
        if values and pick(key, name, 2) == 0:
            case.path_parameters[name] = values[pick(key, f"{name}-value", len(values))]
    real_values = stack.body_values.get(operation.path, {})
    if isinstance(case.body, dict):
        for name in sorted(case.body.keys() & real_values.keys()):
            if pick(key, f"body-{name}", 3) != 0:
                case.body[name] = real_values[name]
    tasks = stack.existing.get("task_id", [])
    if operation.path == EVENTS and case.path_parameters["task_id"] in tasks:
        if pick(key, "ticket", 2) == 0:  # the ticket alone decides, whatever the headers
            case.query = {**(case.query or {}), "ticket": stack.task_ticket}
            injected = True
        if pick(key, "last-event", 2) == 0:
            case.headers["Last-Event-ID"] = "1000"  # after the last event
    return injected


def checks_token_later(case: schemathesis.Case) -> bool:
    """Whether a well-formed token that NHN would refuse may still be answered 2xx: the
    task list never calls NHN (such a token owns no task), and `Prefer: respond-async` hands
    the call to a task (202) that then fails with NHN's 401."""
    return case.operation.path in NO_UPSTREAM or case.headers.get("Prefer") == "respond-async"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_openapi_fuzz(case: schemathesis.Case, fuzz_stack: FuzzStack) -> None:
    injected = steer(case, fuzz_stack)
    response = case.call(
        base_url=fuzz_stack.proxy_url, session=fuzz_stack.http, timeout=REQUEST_TIMEOUT
    )
    declared = {parameter.name for parameter in case.operation.headers}
    if not injected and declared and not checks_token_later(case):
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
    case.validate_response(response, checks=CHECKS)


# -- the same, with upstream faults -------------------------------------------------------------

# Every native call of a case meets one of these (chosen from the generated data): the
# answer may then be a 502, 503 or 504, documented and in the error shape, never a 500.
FAULT_UPSTREAM = {"timeout": 0.5, "retry_backoff": 0.01, "breaker_failures": 0}
FAULTS = (
    {"action": "status", "status": 500},
    {"action": "status", "status": 503},
    {"action": "status", "status": 504},
    {"action": "malformed"},
    {"action": "truncated"},
    {"action": "wrong_content_type"},
    {"action": "drop"},
    {"action": "latency", "seconds": 1.0},  # longer than upstream.timeout: 504
)
UPSTREAM_FAULT_STATUSES = frozenset({502, 503, 504})
FAULT_CHECKS = [check for check in CHECKS if check is not not_a_server_error]
faults_schema = schemathesis.openapi.from_dict(
    copy.deepcopy(DOCUMENT),
    # the coverage phase (hundreds of boundary cases) already ran above, without faults
    config=schemathesis.Config.from_dict(
        {"seed": SEED, "phases": {"coverage": {"enabled": False}}}
    ),
)


@pytest.fixture(scope="module")
def faulty_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzStack]:
    """Its own proxy and emulator (no circuit breaker, a short timeout), tokens issued
    before any fault."""
    with serve(tmp_path_factory.mktemp("faults"), **FAULT_UPSTREAM) as stack:
        stack.auth_headers("compute")
        stack.auth_headers("storage")
        yield stack


@faults_schema.parametrize()
@settings(
    max_examples=FAULT_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_openapi_fuzz_with_upstream_faults(case: schemathesis.Case, faulty_stack: FuzzStack):
    fault = FAULTS[pick(generated_key(case), "fault", len(FAULTS))]
    steer(case, faulty_stack)
    control = f"{faulty_stack.emulator_url}/_emulator/faults"
    answer = faulty_stack.http.post(control, json={"service": "*", **fault}, timeout=10)
    assert answer.status_code == 201, answer.text
    try:
        response = case.call(
            base_url=faulty_stack.proxy_url, session=faulty_stack.http, timeout=REQUEST_TIMEOUT
        )
    finally:
        assert faulty_stack.http.delete(control, timeout=10).status_code == 204
    assert response.status_code < 500 or response.status_code in UPSTREAM_FAULT_STATUSES, (
        fault,
        response.status_code,
        response.text,
    )
    case.validate_response(response, checks=FAULT_CHECKS)

"""A bounded soak: the proxy process (`python -m proxy serve --config FILE`) in front of the
emulator process (`python -m proxy emulator`), on loopback, under many concurrent clients and
tens of thousands of mixed requests — reads of every service plus container creations that
are deleted again. Every answer must be 2xx, the proxy's memory must stay put and it must
not leak file descriptors. The run is bounded in requests and in time, and stops by itself.

It is part of the default suite (marker `soak`; deselect with `-m "not soak"`)."""

from __future__ import annotations

import asyncio
import collections
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID, DEMO_USERNAME
from nhn_proxy.emulator import endpoints as emulator_endpoints
from tests.helpers import free_port

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 50_000  # measured requests (a create + delete pair counts as two)
CONCURRENCY = 500  # clients, each with its own keep-alive connection to the proxy
WARM_UP = 2_000  # requests before the "before" measurements, at the same concurrency
WRITE_EVERY = 50  # one container create + delete per this many requests
HARD_TIMEOUT = 240.0  # seconds for each phase (about 70 s on 2 cores); fails past it
REQUEST_TIMEOUT = 30.0  # seconds for one request
MAX_RSS_GROWTH_MB = 50.0
FD_SLACK = 8  # descriptors the proxy may hold over its count before the run
SETTLE = 15.0  # seconds to wait for closed client connections to go away
START_TIMEOUT = 20.0
REGION = "kr2"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_fd_limit(wanted: int) -> None:
    """Room for the clients here and their connections in the children (which inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("NHN_PROXY_")}


def spawn(tmp_path: Path, name: str, *args: str) -> subprocess.Popen:
    log = (tmp_path / f"{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "nhn_proxy", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_environment(),
            cwd=ROOT,
        )
    finally:
        log.close()


async def wait_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer: {log.read_text()[-2000:]}")
            await asyncio.sleep(0.05)


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


@dataclass
class Stack:
    proxy_url: str
    proxy: subprocess.Popen
    emulator: subprocess.Popen
    logs: Path


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    raise_fd_limit(4 * CONCURRENCY + 256)
    quiet = tmp_path / "quiet.toml"
    quiet.write_text('[logging]\nlevel = "WARNING"\n')
    emulator_port, proxy_port = free_port(), free_port()
    emulator = spawn(
        tmp_path, "emulator", "emulator", "--config", str(quiet), "--port", str(emulator_port)
    )
    proxy = None
    try:
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        await wait_answering(f"{emulator_url}/_emulator", emulator, tmp_path / "emulator.log")
        config = tmp_path / "proxy.toml"
        block = "\n".join(
            f'{service} = "{url}"' for service, url in emulator_endpoints(emulator_url).items()
        )
        config.write_text(
            '[server]\nhost = "127.0.0.1"\nshutdown_timeout = 5\n\n'
            '[logging]\nlevel = "WARNING"\n\n'
            f"[upstream.endpoints]\n{block}\n"
        )
        proxy = spawn(
            tmp_path, "proxy", "serve", "--config", str(config), "--port", str(proxy_port)
        )
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        await wait_answering(f"{proxy_url}/healthz", proxy, tmp_path / "proxy.log")
        yield Stack(proxy_url, proxy, emulator, tmp_path)
    finally:
        codes = {"proxy": stop(proxy) if proxy else None, "emulator": stop(emulator)}
    assert codes == {"proxy": 0, "emulator": 0}, (tmp_path / "proxy.log").read_text()[-2000:]


@dataclass
class Tally:
    """What the clients saw."""

    done: int = 0
    by_route: collections.Counter = field(default_factory=collections.Counter)
    unexpected: collections.Counter = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)

    def record(self, route: str, outcome: int | str, detail: str = "") -> None:
        self.done += 1
        self.by_route[route] += 1
        if not (isinstance(outcome, int) and 200 <= outcome < 300):
            self.unexpected[(route, outcome)] += 1
            if len(self.samples) < 10:
                self.samples.append(f"{route} -> {outcome} {detail[:300]}")


async def issue_token(session: aiohttp.ClientSession, url: str, tenant: str) -> str:
    body = {"tenant_id": tenant, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    async with session.post(f"{url}/api/nhn/token/", json=body) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["token"]


class Load:
    """Mixed routes from `concurrency` clients until `total` requests have been made."""

    def __init__(self, url: str, compute_token: str, storage_token: str) -> None:
        api = f"{url}/api/nhn"
        compute = {
            "X-NHN-Token": compute_token,
            "X-NHN-Region": REGION,
            "X-NHN-Tenant-ID": DEMO_TENANT_ID,
        }
        network = {"X-NHN-Token": compute_token, "X-NHN-Region": REGION}
        self.storage = {
            "X-NHN-Token": storage_token,
            "X-NHN-Region": REGION,
            "X-NHN-Storage-Account": f"AUTH_{DEMO_STORAGE_TENANT_ID}",
        }
        self.api = api
        self.reads = [
            ("GET /compute/flavors/", f"{api}/compute/flavors/", compute),
            ("GET /compute/images/", f"{api}/compute/images/", compute),
            ("GET /compute/instances/", f"{api}/compute/instances/", compute),
            ("GET /compute/keypairs/", f"{api}/compute/keypairs/", compute),
            ("GET /vpc/", f"{api}/vpc/", network),
            ("GET /subnet/", f"{api}/subnet/", network),
            ("GET /floatingip/", f"{api}/floatingip/", network),
            ("GET /nks/clusters/", f"{api}/nks/clusters/", network),
            ("GET /storage/containers/", f"{api}/storage/containers/", self.storage),
        ]

    async def run(self, session: aiohttp.ClientSession, total: int, concurrency: int) -> Tally:
        tally = Tally()
        counter = iter(range(total))

        async def client() -> None:
            for index in counter:  # shared: the clients together make `total` requests
                if index % WRITE_EVERY == 0 and index + 1 < total:
                    next(counter)  # the pair counts as two requests
                    await self.write(session, index, tally)
                else:
                    name, url, headers = self.reads[index % len(self.reads)]
                    await self.call(session, tally, name, "GET", url, headers)

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return tally

    async def write(self, session: aiohttp.ClientSession, index: int, tally: Tally) -> None:
        name = f"soak-{index}"
        await self.call(
            session,
            tally,
            "POST /storage/containers/create/",
            "POST",
            f"{self.api}/storage/containers/create/",
            self.storage,
            json={"name": name},
        )
        await self.call(
            session,
            tally,
            "DELETE /storage/containers/{name}/",
            "DELETE",
            f"{self.api}/storage/containers/{name}/",
            self.storage,
        )

    @staticmethod
    async def call(session, tally, route, method, url, headers, **kwargs) -> None:
        try:
            async with session.request(method, url, headers=headers, **kwargs) as response:
                text = await response.text()
                tally.record(route, response.status, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.record(route, type(exc).__name__, str(exc))


def client_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def settled_fds(pid: int, at_most: int | None = None) -> int:
    """The proxy's descriptor count once closed connections are gone: steady for 0.5 s, or
    down to `at_most`, within SETTLE seconds."""
    deadline = time.monotonic() + SETTLE
    last, steady_since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = fd_count(pid)
        if at_most is not None and now <= at_most:
            return now
        if now != last:
            last, steady_since = now, time.monotonic()
        elif at_most is None and time.monotonic() - steady_since >= 0.5:
            return now
    return fd_count(pid)


async def test_soak_mixed_routes_through_the_proxy_process(stack: Stack, capsys) -> None:
    pid = stack.proxy.pid
    async with aiohttp.ClientSession() as session:
        compute_token = await issue_token(session, stack.proxy_url, DEMO_TENANT_ID)
        storage_token = await issue_token(session, stack.proxy_url, DEMO_STORAGE_TENANT_ID)
    load = Load(stack.proxy_url, compute_token, storage_token)

    # warm-up: imports, caches and the upstream pool reach their working size
    async with client_session(CONCURRENCY) as session:
        warm = await asyncio.wait_for(load.run(session, WARM_UP, CONCURRENCY), HARD_TIMEOUT)
    assert not warm.unexpected, warm.samples
    fds_before = await settled_fds(pid)
    rss_before = rss_mb(pid)

    peak = {"fds": 0, "rss": 0.0}

    async def sample() -> None:  # the proxy really holds the clients' connections at once
        while True:
            peak["fds"] = max(peak["fds"], fd_count(pid))
            peak["rss"] = max(peak["rss"], rss_mb(pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample())
    started = time.monotonic()
    try:
        async with client_session(CONCURRENCY) as session:
            run = load.run(session, REQUESTS, CONCURRENCY)
            tally = await asyncio.wait_for(run, HARD_TIMEOUT)
    finally:
        sampler.cancel()
    duration = time.monotonic() - started

    fds_after = await settled_fds(pid, at_most=fds_before + FD_SLACK)
    rss_after = rss_mb(pid)
    assert stack.proxy.poll() is None and stack.emulator.poll() is None

    with capsys.disabled():  # the report shows in CI logs, without -s
        print(
            f"\nsoak: {tally.done} requests, {CONCURRENCY} clients, {duration:.1f} s, "
            f"{tally.done / duration:.0f} req/s; proxy RSS {rss_before:.1f} -> "
            f"{rss_after:.1f} MB ({rss_after - rss_before:+.1f} MB, peak {peak['rss']:.1f}); "
            f"proxy fds {fds_before} -> {fds_after} (peak {peak['fds']}); "
            f"unexpected {sum(tally.unexpected.values())}"
        )
    assert tally.done == REQUESTS
    assert peak["fds"] >= fds_before + CONCURRENCY * 0.9, "the clients were not concurrent"
    assert set(tally.by_route) == {name for name, _, _ in load.reads} | {
        "POST /storage/containers/create/",
        "DELETE /storage/containers/{name}/",
    }
    assert not tally.unexpected, (dict(tally.unexpected), tally.samples)
    assert rss_after - rss_before < MAX_RSS_GROWTH_MB
    assert fds_after <= fds_before + FD_SLACK, (fds_before, fds_after)

"""The two commands a newcomer runs first, as real processes: `serve --emulator` (the offline
demo) and `emulator` (which prints the settings block pointing a proxy at it)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import aiohttp
import pytest

from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID, DEMO_USERNAME
from nhn_proxy.settings import load_settings
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0
ENDPOINT_LINE = re.compile(r'^(?P<key>[a-z_]+) = "(?P<url>http://[^"\s]+)"$')


def clean_environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NHN_PROXY_")}
    env.update(extra)
    return env


class Process:
    """A `python -m proxy ...` child whose stdout is read line by line (stderr to a file)."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr_path = stderr
        self.lines: list[str] = []

    async def read_until(self, predicate, timeout: float = START_TIMEOUT) -> list[str]:
        """Read stdout lines until `predicate(line)` holds; bounded by `timeout`."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no expected line within {timeout}s: {self.describe()}")
            try:
                raw = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not raw:
                raise AssertionError(f"process ended early: {self.describe()}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if predicate(line):
                return self.lines

    async def stop(self, timeout: float = 15.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    def describe(self) -> str:
        stderr = self.stderr_path.read_text(errors="replace")[-2000:]
        return f"stdout={self.lines!r} stderr={stderr!r}"


async def start(tmp_path: Path, *args: str, env: dict[str, str]) -> Process:
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as handle:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=handle,
            env=env,
            cwd=ROOT,
        )
    return Process(process, stderr)


async def wait_healthy(session: aiohttp.ClientSession, url: str, child: Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        if child.process.returncode is not None or time.monotonic() > deadline:
            raise AssertionError(f"not healthy: {child.describe()}")
        await asyncio.sleep(0.05)


async def test_serve_with_the_embedded_emulator(tmp_path: Path, session) -> None:
    port = free_port()
    env = clean_environment(NHN_PROXY_EMULATOR_BUILD_DELAY="0.2")
    child = await start(tmp_path, "serve", "--emulator", "--port", str(port), env=env)
    try:
        lines = await child.read_until(lambda line: "Try:" in line)
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(session, url, child)
        banner = "\n".join(lines)
        assert f"{url}/swagger/" in banner
        assert f"{url}/api/nhn" in banner
        assert DEMO_USERNAME in banner and DEMO_PASSWORD in banner
        assert DEMO_TENANT_ID in banner and DEMO_STORAGE_TENANT_ID in banner
        # one process (no supervisor), on uvloop when it is installed (server.event_loop auto)
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
        assert f"Processes:    1 (pid {child.process.pid}), event loop: {loop}" in banner

        body = {"tenant_id": DEMO_TENANT_ID, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
        async with session.post(f"{url}/api/nhn/token/", json=body) as response:
            assert response.status == 200, await response.text()
            token = await response.json()
        headers = {
            "X-NHN-Token": token["token"],
            "X-NHN-Region": "kr1",
            "X-NHN-Tenant-ID": DEMO_TENANT_ID,
        }
        async with session.get(f"{url}/api/nhn/compute/flavors/", headers=headers) as response:
            assert response.status == 200
            flavors = (await response.json())["flavors"]
        assert flavors and {"id", "name", "vcpus", "ram", "disk"} == set(flavors[0])
        async with session.get(f"{url}/api/nhn/compute/images", headers=headers) as response:
            assert response.status == 200
            images = (await response.json())["images"]
        assert images and {"id", "name", "status", "created_at"} == set(images[0])

        # the demo can start an instance at once, and NHN_PROXY_EMULATOR_BUILD_DELAY=0.2
        # (not the 3 s default) governs how fast it builds
        async with session.get(f"{url}/api/nhn/subnet/", headers=headers) as response:
            subnets = (await response.json())["vpcsubnets"]
        subnet = next(item for item in subnets if item["name"] == "default")
        async with session.get(f"{url}/api/nhn/compute/keypairs/", headers=headers) as response:
            keypair = (await response.json())["keypairs"][0]["keypair"]["name"]
        body = {
            "name": "demo-01",
            "image_id": next(i["id"] for i in images if "ubuntu" in i["name"].lower()),
            "flavor_id": next(f["id"] for f in flavors if f["name"] == "m2.c2m4"),
            "subnet_id": subnet["id"],
            "keypair_name": keypair,
        }
        create = f"{url}/api/nhn/compute/instances/create/"
        async with session.post(create, json=body, headers=headers) as response:
            assert response.status == 201, await response.text()
            server_id = (await response.json())["server"]["id"]
        deadline = time.monotonic() + 2
        status = "BUILD"
        while status != "ACTIVE" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            instance = f"{url}/api/nhn/compute/instances/{server_id}"
            async with session.get(instance, headers=headers) as response:
                status = (await response.json())["server"]["status"]
        assert status == "ACTIVE"

        async with session.get(f"{url}/swagger/") as response:
            assert response.status == 200
            assert "text/html" in response.headers["Content-Type"]
            assert "swagger" in (await response.text()).lower()
        async with session.get(f"{url}/api/docs/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
        assert document["openapi"].startswith("3.")
        assert "/api/nhn/compute/flavors/" in document["paths"]
    finally:
        code = await child.stop()
    assert code == 0, child.describe()
    assert DEMO_PASSWORD not in child.stderr_path.read_text()


async def test_emulator_prints_the_endpoints_block(tmp_path: Path, session) -> None:
    port = free_port()
    env = clean_environment(NHN_PROXY_SERVER_EVENT_LOOP="asyncio")  # the emulator honours it
    child = await start(tmp_path, "emulator", "--port", str(port), env=env)
    try:
        lines = await child.read_until(lambda line: line.startswith("block_storage = "))
        assert lines[0] == (
            f"NHN Cloud emulator listening on http://127.0.0.1:{port} (event loop: asyncio)"
        )
        start_at = lines.index("[upstream.endpoints]")
        block = lines[start_at + 1 :]
        services = set(load_settings(environ={}).upstream.endpoints)  # config/default.toml
        assert len(block) == len(services)
        endpoints = {}
        for line in block:
            match = ENDPOINT_LINE.match(line)
            assert match, f'not a key = "url" line: {line!r}'
            endpoints[match["key"]] = match["url"]
        assert set(endpoints) == services
        # the block is valid TOML with the same values, and the endpoints answer
        parsed = tomllib.loads("\n".join(lines[start_at:]))
        assert parsed == {"upstream": {"endpoints": endpoints}}
        base = f"http://127.0.0.1:{port}"
        assert all(url.startswith(base) for url in endpoints.values())
        assert all("{region}" in url for key, url in endpoints.items() if key != "identity")
        body = {
            "auth": {
                "tenantId": DEMO_TENANT_ID,
                "passwordCredentials": {"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
            }
        }
        async with session.post(f"{endpoints['identity']}/v2.0/tokens", json=body) as response:
            assert response.status == 200
            token = (await response.json())["access"]["token"]["id"]
        compute = endpoints["compute"].replace("{region}", "kr2")
        async with session.get(
            f"{compute}/v2/{DEMO_TENANT_ID}/flavors", headers={"X-Auth-Token": token}
        ) as response:
            assert response.status == 200
    finally:
        code = await child.stop()
    assert code == 0, child.describe()


def test_serve_help_names_the_workers_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nhn_proxy", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_environment(),
        timeout=30,
    )
    assert done.returncode == 0
    assert "--workers N" in done.stdout and "tasks.redis_url" in done.stdout

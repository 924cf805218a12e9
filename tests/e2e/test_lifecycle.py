"""The proxy process's own life: a graceful stop on SIGTERM (requests in flight finish within
`server.shutdown_timeout`, new connections are refused, exit code 0; past the grace period
the rest is cut and the process still exits) and a fast, one-line failure at start-up on a
bad settings file, an invalid endpoint template or a broken third-party plugin.

Every proxy here is a real `python -m proxy serve --config FILE` process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SERVE = (sys.executable, "-m", "nhn_proxy", "serve")
TENANT = "04a2c5b7de7e4d66b970ad950081a7c3"
TOKEN = "e42a092ed6ee4d99949bf25f5f6ecc60"
HEADERS = {"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2"}
START_TIMEOUT = 15.0
FAIL_FAST = 3.0  # seconds a start-up failure may take, interpreter start included
VPCS = {
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
PUBLIC_VPCS = {
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


def clean_environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NHN_PROXY_")}
    env.update(extra)
    return env


# -- a slow NHN ----------------------------------------------------------------------------


@dataclass
class SlowNhn:
    """A fake NHN whose answers take `delay` seconds; counts the calls it has received."""

    delay: float
    received: int = 0
    answered: int = 0
    base: str = ""
    app: web.Application = field(default_factory=web.Application)

    def __post_init__(self) -> None:
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.received += 1
        await asyncio.sleep(self.delay)
        self.answered += 1
        if request.path == "/identity/v2.0/tokens":
            return web.json_response(
                {
                    "access": {
                        "token": {
                            "id": TOKEN,
                            "expires": "2030-01-15T12:00:00Z",
                            "tenant": {"id": TENANT},
                        },
                        "serviceCatalog": [],
                    }
                }
            )
        if request.path == "/kr2/network/v2.0/vpcs":
            return web.json_response(VPCS)
        return web.json_response({"itemNotFound": {"code": 404, "message": "no"}}, status=404)

    async def wait_received(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.received < count:
            assert time.monotonic() < deadline, f"NHN saw {self.received} of {count} calls"
            await asyncio.sleep(0.01)


async def serve_slow_nhn(delay: float) -> tuple[SlowNhn, web.AppRunner]:
    fake = SlowNhn(delay)
    # its own handlers may still sleep when the test ends: do not wait for them long
    runner = web.AppRunner(fake.app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.base = f"http://127.0.0.1:{port}"
    return fake, runner


def proxy_settings(base: str, shutdown_timeout: float) -> str:
    return (
        f'[server]\nhost = "127.0.0.1"\nshutdown_timeout = {shutdown_timeout}\n\n'
        "[upstream]\ntimeout = 60\nretries = 0\n\n"
        '[logging]\nlevel = "WARNING"\n\n'
        f'[upstream.endpoints]\nidentity = "{base}/identity"\n'
        f'compute = "{base}/{{region}}/compute"\nimage = "{base}/{{region}}/image"\n'
        f'network = "{base}/{{region}}/network"\n'
        f'kubernetes = "{base}/{{region}}/kubernetes"\n'
        f'object_storage = "{base}/{{region}}/object-storage"\n'
    )


@dataclass
class ProxyProcess:
    process: subprocess.Popen
    port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


async def start_proxy(tmp_path: Path, base: str, shutdown_timeout: float) -> ProxyProcess:
    config = tmp_path / "proxy.toml"
    config.write_text(proxy_settings(base, shutdown_timeout))
    port = free_port()
    stderr_path = tmp_path / "proxy.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*SERVE, "--config", str(config), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=clean_environment(),
            cwd=ROOT,
        )
    proxy = ProxyProcess(process, port, stderr_path)
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{proxy.url}/healthz") as response:
                    if response.status == 200:
                        return proxy
            except aiohttp.ClientConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"proxy did not start: {proxy.stderr()[-2000:]}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def processes() -> AsyncIterator[list[subprocess.Popen]]:
    """Children to kill should a test fail half-way."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def wait_exit(process: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        assert time.monotonic() < deadline, f"the proxy did not exit within {timeout}s"
        await asyncio.sleep(0.02)
    return process.returncode


def connect_refused(port: int) -> bool:
    """True when a new TCP connection to the port is refused."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


async def in_flight_calls(session: aiohttp.ClientSession, url: str, count: int):
    """`count` GET /vpc/ and one POST /token/, each on its own connection."""

    async def get_vpcs() -> tuple[int, object]:
        async with session.get(f"{url}/api/nhn/vpc/", headers=HEADERS) as response:
            return response.status, await response.json()

    async def post_token() -> tuple[int, object]:
        body = {"tenant_id": TENANT, "username": "user@example.com", "password": "pw-123456"}
        async with session.post(f"{url}/api/nhn/token/", json=body) as response:
            return response.status, await response.json()

    calls = [asyncio.ensure_future(get_vpcs()) for _ in range(count)]
    calls.append(asyncio.ensure_future(post_token()))
    return calls


# -- graceful shutdown ---------------------------------------------------------------------


async def test_sigterm_lets_in_flight_requests_finish_refuses_new_ones_and_exits_0(
    tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    delay, grace, in_flight = 1.5, 5.0, 8
    fake, fake_runner = await serve_slow_nhn(delay)
    try:
        proxy = await start_proxy(tmp_path, fake.base, shutdown_timeout=grace)
        processes.append(proxy.process)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            calls = await in_flight_calls(session, proxy.url, in_flight)
            await fake.wait_received(in_flight + 1)  # every call is now waiting on NHN
            signalled = time.monotonic()
            proxy.process.send_signal(signal.SIGTERM)

            # new connections are refused at once, while the calls are still in flight
            while not connect_refused(proxy.port):
                assert time.monotonic() - signalled < 1.0, "still accepting after SIGTERM"
                await asyncio.sleep(0.01)
            refused_after = time.monotonic() - signalled
            assert fake.answered == 0 and not any(call.done() for call in calls)
            assert proxy.process.poll() is None

            results = await asyncio.wait_for(asyncio.gather(*calls), timeout=grace + 5)
        code = await wait_exit(proxy.process, timeout=grace + 5)
        stopped_after = time.monotonic() - signalled
    finally:
        await fake_runner.cleanup()

    *vpcs, token = results
    assert vpcs == [(200, PUBLIC_VPCS)] * in_flight
    assert token == (
        200,
        {
            "token": TOKEN,
            "tenant_id": TENANT,
            "expires_at": "2030-01-15T12:00:00Z",
            "storage_account": None,
        },
    )
    assert code == 0, proxy.stderr()[-2000:]
    assert stopped_after < grace, f"exit took {stopped_after:.2f}s"
    assert "Traceback" not in proxy.stderr()
    print(
        f"graceful stop: refused new connections {refused_after * 1000:.0f} ms after SIGTERM, "
        f"{in_flight + 1} in-flight calls answered 200, exit 0 after {stopped_after:.2f}s"
    )


async def test_sigterm_cuts_requests_still_in_flight_after_the_grace_period_and_exits_0(
    tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    grace, in_flight = 2.0, 4
    fake, fake_runner = await serve_slow_nhn(delay=30.0)  # longer than any grace
    try:
        proxy = await start_proxy(tmp_path, fake.base, shutdown_timeout=grace)
        processes.append(proxy.process)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            calls = await in_flight_calls(session, proxy.url, in_flight)
            await fake.wait_received(in_flight + 1)
            signalled = time.monotonic()
            proxy.process.send_signal(signal.SIGTERM)
            code = await wait_exit(proxy.process, timeout=grace + 5)
            stopped_after = time.monotonic() - signalled
            results = await asyncio.wait_for(
                asyncio.gather(*calls, return_exceptions=True), timeout=5
            )
    finally:
        await fake_runner.cleanup()

    assert code == 0, proxy.stderr()[-2000:]
    # the calls had their grace period, no more (aiohttp alone would wait twice as long),
    # then were cut: no answer, the connection closed. (aiohttp's client retries a GET once
    # on a dropped connection; that retry is refused, as every new connection now is.)
    assert grace * 0.9 <= stopped_after < grace + 1.5, f"exit took {stopped_after:.2f}s"
    assert all(isinstance(result, aiohttp.ClientError) for result in results), results
    assert fake.answered == 0
    print(
        f"grace period over: {in_flight + 1} calls cut "
        f"({sorted({type(result).__name__ for result in results})}), "
        f"exit 0 after {stopped_after:.2f}s"
    )


# -- start-up fails fast -------------------------------------------------------------------


def write_plugin(site: Path, name: str, source: str) -> None:
    """A third-party plugin on `site`, registered through the `nhn_proxy.plugins` entry point
    group the way an installed distribution registers it (a `.dist-info` folder)."""
    site.mkdir(exist_ok=True)
    (site / f"{name}.py").write_text(source)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nhn_proxy.plugins]\n{name} = {name}\n")


BROKEN_PLUGINS = {
    # the hook name is misspelled (nhn_proxy_route instead of nhn_proxy_routes)
    "misspelt_hook": (
        "from proxy.hookspecs import hookimpl\n\n\n"
        "@hookimpl\ndef nhn_proxy_route(settings):\n    return []\n",
        "plugin misspelt_hook is invalid: unknown hook 'nhn_proxy_route'",
    ),
    # raises while imported; its message does not tell which plugin it is
    "raises_on_import": (
        'raise RuntimeError("the frobnicator is not configured")\n',
        "RuntimeError: the frobnicator is not configured",
    ),
}

STARTUP_FAILURES = {
    "invalid_toml": ("[server\nport = 1\n", "is not valid TOML"),
    "unknown_key": ('[server]\nhots = "127.0.0.1"\n', "unknown setting server.hots"),
    "wrong_type": ('[server]\nshutdown_timeout = "soon"\n', "server.shutdown_timeout must be"),
    "ftp_endpoint": (
        '[upstream.endpoints]\ncompute = "ftp://files.example.com/{region}"\n',
        "upstream.endpoints.compute: 'ftp://files.example.com/{region}' is not an absolute",
    ),
    "tenant_placeholder": (
        '[upstream.endpoints]\ncompute = "https://{region}.example.com/v2/{tenant}"\n',
        "upstream.endpoints.compute: the only placeholder allowed is {region}",
    ),
}


def serve_and_fail(tmp_path: Path, config: str, env: dict[str, str]) -> tuple[float, str, str]:
    """Start `nhn-proxy serve` on a port this test holds open: had the proxy gone as far as
    listening, it would die of `address already in use` instead of the expected line."""
    path = tmp_path / "proxy.toml"
    path.write_text(config)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [*SERVE, "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=30,
        )
        took = time.monotonic() - started
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    return took, done.stdout, done.stderr


def check_one_line(took: float, stdout: str, stderr: str, expected: str) -> None:
    assert stdout == "", "nothing is printed on stdout (no banner: it never listened)"
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("nhn-proxy: ") and expected in lines[0], lines[0]
    assert "address already in use" not in stderr.lower()
    assert took < FAIL_FAST, f"took {took:.2f}s"


@pytest.mark.parametrize("case", sorted(STARTUP_FAILURES))
def test_a_bad_settings_file_or_endpoint_fails_fast_with_one_line(
    tmp_path: Path, case: str
) -> None:
    config, expected = STARTUP_FAILURES[case]
    took, stdout, stderr = serve_and_fail(tmp_path, config, clean_environment())
    check_one_line(took, stdout, stderr, expected)
    print(f"{case}: exit 2 in {took:.2f}s: {stderr.strip()}")


def serve_with_plugin(tmp_path: Path, name: str) -> tuple[float, str, str]:
    site = tmp_path / "site"
    write_plugin(site, name, BROKEN_PLUGINS[name][0])
    env = clean_environment(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    return serve_and_fail(tmp_path, "", env)


@pytest.mark.parametrize("name", sorted(BROKEN_PLUGINS))
def test_a_broken_plugin_fails_fast_with_one_line(tmp_path: Path, name: str) -> None:
    took, stdout, stderr = serve_with_plugin(tmp_path, name)
    check_one_line(took, stdout, stderr, BROKEN_PLUGINS[name][1])
    print(f"{name}: exit 2 in {took:.2f}s: {stderr.strip()}")


@pytest.mark.parametrize("name", ["misspelt_hook", "raises_on_import"])
def test_the_one_line_names_the_broken_plugin(tmp_path: Path, name: str) -> None:
    _, _, stderr = serve_with_plugin(tmp_path, name)
    assert f"plugin {name}" in stderr, stderr


def test_the_broken_plugin_fixture_is_found_as_an_installed_plugin(tmp_path: Path) -> None:
    """The fixture above really is discovered through the entry point group (so the failures
    come from loading it, not from a typo in the test)."""
    site = tmp_path / "site"
    write_plugin(site, "fine_plugin", "from proxy.hookspecs import hookimpl\n")
    env = clean_environment(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    code = (
        "import json\nfrom importlib.metadata import entry_points\n"
        "print(json.dumps([ep.value for ep in entry_points(group='nhn_proxy.plugins')]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30
    )
    assert "fine_plugin" in json.loads(done.stdout)

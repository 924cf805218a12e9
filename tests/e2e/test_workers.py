"""`nhn-proxy serve --workers 2`, every piece a real process: the supervisor and its forked
workers on one port (SO_REUSEPORT), a real `redis-server` sharing the tasks, and the emulator
(`nhn-proxy emulator`) upstream. Which worker answered is read from the access-log lines
(each carries `worker=N pid=P`) and from the supervisor's children in /proc; every request
that must reach both workers goes over a fresh connection, which the kernel hashes to one of
the listening sockets.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nhn_proxy import emulator
from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_TENANT_ID, DEMO_USERNAME
from tests.e2e.conftest import API, free_port, settings_toml
from tests.e2e.test_lifecycle import BROKEN_PLUGINS, write_plugin
from tests.e2e.test_replicas import (
    BUILD_DELAY,
    Proxy,
    call,
    clean_env,
    compute_headers,
    issue_token,
    spawn,
    start_task,
    stop_all,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
START_TIMEOUT = 15.0  # seconds until the banner
STEP_TIMEOUT = 5.0  # seconds any one expected change may take
STOP_TIMEOUT = 10.0  # seconds the supervisor may take to exit after SIGTERM
FRESH_CONNECTIONS = 40  # both workers answer among 40 connections, but for 2 ** -39
ACCESS_LINE = re.compile(
    r" nhn_proxy\.access request .*path=(?P<path>\S+) status=(?P<status>\d+) .*"
    r"worker=(?P<worker>\d+) pid=(?P<pid>\d+)$"
)
BANNER_PIDS = re.compile(r"Processes: +(?P<count>\d+) workers \(pids (?P<pids>[\d, ]+)\)")


# -- the processes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nhn-proxy emulator` in its own process for the module; instances build slowly, so a
    task stays running."""
    port = free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    env = clean_env(NHN_PROXY_EMULATOR_BUILD_DELAY=str(BUILD_DELAY))
    process = spawn(["emulator", "--host", "127.0.0.1", "--port", str(port)], log, env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the emulator did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_all([process])


@dataclass
class Supervised:
    """One `nhn-proxy serve --workers N` process (the supervisor), its output in files."""

    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def describe(self) -> str:
        return f"stdout:\n{self.out()[-2000:]}\nstderr:\n{self.err()[-3000:]}"

    def banner_pids(self) -> list[int]:
        match = BANNER_PIDS.search(self.out())
        assert match, self.describe()
        return [int(pid) for pid in match["pids"].split(", ")]

    def served_by(self, path: str | None = None) -> dict[int, int]:
        """Requests answered per worker pid (of `path` only, when given), from the log."""
        counts: dict[int, int] = {}
        for line in self.err().splitlines():
            match = ACCESS_LINE.search(line)
            if match and (path is None or match["path"] == path):
                counts[int(match["pid"])] = counts.get(int(match["pid"]), 0) + 1
        return counts


class Launcher:
    """Starts supervisors for one test; whatever is left is killed at the end, pass or fail."""

    def __init__(self, tmp_path: Path, emulator_url: str, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.emulator_url = emulator_url
        self.redis_url = redis_url
        self.processes: list[subprocess.Popen[bytes]] = []

    def settings(self, *, redis_url: str | None = None, port: int | None = None) -> Path:
        """A settings file: the emulator upstream, Redis with a fresh key prefix, INFO logs."""
        tasks = {"key_prefix": f"e2e-workers-{uuid.uuid4().hex}", "lease_ttl": 2.0}
        if redis_url != "":
            tasks["redis_url"] = redis_url or self.redis_url
        path = self.tmp_path / f"proxy-{uuid.uuid4().hex[:8]}.toml"
        path.write_text(
            settings_toml(
                emulator.endpoints(self.emulator_url),
                timeout=5.0,
                sections={
                    "server": {
                        "host": "127.0.0.1",
                        "port": port or free_port(),
                        "shutdown_timeout": 5,
                    },
                    "tasks": tasks,
                    "logging": {"level": "INFO", "format": "text"},
                },
            )
        )
        return path

    def start(self, settings: Path, *args: str, env: dict[str, str] | None = None) -> Supervised:
        name = uuid.uuid4().hex[:8]
        stdout, stderr = self.tmp_path / f"{name}.out", self.tmp_path / f"{name}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "nhn_proxy", "serve", "--config", str(settings), *args],
                stdout=out,
                stderr=err,
                env=env or clean_env(),
                cwd=ROOT,
            )
        self.processes.append(process)
        port = int(re.search(r"port = (\d+)", settings.read_text())[1])  # type: ignore[index]
        return Supervised(process, port, stdout, stderr)

    def serve(self, *args: str, **settings: Any) -> Supervised:
        return self.start(self.settings(**settings), "--workers", str(WORKERS), *args)

    def fails(self, settings: Path, *args: str, env: dict[str, str] | None = None):
        """Run a `serve` that must fail: its exit status, stdout and stderr."""
        done = subprocess.run(
            [sys.executable, "-m", "nhn_proxy", "serve", "--config", str(settings), *args],
            capture_output=True,
            text=True,
            env=env or clean_env(),
            cwd=ROOT,
            timeout=30,
        )
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def launcher(tmp_path: Path, emulator_url: str, redis_server: str) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path, emulator_url, redis_server)
    try:
        yield launcher
    finally:
        stop_all(launcher.processes)


@pytest.fixture
async def fresh() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens a new connection for every request."""
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def wait_banner(supervised: Supervised) -> str:
    """Until the banner is printed (by the supervisor: once every worker serves)."""
    deadline = time.monotonic() + START_TIMEOUT
    while "Processes:" not in supervised.out():
        if supervised.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no banner:\n{supervised.describe()}")
        await asyncio.sleep(0.05)
    return supervised.out()


async def wait_workers(supervised: Supervised) -> list[int]:
    """Until the supervisor's banner; the workers' pids it names."""
    await wait_banner(supervised)
    return supervised.banner_pids()


def children(pid: int) -> set[int]:
    """The live (not zombie) child processes of `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(parent) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


async def wait_until(
    predicate: Any, what: str, timeout: float = STEP_TIMEOUT, supervised: Supervised | None = None
) -> None:
    """Until `predicate()`; a timeout fails with the supervisor's output, when given."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = f"\n{supervised.describe()}\nchildren now: " if supervised else ""
            if supervised:
                detail += str(children(supervised.process.pid))
            raise AssertionError(f"not within {timeout} s: {what}{detail}")
        await asyncio.sleep(0.05)


async def stop(supervised: Supervised, workers: list[int]) -> None:
    """SIGTERM to the supervisor: it exits 0 and no worker is left."""
    supervised.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(supervised.process.wait, STOP_TIMEOUT)
    assert code == 0, supervised.describe()
    assert all(gone(pid) for pid in workers), supervised.describe()
    assert "Traceback" not in supervised.err(), supervised.describe()


async def healthz_on_fresh_connections(fresh: aiohttp.ClientSession, url: str) -> list[str]:
    """FRESH_CONNECTIONS GET /healthz, each on a new connection; all must answer 200. Their
    X-Request-IDs."""
    ids = []
    for _ in range(FRESH_CONNECTIONS):
        async with fresh.get(f"{url}/healthz") as response:
            assert response.status == 200
            ids.append(response.headers["X-Request-ID"])
    return ids


# -- the tests --------------------------------------------------------------------------------


async def test_two_workers_share_the_port_and_the_tasks(
    launcher: Launcher, session: aiohttp.ClientSession, fresh: aiohttp.ClientSession
) -> None:
    supervised = launcher.serve()
    workers = await wait_workers(supervised)
    assert len(set(workers)) == WORKERS
    assert children(supervised.process.pid) == set(workers)  # the supervisor forked them
    out = supervised.out()
    assert out.count("listening on") == 1, out  # one banner, by the supervisor
    assert f"listening on {supervised.url}/api/nhn" in out
    assert re.search(r"event loop: (uvloop|asyncio)\b", out), out

    # fresh connections are spread over both workers; request ids stay unique across them
    request_ids = await healthz_on_fresh_connections(fresh, supervised.url)
    assert len(set(request_ids)) == len(request_ids)
    served = supervised.served_by("/healthz")
    assert set(served) == set(workers), served

    # a task started through one connection is read through many fresh ones: both workers
    headers = compute_headers(await issue_token(session, Proxy(supervised.url)))
    task, _ = await start_task(session, Proxy(supervised.url), headers)
    task_path = f"{API}/tasks/{task['id']}/"
    for _ in range(FRESH_CONNECTIONS):
        async with fresh.get(supervised.url + task_path, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["task"]["id"] == task["id"]
    served = supervised.served_by(task_path)
    assert set(served) == set(workers), served
    listing = await call(session, "GET", f"{supervised.url}{API}/tasks/", headers)
    assert [item["id"] for item in listing.expect(200)["tasks"]] == [task["id"]]

    # a second nhn-proxy on the same port fails loudly instead of joining the workers
    code, stdout, stderr = launcher.fails(
        launcher.settings(port=supervised.port), "--workers", str(WORKERS)
    )
    assert (code, stdout) == (2, ""), stderr
    assert stderr.startswith("nhn-proxy: ") and "already in use" in stderr, stderr
    assert children(supervised.process.pid) == set(workers)

    await stop(supervised, workers)


async def test_a_killed_worker_is_restarted_and_the_port_keeps_answering(
    launcher: Launcher, fresh: aiohttp.ClientSession
) -> None:
    supervised = launcher.serve()
    workers = await wait_workers(supervised)
    killed, survivor = workers
    os.kill(killed, signal.SIGKILL)
    await wait_until(lambda: gone(killed), f"worker {killed} gone")

    # the port keeps answering, from the survivor, while the supervisor waits to restart
    await healthz_on_fresh_connections(fresh, supervised.url)
    await wait_until(
        lambda: f"(pid {killed}) was killed by SIGKILL" in supervised.err(),
        "the death logged",
        supervised=supervised,
    )
    death = next(line for line in supervised.err().splitlines() if f"(pid {killed})" in line)
    assert " ERROR nhn_proxy.supervisor " in death and "starting it again" in death, death

    # a new worker takes the place of the dead one and gets connections too
    await wait_until(
        lambda: "serving again" in supervised.err(), "the worker restarted", supervised=supervised
    )
    now = children(supervised.process.pid)
    assert survivor in now and killed not in now and len(now) == WORKERS, now
    (restarted,) = now - {survivor}
    for _ in range(FRESH_CONNECTIONS):
        async with fresh.get(f"{supervised.url}/healthz") as response:
            assert response.status == 200
        if restarted in supervised.served_by():
            break
    assert restarted in supervised.served_by(), supervised.describe()
    assert supervised.out().count("listening on") == 1  # no second banner

    await stop(supervised, [survivor, restarted])


async def test_sigterm_lets_every_worker_finish_its_requests_and_exits_0(
    launcher: Launcher, fresh: aiohttp.ClientSession, emulator_url: str
) -> None:
    supervised = launcher.serve()
    workers = await wait_workers(supervised)
    slow = 1.0  # seconds each token call takes at the emulator
    calls = 12  # concurrent, each on its own connection: both workers get some, but for 2**-11
    fault = {"service": "identity", "method": "POST", "action": "latency", "seconds": slow}
    async with fresh.post(f"{emulator_url}/_emulator/faults", json={**fault, "times": calls}):
        pass
    body = {"tenant_id": DEMO_TENANT_ID, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}

    async def token() -> int:
        async with fresh.post(f"{supervised.url}{API}/token/", json=body) as response:
            await response.read()
            return response.status

    try:
        in_flight = [asyncio.create_task(token()) for _ in range(calls)]
        await asyncio.sleep(slow / 3)  # every call is now waiting for the emulator
        supervised.process.send_signal(signal.SIGTERM)
        statuses = await asyncio.gather(*in_flight)
    finally:
        async with fresh.delete(f"{emulator_url}/_emulator/faults"):
            pass
    assert statuses == [200] * calls  # each worker finished its calls before it stopped
    assert set(supervised.served_by(f"{API}/token/")) == set(workers)
    await stop(supervised, workers)


async def test_emulator_with_workers_is_one_shared_emulator(
    launcher: Launcher, session: aiohttp.ClientSession, fresh: aiohttp.ClientSession
) -> None:
    supervised = launcher.serve("--emulator")
    workers = await wait_workers(supervised)
    assert "the embedded NHN Cloud emulator" in supervised.out()
    helpers = children(supervised.process.pid) - set(workers)
    assert len(helpers) == 1, children(supervised.process.pid)  # the one emulator process

    # a token the emulator issued through one worker is valid through both: one cloud
    headers = compute_headers(await issue_token(session, Proxy(supervised.url)))
    for _ in range(FRESH_CONNECTIONS):
        async with fresh.get(f"{supervised.url}{API}/compute/flavors/", headers=headers) as got:
            assert got.status == 200, await got.text()
    served = supervised.served_by(f"{API}/compute/flavors/")
    assert set(served) == set(workers), served

    await stop(supervised, [*workers, *helpers])


async def test_several_workers_without_redis_exit_2_with_the_reason(launcher: Launcher) -> None:
    code, stdout, stderr = launcher.fails(launcher.settings(redis_url=""), "--workers", "2")
    assert (code, stdout) == (2, "")
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("nhn-proxy: server.workers = 2 (--workers) needs tasks.redis_url")
    assert "could not be read or streamed through another" in stderr


@pytest.mark.parametrize("workers", ["0", "-1"])
async def test_a_worker_count_below_1_exits_2(launcher: Launcher, workers: str) -> None:
    code, stdout, stderr = launcher.fails(launcher.settings(), "--workers", workers)
    assert (code, stdout) == (2, "")
    assert stderr == f"nhn-proxy: server.workers={workers} is out of range\n"


async def test_a_taken_port_exits_2(launcher: Launcher) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, stdout, stderr = launcher.fails(launcher.settings(port=port), "--workers", "2")
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"nhn-proxy: server.port {port} on 127.0.0.1 is already in use (another nhn-proxy?): "
        "stop it or choose another port\n"
    )


async def test_workers_that_all_fail_at_start_exit_2_with_one_line(
    launcher: Launcher, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    write_plugin(site, "misspelt_hook", BROKEN_PLUGINS["misspelt_hook"][0])
    env = clean_env(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    started = time.monotonic()
    code, stdout, stderr = launcher.fails(launcher.settings(), "--workers", "2", env=env)
    assert (code, stdout) == (2, ""), stderr
    (line,) = stderr.splitlines()
    assert line.startswith("nhn-proxy: ") and BROKEN_PLUGINS["misspelt_hook"][1] in line, stderr
    assert time.monotonic() - started < 5  # no restarting loop


async def test_one_worker_is_the_single_process_server(
    launcher: Launcher, session: aiohttp.ClientSession
) -> None:
    """`--workers 1` (the default) forks nothing: the process started serves itself."""
    supervised = launcher.start(launcher.settings(redis_url=""), "--workers", "1")
    out = await wait_banner(supervised)
    assert f"Processes:    1 (pid {supervised.process.pid})" in out
    assert children(supervised.process.pid) == set()
    (await call(session, "GET", f"{supervised.url}/healthz")).expect(200)
    await stop(supervised, [])

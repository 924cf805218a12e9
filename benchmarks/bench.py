"""Side-by-side benchmark: nhn-proxy against the upstream alone and an nginx pass-through hop.

    .venv/bin/python -m benchmarks.bench [--duration S] [--connections C] [--smoke]
                                         [--output DIR]

Writes `RESULTS.md` and `results.json` into `--output` (default: this directory). It
measures and reports; it never fails on a target. Its exit status is 1 only when a scenario
could not run at all (a broken set-up), so that the smoke test notices.
See benchmarks/README.md for what each scenario means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import fixtures as fx
from benchmarks import loadgen, upstream
from benchmarks.loadgen import Load, Request
from benchmarks.procstat import Watch
from benchmarks.report import write_reports

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START_TIMEOUT = 30.0
HALF_CYCLE_MS = 5  # pause of each connection in the half-rate runs

# ---------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_call(base_url: str, request: Request, timeout: float = 30.0) -> tuple[int, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        body = request.body.encode() if request.body is not None else None
        connection.request(request.method, request.path, body=body, headers=request.headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.01)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def command_version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].split("Copyright")[0].strip() if text else None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_revision() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            # the reports this run rewrites do not make the measured code "changed"
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/RESULTS.md",
                ":!benchmarks/results.json",
                ":!benchmarks/PROFILE.md",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{head}{' (with uncommitted changes)' if dirty else ''}" if head else None


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


# ---------------------------------------------------------------------------- set-up


@dataclass
class Plan:
    duration: int
    connections: int
    warmup: int
    smoke: bool
    output: Path
    repeats: int  # runs of the headline max-throughput scenarios; the median is kept
    transfer_bytes: int  # size of each object upload and download of the streaming rows
    loadgen: str  # "wrk" or "aiohttp"
    upstream: str  # "nginx" or "aiohttp"
    nginx: str | None
    taskset: bool
    proxy_cores: list[int]
    proxy2_cores: list[int]
    load_cores: list[int]
    notes: list[str] = field(default_factory=list)

    def pinning(self) -> str:
        if not self.taskset:
            return "not pinned (taskset is missing or the machine has one core)"
        return (
            f"nhn-proxy / nginx pass-through hop on core {_cores(self.proxy_cores)}; "
            f"upstream and load generator on core {_cores(self.load_cores)}"
            + (" (they share it: the machine has 2 cores)" if len(self.load_cores) == 1 else "")
            + f"; 2 workers on cores {_cores(self.proxy2_cores)}"
        )


def _cores(cores: list[int]) -> str:
    return ",".join(str(core) for core in cores)


def make_plan(args: argparse.Namespace) -> Plan:
    cores = sorted(os.sched_getaffinity(0))
    has_taskset = shutil.which("taskset") is not None and len(cores) > 1
    if len(cores) >= 4:
        proxy, proxy2, load = cores[:1], cores[:2], cores[2:]
    elif len(cores) >= 2:
        proxy, proxy2, load = cores[:1], cores[:2], cores[1:]
    else:
        proxy = proxy2 = load = cores
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(path, os.X_OK)), None
    )
    use_wrk = args.loadgen in ("auto", "wrk") and shutil.which("wrk") is not None
    if args.loadgen == "wrk" and not use_wrk:
        raise SystemExit("bench: --loadgen wrk asked for, but wrk is not installed")
    use_nginx = args.upstream in ("auto", "nginx") and nginx is not None
    if args.upstream == "nginx" and not use_nginx:
        raise SystemExit("bench: --upstream nginx asked for, but nginx is not installed")
    smoke = args.smoke
    duration = args.duration if args.duration is not None else (1 if smoke else 10)
    connections = args.connections if args.connections is not None else (4 if smoke else 32)
    warmup = args.warmup if args.warmup is not None else (0 if smoke else 2)
    plan = Plan(
        duration=max(1, duration),
        connections=max(1, connections),
        warmup=max(0, warmup),
        smoke=smoke,
        repeats=max(1, args.repeats if args.repeats is not None else (1 if smoke else 3)),
        transfer_bytes=max(1, args.transfer_mb if args.transfer_mb else (16 if smoke else 1024))
        * 1024
        * 1024,
        output=args.output,
        loadgen="wrk" if use_wrk else "aiohttp",
        upstream="nginx" if use_nginx else "aiohttp",
        nginx=nginx,
        taskset=has_taskset,
        proxy_cores=proxy,
        proxy2_cores=proxy2,
        load_cores=load,
    )
    if not use_wrk:
        plan.notes.append(
            "the bundled aiohttp load generator was used (wrk is not installed, or "
            "--loadgen aiohttp); it is much slower than wrk and may be the bottleneck of the "
            "fast scenarios."
        )
    if not use_nginx:
        plan.notes.append(
            "the canned upstream is a minimal aiohttp app (nginx is not installed, or "
            "--upstream aiohttp)"
            + ("." if nginx else "; the nginx pass-through scenario is skipped.")
        )
    return plan


class Processes:
    """Every process the benchmark starts, stopped at the end (by pid, never by name)."""

    def __init__(self, plan: Plan, work: Path) -> None:
        self.plan = plan
        self.work = work
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, command: list[str], cores: list[int]) -> subprocess.Popen:
        if self.plan.taskset:
            command = ["taskset", "-c", _cores(cores), *command]
        env = {key: value for key, value in os.environ.items() if not key.startswith("NHN_PROXY")}
        env["PYTHONUNBUFFERED"] = "1"
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        log.close()
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ValueError):
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)

    def log_tail(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.work / f"{name}.log").read_text(errors="replace")[-1500:]
        return ""


@dataclass
class Server:
    """A process answering HTTP on loopback."""

    name: str
    process: subprocess.Popen
    port: int
    startup_s: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def start_nginx(procs: Processes, name: str, conf_text: str, port: int, cores: list[int]):
    directory = procs.work / name
    directory.mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(conf_text)
    assert procs.plan.nginx is not None
    command = [
        procs.plan.nginx,
        "-e",
        str(directory / "startup-error.log"),
        "-p",
        str(directory),
        "-c",
        str(conf),
    ]
    process = procs.start(name, command, cores)
    try:
        wait_for_port(port, process)
    except RuntimeError as exc:
        error = (directory / "error.log").read_text() if (directory / "error.log").exists() else ""
        raise RuntimeError(f"{name}: {exc}\n{procs.log_tail(name)}{error[-1500:]}") from exc
    return Server(name, process, port)


def start_static_upstream(procs: Processes, canned: fx.Canned) -> Server:
    port = free_port()
    if procs.plan.upstream == "nginx":
        text = upstream.upstream_conf(procs.work / "upstream", canned.data_dir, port, canned.routes)
        return start_nginx(procs, "upstream", text, port, procs.plan.load_cores)
    upstream.write_routes(canned.data_dir, canned.routes)
    command = [
        sys.executable,
        "-m",
        "benchmarks.upstream",
        "--data",
        str(canned.data_dir),
        "--port",
        str(port),
    ]
    process = procs.start("upstream", command, procs.plan.load_cores)
    wait_for_port(port, process)
    return Server("upstream", process, port)


def proxy_config(path: Path, port: int, upstream_base: str, redis_url: str | None = None) -> Path:
    """The proxy's settings file; `redis_url` sets the shared task store (several workers
    need one), else tasks stay in memory."""
    from nhn_proxy.emulator import endpoints

    lines = [
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        "",
        "[logging]",
        'level = "WARNING"',
        "",
        *([f'[tasks]\nredis_url = "{redis_url}"\n'] if redis_url else []),
        "[upstream.endpoints]",
        *(f'{service} = "{template}"' for service, template in endpoints(upstream_base).items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def workers_supported() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "nhn_proxy", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return "--workers" in done.stdout


def start_redis(procs: Processes) -> tuple[subprocess.Popen, str] | None:
    """A throw-away `redis-server` (no persistence) on a free loopback port, on the load
    cores; None when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    process = procs.start("redis", command, procs.plan.load_cores)
    wait_for_port(port, process)
    return process, f"redis://127.0.0.1:{port}/0"


def start_proxy(
    procs: Processes,
    name: str,
    upstream_base: str,
    first: Request,
    *,
    workers: int = 1,
    redis_url: str | None = None,
) -> Server:
    """`nhn-proxy serve --config FILE`; start-up is timed from spawning the process to the
    first `first` request answered 2xx (with workers: the first worker's answer)."""
    port = free_port()
    config = proxy_config(procs.work / f"{name}.toml", port, upstream_base, redis_url)
    command = [sys.executable, "-m", "nhn_proxy", "serve", "--config", str(config)]
    if workers > 1:
        command += ["--workers", str(workers)]
    cores = procs.plan.proxy_cores if workers == 1 else procs.plan.proxy2_cores
    started = time.perf_counter()
    process = procs.start(name, command, cores)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start-up:\n{procs.log_tail(name)}")
        try:
            status, _body = http_call(base, first, timeout=5)
        except OSError:
            status = 0
        if 200 <= status < 300:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer {first.path} (last status {status})")
        time.sleep(0.005)
    startup_s = time.perf_counter() - started
    # the supervisor prints its banner once every worker serves
    log = procs.work / f"{name}.log"
    while "listening on" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: no banner (not every worker serves):\n"
                               f"{procs.log_tail(name)}")  # fmt: skip
        time.sleep(0.01)
    return Server(name, process, port, startup_s=startup_s)


# -------------------------------------------------------------------------- measuring


Check = Callable[[int, bytes], str]


def expect(status: int, what: Callable[[Any], str]) -> Check:
    """A check of one answer: its status, then `what(json)` describes it (or raises)."""

    def check(got: int, body: bytes) -> str:
        if got != status:
            raise AssertionError(f"status {got}, expected {status}: {body[:300]!r}")
        return what(json.loads(body))

    return check


def count_of(key: str | None, expected: int) -> Callable[[Any], str]:
    def describe(document: Any) -> str:
        items = document if key is None else document[key]
        if len(items) != expected:
            raise AssertionError(f"{len(items)} {key or 'items'}, expected {expected}")
        return f"{expected} {key or 'items'}"

    return describe


@dataclass
class Scenario:
    id: str
    group: str
    title: str
    request: str  # what is asked, e.g. "GET /api/nhn/compute/flavors/"
    measured: str  # the process whose CPU and RSS are reported
    record: dict[str, Any] = field(default_factory=dict)


class Bench:
    def __init__(self, plan: Plan, work: Path) -> None:
        self.plan = plan
        self.work = work
        self.procs = Processes(plan, work)
        self.scenarios: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []  # the streaming rows (MB/s, not req/s)
        self.startups: list[dict[str, Any]] = []
        self.errors = 0
        self._runs = 0

    # ------------------------------------------------------------------ running load

    def run_load(self, load: Load) -> dict[str, Any]:
        self._runs += 1
        if self.plan.loadgen == "wrk":
            script = self.work / f"load-{self._runs}.lua"
            script.write_text(loadgen.wrk_script(load))
            command = loadgen.wrk_command(load, script, threads=len(self.plan.load_cores))
        else:
            spec = loadgen.write_spec(load, self.work / f"load-{self._runs}.json")
            command = loadgen.aiohttp_command(sys.executable, spec)
        if self.plan.taskset:
            command = ["taskset", "-c", _cores(self.plan.load_cores), *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=load.duration + load.timeout + 60,
        )
        try:
            return loadgen.parse_output(done.stdout)
        except ValueError as exc:
            raise RuntimeError(f"{exc}: {done.stdout[-800:]} {done.stderr[-800:]}") from exc

    def measure(
        self,
        scenario: Scenario,
        server: Server,
        measured_pid: int,
        load: Load,
        check: Check,
        *,
        warmup: int | None = None,
        extra: dict[str, Any] | None = None,
        repeats: int = 1,
    ) -> dict[str, Any]:
        """Check one answer, warm up, then run `load` while watching `measured_pid`;
        `repeats` times, keeping the run of median throughput (a shared or virtual machine
        drifts by tens of percent from one minute to the next)."""
        record = self._base(scenario)
        record.update(
            {
                "connections": load.connections,
                "delay_ms": load.delay_ms,
                "duration_s": load.duration,
                "tool": self.plan.loadgen,
                **(extra or {}),
            }
        )
        print(f"bench: {scenario.id} ({load.connections} conn, {load.duration} s) ...", flush=True)
        try:
            checks = []
            unique = {repr(request): request for request in load.requests}
            for request in unique.values():
                status, body = http_call(server.base_url, request)
                checks.append(check(status, body))
            record["check"] = "; ".join(dict.fromkeys(checks))
            if warmup is None:  # only the proxy needs warming (its first requests are slower)
                warmup = self.plan.warmup if scenario.measured.startswith("nhn-proxy") else 0
            warm = warmup
            if warm:
                self.run_load(replace(load, duration=warm))
            runs = []
            for _ in range(max(1, repeats)):
                with Watch(measured_pid) as watch:
                    result = self.run_load(load)
                runs.append((result["rps"], result, watch))
            runs.sort(key=lambda run: run[0])
            _rps, result, watch = runs[len(runs) // 2]
            if len(runs) > 1:
                record["runs_rps"] = [round(run[0], 1) for run in runs]
        except Exception as exc:
            record.update({"status": "error", "reason": f"{type(exc).__name__}: {exc}"})
            self.errors += 1
            print(f"bench: {scenario.id} FAILED: {record['reason']}", file=sys.stderr, flush=True)
            self.scenarios.append(record)
            return record
        requests = result["requests"]
        record.update(result)
        record.update(
            {
                "status": "ok",
                "cpu_s": round(watch.cpu_seconds, 3),
                "cpu_ms_per_request": round(watch.cpu_seconds * 1000 / requests, 4)
                if requests
                else None,
                "peak_rss_mb": round(watch.peak_kb / 1024, 1),
            }
        )
        if result["errors"]["total"]:
            record["reason"] = f"{result['errors']['total']} errors: {result['errors']}"
        print(
            f"bench:   {result['rps']:.0f} req/s, p50 {result['latency_ms']['p50']} ms, "
            f"p99 {result['latency_ms']['p99']} ms",
            flush=True,
        )
        self.scenarios.append(record)
        return record

    def skip(self, scenario: Scenario, reason: str) -> dict[str, Any]:
        record = self._base(scenario)
        record.update({"status": "skipped", "reason": reason})
        print(f"bench: {scenario.id} skipped: {reason}", flush=True)
        self.scenarios.append(record)
        return record

    def fail(self, scenario: Scenario, exc: BaseException) -> dict[str, Any]:
        record = self._base(scenario)
        record.update({"status": "error", "reason": f"{type(exc).__name__}: {exc}"})
        self.errors += 1
        print(f"bench: {scenario.id} FAILED: {record['reason']}", file=sys.stderr, flush=True)
        self.scenarios.append(record)
        return record

    def measure_transfer(
        self, record: dict[str, Any], pid: int, url: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        return _measure_transfer(self, record, pid, url, headers)

    def fail_transfer(self, record: dict[str, Any], exc: BaseException) -> dict[str, Any]:
        record.update({"status": "error", "reason": f"{type(exc).__name__}: {exc}"})
        self.errors += 1
        print(f"bench: {record['id']} FAILED: {record['reason']}", file=sys.stderr, flush=True)
        self.transfers.append(record)
        return record

    @staticmethod
    def _base(scenario: Scenario) -> dict[str, Any]:
        return {
            "id": scenario.id,
            "group": scenario.group,
            "title": scenario.title,
            "request": scenario.request,
            "measured": scenario.measured,
        }

    def load(self, base: str, requests: list[Request], **more: Any) -> Load:
        more.setdefault("connections", self.plan.connections)
        more.setdefault("duration", self.plan.duration)
        return Load(base, tuple(requests), **more)

    def half_rate_load(self, base: str, request: Request, target_rps: float) -> tuple[Load, dict]:
        """Connections and per-connection pause that offer about `target_rps`, calibrated
        with one short probe (skipped in a smoke run)."""
        delay = HALF_CYCLE_MS
        connections = max(1, round(target_rps * (delay + 1) / 1000))
        if connections == 1:
            delay = max(1, round(1000 / max(target_rps, 1)) - 1)
        load = self.load(base, [request], connections=connections, delay_ms=delay)
        probe_rps = None
        if not self.plan.smoke:
            probe = self.run_load(replace(load, duration=2))
            probe_rps = probe["rps"]
            if probe_rps > 0:
                connections = max(1, round(connections * target_rps / probe_rps))
                load = replace(load, connections=connections)
        return load, {
            "target_rps": round(target_rps, 1),
            "calibration_probe_rps": round(probe_rps, 1) if probe_rps else None,
        }


# ---------------------------------------------------------------------------- scenarios


def proxy_headers(storage: bool = False) -> dict[str, str]:
    headers = {"X-NHN-Token": fx.TOKEN, "X-NHN-Region": fx.REGION}
    if storage:
        headers["X-NHN-Storage-Account"] = fx.STORAGE_ACCOUNT
    else:
        headers["X-NHN-Tenant-ID"] = fx.TENANT
    return headers


def native_create_body(flavor_id: str) -> str:
    from nhn_proxy.plugins.compute import server_to_native

    return json.dumps(server_to_native(fx.create_request_body(flavor_id), "m2.c1m2"))


def run_all(bench: Bench, canned: fx.Canned) -> dict[str, Any]:
    plan = bench.plan
    procs = bench.procs
    auth = {"X-Auth-Token": fx.TOKEN}
    native = {
        "flavors": Request("GET", fx.FLAVORS_PATH, auth),
        "servers": Request("GET", fx.SERVERS_DETAIL_PATH + "?limit=1000", auth),
        "objects": Request("GET", fx.OBJECTS_PATH + "?format=json&limit=10000", auth),
        "create": Request(
            "POST",
            fx.SERVERS_PATH,
            {**auth, "Content-Type": "application/json"},
            native_create_body(canned.flavor_id),
        ),
    }
    public = {
        "flavors": Request("GET", "/api/nhn/compute/flavors/", proxy_headers()),
        "instances": Request("GET", "/api/nhn/compute/instances/", proxy_headers()),
        "objects": Request(
            "GET", f"/api/nhn/storage/containers/{fx.CONTAINER}/", proxy_headers(storage=True)
        ),
        "create": Request(
            "POST",
            "/api/nhn/compute/instances/create/",
            {**proxy_headers(), "Content-Type": "application/json"},
            json.dumps(fx.create_request_body(canned.flavor_id)),
        ),
    }
    native_checks = {
        "flavors": expect(200, count_of("flavors", canned.flavor_count)),
        "servers": expect(200, count_of("servers", fx.SERVERS)),
        "objects": expect(200, count_of(None, fx.OBJECTS)),
        "create": expect(202, lambda doc: f"server {doc['server']['id']}"),
    }
    public_checks = {
        "flavors": expect(200, count_of("flavors", canned.flavor_count)),
        "instances": expect(200, count_of("servers", fx.SERVERS)),
        "objects": expect(200, count_of("objects", fx.OBJECTS)),
        "create": expect(201, lambda doc: "server {id} {status}".format(**doc["server"])),
    }
    up = start_static_upstream(procs, canned)
    upstream_name = f"upstream ({plan.upstream})"
    results: dict[str, dict[str, Any]] = {}

    # 1. direct to the upstream: the floor
    group = "1. direct to the upstream"
    direct_titles = {
        "flavors": "flavors/detail",
        "servers": "servers/detail (1,000 servers)",
        "objects": "container listing (10,000 objects)",
        "create": "POST servers (202)",
    }
    for key, title in direct_titles.items():
        request = native[key]
        scenario = Scenario(
            f"direct-{key}", group, f"direct: {title}", f"{request.method} {request.path}",
            upstream_name,
        )  # fmt: skip
        results[scenario.id] = bench.measure(
            scenario, up, up.pid, bench.load(up.base_url, [request]), native_checks[key],
            repeats=plan.repeats if key == "flavors" else 1,
        )  # fmt: skip

    # 2. nginx pass-through hop to the same upstream
    scenario = Scenario(
        "nginx-flavors",
        "2. nginx pass-through",
        "nginx proxy_pass: flavors/detail",
        f"GET {fx.FLAVORS_PATH}",
        "nginx hop",
    )
    if plan.nginx is None:
        results[scenario.id] = bench.skip(scenario, "nginx is not installed")
    else:
        try:
            port = free_port()
            hop = start_nginx(
                procs, "hop", upstream.hop_conf(procs.work / "hop", port, up.port), port,
                plan.proxy_cores,
            )  # fmt: skip
        except Exception as exc:
            results[scenario.id] = bench.fail(scenario, exc)
        else:
            results[scenario.id] = bench.measure(
                scenario,
                hop,
                hop.pid,
                bench.load(hop.base_url, [native["flavors"]]),
                native_checks["flavors"],
                repeats=plan.repeats,
            )
            procs.stop(hop.process, signal.SIGQUIT)

    # 2b. the smallest aiohttp proxy on the same core: what the Python stack alone costs
    scenario = Scenario(
        "forwarder-flavors",
        "2. pass-through hops",
        "aiohttp forwarder (no nhn-proxy code): flavors/detail",
        f"GET {fx.FLAVORS_PATH}",
        "aiohttp forwarder",
    )
    forwarder: Server | None = None
    try:
        port = free_port()
        command = [
            sys.executable, "-m", "benchmarks.forwarder", "--upstream", up.base_url,
            "--port", str(port),
        ]  # fmt: skip
        process = procs.start("forwarder", command, plan.proxy_cores)
        wait_for_port(port, process)
    except Exception as exc:
        results[scenario.id] = bench.fail(scenario, exc)
    else:
        forwarder = Server("forwarder", process, port)
        results[scenario.id] = bench.measure(
            scenario,
            forwarder,
            forwarder.pid,
            bench.load(forwarder.base_url, [native["flavors"]]),
            native_checks["flavors"],
            repeats=plan.repeats,
        )
        # kept (idle) for its half-rate latency run next to nhn-proxy's, in section 5

    # 3. nhn-proxy, one worker, translated routes (a fresh process for each route)
    group = "3. nhn-proxy, 1 worker"
    titles = {
        "flavors": "nhn-proxy: GET compute/flavors/",
        "instances": "nhn-proxy: GET compute/instances/ (1,000 servers)",
        "objects": "nhn-proxy: GET storage/containers/{c}/ (10,000 objects)",
        "create": "nhn-proxy: POST compute/instances/create/",
    }
    direct_of = {"flavors": "flavors", "instances": "servers", "objects": "objects"}
    for key, title in titles.items():
        request = public[key]
        scenario = Scenario(
            f"proxy-{key}", group, title, f"{request.method} {request.path}", "nhn-proxy"
        )
        try:
            proxy = start_proxy(procs, f"proxy-{key}", up.base_url, request)
        except Exception as exc:
            results[scenario.id] = bench.fail(scenario, exc)
            continue
        bench.startups.append({"process": proxy.name, "seconds": round(proxy.startup_s or 0, 3)})
        results[scenario.id] = bench.measure(
            scenario, proxy, proxy.pid, bench.load(proxy.base_url, [request]), public_checks[key],
            repeats=plan.repeats if key == "flavors" else 1,
        )  # fmt: skip
        if key == "flavors":
            half_rate_pair(
                bench, results, proxy, up, request, native["flavors"], public_checks,
                upstream_name, forwarder,
            )  # fmt: skip
            if forwarder is not None:
                procs.stop(forwarder.process)
        if key in ("instances", "objects"):
            group6 = "6. unloaded latency, 1 connection"
            scenario = Scenario(
                f"unloaded-proxy-{key}", group6, title, f"{request.method} {request.path}",
                "nhn-proxy",
            )  # fmt: skip
            results[scenario.id] = bench.measure(
                scenario,
                proxy,
                proxy.pid,
                bench.load(proxy.base_url, [request], connections=1),
                public_checks[key],
                warmup=0,
            )
            native_key = direct_of[key]
            native_request = native[native_key]
            scenario = Scenario(
                f"unloaded-direct-{native_key}", group6, f"direct: {direct_titles[native_key]}",
                f"{native_request.method} {native_request.path}", upstream_name,
            )  # fmt: skip
            results[scenario.id] = bench.measure(
                scenario,
                up,
                up.pid,
                bench.load(up.base_url, [native_request], connections=1),
                native_checks[native_key],
            )
        procs.stop(proxy.process)

    # 4. nhn-proxy with 2 workers
    scenario = Scenario(
        "proxy-flavors-2-workers",
        "4. nhn-proxy workers",
        "nhn-proxy, 2 workers: GET compute/flavors/ (1 worker: row 3)",
        f"GET {public['flavors'].path}",
        "nhn-proxy (all workers)",
    )
    redis = None
    if not workers_supported():
        results[scenario.id] = bench.skip(
            scenario, "not available yet: `nhn-proxy serve` has no --workers option"
        )
    elif (redis := start_redis(procs)) is None:
        results[scenario.id] = bench.skip(
            scenario,
            "needs redis-server for a shared task store (--workers > 1 requires "
            "tasks.redis_url), and it is not installed",
        )
    else:
        plan.notes.append(
            "the 1-worker rows keep tasks in memory; the 2-worker row needs a shared task "
            "store (tasks.redis_url, a local redis-server on the load cores). "
            "GET compute/flavors/ never touches the task store, so the rows compare."
        )
        try:
            proxy = start_proxy(
                procs, "proxy-2-workers", up.base_url, public["flavors"], workers=2,
                redis_url=redis[1],
            )  # fmt: skip
        except Exception as exc:
            results[scenario.id] = bench.fail(scenario, exc)
        else:
            bench.startups.append(
                {"process": proxy.name, "seconds": round(proxy.startup_s or 0, 3)}
            )
            results[scenario.id] = bench.measure(
                scenario,
                proxy,
                proxy.pid,
                bench.load(proxy.base_url, [public["flavors"]]),
                public_checks["flavors"],
                extra={"task_store": "redis"},
                repeats=plan.repeats,
            )
            procs.stop(proxy.process)
    if redis is not None:
        procs.stop(redis[0])

    procs.stop(up.process, signal.SIGQUIT if plan.upstream == "nginx" else signal.SIGTERM)

    # extra: the realistic mix through the proxy to the emulator
    realistic_mix(bench, results)
    # 8. object uploads and downloads streamed through the proxy, next to direct
    streaming(bench)
    return results


def half_rate_pair(
    bench: Bench,
    results: dict[str, dict[str, Any]],
    proxy: Server,
    up: Server,
    request: Request,
    native_request: Request,
    public_checks: dict[str, Check],
    up_name: str,
    forwarder: Server | None = None,
) -> None:
    """Latency of nhn-proxy, of the upstream alone and of the bare aiohttp forwarder at about
    half of the proxy's maximum throughput (wrk has no rate limit: a random pause per
    connection sets the rate)."""
    max_record = results.get("proxy-flavors", {})
    group = "5. latency at about half of the proxy's max throughput"
    pairs = (
        ("half-proxy-flavors", "nhn-proxy: GET compute/flavors/", proxy, proxy.pid, request,
         public_checks["flavors"], "nhn-proxy"),
        ("half-direct-flavors", "direct: flavors/detail", up, up.pid, native_request,
         expect(200, lambda doc: f"{len(doc['flavors'])} flavors"), up_name),
    )  # fmt: skip
    if forwarder is not None:
        pairs += (
            ("half-forwarder-flavors", "aiohttp forwarder (no nhn-proxy code): flavors/detail",
             forwarder, forwarder.pid, native_request,
             expect(200, lambda doc: f"{len(doc['flavors'])} flavors"), "aiohttp forwarder"),
        )  # fmt: skip
    for scenario_id, title, server, pid, req, check, measured in pairs:
        scenario = Scenario(scenario_id, group, title, f"{req.method} {req.path}", measured)
        if max_record.get("status") != "ok" or not max_record.get("rps"):
            results[scenario_id] = bench.skip(scenario, "the max-throughput run did not succeed")
            continue
        target = max_record["rps"] / 2
        try:
            load, extra = bench.half_rate_load(server.base_url, req, target)
        except Exception as exc:
            results[scenario_id] = bench.fail(scenario, exc)
            continue
        record = bench.measure(scenario, server, pid, load, check, warmup=0, extra=extra)
        if record.get("status") == "ok":
            record["fraction_of_proxy_max"] = round(record["rps"] / max_record["rps"], 3)
        results[scenario_id] = record


MIX = (  # (route, weight, storage headers?) — what a dashboard SPA reads
    ("/api/nhn/compute/instances/", 3, False),
    ("/api/nhn/compute/flavors/", 2, False),
    ("/api/nhn/compute/images/", 2, False),
    ("/api/nhn/compute/keypairs/", 1, False),
    ("/api/nhn/vpc/", 1, False),
    ("/api/nhn/subnet/", 1, False),
    ("/api/nhn/floatingip/", 1, False),
    ("/api/nhn/nks/clusters/", 1, False),
    ("/api/nhn/storage/containers/", 1, True),
)


def realistic_mix(bench: Bench, results: dict[str, dict[str, Any]]) -> None:
    from nhn_proxy.emulator import (
        DEMO_PASSWORD,
        DEMO_STORAGE_TENANT_ID,
        DEMO_TENANT_ID,
        DEMO_USERNAME,
    )

    procs = bench.procs
    scenario = Scenario(
        "mix-emulator",
        "7. realistic mix (emulator upstream)",
        "nhn-proxy → emulator: mixed GETs of every service",
        f"{sum(weight for _r, weight, _s in MIX)}-request cycle over {len(MIX)} routes",
        "nhn-proxy",
    )
    try:
        port = free_port()
        emulator = procs.start(
            "emulator",
            [
                sys.executable,
                "-m",
                "nhn_proxy",
                "emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            bench.plan.load_cores,
        )
        wait_for_port(port, emulator)
        emulator_base = f"http://127.0.0.1:{port}"
        region = "kr1"

        def token_request(tenant: str) -> Request:
            body = {"tenant_id": tenant, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
            return Request(
                "POST", "/api/nhn/token/", {"Content-Type": "application/json"}, json.dumps(body)
            )

        proxy = start_proxy(procs, "proxy-mix", emulator_base, token_request(DEMO_TENANT_ID))
        bench.startups.append({"process": proxy.name, "seconds": round(proxy.startup_s or 0, 3)})
        tokens = {}
        for tenant in (DEMO_TENANT_ID, DEMO_STORAGE_TENANT_ID):
            status, body = http_call(proxy.base_url, token_request(tenant))
            if status != 200:
                raise RuntimeError(f"token for {tenant}: status {status}: {body[:300]!r}")
            tokens[tenant] = json.loads(body)
        compute = {
            "X-NHN-Token": tokens[DEMO_TENANT_ID]["token"],
            "X-NHN-Region": region,
            "X-NHN-Tenant-ID": DEMO_TENANT_ID,
        }
        storage = {
            "X-NHN-Token": tokens[DEMO_STORAGE_TENANT_ID]["token"],
            "X-NHN-Region": region,
            "X-NHN-Storage-Account": tokens[DEMO_STORAGE_TENANT_ID]["storage_account"],
        }
        requests = [
            Request("GET", route, storage if is_storage else compute)
            for route, weight, is_storage in MIX
            for _ in range(weight)
        ]
    except Exception as exc:
        results[scenario.id] = bench.fail(scenario, exc)
        return
    results[scenario.id] = bench.measure(
        scenario,
        proxy,
        proxy.pid,
        bench.load(proxy.base_url, requests),
        expect(200, lambda doc: "200"),
        extra={"routes": [route for route, _w, _s in MIX]},
    )
    procs.stop(proxy.process)
    procs.stop(emulator)


# --------------------------------------------------------------------------- streaming


TRANSFER_UPSTREAM = "transfer upstream (aiohttp: reads a PUT to its end, sendfile for GET)"


def streaming(bench: Bench) -> None:
    """Object uploads and downloads of `plan.transfer_bytes`, one after another on one
    connection (`benchmarks/transfer.py`, on the load cores): direct to a Swift stand-in
    and through `nhn-proxy serve` to the same stand-in, with the measured process's peak
    RSS (the proxy's shows that it never holds an object) and CPU. Each row runs
    `plan.repeats` transfers; the median is kept."""
    plan, procs = bench.plan, bench.procs
    size = plan.transfer_bytes
    rows = [
        (direction, via) for direction in ("upload", "download") for via in ("direct", "nhn-proxy")
    ]
    try:
        blob = upstream.write_blob(bench.work / "transfer.bin", size)
        port = free_port()
        command = [
            sys.executable, "-m", "benchmarks.upstream", "--transfer", fx.TRANSFER_PATH,
            "--blob", str(blob), "--port", str(port),
        ]  # fmt: skip
        process = procs.start("transfer-upstream", command, plan.load_cores)
        wait_for_port(port, process)
        up = Server("transfer-upstream", process, port)
        health = Request("GET", "/healthz", {})
        proxy = start_proxy(procs, "proxy-transfer", up.base_url, health)
    except Exception as exc:
        for direction, via in rows:
            bench.fail_transfer(_transfer_record(direction, via, size), exc)
        return
    public = f"/api/nhn/storage/containers/{fx.CONTAINER}/objects/{fx.TRANSFER_OBJECT}"
    for direction, via in rows:
        record = _transfer_record(direction, via, size)
        if via == "direct":
            server, url = up, up.base_url + fx.TRANSFER_PATH
            headers = {"X-Auth-Token": fx.TOKEN}
        else:
            server, url = proxy, proxy.base_url + public
            headers = proxy_headers(storage=True)
        path = "/" + url.split("/", 3)[3]
        record["request"] = f"{'PUT' if direction == 'upload' else 'GET'} {path}"
        bench.measure_transfer(record, server.pid, url, headers)
    procs.stop(proxy.process)
    procs.stop(up.process)


def _transfer_record(direction: str, via: str, size: int) -> dict[str, Any]:
    through = "direct" if via == "direct" else "through nhn-proxy"
    return {
        "id": f"transfer-{direction}-{'direct' if via == 'direct' else 'proxy'}",
        "title": f"object {direction}, {through}",
        "direction": direction,
        "via": via,
        "measured": TRANSFER_UPSTREAM if via == "direct" else "nhn-proxy",
        "bytes": size,
    }


def _measure_transfer(
    bench: Bench, record: dict[str, Any], pid: int, url: str, headers: dict[str, str]
) -> dict[str, Any]:
    plan = bench.plan
    method = "PUT" if record["direction"] == "upload" else "GET"
    command = [
        sys.executable, "-m", "benchmarks.transfer", "--method", method, "--url", url,
        "--bytes", str(record["bytes"]), "--repeats", str(plan.repeats),
        *(f"--header={name}:{value}" for name, value in headers.items()),
    ]  # fmt: skip
    if plan.taskset:
        command = ["taskset", "-c", _cores(plan.load_cores), *command]
    print(f"bench: {record['id']} ({plan.repeats} x {record['bytes'] >> 20} MiB) ...", flush=True)
    try:
        with Watch(pid) as watch:
            done = subprocess.run(
                command, capture_output=True, text=True, cwd=ROOT, timeout=60 + 20 * plan.repeats
            )
        result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        if done.returncode != 0 or result.get("error"):
            raise RuntimeError(result.get("error") or done.stderr[-800:])
    except Exception as exc:
        return bench.fail_transfer(record, exc)
    runs = sorted(run["seconds"] for run in result["runs"])
    seconds = runs[len(runs) // 2]
    record.update(
        {
            "status": "ok",
            "runs_s": runs,
            "seconds": seconds,
            "mb_per_s": round(record["bytes"] / seconds / 1e6, 1),
            "peak_rss_mb": round(watch.peak_kb / 1024, 1),
            "cpu_s": round(watch.cpu_seconds, 3),
            "cpu_s_per_gib": round(watch.cpu_seconds / len(runs) / (record["bytes"] / 2**30), 3),
        }
    )
    print(
        f"bench:   {record['mb_per_s']:.0f} MB/s, peak RSS {record['peak_rss_mb']} MB",
        flush=True,
    )
    bench.transfers.append(record)
    return record


# ------------------------------------------------------------------------------- main


def machine_info(plan: Plan) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": package_version("aiohttp"),
        "uvloop": package_version("uvloop"),
        "orjson": package_version("orjson"),
        "nginx": (command_version([plan.nginx, "-v"]) or "").removeprefix("nginx version: ") or None
        if plan.nginx
        else None,
        "wrk": command_version(["wrk", "-v"]) if plan.loadgen == "wrk" else None,
        "load_generator": plan.loadgen,
        "upstream": plan.upstream,
        "git": git_revision(),
        "loadavg_before": loadavg(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__)
    parser.add_argument("--duration", type=int, help="seconds per scenario (default 10; smoke 1)")
    parser.add_argument("--connections", type=int, help="connections (default 32; smoke 4)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per scenario (default 2)")
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs of each max-throughput flavors scenario, median kept (default 3; smoke 1)",
    )
    parser.add_argument(
        "--transfer-mb",
        type=int,
        help="MiB of each object upload and download of the streaming rows (default 1024; "
        "smoke 16)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds in all: 1 s per scenario, 4 conns"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE, help="where RESULTS.md and results.json go"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--upstream", choices=("auto", "nginx", "aiohttp"), default="auto")
    parser.add_argument("--keep-temp", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every started process is stopped."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="nhn-bench-"))
    work.chmod(0o755)  # nginx workers run unprivileged and read the canned files
    print(f"bench: work directory {work}; {plan.pinning()}", flush=True)
    bench = Bench(plan, work)
    machine = machine_info(plan)
    try:
        with terminate_as_exit():
            canned = fx.write_canned(work / "data")
            run_all(bench, canned)
    finally:
        bench.procs.stop_all()
        if not args.keep_temp:
            shutil.rmtree(work, ignore_errors=True)
    machine["loadavg_after"] = loadavg()
    elapsed = time.monotonic() - started
    document = {
        "machine": machine,
        "settings": {
            "duration_s": plan.duration,
            "repeats": plan.repeats,
            "connections": plan.connections,
            "warmup_s": plan.warmup,
            "smoke": plan.smoke,
            "pinning": plan.pinning(),
            "notes": plan.notes,
            "canned_sizes_bytes": canned.sizes,
            "transfer_bytes": plan.transfer_bytes,
            "flavors": canned.flavor_count,
        },
        "scenarios": bench.scenarios,
        "transfers": bench.transfers,
        "startups": bench.startups,
        "elapsed_s": round(elapsed, 1),
    }
    markdown = write_reports(document, plan.output)
    print(f"bench: wrote {markdown} and results.json in {elapsed:.0f} s", flush=True)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())

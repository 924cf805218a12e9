"""Load generation: `wrk` driven by a generated Lua script, or — when wrk is absent — a
bundled aiohttp load generator with the same interface (`python -m benchmarks.loadgen
--spec FILE`). Both print one `BENCH_JSON {...}` line that `parse_output` reads.

A rate below the maximum is offered with wrk's `delay()` hook: each of C connections
waits a random pause of mean `delay_ms` after each answer before it sends the next request,
so the offered rate is about C / (delay + latency). The pause is exponentially distributed:
with a fixed pause the connections stay in lockstep and their requests arrive in bursts of
C, which measures queueing behind the burst rather than the service; random pauses make the
arrivals close to a Poisson stream, the usual model of independent clients. Latency is
measured from sending to the answer; the pause is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MARK = "BENCH_JSON "


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class Load:
    base_url: str  # http://127.0.0.1:PORT
    requests: tuple[Request, ...]  # sent in turn
    connections: int
    duration: int  # seconds
    delay_ms: int = 0  # pause of each connection after each answer (0: none)
    timeout: int = 30  # seconds before a request counts as timed out


def lua_string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= code < 127:
            out.append(char)
        else:
            out.extend(f"\\{byte}" for byte in char.encode())
    return '"' + "".join(out) + '"'


_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def wrk_script(load: Load) -> str:
    lines: list[str] = []
    if len(load.requests) == 1:
        request = load.requests[0]
        lines.append(f"wrk.method = {lua_string(request.method)}")
        lines.append(f"wrk.path = {lua_string(request.path)}")
        for name, value in request.headers.items():
            lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
        if request.body is not None:
            lines.append(f"wrk.body = {lua_string(request.body)}")
    else:
        # built in init(): wrk.format needs wrk.host, which is set for each thread
        lines.append("local requests_ = {}")
        lines.append("function init(args)")
        for request in load.requests:
            headers = ", ".join(
                f"[{lua_string(name)}] = {lua_string(value)}"
                for name, value in request.headers.items()
            )
            body = "nil" if request.body is None else lua_string(request.body)
            lines.append(
                "  table.insert(requests_, wrk.format("
                f"{lua_string(request.method)}, {lua_string(request.path)}, {{{headers}}}, {body}))"
            )
        lines.append("end")
        lines.append("local turn_ = 0")
        lines.append("function request()")
        lines.append("  turn_ = turn_ % #requests_ + 1")
        lines.append("  return requests_[turn_]")
        lines.append("end")
    if load.delay_ms > 0:
        mean = float(load.delay_ms)
        lines += [
            "math.randomseed(os.time())",
            "function delay()",
            f"  return math.floor(-math.log(1 - math.random()) * {mean} + 0.5)",
            "end",
        ]
    return "\n".join(lines) + "\n" + _DONE


def wrk_command(load: Load, script: Path, threads: int = 1) -> list[str]:
    return [
        "wrk",
        f"-t{max(1, min(threads, load.connections))}",
        f"-c{load.connections}",
        f"-d{load.duration}s",
        f"--timeout={load.timeout}s",
        "-s",
        str(script),
        load.base_url,
    ]


def aiohttp_command(python: str, spec: Path) -> list[str]:
    return [python, "-m", "benchmarks.loadgen", "--spec", str(spec)]


def write_spec(load: Load, path: Path) -> Path:
    path.write_text(json.dumps(asdict(load)))
    return path


def parse_output(stdout: str) -> dict[str, Any]:
    """The numbers of one run, in seconds and milliseconds."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            raw = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError(f"no {MARK.strip()} line in the load generator's output")
    duration = raw["duration_us"] / 1e6
    latency = {key: value / 1000 for key, value in raw["latency_us"].items()}
    errors = dict(raw["errors"])
    errors["total"] = sum(errors.values())
    return {
        "requests": raw["requests"],
        "duration_s": round(duration, 3),
        "rps": raw["requests"] / duration if duration else 0.0,
        "bytes": raw["bytes"],
        "latency_ms": {key: round(value, 3) for key, value in latency.items()},
        "errors": errors,
    }


# ------------------------------------------------------------- aiohttp load generator


def _percentile(ordered: list[float], percent: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


async def run_aiohttp(load: Load) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    received = 0
    connector = aiohttp.TCPConnector(limit=load.connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=load.timeout)
    requests = load.requests
    started = time.perf_counter()
    end = started + load.duration

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal received
        turn = number
        while time.perf_counter() < end:
            request = requests[turn % len(requests)]
            turn += 1
            sent = time.perf_counter()
            try:
                async with session.request(
                    request.method,
                    load.base_url + request.path,
                    headers=request.headers,
                    data=request.body.encode() if request.body is not None else None,
                ) as answer:
                    body = await answer.read()
                    received += len(body)
                    if answer.status > 399:
                        errors["status"] += 1
            except TimeoutError:
                errors["timeout"] += 1
            except aiohttp.ClientConnectorError:
                errors["connect"] += 1
                await asyncio.sleep(0.01)
            except aiohttp.ClientError:
                errors["read"] += 1
            latencies.append(time.perf_counter() - sent)
            if load.delay_ms:
                await asyncio.sleep(random.expovariate(1000 / load.delay_ms))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(number, session) for number in range(load.connections)))
    duration = time.perf_counter() - started
    ordered = sorted(latencies)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return {
        "requests": len(ordered),
        "duration_us": int(duration * 1e6),
        "bytes": received,
        "errors": errors,
        "latency_us": {
            "p50": int(_percentile(ordered, 50) * 1e6),
            "p90": int(_percentile(ordered, 90) * 1e6),
            "p99": int(_percentile(ordered, 99) * 1e6),
            "mean": mean * 1e6,
            "max": int((ordered[-1] if ordered else 0.0) * 1e6),
        },
    }


def load_from_spec(path: Path) -> Load:
    raw = json.loads(path.read_text())
    raw["requests"] = tuple(Request(**request) for request in raw["requests"])
    return Load(**raw)


def main() -> None:
    parser = argparse.ArgumentParser(description="aiohttp load generator (wrk fallback)")
    parser.add_argument("--spec", required=True, type=Path, help="JSON of a Load")
    args = parser.parse_args()
    result = asyncio.run(run_aiohttp(load_from_spec(args.spec)))
    print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""One object transfer after another, timed: the load generator of the streaming rows.

    python -m benchmarks.transfer --method PUT --url URL --bytes N [--header K:V ...]
                                  [--repeats R]

An upload sends `N` bytes (zeros, in 1 MiB pieces made once, with `Content-Length`) and
expects a 2xx; a download reads the body to its end and checks it has `N` bytes. Each run
is timed from the request to the last byte. Prints one JSON document:
`{"runs": [{"seconds", "bytes", "status"}], "error": null}` (or the error that stopped it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

PIECE = 1024 * 1024


async def _zeros(size: int) -> AsyncIterator[bytes]:
    piece = bytes(PIECE)
    left = size
    while left > 0:
        chunk = piece if left >= PIECE else piece[:left]
        left -= len(chunk)
        yield chunk


async def _one(
    session: aiohttp.ClientSession, method: str, url: str, size: int, headers: dict[str, str]
) -> dict[str, Any]:
    started = time.perf_counter()
    if method == "PUT":
        sent = {**headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"}
        async with session.put(url, data=_zeros(size), headers=sent) as response:
            await response.read()
            status, received = response.status, size
    else:
        received = 0
        async with session.get(url, headers=headers) as response:
            status = response.status
            async for chunk in response.content.iter_chunked(PIECE):
                received += len(chunk)
    seconds = time.perf_counter() - started
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {url}: status {status}")
    if received != size:
        raise RuntimeError(f"{method} {url}: {received} bytes, expected {size}")
    return {"seconds": round(seconds, 4), "bytes": received, "status": status}


async def run(method: str, url: str, size: int, headers: dict[str, str], repeats: int) -> dict:
    runs: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            for _ in range(repeats):
                runs.append(await _one(session, method, url, size, headers))
    except Exception as exc:  # reported, not raised: the harness records the reason
        return {"runs": runs, "error": f"{type(exc).__name__}: {exc}"}
    return {"runs": runs, "error": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer", description=__doc__)
    parser.add_argument("--method", choices=("PUT", "GET"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bytes", type=int, required=True)
    parser.add_argument("--header", action="append", default=[], help="Name:value")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    headers = dict(item.split(":", 1) for item in args.header)
    result = asyncio.run(run(args.method, args.url, args.bytes, headers, max(1, args.repeats)))
    json.dump(result, sys.stdout)
    print()
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())

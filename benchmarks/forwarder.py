"""The smallest possible aiohttp proxy: one pooled `ClientSession`, forward the request,
answer the upstream's bytes unchanged. No header checks, no JSON, no translation, no logging.

It is the practical limit of *any* proxy built on aiohttp in one Python process — the same
server, client and event loop nhn-proxy runs on (uvloop when installed) — measured in the
same run as nginx, so the gap between nginx and nhn-proxy can be split into what the Python
stack costs and what nhn-proxy's own work costs.

`python -m benchmarks.forwarder --upstream URL --port P`
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from aiohttp import web


def forwarder_app(upstream: str) -> web.Application:
    app = web.Application()

    async def lifespan(app: web.Application):
        app["session"] = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        yield
        await app["session"].close()

    async def forward(request: web.Request) -> web.Response:
        headers = {"X-Auth-Token": request.headers.get("X-Auth-Token", "")}
        async with request.app["session"].get(upstream + request.path_qs, headers=headers) as r:
            body = await r.read()
            return web.Response(body=body, status=r.status, content_type="application/json")

    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/{tail:.*}", forward)
    return app


async def serve(upstream: str, port: int) -> None:
    runner = web.AppRunner(forwarder_app(upstream), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"forwarder on {port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="minimal aiohttp forwarder (benchmark floor)")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.upstream, args.port))
    else:
        uvloop.run(serve(args.upstream, args.port))


if __name__ == "__main__":
    main()

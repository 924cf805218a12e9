"""The core's streamed bodies, through a throwaway plugin and a real upstream server on a
loopback socket: uploads flow to NHN as they arrive and are bounded, downloads flow back
unread, names holding '/' stay one native value, and every stream is released."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from nhn_proxy.app import create_app
from nhn_proxy.errors import BadRequest
from nhn_proxy.plugin import (
    Call,
    Header,
    MultiSegment,
    PathParam,
    Route,
    Stream,
    hookimpl,
)
from nhn_proxy.settings import load_settings
from nhn_proxy.upstream import native_path
from tests.conftest import TENANT, TOKEN

HEADERS = {"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2", "X-NHN-Tenant-ID": TENANT}
NAME = PathParam(r"[^\x00-\x1f\x7f]+", "a blob name, '/' allowed", max_length=1024, greedy=True)
LIMIT = 4 * 1024 * 1024
MIB = 1024 * 1024


class Blobs:
    """A plugin storing blobs on the 'compute' upstream, streamed both ways."""

    name = "blobs"

    @hookimpl
    def nhn_proxy_routes(self, config):
        common: dict[str, Any] = {
            "tags": ("blobs",),
            "needs": frozenset({Header.TOKEN, Header.REGION, Header.TENANT}),
            "params": {"blob": NAME},
        }
        return [
            Route("PUT", "/blobs/{blob}", self.put, summary="Put", upload=True, **common),
            Route(
                "GET",
                "/blobs/{blob}",
                self.get,
                summary="Get",
                request_headers=("Range",),
                media_type="application/octet-stream",
                **common,
            ),
        ]

    async def put(self, call: Call) -> Any:
        assert call.upload is not None
        answer = await call.native(
            "compute",
            "PUT",
            "/v2/{tenant}/blobs/{blob}",
            path={"blob": MultiSegment(call.params["blob"])},
            data=call.upload.chunks(LIMIT),
        )
        return answer.json_object()

    async def get(self, call: Call) -> Any:
        range_header = {"Range": call.headers["Range"]} if "Range" in call.headers else None
        stream = await call.native_stream(
            "compute",
            "GET",
            "/v2/{tenant}/blobs/{blob}",
            path={"blob": MultiSegment(call.params["blob"])},
            headers=range_header,
        )
        return Stream(
            stream.chunks(),
            stream.content_type,
            status=stream.status,
            length=stream.content_length,
            close=stream.close,
        )


class FakeNhn:
    """The upstream: counts what arrives, serves bytes slowly enough to be interrupted."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.uploads: list[dict[str, Any]] = []
        self.upload_errors: list[str] = []
        self.download_done = asyncio.Event()
        self.download_cut = asyncio.Event()
        self.size = 3 * MIB

    async def put(self, request: web.Request) -> web.Response:
        self.paths.append(request.raw_path)
        digest, size = hashlib.md5(), 0
        try:
            async for chunk in request.content.iter_chunked(65536):
                digest.update(chunk)
                size += len(chunk)
        except BaseException as exc:  # the proxy aborted the transfer (or the server cancelled us)
            self.upload_errors.append(type(exc).__name__)
            raise
        self.uploads.append({"bytes": size, "md5": digest.hexdigest()})
        return web.json_response({"bytes": size, "md5": digest.hexdigest()}, status=201)

    async def get(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.raw_path)
        if request.match_info["blob"] == "missing":
            return web.json_response({"itemNotFound": {"message": "no such blob"}}, status=404)
        if "Range" in request.headers:
            return web.Response(
                body=b"0123", status=206, headers={"Content-Range": f"bytes 0-3/{self.size}"}
            )
        response = web.StreamResponse(headers={"Content-Type": "application/x-blob"})
        response.content_length = self.size
        await response.prepare(request)
        try:
            for _ in range(self.size // 65536):
                await response.write(b"x" * 65536)
                await asyncio.sleep(0)
            self.download_done.set()
        except (ConnectionResetError, asyncio.CancelledError):
            self.download_cut.set()
            raise
        return response


@pytest.fixture
async def stack(aiohttp_server, aiohttp_client):
    fake = FakeNhn()
    upstream = web.Application()
    upstream.router.add_put("/v2/{tenant}/blobs/{blob:.+}", fake.put)
    upstream.router.add_get("/v2/{tenant}/blobs/{blob:.+}", fake.get)
    server = await aiohttp_server(upstream)
    settings = load_settings(
        environ={},
        overrides={
            "upstream": {"endpoints": {"compute": str(server.make_url("")).rstrip("/")}},
        },
    )
    client = await aiohttp_client(create_app(settings, extra_plugins=[Blobs()]))
    return client, fake


def body_of(size: int, *, chunked: bool):
    if not chunked:
        return b"y" * size

    async def pieces():
        for _ in range(size // 65536):
            yield b"y" * 65536

    return pieces()


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_upload_flows_to_nhn_as_it_arrives(stack, chunked):
    client, fake = stack
    size = 3 * MIB
    response = await client.put(
        "/api/nhn/blobs/photos/2024/a b.png", data=body_of(size, chunked=chunked), headers=HEADERS
    )
    assert response.status == 200, await response.text()
    expected = hashlib.md5(b"y" * size).hexdigest()
    assert await response.json() == {"bytes": size, "md5": expected}
    # one native value, its '/' kept, each part encoded once
    assert fake.paths == [f"/v2/{TENANT}/blobs/photos/2024/a%20b.png"]


def test_dot_segments_of_a_name_cannot_walk_up_the_native_path():
    assert native_path("/v1/{object}", object=MultiSegment("a/../b/./c")) == (
        "/v1/a/%2E%2E/b/%2E/c"
    )
    assert native_path("/v1/{object}", object=MultiSegment("a//b?c#d%")) == "/v1/a//b%3Fc%23d%25"
    with pytest.raises(BadRequest):
        native_path("/v1/{object}", object=MultiSegment("a/\x00b"))
    with pytest.raises(BadRequest):
        native_path("/v1/{object}", object=MultiSegment("x" * 1025))


async def test_a_name_the_client_wrote_with_dot_segments_stays_under_its_collection(stack):
    client, fake = stack
    response = await client.put("/api/nhn/blobs/a/%2E%2E/%2E%2E/b", data=b"1", headers=HEADERS)
    assert response.status in (200, 404), await response.text()
    assert all(path.startswith(f"/v2/{TENANT}/blobs/") for path in fake.paths)


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_upload_over_its_limit_is_413_and_the_native_transfer_aborted(stack, chunked):
    client, fake = stack
    response = await client.put(
        "/api/nhn/blobs/big", data=body_of(LIMIT + MIB, chunked=chunked), headers=HEADERS
    )
    assert response.status == 413
    assert await response.json() == {
        "error": f"the body is larger than {LIMIT} bytes",
        "code": 413,
    }
    async with asyncio.timeout(5):
        while not fake.upload_errors and not fake.uploads:
            await asyncio.sleep(0.01)
    assert fake.uploads == []  # NHN never got a whole (short) body
    assert fake.upload_errors


async def test_an_upload_route_is_documented_as_bytes(stack):
    client, _ = stack
    document = await (await client.get("/api/docs/openapi.json")).json()
    put = document["paths"]["/api/nhn/blobs/{blob}"]["put"]
    assert put["requestBody"] == {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    assert "413" in put["responses"]
    assert "/api/nhn/blobs/{blob}/" not in document["paths"]  # no slash-less twin either


async def test_a_download_flows_back_unread_and_keeps_nhns_headers(stack):
    client, fake = stack
    response = await client.get("/api/nhn/blobs/a/b.bin", headers=HEADERS)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-blob"
    assert response.headers["Content-Length"] == str(fake.size)
    digest = hashlib.md5()
    async for chunk in response.content.iter_chunked(65536):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.md5(b"x" * fake.size).hexdigest()
    assert fake.paths == [f"/v2/{TENANT}/blobs/a/b.bin"]


async def test_a_partial_answer_keeps_its_status_and_an_error_is_the_standard_shape(stack):
    client, _ = stack
    headers = {**HEADERS, "Range": "bytes=0-3"}
    response = await client.get("/api/nhn/blobs/a", headers=headers)
    assert response.status == 206 and await response.read() == b"0123"
    missing = await client.get("/api/nhn/blobs/missing", headers=HEADERS)
    assert missing.status == 404
    assert await missing.json() == {"error": "no such blob", "code": 404}


async def test_a_client_that_leaves_mid_download_closes_the_native_answer(stack):
    client, fake = stack
    fake.size = 64 * MIB  # far more than the socket buffers hold
    response = await client.get("/api/nhn/blobs/big", headers=HEADERS)
    await response.content.readexactly(65536)
    response.close()
    async with asyncio.timeout(10):
        await fake.download_cut.wait()  # the proxy gave NHN's connection up
    assert not fake.download_done.is_set()


async def test_a_cancelled_stream_call_frees_the_half_open_probe(aiohttp_server):
    """A breaker let one probe through; the call is cancelled before NHN answers: the next
    call must go out, not be refused as 'circuit open' forever."""
    from nhn_proxy.context import NhnContext
    from nhn_proxy.upstream import Upstream

    gate = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        if not gate.is_set():
            await asyncio.sleep(30)
        return web.Response(body=b"ok")

    upstream = web.Application()
    upstream.router.add_get("/x", slow)
    server = await aiohttp_server(upstream)
    settings = load_settings(
        environ={},
        overrides={
            "upstream": {
                "endpoints": {"compute": str(server.make_url("")).rstrip("/")},
                "breaker_failures": 1,
                "breaker_open_seconds": 0.01,
            }
        },
    )
    client = Upstream(settings.upstream, settings.regions.allowed)
    await client.start()
    try:
        ctx = NhnContext(request_id="r", region="kr2", token=TOKEN)
        breaker = client._breaker("compute", "kr2")
        assert breaker is not None
        breaker.failure()  # open
        await asyncio.sleep(0.02)  # half-open: one probe may go
        probe = asyncio.ensure_future(client.open("compute", "GET", "/x", ctx=ctx))
        await asyncio.sleep(0.1)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        gate.set()
        stream = await client.open("compute", "GET", "/x", ctx=ctx)
        assert stream.status == 200
        assert b"".join([chunk async for chunk in stream.chunks()]) == b"ok"
    finally:
        await client.close()


def test_a_greedy_parameter_must_end_the_route():
    with pytest.raises(ValueError, match="greedy"):
        Route(
            "GET",
            "/blobs/{blob}/meta/",
            lambda call: None,
            summary="x",
            tags=(),
            params={"blob": NAME},
        )


async def test_a_stream_is_closed_even_when_its_body_never_started(aiohttp_client):
    closed = asyncio.Event()

    class Early:
        name = "early"

        @hookimpl
        def nhn_proxy_routes(self, config):
            return [Route("GET", "/early/", self.get, summary="x", tags=(), needs=frozenset())]

        async def get(self, call: Call) -> Any:
            async def chunks():
                raise RuntimeError("never read")
                yield b""  # pragma: no cover

            async def close() -> None:
                closed.set()

            return Stream(chunks(), "text/plain", close=close)

    client = await aiohttp_client(create_app(load_settings(environ={}), extra_plugins=[Early()]))
    response = await client.get("/api/nhn/early/")
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    assert closed.is_set()

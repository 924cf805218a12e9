"""Object Storage (Swift): listings, containers, objects (streamed both ways, large ones in
temporary files), name rules and errors."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import re
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from nhn_proxy.emulator import create_app
from nhn_proxy.emulator.object_storage.models import blob_directory

from .conftest import Emu
from .doc_examples import EXAMPLES
from .shapes import assert_conforms

NOT_FOUND = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"


@pytest.fixture
async def swift(emu):
    async def call(method, path="", **kwargs):
        return await emu.call(method, emu.swift(path), tenant=emu.storage_tenant, **kwargs)

    return call


async def test_empty_account_listings(swift):
    plain = await swift("GET")
    assert plain.status == 204 and await plain.read() == b""
    assert plain.headers["X-Account-Container-Count"] == "0"
    as_json = await swift("GET", params={"format": "json"})
    assert as_json.status == 200 and await as_json.json() == []
    head = await swift("HEAD")
    # NHN's API guide: a valid account HEAD answers 200 (upstream Swift says 204)
    assert head.status == 200 and head.headers["X-Account-Bytes-Used"] == "0"
    trans_id = head.headers["X-Trans-Id"]
    assert re.fullmatch(r"tx[0-9a-f]{21}-[0-9a-f]{10}", trans_id)
    assert head.headers["X-Openstack-Request-Id"] == trans_id


async def test_account_head_counts_usage(swift):
    """NHN's "Query the Storage Account": 200, no body, usage in three integer headers."""
    await swift("PUT", "/a")
    await swift("PUT", "/b")
    await swift("PUT", "/a/one.txt", data=b"12345")
    await swift("PUT", "/b/two.txt", data=b"abc")
    await swift("PUT", "/b/dir/three.txt", data=b"")
    head = await swift("HEAD")
    assert head.status == 200
    assert await head.read() == b""
    assert head.headers["X-Account-Container-Count"] == "2"
    assert head.headers["X-Account-Object-Count"] == "3"
    assert head.headers["X-Account-Bytes-Used"] == "8"
    # the trailing-slash form is the same call
    assert (await swift("HEAD", "/")).status == 200
    await swift("DELETE", "/a/one.txt")
    head = await swift("HEAD")
    assert head.headers["X-Account-Object-Count"] == "2"
    assert head.headers["X-Account-Bytes-Used"] == "3"


async def test_container_create_list_and_delete(swift):
    assert (await swift("PUT", "/photos")).status == 201
    assert (await swift("PUT", "/photos")).status == 202
    assert (await swift("PUT", "/docs")).status == 201
    plain = await swift("GET")
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert await plain.text() == "docs\nphotos\n"
    listed = await swift("GET", params={"format": "json"})
    body = await listed.json()
    assert_conforms(body, EXAMPLES["swift_account_json"])
    assert [c["name"] for c in body] == ["docs", "photos"]
    head = await swift("HEAD", "/photos")
    assert head.status == 204 and head.headers["X-Container-Object-Count"] == "0"
    assert (await swift("DELETE", "/photos")).status == 204
    missing = await swift("DELETE", "/photos")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert await missing.text() == NOT_FOUND
    assert (await swift("GET", "/photos")).status == 404


async def test_objects_round_trip(swift):
    await swift("PUT", "/c")
    data = b"hello swift"
    put = await swift(
        "PUT",
        "/c/dir/a.txt",
        data=data,
        headers={"Content-Type": "text/plain", "X-Object-Meta-Color": "blue"},
    )
    assert put.status == 201
    assert put.headers["Etag"] == hashlib.md5(data).hexdigest()
    got = await swift("GET", "/c/dir/a.txt")
    assert got.status == 200 and await got.read() == data
    assert got.headers["Content-Type"] == "text/plain"
    assert got.headers["X-Object-Meta-Color"] == "blue"
    head = await swift("HEAD", "/c/dir/a.txt")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))
    ranged = await swift("GET", "/c/dir/a.txt", headers={"Range": "bytes=0-4"})
    assert ranged.status == 206 and await ranged.read() == b"hello"
    listing = await (await swift("GET", "/c", params={"format": "json"})).json()
    assert_conforms(listing, EXAMPLES["swift_container_json"])
    assert listing[0]["hash"] == hashlib.md5(data).hexdigest() and listing[0]["bytes"] == len(data)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", listing[0]["last_modified"])
    bad_etag = await swift("PUT", "/c/b", data=b"x", headers={"ETag": "0" * 32})
    assert bad_etag.status == 422
    assert (await swift("DELETE", "/c/dir/a.txt")).status == 204
    assert (await swift("GET", "/c/dir/a.txt")).status == 404
    assert (await swift("PUT", "/missing/x", data=b"x")).status == 404


async def test_non_empty_container_delete_is_409(swift):
    await swift("PUT", "/full")
    await swift("PUT", "/full/obj", data=b"1")
    response = await swift("DELETE", "/full")
    assert response.status == 409
    assert await response.text() == (
        "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request."
        "</p></html>"
    )


async def test_listing_parameters(swift):
    await swift("PUT", "/c")
    names = ["a.txt", "b.txt", "photos/2024/a.png", "photos/2024/b.png", "photos/c.png", "z.txt"]
    for name in names:
        await swift("PUT", f"/c/{name}", data=b"x")

    async def plain(**params):
        response = await swift("GET", "/c", params=params)
        return (await response.text()).splitlines()

    assert await plain() == names
    assert await plain(limit="2") == ["a.txt", "b.txt"]
    assert await plain(marker="b.txt", limit="2") == ["photos/2024/a.png", "photos/2024/b.png"]
    assert await plain(prefix="photos/") == names[2:5]
    assert await plain(end_marker="photos") == ["a.txt", "b.txt"]
    assert await plain(delimiter="/") == ["a.txt", "b.txt", "photos/", "z.txt"]
    assert await plain(prefix="photos/", delimiter="/") == ["photos/2024/", "photos/c.png"]
    subdirs = await (await swift("GET", "/c", params={"delimiter": "/", "format": "json"})).json()
    assert {"subdir": "photos/"} in subdirs
    assert (await swift("GET", "/c", params={"limit": "10001"})).status == 412
    assert (await swift("GET", "/c", params={"prefix": "nothing"})).status == 204
    empty_json = await swift("GET", "/c", params={"prefix": "nothing", "format": "json"})
    assert empty_json.status == 200 and await empty_json.json() == []
    xml = await swift("GET", "/c", params={"format": "xml", "limit": "1"})
    assert (await xml.text()).startswith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<container name="c">'
    )


async def test_name_rules(swift):
    too_long = await swift("PUT", "/" + "c" * 257)
    assert too_long.status == 400
    assert await too_long.text() == "Container name length of 257 longer than 256"
    assert (await swift("PUT", "/" + "c" * 256)).status == 201
    await swift("PUT", "/c")
    long_object = await swift("PUT", "/c/" + "o" * 1025, data=b"x")
    assert long_object.status == 400
    assert (await swift("PUT", "/c/" + "o" * 1024, data=b"x")).status == 201


async def test_percent_encoded_names(swift):
    await swift("PUT", "/c")
    response = await swift("PUT", "/c/hello%20world%3F.txt", data=b"x")
    assert response.status == 201
    listing = await (await swift("GET", "/c")).text()
    assert listing == "hello world?.txt\n"


async def test_container_metadata_and_acl(swift):
    await swift("PUT", "/site", headers={"X-Container-Meta-Owner": "me"})
    await swift("POST", "/site", headers={"X-Container-Read": ".r:*,.rlistings"})
    head = await swift("HEAD", "/site")
    assert head.headers["X-Container-Read"] == ".r:*,.rlistings"
    assert head.headers["X-Container-Meta-Owner"] == "me"
    await swift("POST", "/site", headers={"X-Container-Read": ""})
    assert "X-Container-Read" not in (await swift("HEAD", "/site")).headers


async def test_object_expiry_follows_the_clock(emu, swift):
    await swift("PUT", "/c")
    await swift("PUT", "/c/tmp", data=b"x", headers={"X-Delete-After": "60"})
    assert (await swift("GET", "/c/tmp")).status == 200
    emu.clock.advance(61)
    assert (await swift("GET", "/c/tmp")).status == 404


async def test_copy_object(swift):
    await swift("PUT", "/c")
    await swift("PUT", "/c/src", data=b"payload")
    copied = await swift("PUT", "/c/dst", headers={"X-Copy-From": "c/src"}, data=b"")
    assert copied.status == 201
    assert await (await swift("GET", "/c/dst")).read() == b"payload"


async def test_unemulated_swift_endpoint_is_501(emu):
    response = await emu.call("GET", "/kr1/object-storage/info", tenant=emu.storage_tenant)
    assert response.status == 501
    assert (await response.text()).startswith("<html><h1>Not Implemented</h1>")


# -- objects, streamed ----------------------------------------------------------------------------

MIB = 1024 * 1024


def object_files() -> set[str]:
    """The object files the emulator holds right now."""
    gc.collect()  # a blob's file goes with the blob
    return set(os.listdir(blob_directory()))


class SocketClient:
    """What `Emu` needs of a test client, over a plain session to a real socket."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.server = SimpleNamespace(host="127.0.0.1", port=port)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.session.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.session.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.session.post(path, **kwargs)


@pytest.fixture
async def served(clock, options):
    """The emulator on a socket as `nhn-proxy emulator` serves it: a handler whose client
    went away runs to its end (aiohttp's test server would cancel it instead)."""
    runner = web.AppRunner(create_app(options, clock=clock))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        yield Emu(SocketClient(session, port), clock)
    await runner.cleanup()


async def raw_put(emu, path: str, head: list[str], body: bytes, *, answer: bool) -> bytes:
    """Send a PUT byte for byte; then read the head of the answer (`answer`) or hang up at
    once, as a client that goes away."""
    server = emu.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    token = await emu.token(emu.storage_tenant)
    lines = [f"PUT {path} HTTP/1.1", "Host: localhost", f"X-Auth-Token: {token}", *head]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    received = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) if answer else b""
    writer.close()
    return received


async def settled_put(emu, path: str) -> dict:
    """The journal's entry of the PUT of `path` once the emulator has answered it."""
    for _ in range(500):
        response = await emu.client.get("/_emulator/requests", params={"method": "PUT"})
        entries = [e for e in (await response.json())["requests"] if e["path"] == path]
        if entries and entries[-1]["status"] is not None:
            return entries[-1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the emulator never answered the PUT of {path}")


async def test_a_large_object_lives_in_a_file_and_streams_back(swift):
    await swift("PUT", "/c")
    data = os.urandom(3 * MIB + 5)
    before = object_files()

    async def pieces():
        for start in range(0, len(data), MIB):
            yield data[start : start + MIB]

    put = await swift("PUT", "/c/big.bin", data=pieces())  # chunked
    assert put.status == 201
    assert put.headers["Etag"] == hashlib.md5(data).hexdigest()
    added = object_files() - before
    assert len(added) == 1  # on disk, not in memory
    got = await swift("GET", "/c/big.bin")
    assert got.status == 200
    assert got.headers["Content-Length"] == str(len(data))
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert await got.read() == data
    ranged = await swift("GET", "/c/big.bin", headers={"Range": f"bytes={2 * MIB}-{2 * MIB + 9}"})
    assert ranged.status == 206
    assert ranged.headers["Content-Range"] == f"bytes {2 * MIB}-{2 * MIB + 9}/{len(data)}"
    assert await ranged.read() == data[2 * MIB : 2 * MIB + 10]
    # a copy shares the bytes; the file goes once no object uses it
    copied = await swift("PUT", "/c/copy.bin", headers={"X-Copy-From": "c/big.bin"}, data=b"")
    assert copied.status == 201
    assert object_files() - before == added
    assert (await swift("DELETE", "/c/big.bin")).status == 204
    assert object_files() - before == added
    assert await (await swift("GET", "/c/copy.bin")).read() == data
    assert (await swift("PUT", "/c/copy.bin", data=b"small now")).status == 201
    assert object_files() - before == set()


async def test_reset_removes_the_object_files(emu, swift):
    await swift("PUT", "/c")
    before = object_files()
    assert (await swift("PUT", "/c/big", data=b"x" * (2 * MIB))).status == 201
    assert len(object_files() - before) == 1
    assert (await emu.client.post("/_emulator/reset")).status == 200
    assert object_files() - before == set()


async def test_a_body_shorter_than_its_length_stores_nothing(served):
    swift = served_swift(served)
    await swift("PUT", "/c")
    before = object_files()
    path = served.swift("/c/short.bin")
    await raw_put(served, path, ["Content-Length: 3000000"], b"x" * (2 * MIB), answer=False)
    assert (await settled_put(served, path))["status"] == 499  # Swift's Client Disconnect
    assert (await swift("GET", "/c/short.bin")).status == 404
    assert object_files() - before == set()  # the spooled part is gone too


async def test_a_chunked_body_without_its_last_chunk_stores_nothing(served):
    swift = served_swift(served)
    await swift("PUT", "/c")
    before = object_files()
    piece = b"y" * (2 * MIB)
    body = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"  # and no "0\r\n\r\n"
    path = served.swift("/c/cut.bin")
    await raw_put(served, path, ["Transfer-Encoding: chunked"], body, answer=False)
    assert (await settled_put(served, path))["status"] == 499
    assert (await swift("GET", "/c/cut.bin")).status == 404
    assert object_files() - before == set()


def served_swift(emu):
    async def call(method, path="", **kwargs):
        return await emu.call(method, emu.swift(path), tenant=emu.storage_tenant, **kwargs)

    return call


async def test_a_complete_chunked_body_is_stored(emu, swift):
    await swift("PUT", "/c")
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    path = emu.swift("/c/whole.txt")
    answer = await raw_put(emu, path, ["Transfer-Encoding: chunked"], body, answer=True)
    assert answer.startswith(b"HTTP/1.1 201")
    got = await swift("GET", "/c/whole.txt")
    assert await got.read() == b"hello world"
    assert got.headers["Content-Type"] == "text/plain"  # guessed from the name


async def test_upload_limits_and_checks(emu, swift):
    await swift("PUT", "/c")
    no_length = await raw_put(emu, emu.swift("/c/x"), [], b"", answer=True)
    assert no_length.startswith(b"HTTP/1.1 411")
    too_large = await raw_put(
        emu,
        emu.swift("/c/x"),
        [f"Content-Length: {5 * 1024**3 + 3}"],
        b"",
        answer=True,
    )
    assert too_large.startswith(b"HTTP/1.1 413")
    assert b"Request Entity Too Large" in too_large
    quoted = await swift("PUT", "/c/q", data=b"abc", headers={"ETag": f'"{md5(b"abc")}"'})
    assert quoted.status == 201
    upper = await swift("PUT", "/c/u", data=b"abc", headers={"ETag": md5(b"abc").upper()})
    assert upper.status == 201
    wrong = await swift("PUT", "/c/w", data=b"abc", headers={"ETag": md5(b"abd")})
    assert wrong.status == 422
    assert (await swift("GET", "/c/w")).status == 404
    typed = await swift("PUT", "/c/t.bin", data=b"{}", headers={"Content-Type": "text/x-kept"})
    assert typed.status == 201
    assert (await swift("HEAD", "/c/t.bin")).headers["Content-Type"] == "text/x-kept"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=0-4", 206, b"hello", "bytes 0-4/11"),
        ("bytes=6-", 206, b"world", "bytes 6-10/11"),
        ("bytes=-5", 206, b"world", "bytes 6-10/11"),
        ("bytes=6-99", 206, b"world", "bytes 6-10/11"),
        ("bytes=11-", 416, None, "bytes */11"),
        ("bytes=-0", 416, None, "bytes */11"),
        ("bytes=5-2", 200, b"hello world", None),  # not a range: ignored, as Swift does
        ("items=0-4", 200, b"hello world", None),
        ("bytes=0-1,5-6", 200, b"hello world", None),  # several: the emulator ignores them
    ],
)
async def test_ranges(swift, header, status, body, content_range):
    await swift("PUT", "/c")
    await swift("PUT", "/c/o.txt", data=b"hello world")
    got = await swift("GET", "/c/o.txt", headers={"Range": header})
    assert got.status == status
    assert got.headers.get("Content-Range") == content_range
    if body is not None:
        assert await got.read() == body
        assert got.headers["Content-Length"] == str(len(body))
    else:
        assert "Requested Range Not Satisfiable" in await got.text()


async def test_if_none_match_and_head(swift):
    await swift("PUT", "/c")
    await swift("PUT", "/c/o.txt", data=b"hello world", headers={"Content-Type": "text/plain"})
    etag = md5(b"hello world")
    for value in (etag, f'"{etag}"', f'"nope", "{etag}"', "*"):
        unchanged = await swift("GET", "/c/o.txt", headers={"If-None-Match": value})
        assert unchanged.status == 304, value
        assert await unchanged.read() == b""
        assert unchanged.headers["Etag"] == etag
        assert (await swift("HEAD", "/c/o.txt", headers={"If-None-Match": value})).status == 304
    changed = await swift("GET", "/c/o.txt", headers={"If-None-Match": md5(b"old")})
    assert changed.status == 200 and await changed.read() == b"hello world"
    head = await swift("HEAD", "/c/o.txt", headers={"Range": "bytes=0-1"})
    assert head.status == 200  # HEAD describes the whole object
    assert await head.read() == b""
    assert head.headers["Content-Length"] == "11"
    assert head.headers["Content-Type"] == "text/plain"
    assert head.headers["Etag"] == etag
    assert head.headers["Accept-Ranges"] == "bytes"
    assert "Last-Modified" in head.headers and "X-Timestamp" in head.headers


async def test_a_delimiter_listing_pages_past_a_folder_once(swift):
    await swift("PUT", "/c")
    for name in ("a", "b/1", "b/2", "b/3", "c"):
        await swift("PUT", f"/c/{name}", data=b"x")
    params = {"format": "json", "delimiter": "/", "limit": "2"}
    first = await (await swift("GET", "/c", params=params)).json()
    assert first == [
        {"name": "a", "hash": md5(b"x"), "bytes": 1, "content_type": first[0]["content_type"],
         "last_modified": first[0]["last_modified"]},
        {"subdir": "b/"},
    ]  # fmt: skip
    rest = await (await swift("GET", "/c", params={**params, "marker": "b/"})).json()
    # Swift does not repeat the folder the last page ended on
    assert [entry.get("name", entry.get("subdir")) for entry in rest] == ["c"]

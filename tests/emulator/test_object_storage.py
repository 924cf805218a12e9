"""Object Storage (Swift): listings, containers, objects, name rules and errors."""

from __future__ import annotations

import hashlib
import re

import pytest

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

"""Storage plugin: translation functions, container- and object-name rules, the container
routes and the object routes (listings with details, upload, download, HEAD, delete) with
NHN's Swift-compatible Object Storage mocked."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any

import pytest
from aioresponses import CallbackResult
from yarl import URL

import nhn_proxy.plugins.storage as storage
from nhn_proxy.app import create_app
from nhn_proxy.errors import BadRequest, UpstreamBadResponse
from nhn_proxy.keys import OPENAPI
from nhn_proxy.plugin_manager import load_plugins
from nhn_proxy.plugins.storage import (
    container_created_from_native,
    container_name_problem,
    listing_from_native,
    listing_query_to_native,
    object_created_from_native,
    object_headers_from_native,
    object_listing_from_native,
    object_name_problem,
    upload_headers_to_native,
)
from nhn_proxy.settings import SettingsError, load_settings
from tests.conftest import STORAGE_ACCOUNT, STORAGE_KR2, TOKEN, storage_headers

JSON_UTF8 = "application/json; charset=utf-8"
HTML = "text/html; charset=UTF-8"
# Native listings copied from shared/nhn-api/object-storage.md.
NATIVE_CONTAINERS = [
    {
        "name": "curl_example",
        "count": 3,
        "bytes": 148585,
        "last_modified": "2024-10-16T23:40:11.123450",
    },
    {"name": "photos", "count": 0, "bytes": 0, "last_modified": "2024-10-17T01:02:03.000000"},
]
NATIVE_OBJECTS = [
    {
        "name": "ba6610.jpg",
        "hash": "bad093d7f49dc495751cb3f7f8b2530c",
        "bytes": 148585,
        "content_type": "image/jpeg",
        "last_modified": "2022-05-30T15:16:43.289700",
    },
    {
        "name": "photos/2024/a.png",
        "hash": "9e107d9d372bb6826bd81d3542a419d6",
        "bytes": 2048,
        "content_type": "image/png",
        "last_modified": "2024-01-30T08:20:04.000000",
    },
]
SWIFT_404 = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
SWIFT_409 = (
    "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p>"
    "</html>"
)
FIRST_PAGE = "?format=json&limit=10000"


def listing(items: list[dict]) -> dict:
    """aioresponses arguments for a Swift JSON listing answer."""
    return {"body": json.dumps(items), "content_type": JSON_UTF8}


def assert_native(call, method: str, url: str) -> None:
    assert (call.method, call.url) == (method, url)
    assert call.headers["X-Auth-Token"] == TOKEN
    assert call.json is None


async def assert_refused(client, nhn, method: str, path, field: str, **kwargs) -> None:
    """400 naming `field` (or 404 when the path no longer matches any route); no NHN call."""
    response = await client.request(method, path, headers=storage_headers(), **kwargs)
    payload = await response.json()
    assert response.status in (400, 404), (path, kwargs, payload)
    assert payload["code"] == response.status
    if response.status == 400:
        assert field in payload["error"], (path, kwargs, payload)
    assert nhn.calls() == []


# ----------------------------------------------------------------------------- translation


def test_listing_query_to_native():
    assert listing_query_to_native(None) == {"format": "json", "limit": 10000}
    assert listing_query_to_native("photos", 2) == {
        "format": "json",
        "limit": 2,
        "marker": "photos",
    }


def test_listing_from_native_short_page_is_last():
    assert listing_from_native(NATIVE_CONTAINERS) == (["curl_example", "photos"], None)
    assert listing_from_native(NATIVE_OBJECTS) == (["ba6610.jpg", "photos/2024/a.png"], None)
    assert listing_from_native([]) == ([], None)


def test_listing_from_native_full_page_continues_after_last_name():
    assert listing_from_native(NATIVE_OBJECTS, 2) == (
        ["ba6610.jpg", "photos/2024/a.png"],
        "photos/2024/a.png",
    )


@pytest.mark.parametrize(
    "native",
    [{"containers": []}, "photos", [{"count": 3}], [{"name": 5}], ["photos"], None],
)
def test_listing_from_native_rejects_unexpected_shapes(native):
    with pytest.raises(UpstreamBadResponse):
        listing_from_native(native)


def test_container_created_from_native():
    assert container_created_from_native(201, "c") == ({"status": 201, "container": "c"}, 201)
    assert container_created_from_native(202, "c") == ({"status": 202, "container": "c"}, 202)


@pytest.mark.parametrize(
    "name", ["c", "my-new-container", "my+container@1", "사진", "...", "a" * 256, "가" * 85 + "a"]
)
def test_container_name_legal(name):
    assert container_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "a/b",
        "a b",
        "a;b",
        "a'b",
        'a"b',
        "a`b",
        "a<b",
        "a>b",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a\x7fb",
        "a\x85b",
        "a" * 257,
        "가" * 86,
        "\ud800",
    ],
)
def test_container_name_illegal(name):
    assert container_name_problem(name) is not None


# ----------------------------------------------------------------------------- list containers


async def test_list_containers(client, nhn):
    nhn.get(STORAGE_KR2 + FIRST_PAGE, **listing(NATIVE_CONTAINERS))
    response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
    assert response.status == 200
    assert await response.json() == {"containers": ["curl_example", "photos"]}
    assert_native(nhn.only_call(), "GET", STORAGE_KR2 + FIRST_PAGE)


async def test_list_containers_without_slash_empty_204(client, nhn):
    nhn.get(STORAGE_KR2 + FIRST_PAGE, status=204, body=b"")
    response = await client.get("/api/nhn/storage/containers", headers=storage_headers())
    assert response.status == 200
    assert await response.json() == {"containers": []}


async def test_list_containers_empty_json(client, nhn):
    nhn.get(STORAGE_KR2 + FIRST_PAGE, **listing([]))
    response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
    assert await response.json() == {"containers": []}


async def test_list_containers_follows_marker(client, nhn, monkeypatch):
    monkeypatch.setattr(storage, "PAGE_SIZE", 2)
    nhn.get(f"{STORAGE_KR2}?format=json&limit=2", **listing(NATIVE_CONTAINERS))
    nhn.get(
        f"{STORAGE_KR2}?format=json&limit=2&marker=photos",
        **listing([{"name": "videos", "count": 1, "bytes": 9, "last_modified": "x"}]),
    )
    response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
    assert response.status == 200
    assert await response.json() == {"containers": ["curl_example", "photos", "videos"]}
    assert [call.url for call in nhn.calls()] == [
        f"{STORAGE_KR2}?format=json&limit=2",
        f"{STORAGE_KR2}?format=json&limit=2&marker=photos",
    ]


async def test_list_containers_full_last_page_ends_on_empty_page(client, nhn, monkeypatch):
    monkeypatch.setattr(storage, "PAGE_SIZE", 2)
    nhn.get(f"{STORAGE_KR2}?format=json&limit=2", **listing(NATIVE_CONTAINERS))
    nhn.get(f"{STORAGE_KR2}?format=json&limit=2&marker=photos", **listing([]))
    response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
    assert await response.json() == {"containers": ["curl_example", "photos"]}
    assert len(nhn.calls()) == 2


async def test_endless_listing_is_502_after_max_pages(client, nhn, monkeypatch, settings):
    monkeypatch.setattr(storage, "PAGE_SIZE", 1)
    counter = iter(range(10_000))

    def endless(url, **kwargs):
        return CallbackResult(
            body=json.dumps([{"name": f"c{next(counter):05d}"}]), content_type=JSON_UTF8
        )

    nhn.get(re.compile(re.escape(STORAGE_KR2) + r"\?.*"), callback=endless, repeat=True)
    response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
    assert response.status == 502
    assert "pages" in (await response.json())["error"]
    assert len(nhn.calls()) == settings.upstream.max_pages


async def test_listing_that_is_not_a_json_array_is_502(client, nhn):
    answers = [
        {"payload": {"containers": ["a"]}},
        {"body": "curl_example\nphotos\n", "content_type": "text/plain; charset=utf-8"},
        {"body": "[{", "content_type": JSON_UTF8},
        {"body": json.dumps([{"count": 1}]), "content_type": JSON_UTF8},
    ]
    for answer in answers:
        nhn.get(STORAGE_KR2 + FIRST_PAGE, **answer)
        response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
        payload = await response.json()
        assert response.status == 502, (answer, payload)
        assert payload["code"] == 502 and "object_storage" in payload["error"]


async def test_storage_headers_are_checked_in_order(client, nhn):
    cases = [
        ({"X-NHN-Region": "kr2", "X-NHN-Storage-Account": STORAGE_ACCOUNT}, 401, "X-NHN-Token"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Storage-Account": STORAGE_ACCOUNT}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN}, 400, "X-NHN-Region"),
        ({"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2"}, 400, "X-NHN-Storage-Account"),
        (
            {"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2", "X-NHN-Storage-Account": "../AUTH_x"},
            400,
            "X-NHN-Storage-Account",
        ),
        (
            {"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2", "X-NHN-Storage-Account": "6dbc368b"},
            400,
            "X-NHN-Storage-Account",
        ),
    ]
    for path in ("/api/nhn/storage/containers/", "/api/nhn/storage/containers/photos/"):
        for headers, status, header in cases:
            response = await client.get(path, headers=headers)
            payload = await response.json()
            assert (response.status, payload["code"]) == (status, status), (headers, payload)
            assert header in payload["error"]
    response = await client.post(
        "/api/nhn/storage/containers/create/",
        json={"name": "c"},
        headers={"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2"},
    )
    assert response.status == 400
    assert "X-NHN-Storage-Account" in (await response.json())["error"]
    assert nhn.calls() == []


async def test_upstream_401_html_passes_through(client, nhn):
    nhn.get(
        STORAGE_KR2 + FIRST_PAGE,
        status=401,
        body="<html><h1>Unauthorized</h1><p>This server could not verify that you are "
        "authorized to access the document you requested.</p></html>",
        content_type=HTML,
    )
    response = await client.get("/api/nhn/storage/containers/", headers=storage_headers())
    assert response.status == 401
    assert await response.json() == {
        "error": "Unauthorized: This server could not verify that you are authorized to "
        "access the document you requested.",
        "code": 401,
    }


# ----------------------------------------------------------------------------- create container


async def test_create_container(client, nhn):
    nhn.put(f"{STORAGE_KR2}/my-new-container", status=201, body=b"", content_type=HTML)
    response = await client.post(
        "/api/nhn/storage/containers/create/",
        json={"name": "my-new-container"},
        headers=storage_headers(),
    )
    assert response.status == 201
    assert await response.json() == {"status": 201, "container": "my-new-container"}
    assert_native(nhn.only_call(), "PUT", f"{STORAGE_KR2}/my-new-container")


async def test_create_existing_container_is_202_without_slash(client, nhn):
    nhn.put(f"{STORAGE_KR2}/photos", status=202, body=b"")
    response = await client.post(
        "/api/nhn/storage/containers/create", json={"name": "photos"}, headers=storage_headers()
    )
    assert response.status == 202
    assert await response.json() == {"status": 202, "container": "photos"}


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("my+container@1", "my%2Bcontainer%401"),
        ("사진", "%EC%82%AC%EC%A7%84"),
        ("a%2Fb", "a%252Fb"),
        ("q?x=1#f&y", "q%3Fx%3D1%23f%26y"),
        ("가" * 85 + "a", "%EA%B0%80" * 85 + "a"),
    ],
)
async def test_create_container_encodes_name_as_one_segment(client, nhn, name, encoded):
    nhn.put(re.compile(re.escape(STORAGE_KR2) + "/.*"), status=201, body=b"")
    response = await client.post(
        "/api/nhn/storage/containers/create/", json={"name": name}, headers=storage_headers()
    )
    assert response.status == 201
    assert await response.json() == {"status": 201, "container": name}
    assert_native(nhn.only_call(), "PUT", f"{STORAGE_KR2}/{encoded}")


async def test_create_container_validation_names_the_field(client, nhn):
    bad_names = [
        "",
        ".",
        "..",
        "a/b",
        "../AUTH_other",
        "a b",
        "a;b",
        "a'b",
        'a"b',
        "a`b",
        "<script>",
        "a\\b",
        "a\x00b",
        "a\r\nX-Injected: 1",
        "x" * 257,
        "x" * 300,
        "가" * 86,
        "\ud800",
        "192.168.0.1",
        "::1",
        5,
        None,
        ["c"],
    ]
    for name in bad_names:
        body = {"name": name}
        path = "/api/nhn/storage/containers/create/"
        await assert_refused(client, nhn, "POST", path, "name", json=body)
    await assert_refused(client, nhn, "POST", path, "name", json={})
    await assert_refused(client, nhn, "POST", path, "extra", json={"name": "c", "extra": 1})


async def test_create_container_forbidden_passes_through(client, nhn):
    nhn.put(
        f"{STORAGE_KR2}/photos",
        status=403,
        body="<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>",
        content_type=HTML,
    )
    response = await client.post(
        "/api/nhn/storage/containers/create/", json={"name": "photos"}, headers=storage_headers()
    )
    assert response.status == 403
    assert await response.json() == {
        "error": "Forbidden: Access was denied to this resource.",
        "code": 403,
    }


# ----------------------------------------------------------------------------- list objects


async def test_list_objects(client, nhn):
    nhn.get(f"{STORAGE_KR2}/photos{FIRST_PAGE}", **listing(NATIVE_OBJECTS))
    response = await client.get("/api/nhn/storage/containers/photos/", headers=storage_headers())
    assert response.status == 200
    assert await response.json() == {"objects": ["ba6610.jpg", "photos/2024/a.png"]}
    assert_native(nhn.only_call(), "GET", f"{STORAGE_KR2}/photos{FIRST_PAGE}")


async def test_list_objects_without_slash_empty(client, nhn):
    nhn.get(f"{STORAGE_KR2}/photos{FIRST_PAGE}", status=204, body=b"")
    response = await client.get("/api/nhn/storage/containers/photos", headers=storage_headers())
    assert response.status == 200
    assert await response.json() == {"objects": []}


async def test_list_objects_of_container_named_create(client, nhn):
    nhn.get(f"{STORAGE_KR2}/create{FIRST_PAGE}", **listing(NATIVE_OBJECTS[:1]))
    response = await client.get("/api/nhn/storage/containers/create/", headers=storage_headers())
    assert response.status == 200
    assert await response.json() == {"objects": ["ba6610.jpg"]}


async def test_list_objects_follows_marker_with_encoded_names(client, nhn, monkeypatch):
    monkeypatch.setattr(storage, "PAGE_SIZE", 2)
    container = f"{STORAGE_KR2}/%EC%82%AC%EC%A7%84"
    first = [{"name": "a.txt"}, {"name": "folder/file 3&x=1.json"}]
    nhn.get(re.compile(re.escape(container) + r"\?format=json&limit=2$"), **listing(first))
    nhn.get(re.compile(re.escape(container) + r"\?.*marker=.*"), **listing([{"name": "z.txt"}]))
    response = await client.get(
        URL("/api/nhn/storage/containers/%EC%82%AC%EC%A7%84/", encoded=True),
        headers=storage_headers(),
    )
    assert response.status == 200
    assert await response.json() == {"objects": ["a.txt", "folder/file 3&x=1.json", "z.txt"]}
    assert [call.url for call in nhn.calls()] == [
        f"{container}?format=json&limit=2",
        f"{container}?format=json&limit=2&marker=folder/file+3%26x%3D1.json",
    ]


async def test_list_objects_legal_name_with_reserved_characters(client, nhn):
    nhn.get(re.compile(re.escape(STORAGE_KR2) + "/.*"), **listing([]))
    response = await client.get(
        URL("/api/nhn/storage/containers/my+container@1/", encoded=True),
        headers=storage_headers(),
    )
    assert response.status == 200
    assert_native(nhn.only_call(), "GET", f"{STORAGE_KR2}/my%2Bcontainer%401{FIRST_PAGE}")


async def test_list_objects_of_missing_container_is_404(client, nhn):
    nhn.get(f"{STORAGE_KR2}/nope{FIRST_PAGE}", status=404, body=SWIFT_404, content_type=HTML)
    response = await client.get("/api/nhn/storage/containers/nope/", headers=storage_headers())
    assert response.status == 404
    assert await response.json() == {
        "error": "Not Found: The resource could not be found.",
        "code": 404,
    }


# ----------------------------------------------------------------------------- delete container


async def test_delete_container(client, nhn):
    nhn.delete(f"{STORAGE_KR2}/photos", status=204)
    response = await client.delete("/api/nhn/storage/containers/photos/", headers=storage_headers())
    assert response.status == 204
    assert await response.read() == b""
    assert_native(nhn.only_call(), "DELETE", f"{STORAGE_KR2}/photos")


async def test_delete_korean_container_without_slash(client, nhn):
    nhn.delete(re.compile(re.escape(STORAGE_KR2) + "/.*"), status=204)
    response = await client.delete("/api/nhn/storage/containers/사진", headers=storage_headers())
    assert response.status == 204
    assert_native(nhn.only_call(), "DELETE", f"{STORAGE_KR2}/%EC%82%AC%EC%A7%84")


async def test_delete_non_empty_container_is_409(client, nhn):
    nhn.delete(f"{STORAGE_KR2}/photos", status=409, body=SWIFT_409, content_type=HTML)
    response = await client.delete("/api/nhn/storage/containers/photos/", headers=storage_headers())
    assert response.status == 409
    assert await response.json() == {
        "error": "Conflict: There was a conflict when trying to complete your request.",
        "code": 409,
    }


async def test_delete_missing_container_is_404(client, nhn):
    nhn.delete(f"{STORAGE_KR2}/photos", status=404, body=SWIFT_404, content_type=HTML)
    response = await client.delete("/api/nhn/storage/containers/photos", headers=storage_headers())
    assert response.status == 404
    assert await response.json() == {
        "error": "Not Found: The resource could not be found.",
        "code": 404,
    }


HOSTILE_NAMES = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "a%2Fb",
    "..%2F..%2FAUTH_other",
    "%2F",
    "a;b",
    "a%3Bb",
    "a%20b",
    "a%22b",
    "a%27b",
    "a%60b",
    "a%3Cb%3E",
    "a%5Cb",
    "a%00b",
    "a%0D%0AX-Injected:%201",
    "x" * 300,
    "x" * 257,
    "%EA%B0%80" * 86,
]


async def test_hostile_container_names_never_reach_nhn(client, nhn):
    for method in ("GET", "DELETE"):
        for raw in HOSTILE_NAMES:
            url = URL(f"/api/nhn/storage/containers/{raw}/", encoded=True)
            await assert_refused(client, nhn, method, url, "container_name")


async def raw_request(
    client, method: str, target: str, headers: dict[str, str]
) -> tuple[int, dict]:
    """Send `target` byte for byte (aiohttp's client would normalise `%2e%2e` away)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_dot_segments_sent_verbatim_are_400(client, nhn):
    for method in ("GET", "DELETE"):
        for raw in ("..", "%2e%2e", "%2E%2e", ".%2E", "."):
            target = f"/api/nhn/storage/containers/{raw}/"
            status, payload = await raw_request(client, method, target, storage_headers())
            assert (status, payload["code"]) == (400, 400), (method, raw, payload)
            assert "container_name" in payload["error"]
    assert nhn.calls() == []


# ============================================================================= objects
# Listings with details and filters, and the object routes (upload, download, HEAD,
# delete) with Swift mocked: the exact native request and the exact public answer. That
# the bytes really stream (never held whole) is proven end to end (tests/e2e/test_objects.py).

OBJECT_URL = f"{STORAGE_KR2}/photos/docs/a%20b/%ED%95%9C.txt"  # container photos, "docs/a b/한.txt"
PUBLIC_OBJECT = "/api/nhn/storage/containers/photos/objects/docs/a b/한.txt"
HELLO = b"hello world"
HELLO_MD5 = hashlib.md5(HELLO).hexdigest()
HELLO_MD5_BASE64 = base64.b64encode(hashlib.md5(HELLO).digest()).decode()
SWIFT_201 = "<html><h1>Created</h1><p></p></html>"
OBJECT_HEADERS = {
    "Content-Type": "text/plain",
    "Content-Length": str(len(HELLO)),
    "Etag": HELLO_MD5,
    "Last-Modified": "Mon, 30 May 2022 15:16:43 GMT",
    "X-Timestamp": "1653923802.28970",
    "Accept-Ranges": "bytes",
    "X-Object-Meta-Color": "blue",
    "X-Trans-Id": "tx3c30a8f0272c40f5979b4-0067104fa7",
}


def sent(nhn, method: str) -> tuple[str, dict[str, str], Any]:
    """(URL, headers, body) of the one native request of `method`."""
    found = [
        (str(url), request)
        for (verb, url), requests in nhn.requests.items()
        for request in requests
        if verb == method
    ]
    assert len(found) == 1, found
    url, request = found[0]
    return url, dict(request.kwargs.get("headers") or {}), request.kwargs.get("data")


@pytest.fixture
async def small_limit_client(aiohttp_client, nhn):
    """The proxy with `storage.max_object_size` = 10 bytes."""
    settings = load_settings(environ={}, overrides={"storage": {"max_object_size": 10}})
    return await aiohttp_client(create_app(settings))


def test_listing_query_to_native_with_filters():
    assert listing_query_to_native("a", 5, prefix="photos/", delimiter="/") == {
        "format": "json",
        "limit": 5,
        "prefix": "photos/",
        "delimiter": "/",
        "marker": "a",
    }


def test_object_listing_from_native_names_details_and_folders():
    native = [*NATIVE_OBJECTS, {"subdir": "photos/2025/"}]
    assert object_listing_from_native(native) == (
        ["ba6610.jpg", "photos/2024/a.png", {"prefix": "photos/2025/"}],
        None,
    )
    entries, marker = object_listing_from_native(native, 3, detail=True)
    assert entries == [*NATIVE_OBJECTS, {"prefix": "photos/2025/"}]
    # Swift continues after the last entry, a pseudo-folder included
    assert marker == "photos/2025/"
    assert object_listing_from_native([], detail=True) == ([], None)


def test_object_listing_from_native_keeps_only_the_spec_fields():
    extra = {**NATIVE_OBJECTS[0], "slo_etag": "x", "symlink_path": "y"}
    assert object_listing_from_native([extra], detail=True)[0] == [NATIVE_OBJECTS[0]]


@pytest.mark.parametrize(
    "native",
    [
        {"objects": []},
        [None],
        [{"subdir": 5}],
        [{"name": "a"}],  # detail fields missing
        [{**NATIVE_OBJECTS[0], "bytes": "148585"}],
        [{**NATIVE_OBJECTS[0], "bytes": True}],
        [{**NATIVE_OBJECTS[0], "hash": None}],
    ],
)
def test_object_listing_from_native_rejects_unexpected_shapes(native):
    with pytest.raises(UpstreamBadResponse):
        object_listing_from_native(native, detail=True)


def test_upload_headers_to_native():
    assert upload_headers_to_native({"Content-Type": "image/png"}, "a.bin", 3) == {
        "Content-Type": "image/png",
        "Content-Length": "3",
    }
    # no type: guessed from the name as Swift does, from Python's own table
    assert upload_headers_to_native({}, "docs/a.txt", None) == {"Content-Type": "text/plain"}
    assert upload_headers_to_native({}, "photos/a.PNG", 1)["Content-Type"] == "image/png"
    assert upload_headers_to_native({}, "blob", 1)["Content-Type"] == "application/octet-stream"
    # Content-MD5 (base64) and ETag (hex, quoted or not) are Swift's ETag in hex
    by_md5 = upload_headers_to_native({"Content-MD5": HELLO_MD5_BASE64}, "a", 11)
    assert by_md5["ETag"] == HELLO_MD5
    quoted = upload_headers_to_native({"ETag": f'"{HELLO_MD5.upper()}"'}, "a", 11)
    assert quoted["ETag"] == HELLO_MD5
    both = {"Content-MD5": HELLO_MD5_BASE64, "ETag": HELLO_MD5}
    assert upload_headers_to_native(both, "a", 11)["ETag"] == HELLO_MD5


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-MD5": "not base64!"}, "Content-MD5"),
        ({"Content-MD5": base64.b64encode(b"short").decode()}, "Content-MD5"),
        ({"ETag": "abc"}, "ETag"),
        ({"ETag": "z" * 32}, "ETag"),
        ({"Content-MD5": HELLO_MD5_BASE64, "ETag": "0" * 32}, "different digests"),
    ],
)
def test_upload_digests_that_cannot_be_read_are_400(headers, named):
    with pytest.raises(BadRequest, match=named):
        upload_headers_to_native(headers, "a", 1)


def test_object_created_from_native():
    answer = object_created_from_native({"Etag": HELLO_MD5}, "a/b", 11, None)
    assert answer == {"object": {"name": "a/b", "bytes": 11, "hash": HELLO_MD5}}
    # an RFC-compliant-ETags container quotes it
    quoted = object_created_from_native({"Etag": f'"{HELLO_MD5}"'}, "a", 11, HELLO_MD5)
    assert quoted["object"]["hash"] == HELLO_MD5
    with pytest.raises(UpstreamBadResponse, match="Etag"):
        object_created_from_native({}, "a", 11, None)
    with pytest.raises(UpstreamBadResponse, match="not the one announced"):
        object_created_from_native({"Etag": "0" * 32}, "a", 11, HELLO_MD5)


def test_object_headers_from_native_pass_only_what_a_download_needs():
    assert object_headers_from_native({**OBJECT_HEADERS, "Content-Range": "bytes 0-4/11"}) == {
        "ETag": HELLO_MD5,
        "Last-Modified": "Mon, 30 May 2022 15:16:43 GMT",
        "Accept-Ranges": "bytes",
        "Content-Range": "bytes 0-4/11",
    }


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("x" * 1025, "1024"),
        ("한" * 342, "1024 bytes"),  # 1026 bytes of UTF-8 in 342 characters
    ],
)
def test_object_name_problem(name, problem):
    assert problem in (object_name_problem(name) or "")


@pytest.mark.parametrize("name", ["a", "docs/a b.txt", "사진/2024/a.png", "x" * 1024, "..", "a/"])
def test_object_name_legal(name):
    assert object_name_problem(name) is None


# ----------------------------------------------------------------------------- listings


async def test_list_objects_detail_gives_every_field(client, nhn):
    nhn.get(f"{STORAGE_KR2}/photos{FIRST_PAGE}", **listing(NATIVE_OBJECTS))
    response = await client.get(
        "/api/nhn/storage/containers/photos/?detail=true", headers=storage_headers()
    )
    assert response.status == 200
    assert await response.json() == {"objects": NATIVE_OBJECTS}
    assert_native(nhn.only_call(), "GET", f"{STORAGE_KR2}/photos{FIRST_PAGE}")


async def test_list_objects_detail_false_is_the_name_list(client, nhn):
    nhn.get(f"{STORAGE_KR2}/photos{FIRST_PAGE}", **listing(NATIVE_OBJECTS))
    response = await client.get(
        "/api/nhn/storage/containers/photos/?detail=false", headers=storage_headers()
    )
    assert await response.json() == {"objects": ["ba6610.jpg", "photos/2024/a.png"]}


async def test_list_objects_prefix_and_delimiter_give_folders_as_prefixes(client, nhn):
    # (aioresponses shows the query sorted)
    native_url = f"{STORAGE_KR2}/photos?delimiter=/&format=json&limit=10000&prefix=photos/"
    native = [{"subdir": "photos/2024/"}, {**NATIVE_OBJECTS[0], "name": "photos/c.png"}]
    nhn.get(native_url, **listing(native))
    query = "prefix=photos/&delimiter=/"
    response = await client.get(
        f"/api/nhn/storage/containers/photos/?{query}", headers=storage_headers()
    )
    assert response.status == 200
    assert await response.json() == {"objects": [{"prefix": "photos/2024/"}, "photos/c.png"]}
    assert_native(nhn.only_call(), "GET", native_url)


async def test_list_objects_with_limit_is_one_page(client, nhn):
    native_url = f"{STORAGE_KR2}/photos?format=json&limit=2&marker=a.txt"
    nhn.get(native_url, **listing(NATIVE_OBJECTS))
    response = await client.get(
        "/api/nhn/storage/containers/photos/?limit=2&marker=a.txt&detail=true",
        headers=storage_headers(),
    )
    assert response.status == 200
    # a full page: the caller asks for the next one with marker=photos/2024/a.png
    assert await response.json() == {"objects": NATIVE_OBJECTS}
    assert_native(nhn.only_call(), "GET", native_url)


async def test_list_objects_from_a_marker_reads_every_page_after_it(client, nhn, monkeypatch):
    monkeypatch.setattr(storage, "PAGE_SIZE", 2)
    container = f"{STORAGE_KR2}/photos?format=json&limit=2"
    nhn.get(f"{container}&marker=a", **listing([{"name": "b"}, {"name": "c"}]))
    nhn.get(f"{container}&marker=c", **listing([{"name": "d"}]))
    response = await client.get(
        "/api/nhn/storage/containers/photos/?marker=a", headers=storage_headers()
    )
    assert await response.json() == {"objects": ["b", "c", "d"]}
    assert [call.url for call in nhn.calls()] == [f"{container}&marker=a", f"{container}&marker=c"]


async def test_list_objects_pages_on_after_a_folder(client, nhn, monkeypatch):
    monkeypatch.setattr(storage, "PAGE_SIZE", 2)
    container = f"{STORAGE_KR2}/photos?delimiter=/&format=json&limit=2"
    nhn.get(container, **listing([{"name": "a"}, {"subdir": "b/"}]))
    nhn.get(f"{container}&marker=b/", **listing([{"name": "c"}]))
    response = await client.get(
        "/api/nhn/storage/containers/photos/?delimiter=/", headers=storage_headers()
    )
    assert await response.json() == {"objects": ["a", {"prefix": "b/"}, "c"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=x", "limit"),
        ("delimiter=ab", "delimiter"),
        ("detail=yes", "detail"),
        ("detail=1", "detail"),
        ("prefix=", "prefix"),
    ],
)
async def test_list_objects_bad_query_is_400(client, nhn, query, field):
    response = await client.get(
        f"/api/nhn/storage/containers/photos/?{query}", headers=storage_headers()
    )
    payload = await response.json()
    assert response.status == 400 and field in payload["error"], payload
    assert nhn.calls() == []


# ----------------------------------------------------------------------------- upload


async def test_upload_streams_the_body_with_its_length_type_and_digest(client, nhn):
    nhn.put(OBJECT_URL, status=201, body=SWIFT_201, content_type=HTML, headers={"Etag": HELLO_MD5})
    response = await client.put(
        PUBLIC_OBJECT,
        data=HELLO,
        headers={
            **storage_headers(),
            "Content-Type": "text/plain; charset=utf-8",
            "Content-MD5": HELLO_MD5_BASE64,
            "X-Object-Meta-Ignored": "not passed",
        },
    )
    assert response.status == 201
    assert await response.json() == {
        "object": {"name": "docs/a b/한.txt", "bytes": 11, "hash": HELLO_MD5}
    }
    url, headers, body = sent(nhn, "PUT")
    assert url == OBJECT_URL
    assert body == HELLO
    assert headers["X-Auth-Token"] == TOKEN
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Length"] == "11"
    assert headers["ETag"] == HELLO_MD5  # Swift checks the body against it (422)
    assert "Content-MD5" not in headers and "X-Object-Meta-Ignored" not in headers


async def raw_chunked_put(client, target: str, headers: dict[str, str], *pieces: bytes):
    """PUT with `Transfer-Encoding: chunked`, byte for byte (aioresponses would join an
    async body of the test client into one sized body): (status, JSON answer)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"PUT {target} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    for piece in pieces:
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_upload_chunked_is_sent_chunked_and_typed_by_its_name(client, nhn):
    nhn.put(OBJECT_URL, status=201, body=SWIFT_201, content_type=HTML, headers={"Etag": HELLO_MD5})
    target = str(URL(PUBLIC_OBJECT).raw_path)
    status, answer = await raw_chunked_put(
        client, target, storage_headers(), b"hello", b" ", b"world"
    )
    assert status == 201
    assert answer["object"]["bytes"] == 11
    _url, headers, body = sent(nhn, "PUT")
    assert body == HELLO
    assert "Content-Length" not in headers  # no length announced: chunked to NHN too
    assert headers["Content-Type"] == "text/plain"  # guessed from ".txt", as Swift would
    assert "ETag" not in headers


async def test_upload_of_an_empty_object(client, nhn):
    empty = hashlib.md5(b"").hexdigest()
    nhn.put(OBJECT_URL, status=201, body=SWIFT_201, content_type=HTML, headers={"Etag": empty})
    response = await client.put(PUBLIC_OBJECT, data=b"", headers=storage_headers())
    assert response.status == 201
    assert (await response.json())["object"] == {
        "name": "docs/a b/한.txt",
        "bytes": 0,
        "hash": empty,
    }
    assert sent(nhn, "PUT")[1]["Content-Length"] == "0"


async def test_upload_over_the_limit_is_413_before_any_call(small_limit_client, nhn):
    response = await small_limit_client.put(
        PUBLIC_OBJECT, data=b"x" * 11, headers=storage_headers()
    )
    payload = await response.json()
    assert response.status == 413
    assert payload["code"] == 413
    assert "storage.max_object_size" in payload["error"] and "segments" in payload["error"]
    assert nhn.requests == {}


async def test_chunked_upload_passing_the_limit_is_413(small_limit_client, nhn):
    nhn.put(OBJECT_URL, status=201, body=SWIFT_201, content_type=HTML, headers={"Etag": "x"})
    target = str(URL(PUBLIC_OBJECT).raw_path)
    status, payload = await raw_chunked_put(
        small_limit_client, target, storage_headers(), b"x" * 6, b"x" * 6
    )
    assert status == 413 and "segments" in payload["error"], payload


async def test_chunked_upload_at_the_limit_is_accepted(small_limit_client, nhn):
    digest = hashlib.md5(b"x" * 10).hexdigest()
    nhn.put(OBJECT_URL, status=201, body=SWIFT_201, content_type=HTML, headers={"Etag": digest})
    target = str(URL(PUBLIC_OBJECT).raw_path)
    status, answer = await raw_chunked_put(
        small_limit_client, target, storage_headers(), b"x" * 4, b"x" * 6
    )
    assert status == 201, answer
    assert sent(nhn, "PUT")[2] == b"x" * 10


async def test_upload_with_an_unreadable_digest_is_400_before_any_call(client, nhn):
    response = await client.put(
        PUBLIC_OBJECT, data=HELLO, headers={**storage_headers(), "Content-MD5": "nope"}
    )
    payload = await response.json()
    assert response.status == 400 and "Content-MD5" in payload["error"]
    assert nhn.requests == {}


async def test_upload_whose_body_nhn_refuses_is_nhns_422(client, nhn):
    nhn.put(
        OBJECT_URL,
        status=422,
        body="<html><h1>Unprocessable Entity</h1><p>Unable to process the contained "
        "instructions</p></html>",
        content_type=HTML,
    )
    response = await client.put(
        PUBLIC_OBJECT, data=HELLO, headers={**storage_headers(), "ETag": "0" * 32}
    )
    assert response.status == 422
    assert await response.json() == {
        "error": "Unprocessable Entity: Unable to process the contained instructions",
        "code": 422,
    }


async def test_upload_into_a_missing_container_is_404(client, nhn):
    nhn.put(OBJECT_URL, status=404, body=SWIFT_404, content_type=HTML)
    response = await client.put(PUBLIC_OBJECT, data=HELLO, headers=storage_headers())
    assert response.status == 404
    assert (await response.json())["code"] == 404


async def test_upload_stored_with_another_digest_is_502(client, nhn):
    nhn.put(OBJECT_URL, status=201, body=SWIFT_201, content_type=HTML, headers={"Etag": "0" * 32})
    response = await client.put(
        PUBLIC_OBJECT, data=HELLO, headers={**storage_headers(), "ETag": HELLO_MD5}
    )
    assert response.status == 502


# ----------------------------------------------------------------------------- download


async def test_download_streams_the_bytes_with_their_headers(client, nhn):
    nhn.get(OBJECT_URL, status=200, body=HELLO, headers=OBJECT_HEADERS)
    response = await client.get(PUBLIC_OBJECT, headers=storage_headers())
    assert response.status == 200
    assert await response.read() == HELLO
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Length"] == "11"
    assert response.headers["ETag"] == HELLO_MD5
    assert response.headers["Last-Modified"] == "Mon, 30 May 2022 15:16:43 GMT"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Request-ID"]
    # NHN's own ids and the object's metadata stay behind
    assert "X-Object-Meta-Color" not in response.headers
    assert "X-Trans-Id" not in response.headers
    url, headers, _body = sent(nhn, "GET")
    assert url == OBJECT_URL
    assert headers["X-Auth-Token"] == TOKEN
    assert headers["Accept-Encoding"] == "identity"  # the bytes as stored
    assert "Range" not in headers and "If-None-Match" not in headers


async def test_download_of_a_range_is_206(client, nhn):
    nhn.get(
        OBJECT_URL,
        status=206,
        body=b"hello",
        headers={**OBJECT_HEADERS, "Content-Length": "5", "Content-Range": "bytes 0-4/11"},
    )
    response = await client.get(PUBLIC_OBJECT, headers={**storage_headers(), "Range": "bytes=0-4"})
    assert response.status == 206
    assert await response.read() == b"hello"
    assert response.headers["Content-Range"] == "bytes 0-4/11"
    assert response.headers["Content-Length"] == "5"
    assert sent(nhn, "GET")[1]["Range"] == "bytes=0-4"


async def test_download_of_an_unchanged_object_is_304(client, nhn):
    headers = {k: v for k, v in OBJECT_HEADERS.items() if k not in ("Content-Length",)}
    nhn.get(OBJECT_URL, status=304, body=b"", headers=headers)
    response = await client.get(
        PUBLIC_OBJECT, headers={**storage_headers(), "If-None-Match": HELLO_MD5}
    )
    assert response.status == 304
    assert await response.read() == b""
    assert response.headers["ETag"] == HELLO_MD5
    assert sent(nhn, "GET")[1]["If-None-Match"] == HELLO_MD5


async def test_download_errors_are_nhns(client, nhn):
    nhn.get(OBJECT_URL, status=404, body=SWIFT_404, content_type=HTML)
    response = await client.get(PUBLIC_OBJECT, headers=storage_headers())
    assert response.status == 404
    assert await response.json() == {
        "error": "Not Found: The resource could not be found.",
        "code": 404,
    }
    nhn.get(
        OBJECT_URL,
        status=416,
        body="<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not "
        "available.</p></html>",
        content_type=HTML,
        headers={"Content-Range": "bytes */11"},
    )
    response = await client.get(PUBLIC_OBJECT, headers={**storage_headers(), "Range": "bytes=99-"})
    assert response.status == 416
    assert (await response.json())["code"] == 416


async def test_head_gives_the_headers_of_a_download(client, nhn):
    nhn.head(OBJECT_URL, status=200, headers=OBJECT_HEADERS)
    response = await client.head(PUBLIC_OBJECT, headers=storage_headers())
    assert response.status == 200
    assert await response.read() == b""
    assert response.headers["Content-Length"] == "11"
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["ETag"] == HELLO_MD5
    assert response.headers["Last-Modified"] == "Mon, 30 May 2022 15:16:43 GMT"
    url, headers, _body = sent(nhn, "HEAD")
    assert url == OBJECT_URL and headers["X-Auth-Token"] == TOKEN


async def test_head_of_an_unchanged_object_is_304(client, nhn):
    nhn.head(OBJECT_URL, status=304, headers={"Etag": HELLO_MD5})
    response = await client.head(
        PUBLIC_OBJECT, headers={**storage_headers(), "If-None-Match": HELLO_MD5}
    )
    assert response.status == 304
    assert sent(nhn, "HEAD")[1]["If-None-Match"] == HELLO_MD5


async def test_head_of_a_missing_object_is_404(client, nhn):
    nhn.head(OBJECT_URL, status=404)
    response = await client.head(PUBLIC_OBJECT, headers=storage_headers())
    assert response.status == 404


async def test_delete_object(client, nhn):
    nhn.delete(OBJECT_URL, status=204)
    response = await client.delete(PUBLIC_OBJECT, headers=storage_headers())
    assert response.status == 204
    assert await response.read() == b""
    assert_native(nhn.only_call(), "DELETE", OBJECT_URL)


async def test_delete_missing_object_is_404(client, nhn):
    nhn.delete(OBJECT_URL, status=404, body=SWIFT_404, content_type=HTML)
    response = await client.delete(PUBLIC_OBJECT, headers=storage_headers())
    assert response.status == 404


# ----------------------------------------------------------------------------- object names


@pytest.mark.parametrize(
    ("public", "native"),
    [
        ("a.txt", "a.txt"),
        ("folder/", "folder/"),  # a pseudo-folder marker object keeps its slash
        ("a%2Fb", "a/b"),  # an encoded slash is a slash: one name, whichever way sent
        ("a+b&c=d?.txt".replace("?", "%3F"), "a%2Bb%26c%3Dd%3F.txt"),
        ("%EC%82%AC%EC%A7%84/%20a", "%EC%82%AC%EC%A7%84/%20a"),
    ],
)
async def test_object_names_are_encoded_segment_by_segment(client, nhn, public, native):
    nhn.delete(re.compile(re.escape(STORAGE_KR2) + "/.*"), status=204)
    url = URL(f"/api/nhn/storage/containers/photos/objects/{public}", encoded=True)
    response = await client.delete(url, headers=storage_headers())
    assert response.status == 204, await response.text()
    assert_native(nhn.only_call(), "DELETE", f"{STORAGE_KR2}/photos/{native}")


async def test_dot_segments_of_an_object_name_stay_in_the_container(client, nhn):
    """Sent byte for byte (aiohttp's client would resolve them away): NHN gets every dot
    segment encoded, so no name reaches above its container."""
    nhn.delete(re.compile(re.escape(STORAGE_KR2) + "/.*"), status=204, repeat=True)
    cases = {
        "x/%2E%2E/y": "x/%2E%2E/y",
        "x/../y": "x/%2E%2E/y",
        "%2e%2e/%2e%2e/AUTH_other/c/o": "%2E%2E/%2E%2E/AUTH_other/c/o",
        "../../x": "%2E%2E/%2E%2E/x",
        "./a": "%2E/a",
    }
    for raw in cases:
        target = f"/api/nhn/storage/containers/photos/objects/{raw}"
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        lines = [f"DELETE {target} HTTP/1.1", "Host: localhost", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in storage_headers().items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 204"), raw
        writer.close()
    assert [call.url for call in nhn.calls()] == [
        f"{STORAGE_KR2}/photos/{native}" for native in cases.values()
    ]


@pytest.mark.parametrize(
    "raw",
    ["a%0Ab", "a%00b", "a%7Fb", "x" * 1025, "%ED%95%9C" * 342, "a%0D%0AX-Injected:%201"],
)
async def test_hostile_object_names_never_reach_nhn(client, nhn, raw):
    for method in ("GET", "DELETE", "HEAD", "PUT"):
        url = URL(f"/api/nhn/storage/containers/photos/objects/{raw}", encoded=True)
        response = await client.request(method, url, headers=storage_headers(), data=b"x")
        # 400 naming the parameter, or 404 where aiohttp's route does not match a line
        # break at all
        assert response.status in (400, 404), (method, raw)
        if method != "HEAD" and response.status == 400:
            assert "object_name" in (await response.json())["error"]
    assert nhn.requests == {}


async def test_object_routes_need_the_storage_headers(client, nhn):
    response = await client.get(PUBLIC_OBJECT, headers={"X-NHN-Token": TOKEN})
    assert response.status == 400
    assert "X-NHN-Region" in (await response.json())["error"]
    assert nhn.requests == {}


# ----------------------------------------------------------------------------- settings, docs


def storage_section(settings) -> dict[str, Any]:
    return dict(load_plugins(settings).config(settings).section("storage"))


def test_the_storage_section_defaults_to_nhns_single_object_limit():
    assert storage_section(load_settings(environ={})) == {"max_object_size": 5 * 1024**3}


@pytest.mark.parametrize("value", [0, -1, "big", 1.5])
def test_a_bad_max_object_size_stops_start_up(value):
    settings = load_settings(environ={}, overrides={"storage": {"max_object_size": value}})
    with pytest.raises(SettingsError, match=r"settings \[storage\]: max_object_size"):
        create_app(settings)


def test_the_environment_sets_max_object_size():
    settings = load_settings(environ={"NHN_PROXY_STORAGE_MAX_OBJECT_SIZE": "1048576"})
    assert storage_section(settings) == {"max_object_size": 1048576}


def test_the_object_routes_are_documented(settings):
    document = create_app(settings)[OPENAPI]
    item = document["paths"]["/api/nhn/storage/containers/{container_name}/objects/{object_name}"]
    assert set(item) == {"put", "get", "head", "delete"}
    put = item["put"]
    assert put["requestBody"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    assert {"201", "413", "422"} <= set(put["responses"])
    assert {p["name"] for p in put["parameters"] if p["in"] == "header"} >= {"Content-MD5", "ETag"}
    get = item["get"]
    assert {"200", "206", "304", "416"} <= set(get["responses"])
    assert get["responses"]["206"]["content"] == get["responses"]["200"]["content"]
    assert {p["name"] for p in get["parameters"] if p["in"] == "header"} >= {
        "Range",
        "If-None-Match",
    }
    assert item["head"]["responses"]["200"] == {"description": "success, no body"}
    listing_query = {
        p["name"]
        for p in document["paths"]["/api/nhn/storage/containers/{container_name}/"]["get"][
            "parameters"
        ]
        if p["in"] == "query"
    }
    assert listing_query == {"detail", "prefix", "delimiter", "limit", "marker"}


# ----------------------------------------------------------------------------- browsers


async def test_a_browser_console_may_send_and_read_the_object_headers(client, nhn):
    """CORS: a SPA of an allowed origin may send Range, If-None-Match, Content-MD5 and ETag
    (a preflight says so, HEAD included) and read a download's ETag and Content-Range."""
    origin = {"Origin": "http://localhost:3000"}
    for method, wanted in (
        ("GET", "x-nhn-token,x-nhn-region,x-nhn-storage-account,range,if-none-match"),
        ("HEAD", "x-nhn-token,if-none-match"),
        ("PUT", "x-nhn-token,content-type,content-md5,etag"),
    ):
        preflight = await client.options(
            PUBLIC_OBJECT,
            headers={
                **origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": wanted,
            },
        )
        assert preflight.status == 200, (method, await preflight.text())
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert set(wanted.split(",")) <= set(allowed.split(",")), (method, allowed)
    nhn.get(
        OBJECT_URL,
        status=206,
        body=b"hello",
        headers={**OBJECT_HEADERS, "Content-Length": "5", "Content-Range": "bytes 0-4/11"},
    )
    response = await client.get(
        PUBLIC_OBJECT, headers={**origin, **storage_headers(), "Range": "bytes=0-4"}
    )
    assert response.status == 206
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    exposed = {
        name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"ETag", "Content-Range", "Accept-Ranges", "X-Request-ID"} <= exposed

"""Storage plugin: translation functions, container-name rules and the container routes with
NHN's Swift-compatible Object Storage mocked."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from aioresponses import CallbackResult
from yarl import URL

import nhn_proxy.plugins.storage as storage
from nhn_proxy.errors import UpstreamBadResponse
from nhn_proxy.plugins.storage import (
    container_created_from_native,
    container_name_problem,
    listing_from_native,
    listing_query_to_native,
)
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

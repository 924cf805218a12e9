"""Volume plugin: translation functions, every route with NHN block storage mocked (exact
native request and public answer), and the `volume.create` watcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from marshmallow import ValidationError

from nhn_proxy.app import create_app
from nhn_proxy.context import NhnContext
from nhn_proxy.errors import UpstreamBadResponse, UpstreamHTTPError
from nhn_proxy.plugin import Header, PluginConfig, PollState, Watcher
from nhn_proxy.plugins.volume import (
    RESOURCE_TYPE,
    VOLUME_CREATE,
    VolumeCreateRequestSchema,
    created_volume_id,
    nhn_proxy_demo_examples,
    nhn_proxy_routes,
    poll_created_volume,
    volume_from_native,
    volume_to_native,
    volume_types_from_native,
    volumes_page_from_native,
)
from nhn_proxy.routing import Call, RouteEnvironment
from nhn_proxy.settings import Settings, load_settings
from nhn_proxy.upstream import Upstream
from tests.conftest import BLOCK_STORAGE_KR2, DEMO, TENANT, TOKEN, compute_headers

BLOCK_STORAGE_KR1 = f"https://kr1-api-block-storage-infrastructure.nhncloudservice.com/v2/{TENANT}"
VOLUME_ID = "17975e9d-1533-40db-bd02-2072cd2ccb7f"
SECOND_ID = "27975e9d-1533-40db-bd02-2072cd2ccb7e"
THIRD_ID = "37975e9d-1533-40db-bd02-2072cd2ccb7d"
NEW_ID = "87882cf4-ca05-4ef2-b598-b93b2caf041e"
SERVER_ID = "4b293d31-ebd5-4a7f-be03-874b90021e54"
LIST_URL = f"{BLOCK_STORAGE_KR2}/volumes/detail?limit=1000"
VOLUME_URL = f"{BLOCK_STORAGE_KR2}/volumes/{VOLUME_ID}"
NEW_URL = f"{BLOCK_STORAGE_KR2}/volumes/{NEW_ID}"


def _links(volume_id: str) -> list[dict[str, str]]:
    # NHN's examples still name the legacy host; the proxy never calls link hosts
    host = "https://kr1-api-block-storage.infrastructure.cloud.toast.com"
    return [
        {"href": f"{host}/v2/{TENANT}/volumes/{volume_id}", "rel": "self"},
        {"href": f"{host}/{TENANT}/volumes/{volume_id}", "rel": "bookmark"},
    ]


def native_volume(
    volume_id: str = VOLUME_ID,
    *,
    name: str | None = "data-01",
    status: str = "in-use",
    attached: bool = True,
    **more: Any,
) -> dict[str, Any]:
    """A volume as NHN's detail listing and GET show it (every documented field)."""
    attachments = (
        [
            {
                "server_id": SERVER_ID,
                "attachment_id": "0c5d2b3e-7a0b-4d9c-9f56-6a0c8d2f1e11",
                "volume_id": volume_id,
                "device": "/dev/vdb",
                "id": volume_id,
            }
        ]
        if attached
        else []
    )
    return {
        "id": volume_id,
        "name": name,
        "status": status,
        "size": 50,
        "volume_type": "General HDD",
        "availability_zone": "kr2-pub-a",
        "bootable": "false",
        "encrypted": False,
        "multiattach": False,
        "attachments": attachments,
        "links": _links(volume_id),
        "snapshot_id": None,
        "source_volid": None,
        "consistencygroup_id": None,
        "user_id": "5e6524d826084188ae549815b3e33380",
        "os-vol-tenant-attr:tenant_id": TENANT,
        "metadata": {},
        "description": None,
        "created_at": "2018-12-18T05:43:12.000000",
        "replication_status": "disabled",
        "os-volume-replication:extended_status": None,
        "os-volume-replication:driver_data": None,
        **more,
    }


def public_volume(
    volume_id: str = VOLUME_ID,
    *,
    name: str | None = "data-01",
    status: str = "in-use",
    attached: bool = True,
) -> dict[str, Any]:
    return {
        "id": volume_id,
        "name": name,
        "size": 50,
        "status": status,
        "volume_type": "General HDD",
        "availability_zone": "kr2-pub-a",
        "attachments": [{"server_id": SERVER_ID, "device": "/dev/vdb"}] if attached else [],
        "created_at": "2018-12-18T05:43:12.000000",
    }


def native_created(status: str = "creating") -> dict[str, Any]:
    """NHN's create answer (202): the new volume, not yet usable."""
    return {
        "volume": native_volume(
            NEW_ID,
            name="my-data-volume",
            status=status,
            attached=False,
            size=10,
            volume_type="General SSD",
            created_at="2020-03-03T10:54:33.163206",
        )
    }


def public_created(status: str = "creating") -> dict[str, Any]:
    return {
        "volume": {
            "id": NEW_ID,
            "name": "my-data-volume",
            "size": 10,
            "status": status,
            "volume_type": "General SSD",
            "availability_zone": "kr2-pub-a",
            "attachments": [],
            "created_at": "2020-03-03T10:54:33.163206",
        }
    }


NATIVE_TYPES = {
    "volume_types": [
        {
            "os-volume-type-access:is_public": True,
            "extra_specs": {"volume_backend_name": "ssd_general"},
            "id": "4e36aa51-df30-422e-aff1-eba1f3d9612f",
            "name": "General SSD",
            "description": None,
        },
        {
            "os-volume-type-access:is_public": True,
            "extra_specs": {"volume_backend_name": "hdd_general"},
            "id": "6bda35e2-b2b9-497a-8f65-67a73839c856",
            "name": "General HDD",
            "description": None,
        },
    ]
}
PUBLIC_TYPES = {
    "volume_types": [
        {"id": "4e36aa51-df30-422e-aff1-eba1f3d9612f", "name": "General SSD"},
        {"id": "6bda35e2-b2b9-497a-8f65-67a73839c856", "name": "General HDD"},
    ]
}
CREATE_BODY = {"name": "my-data-volume", "size": 10}


def _next_link(marker: str, host: str = "https://attacker.example") -> list[dict[str, str]]:
    return [{"href": f"{host}/v2/other/volumes/detail?limit=1000&marker={marker}", "rel": "next"}]


def _cinder_error(kind: str, code: int, message: str) -> dict[str, Any]:
    return {kind: {"message": message, "code": code}}


def _assert_native(call, method: str, url: str, body=None) -> None:
    assert (call.method, call.url) == (method, url)
    assert call.headers["X-Auth-Token"] == TOKEN
    assert call.json == body


# ----------------------------------------------------------------------------- translation


def test_volume_from_native_keeps_the_public_fields_only():
    assert volume_from_native({"volume": native_volume()}) == {"volume": public_volume()}


def test_volume_from_native_unnamed_volume_and_unnamed_device():
    native = native_volume(name=None, volume_type=None)
    native["attachments"][0]["device"] = None
    volume = volume_from_native({"volume": native})["volume"]
    assert volume["name"] is None and volume["volume_type"] is None
    assert volume["attachments"] == [{"server_id": SERVER_ID, "device": None}]


@pytest.mark.parametrize(
    "change",
    [
        {"size": "50"},
        {"size": True},
        {"size": 50.5},
        {"id": 17},
        {"status": None},
        {"attachments": None},
        {"attachments": [{"device": "/dev/vdb"}]},
        {"availability_zone": None},
        {"name": 3},
        {"created_at": None},
    ],
)
def test_volume_from_native_refuses_unusable_fields(change):
    with pytest.raises(UpstreamBadResponse):
        volume_from_native({"volume": {**native_volume(), **change}})


@pytest.mark.parametrize("native", [{}, {"volume": []}, {"volumes": []}, {"volume": None}])
def test_volume_from_native_refuses_unexpected_shapes(native):
    with pytest.raises(UpstreamBadResponse):
        volume_from_native(native)


def test_volume_types_from_native_keeps_id_and_name():
    assert volume_types_from_native(NATIVE_TYPES) == PUBLIC_TYPES


def test_volume_types_from_native_refuses_unexpected_shape():
    with pytest.raises(UpstreamBadResponse):
        volume_types_from_native({"volume_types": [{"id": "x"}]})


def test_volume_to_native_minimal_body():
    assert volume_to_native({"name": "v", "size": 10}) == {"volume": {"size": 10, "name": "v"}}


def test_volume_to_native_every_field_and_nulls_left_out():
    body = {
        "name": "v",
        "size": 20,
        "volume_type": "General SSD",
        "availability_zone": "kr2-pub-b",
        "description": "logs",
    }
    assert volume_to_native(body) == {
        "volume": {
            "size": 20,
            "name": "v",
            "description": "logs",
            "availability_zone": "kr2-pub-b",
            "volume_type": "General SSD",
        }
    }
    nulls = {"name": "v", "size": 20, "volume_type": None, "availability_zone": None}
    assert volume_to_native({**nulls, "description": None}) == {"volume": {"size": 20, "name": "v"}}


def test_page_with_a_next_link_gives_only_its_marker():
    native = {"volumes": [native_volume()], "volumes_links": _next_link(SECOND_ID)}
    assert volumes_page_from_native(native, 1000) == ([public_volume()], SECOND_ID)


def test_short_page_without_link_is_the_last():
    native = {"volumes": [native_volume(), native_volume(SECOND_ID)]}
    assert volumes_page_from_native(native, 3)[1] is None


def test_full_page_without_link_continues_after_its_last_volume():
    native = {"volumes": [native_volume(), native_volume(SECOND_ID)]}
    volumes, marker = volumes_page_from_native(native, 2)
    assert [volume["id"] for volume in volumes] == [VOLUME_ID, SECOND_ID]
    assert marker == SECOND_ID


def test_empty_page_is_the_last_even_with_a_link():
    native = {"volumes": [], "volumes_links": _next_link(SECOND_ID)}
    assert volumes_page_from_native(native, 1000) == ([], None)


@pytest.mark.parametrize(
    "links",
    [
        [{"rel": "next", "href": "https://x.example/v2/t/volumes/detail?limit=1000"}],
        [{"rel": "next", "href": "https://x.example/v2/t/volumes?marker=a&marker=b"}],
        [{"rel": "next", "href": None}],
        {"rel": "next"},
    ],
)
def test_unusable_next_links_are_unusable_answers(links):
    with pytest.raises(UpstreamBadResponse):
        volumes_page_from_native({"volumes": [native_volume()], "volumes_links": links}, 1000)


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize("size", [10, 11, 1000, 2000])
def test_create_schema_takes_sizes_in_nhns_bounds(size):
    assert VolumeCreateRequestSchema().load({"name": "v", "size": size})["size"] == size


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "v", "size": 9}, "size"),
        ({"name": "v", "size": 2001}, "size"),
        ({"name": "v", "size": "10"}, "size"),
        ({"name": "v", "size": 10.5}, "size"),
        ({"name": "v", "size": True}, "size"),
        ({"name": "v", "size": None}, "size"),
        ({"name": "v"}, "size"),
        ({"size": 10}, "name"),
        ({"name": "", "size": 10}, "name"),
        ({"name": "v" * 256, "size": 10}, "name"),
        ({"name": "v", "size": 10, "volume_type": ""}, "volume_type"),
        ({"name": "v", "size": 10, "availability_zone": 1}, "availability_zone"),
        ({"name": "v", "size": 10, "bootable": True}, "bootable"),
    ],
)
def test_create_schema_refuses(body, field):
    with pytest.raises(ValidationError) as caught:
        VolumeCreateRequestSchema().load(body)
    assert field in caught.value.messages


# ----------------------------------------------------------------------------- hooks


def test_only_create_is_long_running_with_its_watcher():
    routes = nhn_proxy_routes(PluginConfig(regions=("kr1", "kr2")))
    declared = {(route.method, route.path): route for route in routes}
    assert set(declared) == {
        ("GET", "/volumes/"),
        ("GET", "/volumes/types/"),
        ("POST", "/volumes/create/"),
        ("GET", "/volumes/{volume_id}/"),
        ("DELETE", "/volumes/{volume_id}/"),
    }
    create = declared["POST", "/volumes/create/"]
    assert create.operation == VOLUME_CREATE == "volume.create"
    assert create.watcher == Watcher(RESOURCE_TYPE, created_volume_id, poll_created_volume)
    assert RESOURCE_TYPE == "volume"
    assert create.status == 201
    assert declared["DELETE", "/volumes/{volume_id}/"].status == 204
    others = [route for route in routes if route is not create]
    assert all(r.operation is None and r.watcher is None for r in others)
    # every route needs the tenant: the block storage path carries it
    assert all(
        r.needs == {Header.TOKEN, Header.REGION, Header.TENANT} and r.tags == ("volumes",)
        for r in routes
    )


def test_demo_example_is_a_zone_of_the_demo_region_and_a_valid_body():
    examples = nhn_proxy_demo_examples(DEMO)
    assert examples == {VolumeCreateRequestSchema: {"availability_zone": "kr2-pub-a"}}
    loaded = VolumeCreateRequestSchema().load(
        {**CREATE_BODY, **examples[VolumeCreateRequestSchema]}
    )
    assert loaded["availability_zone"] == "kr2-pub-a"


def test_demo_example_of_an_unknown_region_is_left_alone():
    from dataclasses import replace

    assert nhn_proxy_demo_examples(replace(DEMO, region="xx9")) == {}


def test_create_schema_examples_make_a_valid_body():
    examples = {
        name: field.metadata["example"]
        for name, field in VolumeCreateRequestSchema().fields.items()
    }
    assert VolumeCreateRequestSchema().load(examples)["volume_type"] == "General HDD"


# ----------------------------------------------------------------------------- list


async def test_list_volumes_single_page(client, nhn):
    nhn.get(
        LIST_URL, payload={"volumes": [native_volume(), native_volume(SECOND_ID, attached=False)]}
    )
    response = await client.get("/api/nhn/volumes/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {
        "volumes": [public_volume(), public_volume(SECOND_ID, attached=False)]
    }
    _assert_native(nhn.only_call(), "GET", LIST_URL)


async def test_list_volumes_empty_without_slash_in_kr1(client, nhn):
    url = f"{BLOCK_STORAGE_KR1}/volumes/detail?limit=1000"
    nhn.get(url, payload={"volumes": []})
    response = await client.get("/api/nhn/volumes", headers=compute_headers("kr1"))
    assert response.status == 200
    assert await response.json() == {"volumes": []}
    _assert_native(nhn.only_call(), "GET", url)


async def test_list_volumes_follows_volumes_links_with_only_the_marker(client, nhn):
    first = {
        "volumes": [native_volume(), native_volume(SECOND_ID)],
        "volumes_links": _next_link(SECOND_ID),
    }
    second_url = f"{LIST_URL}&marker={SECOND_ID}"
    nhn.get(LIST_URL, payload=first)
    nhn.get(second_url, payload={"volumes": [native_volume(THIRD_ID, name=None)]})
    response = await client.get("/api/nhn/volumes/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {
        "volumes": [public_volume(), public_volume(SECOND_ID), public_volume(THIRD_ID, name=None)]
    }
    first_call, second_call = nhn.calls()
    _assert_native(first_call, "GET", LIST_URL)
    _assert_native(second_call, "GET", second_url)


async def test_list_volumes_full_page_without_link_asks_for_the_next(client, nhn, monkeypatch):
    monkeypatch.setattr("nhn_proxy.plugins.volume.PAGE_SIZE", 2)
    first_url = f"{BLOCK_STORAGE_KR2}/volumes/detail?limit=2"
    second_url = f"{first_url}&marker={SECOND_ID}"
    nhn.get(first_url, payload={"volumes": [native_volume(), native_volume(SECOND_ID)]})
    nhn.get(second_url, payload={"volumes": [native_volume(THIRD_ID)]})
    response = await client.get("/api/nhn/volumes/", headers=compute_headers())
    assert response.status == 200
    assert [v["id"] for v in (await response.json())["volumes"]] == [VOLUME_ID, SECOND_ID, THIRD_ID]
    assert [call.url for call in nhn.calls()] == [first_url, second_url]


async def test_list_volumes_repeated_marker_stops(client, nhn):
    looping = {"volumes": [native_volume()], "volumes_links": _next_link(VOLUME_ID)}
    nhn.get(LIST_URL, payload=looping)
    nhn.get(f"{LIST_URL}&marker={VOLUME_ID}", payload=looping)
    response = await client.get("/api/nhn/volumes/", headers=compute_headers())
    assert response.status == 200
    assert len((await response.json())["volumes"]) == 2
    assert len(nhn.calls()) == 2


async def test_list_volumes_unexpected_body_is_502(client, nhn):
    nhn.get(LIST_URL, payload={"volumes": [{"id": 1}]})
    response = await client.get("/api/nhn/volumes/", headers=compute_headers())
    assert response.status == 502
    payload = await response.json()
    assert payload["code"] == 502 and "unexpected body" in payload["error"]


# ----------------------------------------------------------------------------- types


@pytest.mark.parametrize("path", ["/api/nhn/volumes/types/", "/api/nhn/volumes/types"])
async def test_volume_types_route_wins_over_the_volume_id_route(client, nhn, path):
    url = f"{BLOCK_STORAGE_KR2}/types"
    nhn.get(url, payload=NATIVE_TYPES)
    response = await client.get(path, headers=compute_headers())
    assert response.status == 200
    assert await response.json() == PUBLIC_TYPES
    _assert_native(nhn.only_call(), "GET", url)


# ----------------------------------------------------------------------------- get / delete


async def test_get_volume(client, nhn):
    nhn.get(VOLUME_URL, payload={"volume": native_volume()})
    response = await client.get(f"/api/nhn/volumes/{VOLUME_ID}/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {"volume": public_volume()}
    _assert_native(nhn.only_call(), "GET", VOLUME_URL)


async def test_get_volume_404_keeps_cinders_message_without_slash(client, nhn):
    message = f"Volume {VOLUME_ID} could not be found."
    nhn.get(VOLUME_URL, status=404, payload=_cinder_error("itemNotFound", 404, message))
    response = await client.get(f"/api/nhn/volumes/{VOLUME_ID}", headers=compute_headers())
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_delete_volume(client, nhn):
    nhn.delete(VOLUME_URL, status=202)
    response = await client.delete(f"/api/nhn/volumes/{VOLUME_ID}/", headers=compute_headers())
    assert response.status == 204
    assert await response.read() == b""
    _assert_native(nhn.only_call(), "DELETE", VOLUME_URL)


async def test_delete_volume_in_use_is_nhns_400(client, nhn):
    message = (
        "Invalid volume: Volume status must be available or error or error_restoring or "
        "error_extending or error_managing and must not be migrating, attached, belong to a "
        "group, have snapshots or be disassociated from snapshots after volume transfer."
    )
    nhn.delete(VOLUME_URL, status=400, payload=_cinder_error("badRequest", 400, message))
    response = await client.delete(f"/api/nhn/volumes/{VOLUME_ID}", headers=compute_headers())
    assert response.status == 400
    assert await response.json() == {"error": message, "code": 400}
    assert len(nhn.calls()) == 1


async def test_delete_missing_volume_is_nhns_404(client, nhn):
    message = f"Volume {VOLUME_ID} could not be found."
    nhn.delete(VOLUME_URL, status=404, payload=_cinder_error("itemNotFound", 404, message))
    response = await client.delete(f"/api/nhn/volumes/{VOLUME_ID}/", headers=compute_headers())
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


# ----------------------------------------------------------------------------- create


@pytest.mark.parametrize(
    ("extra", "native_extra"),
    [
        ({}, {}),
        (
            {"volume_type": "General SSD", "availability_zone": "kr2-pub-a", "description": "x"},
            {"volume_type": "General SSD", "availability_zone": "kr2-pub-a", "description": "x"},
        ),
        ({"volume_type": None, "availability_zone": None, "description": None}, {}),
    ],
    ids=["minimal", "every-field", "nulls"],
)
async def test_create_volume_sends_exact_native_request(client, nhn, extra, native_extra):
    nhn.post(f"{BLOCK_STORAGE_KR2}/volumes", status=202, payload=native_created())
    response = await client.post(
        "/api/nhn/volumes/create/", json={**CREATE_BODY, **extra}, headers=compute_headers()
    )
    assert response.status == 201
    assert await response.json() == public_created()
    call = nhn.only_call()
    expected = {"volume": {"size": 10, "name": "my-data-volume", **native_extra}}
    _assert_native(call, "POST", f"{BLOCK_STORAGE_KR2}/volumes", expected)
    assert call.headers["Content-Type"] == "application/json"


async def test_create_volume_unknown_type_is_nhns_404_without_slash(client, nhn):
    message = "Volume type with name Gold could not be found."
    nhn.post(
        f"{BLOCK_STORAGE_KR2}/volumes",
        status=404,
        payload=_cinder_error("itemNotFound", 404, message),
    )
    response = await client.post(
        "/api/nhn/volumes/create",
        json={**CREATE_BODY, "volume_type": "Gold"},
        headers=compute_headers(),
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_create_volume_unexpected_answer_is_502(client, nhn):
    nhn.post(f"{BLOCK_STORAGE_KR2}/volumes", status=202, payload={"volume": {"id": NEW_ID}})
    response = await client.post(
        "/api/nhn/volumes/create/", json=CREATE_BODY, headers=compute_headers()
    )
    assert response.status == 502


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "v", "size": 9}, "size"),
        ({"name": "v", "size": 2001}, "size"),
        ({"name": "v", "size": "20"}, "size"),
        ({"size": 20}, "name"),
        ({"name": "", "size": 20}, "name"),
    ],
)
async def test_create_volume_validation_is_400_without_a_native_call(client, nhn, body, field):
    response = await client.post("/api/nhn/volumes/create/", json=body, headers=compute_headers())
    assert response.status == 400
    payload = await response.json()
    assert payload["code"] == 400 and field in payload["error"]
    assert nhn.calls() == []


# ----------------------------------------------------------------------------- headers, ids


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nhn/volumes/"),
        ("GET", "/api/nhn/volumes/types/"),
        ("GET", f"/api/nhn/volumes/{VOLUME_ID}/"),
        ("DELETE", f"/api/nhn/volumes/{VOLUME_ID}/"),
        ("POST", "/api/nhn/volumes/create/"),
    ],
)
async def test_every_route_needs_the_tenant(client, nhn, method, path):
    headers = {k: v for k, v in compute_headers().items() if k != "X-NHN-Tenant-ID"}
    kwargs = {"json": CREATE_BODY} if method == "POST" else {}
    response = await client.request(method, path, headers=headers, **kwargs)
    assert response.status == 400
    assert "X-NHN-Tenant-ID" in (await response.json())["error"]
    assert nhn.calls() == []


async def test_unknown_region_makes_no_native_call(client, nhn):
    response = await client.get("/api/nhn/volumes/", headers=compute_headers("us9"))
    assert response.status == 400
    assert nhn.calls() == []


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("volume_id", ["..", "-x", "a%2Fb", "x" * 129])
async def test_hostile_volume_ids_make_no_native_call(client, nhn, method, volume_id):
    response = await client.request(
        method, f"/api/nhn/volumes/{volume_id}/", headers=compute_headers()
    )
    assert response.status in (400, 404)
    assert nhn.calls() == []


async def test_openapi_documents_the_volume_routes(client):
    document = await (await client.get("/api/docs/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/api/nhn/volumes/"]) >= {"get"}
    assert set(paths["/api/nhn/volumes/{volume_id}/"]) >= {"get", "delete"}
    create = paths["/api/nhn/volumes/create/"]["post"]
    assert {"201", "202", "400", "404"} <= set(create["responses"])
    headers = {p["name"]: p["required"] for p in create["parameters"] if p["in"] == "header"}
    assert headers["X-NHN-Tenant-ID"] is True and headers["Prefer"] is False
    assert paths["/api/nhn/volumes/types/"]["get"]["tags"] == ["volumes"]


# ----------------------------------------------------------------------------- watcher


@pytest.fixture
async def upstream(settings: Settings, nhn) -> AsyncIterator[Upstream]:
    """The proxy's upstream client, started outside any app (NHN mocked by `nhn`)."""
    client = Upstream(settings.upstream, settings.regions.allowed)
    await client.start()
    yield client
    await client.close()


def _task_call(upstream: Upstream, settings: Settings) -> Call:
    """The `Call` a task carries: the checked context of the request that started it."""
    environment = RouteEnvironment(
        upstream=upstream,
        allowed_regions=settings.regions.allowed,
        max_pages=settings.upstream.max_pages,
        sections={},
    )
    context = NhnContext(request_id="req-volume-1", region="kr2", token=TOKEN, tenant_id=TENANT)
    return Call(environment, context, plugin="volume")


def test_create_names_the_new_volume_from_the_payload(upstream, settings):
    assert created_volume_id(_task_call(upstream, settings), public_created()) == NEW_ID


@pytest.mark.parametrize("status", ["creating", "downloading", "attaching"])
async def test_create_is_pending_until_available(upstream, settings, nhn, status):
    nhn.get(NEW_URL, payload=native_created(status))
    poll = await poll_created_volume(_task_call(upstream, settings), NEW_ID)
    assert poll.state is PollState.PENDING and poll.result is None
    _assert_native(nhn.only_call(), "GET", NEW_URL)


async def test_create_succeeds_with_what_the_get_route_answers(upstream, settings, nhn, client):
    nhn.get(NEW_URL, payload=native_created("available"))
    poll = await poll_created_volume(_task_call(upstream, settings), NEW_ID)
    assert poll.state is PollState.SUCCEEDED
    assert poll.result == public_created("available")
    nhn.get(NEW_URL, payload=native_created("available"))
    response = await client.get(f"/api/nhn/volumes/{NEW_ID}/", headers=compute_headers())
    assert await response.json() == poll.result


async def test_create_fails_when_the_volume_goes_to_error(upstream, settings, nhn):
    nhn.get(NEW_URL, payload=native_created("error"))
    poll = await poll_created_volume(_task_call(upstream, settings), NEW_ID)
    assert poll.state is PollState.FAILED
    assert poll.message == f"volume {NEW_ID} went to error"


async def test_create_lets_a_404_through(upstream, settings, nhn):
    message = f"Volume {NEW_ID} could not be found."
    nhn.get(NEW_URL, status=404, payload=_cinder_error("itemNotFound", 404, message))
    with pytest.raises(UpstreamHTTPError) as caught:
        await poll_created_volume(_task_call(upstream, settings), NEW_ID)
    assert caught.value.upstream_status == 404 and str(caught.value) == message


async def test_create_unusable_answer_is_a_bad_response(upstream, settings, nhn):
    nhn.get(NEW_URL, payload={"volume": {"id": NEW_ID}})
    with pytest.raises(UpstreamBadResponse):
        await poll_created_volume(_task_call(upstream, settings), NEW_ID)


FAST_TASKS = {
    "poll_initial": 0.01,
    "poll_max": 0.02,
    "deadline": 10,
    "lease_ttl": 1.0,
    "sweep_interval": 0.05,
}


async def _settled(client, task_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    owner = {"X-NHN-Token": TOKEN, "X-NHN-Tenant-ID": TENANT}
    while True:
        response = await client.get(f"/api/nhn/tasks/{task_id}/", headers=owner)
        assert response.status == 200, await response.text()
        task = (await response.json())["task"]
        if task["status"] not in ("pending", "running"):
            return task
        assert time.monotonic() < deadline, f"task did not settle: {task}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("final", "status", "result", "error"),
    [
        ("available", "succeeded", public_created("available"), None),
        ("error", "failed", None, f"volume {NEW_ID} went to error"),
    ],
)
async def test_prefer_respond_async_follows_the_volume(
    aiohttp_client, nhn, final, status, result, error
):
    settings = load_settings(
        environ={}, overrides={"tasks": FAST_TASKS, "upstream": {"retries": 0}}
    )
    client = await aiohttp_client(create_app(settings))
    nhn.post(f"{BLOCK_STORAGE_KR2}/volumes", status=202, payload=native_created())
    nhn.get(NEW_URL, payload=native_created())
    nhn.get(NEW_URL, payload=native_created(final))
    response = await client.post(
        "/api/nhn/volumes/create/",
        json=CREATE_BODY,
        headers={**compute_headers(), "Prefer": "respond-async"},
    )
    assert response.status == 202, await response.text()
    task = (await response.json())["task"]
    assert task["operation"] == "volume.create"
    settled = await _settled(client, task["id"])
    assert settled["status"] == status
    assert settled["resource"] == {"type": "volume", "id": NEW_ID}
    assert settled["result"] == result
    if error is None:
        assert settled["error"] is None
    else:
        assert settled["error"]["error"] == error
    methods = [(call.method, call.url) for call in nhn.calls()]
    assert methods.count(("POST", f"{BLOCK_STORAGE_KR2}/volumes")) == 1
    assert methods.count(("GET", NEW_URL)) == 2

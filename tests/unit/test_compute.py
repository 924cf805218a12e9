"""Compute plugin: translation functions and every route with NHN compute/image mocked."""

from __future__ import annotations

import copy
import re

import pytest
from yarl import URL

from nhn_proxy.errors import UpstreamBadResponse
from nhn_proxy.plugin import PluginConfig, Watcher
from nhn_proxy.plugins.compute import (
    INSTANCE_CREATE,
    INSTANCE_DELETE,
    RESOURCE_TYPE,
    InstanceCreateSchema,
    action_to_native,
    created_server_from_native,
    created_server_id,
    deleted_server_id,
    flavor_name_from_native,
    flavors_from_native,
    images_page_from_native,
    keypairs_from_native,
    nhn_proxy_demo_examples,
    nhn_proxy_routes,
    poll_created_server,
    poll_deleted_server,
    server_from_native,
    server_to_native,
    servers_page_from_native,
)
from tests.conftest import COMPUTE_KR2, DEMO, IMAGE_KR2, TENANT, TOKEN, compute_headers

COMPUTE_KR1 = f"https://kr1-api-instance-infrastructure.nhncloudservice.com/v2/{TENANT}"
SERVER_ID = "aaf2778b-ea03-4ccc-8b1b-92f4b686c3ec"
NEW_SERVER_ID = "3a005d5b-63cf-4493-bfc6-49db990b5b50"
M2_FLAVOR_ID = "a4b6a0f7-aeff-4d78-a8d5-7de9f007012d"
U2_FLAVOR_ID = "5f0e1d2c-8b7a-4c3e-9d1f-2a3b4c5d6e7f"
IMAGE_ID = "9956f822-29c9-4f81-9410-0c392d9c8c24"
SUBNET_ID = "b83863ff-0355-4c73-8c10-0bdf66a69aab"


def _links(kind: str, ident: str) -> list[dict[str, str]]:
    return [
        {
            "href": f"https://kr2-api-instance-infrastructure.nhncloudservice.com/v2/{TENANT}/{kind}/{ident}",
            "rel": "self",
        },
        {
            "href": f"https://kr2-api-instance-infrastructure.nhncloudservice.com/{TENANT}/{kind}/{ident}",
            "rel": "bookmark",
        },
    ]


def _flavor(ident: str, name: str, vcpus: int, ram: int, disk: int) -> dict:
    return {
        "name": name,
        "links": _links("flavors", ident),
        "ram": ram,
        "OS-FLV-DISABLED:disabled": False,
        "vcpus": vcpus,
        "extra_specs": {"flavor_type": "general"},
        "swap": "",
        "os-flavor-access:is_public": True,
        "rxtx_factor": 1.0,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "disk": disk,
        "id": ident,
    }


NATIVE_FLAVORS = {
    "flavors": [
        _flavor(M2_FLAVOR_ID, "m2.c2m4", 2, 4096, 0),
        _flavor(U2_FLAVOR_ID, "u2.c2m4", 2, 4096, 40),
        _flavor("97604802-a090-43fa-a5ce-c7cfd737fbba", "x1.c32m256", 32, 262144, 0),
    ]
}
PUBLIC_FLAVORS = {
    "flavors": [
        {"id": M2_FLAVOR_ID, "name": "m2.c2m4", "vcpus": 2, "ram": 4096, "disk": 0},
        {"id": U2_FLAVOR_ID, "name": "u2.c2m4", "vcpus": 2, "ram": 4096, "disk": 40},
        {
            "id": "97604802-a090-43fa-a5ce-c7cfd737fbba",
            "name": "x1.c32m256",
            "vcpus": 32,
            "ram": 262144,
            "disk": 0,
        },
    ]
}

PUBLIC_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAA... Generated-by-Nova"
FINGERPRINT = "SHA256:+EZoDd4cK1c9Hk4k2X9gqjv1pZ3fZbZ3o2h3b3zN0Aw"
NATIVE_KEYPAIRS = {
    "keypairs": [
        {"keypair": {"public_key": PUBLIC_KEY, "name": "my-keypair", "fingerprint": FINGERPRINT}},
        {"keypair": {"public_key": "ssh-rsa BBBB", "name": "other", "fingerprint": "aa:bb:cc"}},
    ]
}


def _image(ident: str, name: str | None, created: str) -> dict:
    return {
        "id": ident,
        "name": name,
        "status": "active",
        "visibility": "public",
        "protected": True,
        "container_format": "bare",
        "disk_format": "qcow2",
        "min_disk": 20,
        "min_ram": 0,
        "size": 1778843648,
        "virtual_size": None,
        "checksum": "f803c5c15bcf9a75935980a900a04584",
        "owner": "c289b99209ca4e189095cdecebbd092d",
        "created_at": created,
        "updated_at": "2024-01-20T01:01:35Z",
        "tags": [],
        "self": f"/v2/images/{ident}",
        "file": f"/v2/images/{ident}/file",
        "schema": "/v2/schemas/image",
        "os_type": "linux",
        "os_distro": "ubuntu",
        "login_username": "ubuntu",
    }


IMAGE_A = _image(
    "1c868787-6207-4ff2-a1e7-ae1331d6829b", "Ubuntu Server 22.04 LTS", "2024-01-16T02:17:43Z"
)
IMAGE_B = _image("2d979898-7318-4ff2-b2e7-bf2442e7930c", "Rocky Linux 8.9", "2024-02-01T00:00:00Z")
IMAGE_C = _image("3e0a0909-8429-4ff2-c3e7-c03553f8a41d", None, "2024-03-01T00:00:00Z")


def _public_image(native: dict) -> dict:
    return {key: native[key] for key in ("id", "name", "status", "created_at")}


ADDRESSES = {
    "Default Network": [
        {
            "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:54:a7:64",
            "version": 4,
            "addr": "192.168.0.40",
            "OS-EXT-IPS:type": "fixed",
        },
        {
            "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:54:a7:64",
            "version": 4,
            "addr": "133.186.242.214",
            "OS-EXT-IPS:type": "floating",
        },
    ]
}


def _server(ident: str = SERVER_ID, name: str = "Web-Server", image: object = None) -> dict:
    if image is None:
        image = {
            "id": "8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11",
            "links": [
                {
                    "href": "https://kr2-api-instance-infrastructure.nhncloudservice.com/x/images/8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11",
                    "rel": "bookmark",
                }
            ],
        }
    return {
        "id": ident,
        "name": name,
        "status": "ACTIVE",
        "tenant_id": TENANT,
        "user_id": "b6ab578c20c94306ac1f41ffc4415b29",
        "created": "2020-02-25T01:15:46Z",
        "updated": "2020-02-25T01:22:24Z",
        "hostId": "078d06f898889699f8731d030812e43d2c417edb2cf641dda598c7bd",
        "addresses": copy.deepcopy(ADDRESSES),
        "links": _links("servers", ident),
        "key_name": "my-keypair",
        "image": image,
        "flavor": {"id": "35a73b57-58a7-434d-aa08-5249aaa95b3e", "links": []},
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": "active",
        "OS-EXT-STS:power_state": 1,
        "OS-EXT-AZ:availability_zone": "kr2-pub-b",
        "security_groups": [{"name": "default"}],
        "os-extended-volumes:volumes_attached": [{"id": "90712f4f-2faa-4e4f-8eb1-9313a8595570"}],
        "metadata": {"os_distro": "ubuntu", "volume_size": "20"},
        "NHN-EXT-ATTR:ephemeral_disk_size": 0,
        "NHN-EXT-ATTR:protect": False,
    }


def _server_summary(ident: str = SERVER_ID, name: str = "Web-Server") -> dict:
    return {
        "id": ident,
        "name": name,
        "status": "ACTIVE",
        "addresses": ADDRESSES,
        "created": "2020-02-25T01:15:46Z",
    }


NATIVE_CREATED = {
    "server": {
        "security_groups": [{"name": "default"}],
        "id": NEW_SERVER_ID,
        "links": _links("servers", NEW_SERVER_ID),
    }
}
CREATE_BODY = {
    "name": "web-01",
    "image_id": IMAGE_ID,
    "flavor_id": M2_FLAVOR_ID,
    "subnet_id": SUBNET_ID,
    "keypair_name": "my-keypair",
}


def _native_create(
    flavor_id: str = M2_FLAVOR_ID,
    root_disk: dict | None = None,
    groups: tuple[str, ...] = ("default",),
    zone: str | None = None,
) -> dict:
    if root_disk is None:
        root_disk = {
            "source_type": "image",
            "uuid": IMAGE_ID,
            "boot_index": 0,
            "destination_type": "volume",
            "volume_size": 50,
            "delete_on_termination": True,
        }
    server = {
        "name": "web-01",
        "imageRef": IMAGE_ID,
        "flavorRef": flavor_id,
        "networks": [{"subnet": SUBNET_ID}],
        "key_name": "my-keypair",
        "security_groups": [{"name": name} for name in groups],
        "min_count": 1,
        "max_count": 1,
        "block_device_mapping_v2": [root_disk],
    }
    if zone is not None:
        server["availability_zone"] = zone
    return {"server": server}


U2_ROOT_DISK = {
    "source_type": "image",
    "uuid": IMAGE_ID,
    "boot_index": 0,
    "destination_type": "local",
    "delete_on_termination": True,
}


def _nova_error(status: int, key: str, message: str) -> dict:
    return {"payload": {key: {"code": status, "message": message}}, "status": status}


# --------------------------------------------------------------------- pure functions


def test_flavors_from_native_keeps_spec_fields():
    assert flavors_from_native(NATIVE_FLAVORS) == PUBLIC_FLAVORS["flavors"]


def test_flavor_name_from_native_finds_the_flavor_or_none():
    assert flavor_name_from_native(NATIVE_FLAVORS, U2_FLAVOR_ID) == "u2.c2m4"
    assert flavor_name_from_native(NATIVE_FLAVORS, "missing") is None


def test_keypairs_from_native_keeps_the_wrapper():
    assert keypairs_from_native(NATIVE_KEYPAIRS) == [
        {"keypair": {"name": "my-keypair", "public_key": PUBLIC_KEY, "fingerprint": FINGERPRINT}},
        {"keypair": {"name": "other", "public_key": "ssh-rsa BBBB", "fingerprint": "aa:bb:cc"}},
    ]


def test_images_page_from_native_last_page():
    native = {"images": [IMAGE_A, IMAGE_C], "schema": "/v2/schemas/images", "first": "/v2/images"}
    assert images_page_from_native(native) == (
        [_public_image(IMAGE_A), _public_image(IMAGE_C)],
        None,
    )


def test_images_page_from_native_takes_only_the_marker_of_next():
    native = {"images": [IMAGE_A], "next": f"/v2/images?limit=1000&marker={IMAGE_A['id']}"}
    assert images_page_from_native(native) == ([_public_image(IMAGE_A)], IMAGE_A["id"])


def _next_pages(link: object) -> tuple[dict, dict]:
    """One empty Glance page and one empty Nova page, each pointing at `link` as next."""
    return (
        {"images": [], "next": link},
        {"servers": [], "servers_links": [{"href": link, "rel": "next"}]},
    )


@pytest.mark.parametrize(
    ("link", "marker"),
    [
        ("/v2/images?marker=abc", "abc"),
        ("https://evil.example/steal?x=1&marker=abc&limit=5", "abc"),
        (f"{COMPUTE_KR2}/servers/detail?limit=1000&marker=abc", "abc"),
    ],
)
def test_next_links_give_only_their_marker(link, marker):
    images, servers = _next_pages(link)
    assert images_page_from_native(images) == ([], marker)
    assert servers_page_from_native(servers) == ([], marker)


@pytest.mark.parametrize(
    "link",
    [
        "/v2/images",
        "/v2/images?marker=",
        "/v2/images?marker=a&marker=b",
        "/v2/images?marker=" + "a" * 256,
        5,
    ],
)
def test_next_links_without_one_marker_are_unusable_answers(link):
    images, servers = _next_pages(link)
    with pytest.raises(UpstreamBadResponse):
        images_page_from_native(images)
    with pytest.raises(UpstreamBadResponse):
        servers_page_from_native(servers)


def test_servers_page_from_native_with_and_without_next_link():
    last = {"servers": [_server()]}
    assert servers_page_from_native(last) == ([_server_summary()], None)
    more = {
        "servers": [_server()],
        "servers_links": [
            {"href": f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={SERVER_ID}", "rel": "next"}
        ],
    }
    assert servers_page_from_native(more) == ([_server_summary()], SERVER_ID)


def test_server_from_native_keeps_addresses_and_ids():
    assert server_from_native({"server": _server()}) == {
        **_server_summary(),
        "flavor": {"id": "35a73b57-58a7-434d-aa08-5249aaa95b3e"},
        "image": {"id": "8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11"},
    }


def test_server_from_native_volume_booted_image_is_null():
    assert server_from_native({"server": _server(image="")})["image"] == {"id": None}


def test_server_to_native_volume_flavor_defaults():
    assert server_to_native({**CREATE_BODY, "volume_size": 50}, "m2.c2m4") == _native_create()


def test_server_to_native_u2_flavor_boots_from_local_disk():
    body = {**CREATE_BODY, "flavor_id": U2_FLAVOR_ID, "volume_size": 100}
    assert server_to_native(body, "u2.c2m4") == _native_create(U2_FLAVOR_ID, U2_ROOT_DISK)


def test_server_to_native_gpu_flavor_boots_from_local_disk_too():
    body = {**CREATE_BODY, "flavor_id": U2_FLAVOR_ID, "volume_size": 100}
    bdm = server_to_native(body, "g2.t4.c8m64")["server"]["block_device_mapping_v2"][0]
    assert bdm["destination_type"] == "local" and "volume_size" not in bdm


def test_server_to_native_zone_groups_and_size():
    body = {
        **CREATE_BODY,
        "volume_size": 100,
        "security_groups": ["default", "web"],
        "availability_zone": "kr2-pub-a",
    }
    expected = _native_create(groups=("default", "web"), zone="kr2-pub-a")
    expected["server"]["block_device_mapping_v2"][0]["volume_size"] = 100
    assert server_to_native(body, "m2.c2m4") == expected


def test_created_server_from_native_adds_requested_name_and_build():
    assert created_server_from_native(NATIVE_CREATED, "web-01") == {
        "server": {"id": NEW_SERVER_ID, "name": "web-01", "status": "BUILD"}
    }


def test_action_to_native():
    assert action_to_native("start") == {"os-start": None}
    assert action_to_native("stop") == {"os-stop": None}
    assert action_to_native("reboot") == {"reboot": {"type": "SOFT"}}


@pytest.mark.parametrize(
    ("function", "native"),
    [
        (flavors_from_native, {"flavors": [{"id": "x"}]}),
        (flavors_from_native, {"flavors": "nope"}),
        (keypairs_from_native, {"keypairs": [{"name": "flat"}]}),
        (images_page_from_native, {"images": [{"id": "x"}]}),
        (images_page_from_native, {"images": [], "next": "/v2/images"}),
        (servers_page_from_native, {"servers": [{**_server(), "addresses": []}]}),
        (servers_page_from_native, {"servers": [], "servers_links": "x"}),
        (server_from_native, {"server": {**_server(), "flavor": "x"}}),
        (server_from_native, {}),
    ],
)
def test_from_native_refuses_unexpected_shapes(function, native):
    with pytest.raises(UpstreamBadResponse):
        function(native)


def test_created_server_from_native_refuses_unexpected_shape():
    with pytest.raises(UpstreamBadResponse):
        created_server_from_native({"reservation_id": "r-abc"}, "web-01")


# ----------------------------------------------------------------------------- hooks


def test_only_create_and_delete_are_long_running_with_their_watchers():
    routes = nhn_proxy_routes(PluginConfig(regions=("kr1", "kr2")))
    declared = {(route.method, route.path): route for route in routes}
    create = declared["POST", "/compute/instances/create/"]
    delete = declared["DELETE", "/compute/instances/{server_id}/"]
    assert (create.operation, delete.operation) == (INSTANCE_CREATE, INSTANCE_DELETE)
    assert INSTANCE_CREATE == "compute.instance.create"
    assert INSTANCE_DELETE == "compute.instance.delete"
    assert create.watcher == Watcher(RESOURCE_TYPE, created_server_id, poll_created_server)
    assert delete.watcher == Watcher(RESOURCE_TYPE, deleted_server_id, poll_deleted_server)
    assert RESOURCE_TYPE == "instance"
    others = [route for route in routes if route not in (create, delete)]
    assert others and all(r.operation is None and r.watcher is None for r in others)


def test_demo_example_is_the_demo_keypair_and_a_valid_create_body():
    demo = DEMO
    examples = nhn_proxy_demo_examples(demo)
    assert examples == {InstanceCreateSchema: {"keypair_name": "demo-keypair"}}
    loaded = InstanceCreateSchema().load({**CREATE_BODY, **examples[InstanceCreateSchema]})
    assert loaded["keypair_name"] == "demo-keypair"


# ----------------------------------------------------------------------------- routes


def _assert_native(call, method: str, url: str, body=None) -> None:
    assert (call.method, call.url) == (method, url)
    assert call.headers["X-Auth-Token"] == TOKEN
    assert call.json == body


async def test_list_flavors(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    response = await client.get("/api/nhn/compute/flavors/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == PUBLIC_FLAVORS
    _assert_native(nhn.only_call(), "GET", f"{COMPUTE_KR2}/flavors/detail")


async def test_list_flavors_without_slash_in_kr1(client, nhn):
    nhn.get(f"{COMPUTE_KR1}/flavors/detail", payload={"flavors": []})
    response = await client.get("/api/nhn/compute/flavors", headers=compute_headers("KR1"))
    assert response.status == 200
    assert await response.json() == {"flavors": []}
    _assert_native(nhn.only_call(), "GET", f"{COMPUTE_KR1}/flavors/detail")


async def test_list_keypairs(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/os-keypairs", payload=NATIVE_KEYPAIRS)
    response = await client.get("/api/nhn/compute/keypairs", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {
        "keypairs": [
            {
                "keypair": {
                    "name": "my-keypair",
                    "public_key": PUBLIC_KEY,
                    "fingerprint": FINGERPRINT,
                }
            },
            {"keypair": {"name": "other", "public_key": "ssh-rsa BBBB", "fingerprint": "aa:bb:cc"}},
        ]
    }
    _assert_native(nhn.only_call(), "GET", f"{COMPUTE_KR2}/os-keypairs")


async def test_list_images_single_page_needs_no_tenant(client, nhn):
    nhn.get(
        f"{IMAGE_KR2}/v2/images?limit=1000", payload={"images": [IMAGE_A], "first": "/v2/images"}
    )
    headers = {"X-NHN-Token": TOKEN, "X-NHN-Region": "kr2"}
    response = await client.get("/api/nhn/compute/images/", headers=headers)
    assert response.status == 200
    assert await response.json() == {"images": [_public_image(IMAGE_A)]}
    _assert_native(nhn.only_call(), "GET", f"{IMAGE_KR2}/v2/images?limit=1000")


async def test_list_images_follows_next_with_only_its_marker(client, nhn):
    marker = IMAGE_B["id"]
    # The next link names another path and extra parameters: only the marker may be used.
    first = {
        "images": [IMAGE_A, IMAGE_B],
        "next": f"/v2/elsewhere?visibility=private&marker={marker}&limit=2",
    }
    nhn.get(f"{IMAGE_KR2}/v2/images?limit=1000", payload=first)
    nhn.get(f"{IMAGE_KR2}/v2/images?limit=1000&marker={marker}", payload={"images": [IMAGE_C]})
    response = await client.get("/api/nhn/compute/images/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {
        "images": [_public_image(IMAGE_A), _public_image(IMAGE_B), _public_image(IMAGE_C)]
    }
    calls = nhn.calls()
    assert [(call.method, call.url) for call in calls] == [
        ("GET", f"{IMAGE_KR2}/v2/images?limit=1000"),
        ("GET", f"{IMAGE_KR2}/v2/images?limit=1000&marker={marker}"),
    ]
    assert all(call.headers["X-Auth-Token"] == TOKEN for call in calls)


async def test_list_images_repeated_marker_stops(client, nhn):
    looping = {"images": [IMAGE_A], "next": f"/v2/images?marker={IMAGE_A['id']}"}
    nhn.get(f"{IMAGE_KR2}/v2/images?limit=1000", payload=looping)
    nhn.get(
        f"{IMAGE_KR2}/v2/images?limit=1000&marker={IMAGE_A['id']}", payload=looping, repeat=True
    )
    response = await client.get("/api/nhn/compute/images/", headers=compute_headers())
    assert response.status == 200
    assert len(nhn.calls()) == 2


async def test_list_images_glance_html_error_is_reduced_to_text(client, nhn):
    nhn.get(
        f"{IMAGE_KR2}/v2/images?limit=1000",
        status=403,
        body="<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
        "Access was denied to this resource.</body></html>",
        content_type="text/html",
    )
    response = await client.get("/api/nhn/compute/images/", headers=compute_headers())
    assert response.status == 403
    payload = await response.json()
    assert payload["code"] == 403 and "Access was denied" in payload["error"]


async def test_list_servers_single_page(client, nhn):
    url = f"{COMPUTE_KR2}/servers/detail?limit=1000"
    nhn.get(url, payload={"servers": [_server()]})
    response = await client.get("/api/nhn/compute/instances/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {"servers": [_server_summary()]}
    _assert_native(nhn.only_call(), "GET", url)


async def test_list_servers_follows_servers_links_with_only_the_marker(client, nhn):
    second_id = "bbf2778b-ea03-4ccc-8b1b-92f4b686c3ed"
    third_id = "ccf2778b-ea03-4ccc-8b1b-92f4b686c3ee"
    first = {
        "servers": [_server(), _server(second_id, "db")],
        "servers_links": [
            {
                "href": f"https://attacker.example/v2/other/servers?marker={second_id}&all_tenants=1",
                "rel": "next",
            }
        ],
    }
    nhn.get(f"{COMPUTE_KR2}/servers/detail?limit=1000", payload=first)
    nhn.get(
        f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={second_id}",
        payload={"servers": [_server(third_id, "cache")]},
    )
    response = await client.get("/api/nhn/compute/instances", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {
        "servers": [
            _server_summary(),
            _server_summary(second_id, "db"),
            _server_summary(third_id, "cache"),
        ]
    }
    assert [(call.method, call.url) for call in nhn.calls()] == [
        ("GET", f"{COMPUTE_KR2}/servers/detail?limit=1000"),
        ("GET", f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={second_id}"),
    ]


async def test_list_servers_unexpected_body_is_502(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/servers/detail?limit=1000", payload={"servers": [{"id": 1}]})
    response = await client.get("/api/nhn/compute/instances/", headers=compute_headers())
    assert response.status == 502
    payload = await response.json()
    assert payload["code"] == 502 and "unexpected body" in payload["error"]


async def test_get_server(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/servers/{SERVER_ID}", payload={"server": _server()})
    response = await client.get(
        f"/api/nhn/compute/instances/{SERVER_ID}/", headers=compute_headers()
    )
    assert response.status == 200
    assert await response.json() == {
        "server": {
            "id": SERVER_ID,
            "name": "Web-Server",
            "status": "ACTIVE",
            "flavor": {"id": "35a73b57-58a7-434d-aa08-5249aaa95b3e"},
            "image": {"id": "8b9f8d47-b89b-45af-b1d6-3f7ce7e06a11"},
            "addresses": ADDRESSES,
            "created": "2020-02-25T01:15:46Z",
        }
    }
    _assert_native(nhn.only_call(), "GET", f"{COMPUTE_KR2}/servers/{SERVER_ID}")


async def test_get_volume_booted_server_without_slash(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/servers/{SERVER_ID}", payload={"server": _server(image="")})
    response = await client.get(
        f"/api/nhn/compute/instances/{SERVER_ID}", headers=compute_headers()
    )
    assert response.status == 200
    assert (await response.json())["server"]["image"] == {"id": None}


async def test_get_server_404_keeps_nova_message(client, nhn):
    message = f"Instance {SERVER_ID} could not be found."
    nhn.get(f"{COMPUTE_KR2}/servers/{SERVER_ID}", **_nova_error(404, "itemNotFound", message))
    response = await client.get(
        f"/api/nhn/compute/instances/{SERVER_ID}/", headers=compute_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_get_server_non_json_answer_is_502(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/servers/{SERVER_ID}", body="ok", content_type="text/plain")
    response = await client.get(
        f"/api/nhn/compute/instances/{SERVER_ID}/", headers=compute_headers()
    )
    assert response.status == 502


@pytest.mark.parametrize(
    ("extra", "flavor_id", "root_disk", "zone"),
    [
        ({}, M2_FLAVOR_ID, None, None),
        ({"availability_zone": "kr2-pub-a"}, M2_FLAVOR_ID, None, "kr2-pub-a"),
        ({"volume_size": 100}, U2_FLAVOR_ID, U2_ROOT_DISK, None),
        ({"availability_zone": "kr2-pub-b"}, U2_FLAVOR_ID, U2_ROOT_DISK, "kr2-pub-b"),
    ],
    ids=["volume", "volume-with-zone", "u2", "u2-with-zone"],
)
async def test_create_server_sends_exact_native_request(
    client, nhn, extra, flavor_id, root_disk, zone
):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    nhn.post(f"{COMPUTE_KR2}/servers", status=202, payload=NATIVE_CREATED)
    body = {**CREATE_BODY, "flavor_id": flavor_id, **extra}
    response = await client.post(
        "/api/nhn/compute/instances/create/", json=body, headers=compute_headers()
    )
    assert response.status == 201
    assert await response.json() == {
        "server": {"id": NEW_SERVER_ID, "name": "web-01", "status": "BUILD"}
    }
    lookup, create = nhn.calls()
    _assert_native(lookup, "GET", f"{COMPUTE_KR2}/flavors/detail")
    _assert_native(
        create, "POST", f"{COMPUTE_KR2}/servers", _native_create(flavor_id, root_disk, zone=zone)
    )
    assert create.headers["Content-Type"] == "application/json"


async def test_create_server_with_size_and_groups_without_slash(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    nhn.post(f"{COMPUTE_KR2}/servers", status=202, payload=NATIVE_CREATED)
    body = {**CREATE_BODY, "volume_size": 200, "security_groups": ["default", "web"]}
    response = await client.post(
        "/api/nhn/compute/instances/create", json=body, headers=compute_headers()
    )
    assert response.status == 201
    expected = _native_create(groups=("default", "web"))
    expected["server"]["block_device_mapping_v2"][0]["volume_size"] = 200
    assert nhn.calls()[1].json == expected


async def test_create_server_null_optionals_take_defaults(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    nhn.post(f"{COMPUTE_KR2}/servers", status=202, payload=NATIVE_CREATED)
    body = {**CREATE_BODY, "volume_size": None, "security_groups": None, "availability_zone": None}
    response = await client.post(
        "/api/nhn/compute/instances/create/", json=body, headers=compute_headers()
    )
    assert response.status == 201
    assert nhn.calls()[1].json == _native_create()


async def test_create_server_unknown_flavor_is_400_without_create(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    body = {**CREATE_BODY, "flavor_id": "no-such-flavor"}
    response = await client.post(
        "/api/nhn/compute/instances/create/", json=body, headers=compute_headers()
    )
    assert response.status == 400
    payload = await response.json()
    assert payload["code"] == 400 and "flavor_id" in payload["error"]
    assert [call.method for call in nhn.calls()] == ["GET"]


async def test_create_server_quota_403_keeps_nova_message(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    message = "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
    nhn.post(f"{COMPUTE_KR2}/servers", **_nova_error(403, "forbidden", message))
    response = await client.post(
        "/api/nhn/compute/instances/create/", json=CREATE_BODY, headers=compute_headers()
    )
    assert response.status == 403
    assert await response.json() == {"error": message, "code": 403}


async def test_create_server_unexpected_answer_is_502(client, nhn):
    nhn.get(f"{COMPUTE_KR2}/flavors/detail", payload=NATIVE_FLAVORS)
    nhn.post(f"{COMPUTE_KR2}/servers", status=202, payload={"reservation_id": "r-1"})
    response = await client.post(
        "/api/nhn/compute/instances/create/", json=CREATE_BODY, headers=compute_headers()
    )
    assert response.status == 502


# (change to the valid body, field the 400 must name); None means "leave the field out"
INVALID_CREATES = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"image_id": None}, "image_id"),
    ({"image_id": "x" * 129}, "image_id"),
    ({"flavor_id": 5}, "flavor_id"),
    ({"subnet_id": ""}, "subnet_id"),
    ({"keypair_name": None}, "keypair_name"),
    ({"volume_size": 9}, "volume_size"),
    ({"volume_size": 2001}, "volume_size"),
    ({"volume_size": "50"}, "volume_size"),
    ({"volume_size": 50.5}, "volume_size"),
    ({"volume_size": True}, "volume_size"),
    ({"security_groups": "default"}, "security_groups"),
    ({"security_groups": []}, "security_groups"),
    ({"security_groups": ["g"] * 21}, "security_groups"),
    ({"security_groups": [""]}, "security_groups"),
    ({"security_groups": [7]}, "security_groups"),
    ({"availability_zone": ""}, "availability_zone"),
    ({"availability_zone": "z" * 256}, "availability_zone"),
    ({"count": 2}, "count"),
]


async def test_create_server_validation_names_the_field(client, nhn):
    for change, field in INVALID_CREATES:
        body = {key: value for key, value in {**CREATE_BODY, **change}.items() if value is not None}
        response = await client.post(
            "/api/nhn/compute/instances/create/", json=body, headers=compute_headers()
        )
        assert response.status == 400, change
        payload = await response.json()
        assert payload["code"] == 400 and field in payload["error"], (change, payload)
    assert nhn.calls() == []


async def test_create_server_rejects_non_object_body(client, nhn):
    response = await client.post(
        "/api/nhn/compute/instances/create/", data="[1]", headers=compute_headers()
    )
    assert response.status == 400
    assert nhn.calls() == []


async def test_delete_server(client, nhn):
    nhn.delete(f"{COMPUTE_KR2}/servers/{SERVER_ID}", status=204)
    response = await client.delete(
        f"/api/nhn/compute/instances/{SERVER_ID}/", headers=compute_headers()
    )
    assert response.status == 204
    assert await response.read() == b""
    _assert_native(nhn.only_call(), "DELETE", f"{COMPUTE_KR2}/servers/{SERVER_ID}")


async def test_delete_server_without_slash_404(client, nhn):
    message = f"Instance {SERVER_ID} could not be found."
    nhn.delete(f"{COMPUTE_KR2}/servers/{SERVER_ID}", **_nova_error(404, "itemNotFound", message))
    response = await client.delete(
        f"/api/nhn/compute/instances/{SERVER_ID}", headers=compute_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


@pytest.mark.parametrize(
    ("action", "native"),
    [
        ("start", {"os-start": None}),
        ("stop", {"os-stop": None}),
        ("reboot", {"reboot": {"type": "SOFT"}}),
    ],
)
async def test_server_action(client, nhn, action, native):
    nhn.post(f"{COMPUTE_KR2}/servers/{SERVER_ID}/action", status=202, body=b"")
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action/",
        json={"action": action},
        headers=compute_headers(),
    )
    assert response.status == 200
    assert await response.json() == {"status": "success", "action": action}
    _assert_native(nhn.only_call(), "POST", f"{COMPUTE_KR2}/servers/{SERVER_ID}/action", native)


async def test_server_action_409_keeps_nova_message_without_slash(client, nhn):
    message = f"Cannot 'os-stop' instance {SERVER_ID} while it is in vm_state stopped"
    nhn.post(
        f"{COMPUTE_KR2}/servers/{SERVER_ID}/action",
        **_nova_error(409, "conflictingRequest", message),
    )
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action",
        json={"action": "stop"},
        headers=compute_headers(),
    )
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


async def test_server_action_validation_names_action(client, nhn):
    bodies = [{"action": "shelve"}, {"action": "START"}, {"action": None}, {}, {"action": 1}]
    for body in bodies:
        response = await client.post(
            f"/api/nhn/compute/instances/{SERVER_ID}/action/", json=body, headers=compute_headers()
        )
        assert response.status == 400, body
        payload = await response.json()
        assert payload["code"] == 400 and "action" in payload["error"], (body, payload)
    assert nhn.calls() == []


async def test_upstream_unauthorized_passes_through(client, nhn):
    nhn.get(
        f"{COMPUTE_KR2}/os-keypairs",
        status=401,
        payload={
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }
        },
    )
    response = await client.get("/api/nhn/compute/keypairs/", headers=compute_headers())
    assert response.status == 401
    assert await response.json() == {
        "error": "The request you have made requires authentication.",
        "code": 401,
    }


ROUTES = [
    ("GET", "/api/nhn/compute/flavors/"),
    ("GET", "/api/nhn/compute/keypairs/"),
    ("GET", "/api/nhn/compute/images/"),
    ("GET", "/api/nhn/compute/instances/"),
    ("GET", f"/api/nhn/compute/instances/{SERVER_ID}/"),
    ("POST", "/api/nhn/compute/instances/create/"),
    ("DELETE", f"/api/nhn/compute/instances/{SERVER_ID}/"),
    ("POST", f"/api/nhn/compute/instances/{SERVER_ID}/action/"),
]


def _without(header: str) -> dict[str, str]:
    return {key: value for key, value in compute_headers().items() if key != header}


HEADER_CASES = [
    ({}, 401, "X-NHN-Token"),
    (_without("X-NHN-Token"), 401, "X-NHN-Token"),
    (_without("X-NHN-Region"), 400, "X-NHN-Region"),
    ({**compute_headers(), "X-NHN-Region": "us9"}, 400, "X-NHN-Region"),
    (_without("X-NHN-Tenant-ID"), 400, "X-NHN-Tenant-ID"),
    ({**compute_headers(), "X-NHN-Tenant-ID": "../x"}, 400, "X-NHN-Tenant-ID"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_headers_are_required(client, nhn, method, path):
    for headers, status, named in HEADER_CASES:
        if named == "X-NHN-Tenant-ID" and path.endswith("/images/"):
            continue  # the image service has no tenant
        response = await client.request(method, path, headers=headers, json={"action": "start"})
        assert response.status == status, (headers, await response.text())
        payload = await response.json()
        assert payload["code"] == status and named in payload["error"], payload
    assert nhn.calls() == []


async def test_images_ignore_a_missing_tenant_but_other_routes_need_it(client, nhn):
    nhn.get(f"{IMAGE_KR2}/v2/images?limit=1000", payload={"images": []})
    response = await client.get("/api/nhn/compute/images/", headers=_without("X-NHN-Tenant-ID"))
    assert response.status == 200
    assert await response.json() == {"images": []}


# (server id as sent, raw; what the proxy answers). Dot segments are resolved by the HTTP
# layer before routing, so they reach no compute route at all (404); the rest reach the
# route and fail its server_id check (400).
HOSTILE_SERVER_IDS = [
    ("..", 404),
    ("%2e%2e", 404),
    ("..%2Fflavors", 400),
    ("a%2Fb", 400),
    ("%2F", 400),
    ("a%3Fb", 400),
    ("a%23b", 400),
    ("a%40b", 400),
    ("a.b", 400),
    ("-x", 400),
    ("x" * 129, 400),
]


@pytest.mark.parametrize(("method", "suffix"), [("GET", "/"), ("DELETE", ""), ("POST", "/action/")])
async def test_hostile_server_ids_make_no_native_call(client, nhn, method, suffix):
    nhn.get(re.compile(r".*"), payload={}, repeat=True)
    nhn.post(re.compile(r".*"), payload={}, repeat=True)
    nhn.delete(re.compile(r".*"), status=204, repeat=True)
    for server_id, status in HOSTILE_SERVER_IDS:
        url = URL(f"/api/nhn/compute/instances/{server_id}{suffix}", encoded=True)
        response = await client.request(
            method, url, headers=compute_headers(), json={"action": "start"}
        )
        assert response.status == status, (server_id, response.status)
        payload = await response.json()
        assert payload["code"] == status
        if status == 400:
            assert "server_id" in payload["error"]
    assert nhn.calls() == []

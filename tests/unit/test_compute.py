"""Compute plugin: translation functions, every route with NHN compute/image mocked, and
the watchers of its long-running operations (block storage mocked for attachments)."""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from marshmallow import ValidationError
from yarl import URL

from nhn_proxy.app import create_app
from nhn_proxy.context import NhnContext
from nhn_proxy.errors import UpstreamBadResponse
from nhn_proxy.plugin import PluginConfig, Poll, PollState, Watcher
from nhn_proxy.plugins.compute import (
    INSTANCE_CREATE,
    INSTANCE_DELETE,
    INSTANCE_RESIZE,
    RESOURCE_TYPE,
    VOLUME_ATTACH,
    VOLUME_RESOURCE_TYPE,
    InstanceActionSchema,
    InstanceCreateSchema,
    KeypairCreateSchema,
    acted_on_server_id,
    action_to_native,
    attached_volume_id,
    attachment_from_native,
    attachment_to_native,
    check_public_key,
    created_keypair_from_native,
    created_server_from_native,
    created_server_id,
    deleted_server_id,
    flavor_from_native,
    flavors_from_native,
    generated_private_key,
    images_page_from_native,
    keypair_to_native,
    keypairs_from_native,
    nhn_proxy_demo_examples,
    nhn_proxy_routes,
    poll_attached_volume,
    poll_created_server,
    poll_deleted_server,
    poll_server_action,
    server_flavor_from_native,
    server_from_native,
    server_to_native,
    servers_page_from_native,
    volume_from_native,
)
from nhn_proxy.routing import Call, RouteEnvironment
from nhn_proxy.settings import Settings, load_settings
from nhn_proxy.upstream import Upstream
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
            "volume_type": "General HDD",
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


# u2.c2m4 of NATIVE_FLAVORS has a 40 GB local disk: NHN's Terraform guide sends volume_size
# for the local root disk too, and the proxy says the size NHN will create
U2_ROOT_DISK = {
    "source_type": "image",
    "uuid": IMAGE_ID,
    "boot_index": 0,
    "destination_type": "local",
    "volume_size": 40,
    "delete_on_termination": True,
}


def _nova_error(status: int, key: str, message: str) -> dict:
    return {"payload": {key: {"code": status, "message": message}}, "status": status}


# --------------------------------------------------------------------- pure functions


def test_flavors_from_native_keeps_spec_fields():
    assert flavors_from_native(NATIVE_FLAVORS) == PUBLIC_FLAVORS["flavors"]


def test_flavor_from_native_finds_name_and_local_disk_or_none():
    assert flavor_from_native(NATIVE_FLAVORS, U2_FLAVOR_ID) == ("u2.c2m4", 40)
    assert flavor_from_native(NATIVE_FLAVORS, M2_FLAVOR_ID) == ("m2.c2m4", 0)
    assert flavor_from_native(NATIVE_FLAVORS, "missing") is None


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


@pytest.mark.parametrize(
    ("link", "marker"),
    [
        ("/v2/images?marker=abc", "abc"),
        ("https://evil.example/steal?x=1&marker=abc&limit=5", "abc"),
        (f"{IMAGE_KR2}/v2/images?limit=1000&marker=abc", "abc"),
    ],
)
def test_glance_next_links_give_only_their_marker(link, marker):
    assert images_page_from_native({"images": [], "next": link}) == ([], marker)


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
def test_glance_next_links_without_one_marker_are_unusable_answers(link):
    with pytest.raises(UpstreamBadResponse):
        images_page_from_native({"images": [], "next": link})


def _server_ids(count: int) -> list[str]:
    return [f"{index:08x}-ea03-4ccc-8b1b-92f4b686c3ec" for index in range(count)]


def test_servers_page_a_short_page_is_the_last():
    assert servers_page_from_native({"servers": [_server()]}) == ([_server_summary()], None)
    assert servers_page_from_native({"servers": []}) == ([], None)
    two = {"servers": [_server(), _server(NEW_SERVER_ID, "db")]}
    assert servers_page_from_native(two, limit=3)[1] is None


def test_servers_page_a_full_page_continues_after_its_last_server():
    two = {"servers": [_server(), _server(NEW_SERVER_ID, "db")]}
    assert servers_page_from_native(two, limit=2) == (
        [_server_summary(), _server_summary(NEW_SERVER_ID, "db")],
        NEW_SERVER_ID,
    )
    page = {"servers": [_server(ident) for ident in _server_ids(1000)]}
    assert servers_page_from_native(page)[1] == _server_ids(1000)[-1]


@pytest.mark.parametrize(
    "links",
    [
        [{"href": f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={SERVER_ID}", "rel": "next"}],
        [{"href": "https://attacker.example/servers?marker=x", "rel": "next"}],
        [{"href": "/v2/servers", "rel": "next"}],
        "not even a list",
    ],
)
def test_servers_links_neither_extend_nor_end_nor_break_the_listing(links):
    """NHN documents only limit and marker: servers_links, whatever it says, is not read."""
    short = {"servers": [_server()], "servers_links": links}
    assert servers_page_from_native(short) == ([_server_summary()], None)
    full = {"servers": [_server(), _server(NEW_SERVER_ID, "db")], "servers_links": links}
    assert servers_page_from_native(full, limit=2)[1] == NEW_SERVER_ID


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


def test_server_to_native_u2_flavor_boots_from_local_disk_of_the_flavors_size():
    body = {**CREATE_BODY, "flavor_id": U2_FLAVOR_ID, "volume_size": 100}
    assert server_to_native(body, "u2.c2m4", 40) == _native_create(U2_FLAVOR_ID, U2_ROOT_DISK)


def test_server_to_native_local_disk_without_a_flavor_size_sends_the_requested_one():
    body = {**CREATE_BODY, "flavor_id": U2_FLAVOR_ID, "volume_size": 100}
    bdm = server_to_native(body, "u2.c2m4", 0)["server"]["block_device_mapping_v2"][0]
    assert bdm == {**U2_ROOT_DISK, "volume_size": 100}
    bdm = server_to_native({**CREATE_BODY, "volume_size": None}, "u2.c2m4")
    assert bdm["server"]["block_device_mapping_v2"][0]["volume_size"] == 50


def test_server_to_native_gpu_flavor_boots_from_local_disk_too():
    body = {**CREATE_BODY, "flavor_id": U2_FLAVOR_ID, "volume_size": 100}
    bdm = server_to_native(body, "g2.t4.c8m64", 100)["server"]["block_device_mapping_v2"][0]
    assert bdm == {**U2_ROOT_DISK, "volume_size": 100}
    assert "volume_type" not in bdm


def test_server_to_native_boot_volume_is_general_hdd_of_the_requested_size():
    body = {**CREATE_BODY, "volume_size": 200}
    bdm = server_to_native(body, "m2.c2m4", 0)["server"]["block_device_mapping_v2"][0]
    assert bdm["destination_type"] == "volume"
    assert (bdm["volume_size"], bdm["volume_type"]) == (200, "General HDD")


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
    assert action_to_native("resize", M2_FLAVOR_ID) == {"resize": {"flavorRef": M2_FLAVOR_ID}}
    assert action_to_native("confirm_resize") == {"confirmResize": None}
    assert action_to_native("revert_resize") == {"revertResize": None}


def test_server_flavor_from_native():
    assert server_flavor_from_native({"server": _server()}) == (
        "35a73b57-58a7-434d-aa08-5249aaa95b3e"
    )


@pytest.mark.parametrize(
    ("function", "native"),
    [
        (flavors_from_native, {"flavors": [{"id": "x"}]}),
        (flavors_from_native, {"flavors": "nope"}),
        (keypairs_from_native, {"keypairs": [{"name": "flat"}]}),
        (images_page_from_native, {"images": [{"id": "x"}]}),
        (images_page_from_native, {"images": [], "next": "/v2/images"}),
        (servers_page_from_native, {"servers": [{**_server(), "addresses": []}]}),
        (servers_page_from_native, {"servers": [{**_server(), "id": 7}]}),
        (server_from_native, {"server": {**_server(), "flavor": "x"}}),
        (server_from_native, {}),
        (server_flavor_from_native, {"server": {**_server(), "flavor": {"id": 5}}}),
    ],
)
def test_from_native_refuses_unexpected_shapes(function, native):
    with pytest.raises(UpstreamBadResponse):
        function(native)


@pytest.mark.parametrize("disk", ["40", None, True])
def test_flavor_from_native_refuses_a_disk_that_is_no_number(disk):
    native = {"flavors": [{"id": U2_FLAVOR_ID, "name": "u2.c2m4", "disk": disk}]}
    with pytest.raises(UpstreamBadResponse):
        flavor_from_native(native, U2_FLAVOR_ID)


def test_created_server_from_native_refuses_unexpected_shape():
    with pytest.raises(UpstreamBadResponse):
        created_server_from_native({"reservation_id": "r-abc"}, "web-01")


# Well-formed OpenSSH public key lines (the key data names its type): ed25519 and RSA
ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFdzE6TK4ULJKULkXmMDYS/C+ZlHhUPl0pbZp8S3oE8y user@laptop"
)
RSA_KEY = "ssh-rsa " + base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + bytes(64)).decode()
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAnV3QyU0Zr4eH+demo+only+not+a+key\n"
    "-----END RSA PRIVATE KEY-----\n"
)


@pytest.mark.parametrize("key", [ED25519_KEY, RSA_KEY, RSA_KEY + " a comment", ED25519_KEY + "\n"])
def test_check_public_key_takes_openssh_public_key_lines(key):
    check_public_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "ssh-rsa",
        "AAAAC3NzaC1lZDI1NTE5AAAAIFdzE6TK4ULJKULkXmMDYS/C",
        "ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIFdzE6TK4ULJKULkXmMDYS/C+ZlHhUPl0pbZp8S3oE8y",
        "ssh-ed25519 not*base64",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIFdzE6TK4ULJKULkXmMDYS/C+ZlHhUPl0pbZp8S3oE8y",
        "ssh-ed25519 AAAA",
        PRIVATE_KEY,
        ED25519_KEY + "\n" + ED25519_KEY,
        "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAC3NzaC1lZDI1NTE5\n---- END SSH2 PUBLIC KEY ----",
    ],
)
def test_check_public_key_refuses_what_is_not_one(key):
    with pytest.raises(ValidationError):
        check_public_key(key)


def test_keypair_to_native_sends_the_public_key_only_when_given():
    assert keypair_to_native({"name": "kp"}) == {"keypair": {"name": "kp"}}
    assert keypair_to_native({"name": "kp", "public_key": None}) == {"keypair": {"name": "kp"}}
    assert keypair_to_native({"name": "kp", "public_key": ED25519_KEY}) == {
        "keypair": {"name": "kp", "public_key": ED25519_KEY}
    }


def _native_keypair(private_key: str | None = None) -> dict:
    keypair = {
        "fingerprint": FINGERPRINT,
        "name": "my-keypair",
        "public_key": PUBLIC_KEY,
        "user_id": "436f727b7c9142f896ddd56be591dd7f",
    }
    if private_key is not None:
        keypair["private_key"] = private_key
    return {"keypair": keypair}


def test_created_keypair_keeps_the_private_key_only_of_a_generated_pair():
    public = {"name": "my-keypair", "public_key": PUBLIC_KEY, "fingerprint": FINGERPRINT}
    generated = _native_keypair(PRIVATE_KEY)
    assert created_keypair_from_native(generated, True) == {
        "keypair": {**public, "private_key": PRIVATE_KEY}
    }
    assert created_keypair_from_native(_native_keypair(), False) == {"keypair": public}
    assert generated_private_key(generated) == PRIVATE_KEY
    assert generated_private_key(_native_keypair()) is None


@pytest.mark.parametrize(
    ("native", "generated"),
    [
        (_native_keypair(), True),  # a generated pair without its private key is lost
        ({"keypair": {**_native_keypair()["keypair"], "fingerprint": None}}, False),
        ({"keypairs": []}, False),
    ],
)
def test_created_keypair_refuses_unusable_answers(native, generated):
    with pytest.raises(UpstreamBadResponse):
        created_keypair_from_native(native, generated)


def test_generated_private_key_refuses_a_key_that_is_no_text():
    with pytest.raises(UpstreamBadResponse):
        generated_private_key({"keypair": {"private_key": 5}})


@pytest.mark.parametrize(
    "name", ["my-keypair", "a", "My_Key 2", " padded ", "x" * 255, "-", "_under"]
)
def test_keypair_names_nova_takes(name):
    assert KeypairCreateSchema().load({"name": name}) == {"name": name}


@pytest.mark.parametrize("name", ["", " ", "   ", "x" * 256, "a.b", "a/b", "키", "a@b", "a\tb"])
def test_keypair_names_nova_refuses(name):
    with pytest.raises(ValidationError) as error:
        KeypairCreateSchema().load({"name": name})
    assert "name" in error.value.messages


VOLUME_ID = "a07f71dc-8151-4e7d-a0cc-cd24a3f11113"
NATIVE_ATTACHMENT = {
    "volumeAttachment": {
        "device": "/dev/vdb",
        "id": VOLUME_ID,
        "serverId": SERVER_ID,
        "volumeId": VOLUME_ID,
    }
}
PUBLIC_ATTACHMENT = {
    "attachment": {"server_id": SERVER_ID, "volume_id": VOLUME_ID, "device": "/dev/vdb"}
}


def test_attachment_to_and_from_native():
    assert attachment_to_native({"volume_id": VOLUME_ID}) == {
        "volumeAttachment": {"volumeId": VOLUME_ID}
    }
    assert attachment_from_native(NATIVE_ATTACHMENT) == PUBLIC_ATTACHMENT
    no_device = {"volumeAttachment": {**NATIVE_ATTACHMENT["volumeAttachment"], "device": None}}
    assert attachment_from_native(no_device)["attachment"]["device"] is None


@pytest.mark.parametrize(
    "native",
    [
        {},
        {"volumeAttachment": {"serverId": SERVER_ID}},
        {"volumeAttachment": {**NATIVE_ATTACHMENT["volumeAttachment"], "device": 5}},
    ],
)
def test_attachment_from_native_refuses_unusable_answers(native):
    with pytest.raises(UpstreamBadResponse):
        attachment_from_native(native)


def _native_volume(status: str = "in-use", server_id: str | None = SERVER_ID) -> dict:
    attachments = []
    if server_id is not None:
        attachments.append(
            {
                "server_id": server_id,
                "attachment_id": "0c5d2b3e-7a0b-4d9c-9f56-6a0c8d2f1e11",
                "volume_id": VOLUME_ID,
                "device": "/dev/vdb",
                "id": VOLUME_ID,
            }
        )
    return {
        "volume": {
            "id": VOLUME_ID,
            "name": "data-01",
            "status": status,
            "size": 50,
            "volume_type": "General HDD",
            "availability_zone": "kr2-pub-a",
            "bootable": "false",
            "encrypted": False,
            "multiattach": False,
            "attachments": attachments,
            "links": [],
            "snapshot_id": None,
            "metadata": {},
            "description": None,
            "created_at": "2018-12-18T05:43:12.000000",
            "replication_status": "disabled",
        }
    }


def _public_volume(status: str = "in-use", server_id: str | None = SERVER_ID) -> dict:
    return {
        "id": VOLUME_ID,
        "name": "data-01",
        "size": 50,
        "status": status,
        "volume_type": "General HDD",
        "availability_zone": "kr2-pub-a",
        "attachments": []
        if server_id is None
        else [{"server_id": server_id, "device": "/dev/vdb"}],
        "created_at": "2018-12-18T05:43:12.000000",
    }


def test_volume_from_native_is_the_public_volume_shape():
    assert volume_from_native(_native_volume()) == _public_volume()
    unnamed = _native_volume("available", None)
    unnamed["volume"]["name"] = None
    assert volume_from_native(unnamed) == {**_public_volume("available", None), "name": None}


@pytest.mark.parametrize(
    "change",
    [{"size": "50"}, {"size": True}, {"status": None}, {"attachments": None}, {"id": 1}],
)
def test_volume_from_native_refuses_unusable_answers(change):
    native = _native_volume()
    native["volume"].update(change)
    with pytest.raises(UpstreamBadResponse):
        volume_from_native(native)


@pytest.mark.parametrize(
    ("body", "loaded"),
    [
        ({"action": "start"}, {"action": "start"}),
        ({"action": "start", "flavor_id": None}, {"action": "start", "flavor_id": None}),
        (
            {"action": "resize", "flavor_id": M2_FLAVOR_ID},
            {"action": "resize", "flavor_id": M2_FLAVOR_ID},
        ),
        ({"action": "confirm_resize"}, {"action": "confirm_resize"}),
        ({"action": "revert_resize"}, {"action": "revert_resize"}),
    ],
)
def test_action_schema_takes_flavor_id_for_resize_only(body, loaded):
    assert InstanceActionSchema().load(body) == loaded


# ----------------------------------------------------------------------------- hooks


LONG_RUNNING = {
    ("POST", "/compute/instances/create/"): (
        "compute.instance.create",
        Watcher("instance", created_server_id, poll_created_server),
    ),
    ("DELETE", "/compute/instances/{server_id}/"): (
        "compute.instance.delete",
        Watcher("instance", deleted_server_id, poll_deleted_server),
    ),
    ("POST", "/compute/instances/{server_id}/action/"): (
        "compute.instance.resize",
        Watcher("instance", acted_on_server_id, poll_server_action),
    ),
    ("POST", "/compute/instances/{server_id}/volumes/attach/"): (
        "compute.volume.attach",
        Watcher("volume", attached_volume_id, poll_attached_volume),
    ),
}


def test_the_long_running_operations_and_their_watchers():
    routes = nhn_proxy_routes(PluginConfig(regions=("kr1", "kr2")))
    declared = {
        (route.method, route.path): (route.operation, route.watcher)
        for route in routes
        if route.operation is not None or route.watcher is not None
    }
    assert declared == LONG_RUNNING
    assert (INSTANCE_CREATE, INSTANCE_DELETE) == (
        "compute.instance.create",
        "compute.instance.delete",
    )
    assert (INSTANCE_RESIZE, VOLUME_ATTACH) == ("compute.instance.resize", "compute.volume.attach")
    assert (RESOURCE_TYPE, VOLUME_RESOURCE_TYPE) == ("instance", "volume")


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


async def test_list_servers_pages_by_marker_until_a_short_page(client, nhn):
    """A full page (1000) is followed by the last server's id as the marker; the shorter
    page ends the listing. servers_links, even one pointing elsewhere, is not followed."""
    ids = _server_ids(1000)
    third_id = "ccf2778b-ea03-4ccc-8b1b-92f4b686c3ee"
    first = {
        "servers": [_server(ident, f"vm-{index}") for index, ident in enumerate(ids)],
        "servers_links": [
            {
                "href": "https://attacker.example/v2/other/servers?marker=x&all_tenants=1",
                "rel": "next",
            }
        ],
    }
    nhn.get(f"{COMPUTE_KR2}/servers/detail?limit=1000", payload=first)
    nhn.get(
        f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={ids[-1]}",
        payload={"servers": [_server(third_id, "cache")]},
    )
    response = await client.get("/api/nhn/compute/instances", headers=compute_headers())
    assert response.status == 200
    servers = (await response.json())["servers"]
    assert len(servers) == 1001
    assert servers[0] == _server_summary(ids[0], "vm-0")
    assert servers[-1] == _server_summary(third_id, "cache")
    assert [(call.method, call.url) for call in nhn.calls()] == [
        ("GET", f"{COMPUTE_KR2}/servers/detail?limit=1000"),
        ("GET", f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={ids[-1]}"),
    ]


async def test_list_servers_a_full_last_page_ends_with_an_empty_one(client, nhn):
    ids = _server_ids(1000)
    nhn.get(
        f"{COMPUTE_KR2}/servers/detail?limit=1000",
        payload={"servers": [_server(ident) for ident in ids]},
    )
    nhn.get(f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={ids[-1]}", payload={"servers": []})
    response = await client.get("/api/nhn/compute/instances/", headers=compute_headers())
    assert response.status == 200
    assert [server["id"] for server in (await response.json())["servers"]] == ids
    assert len(nhn.calls()) == 2


async def test_list_servers_a_short_page_with_a_next_link_is_the_last(client, nhn):
    """Upstream Nova's servers_links on a short page must not extend the listing."""
    page = {
        "servers": [_server()],
        "servers_links": [
            {"href": f"{COMPUTE_KR2}/servers/detail?limit=1000&marker={SERVER_ID}", "rel": "next"}
        ],
    }
    nhn.get(f"{COMPUTE_KR2}/servers/detail?limit=1000", payload=page)
    response = await client.get("/api/nhn/compute/instances/", headers=compute_headers())
    assert response.status == 200
    assert await response.json() == {"servers": [_server_summary()]}
    _assert_native(nhn.only_call(), "GET", f"{COMPUTE_KR2}/servers/detail?limit=1000")


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
        ("confirm_resize", {"confirmResize": None}),
        ("revert_resize", {"revertResize": None}),
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


async def test_server_resize_sends_the_new_flavor(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/servers/{SERVER_ID}/action", status=202, body=b"")
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action",
        json={"action": "resize", "flavor_id": M2_FLAVOR_ID},
        headers=compute_headers(),
    )
    assert response.status == 200
    assert await response.json() == {"status": "success", "action": "resize"}
    _assert_native(
        nhn.only_call(),
        "POST",
        f"{COMPUTE_KR2}/servers/{SERVER_ID}/action",
        {"resize": {"flavorRef": M2_FLAVOR_ID}},
    )
    assert nhn.only_call().headers["Content-Type"] == "application/json"


async def test_server_start_with_a_null_flavor_is_a_plain_start(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/servers/{SERVER_ID}/action", status=202, body=b"")
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action/",
        json={"action": "start", "flavor_id": None},
        headers=compute_headers(),
    )
    assert response.status == 200
    assert nhn.only_call().json == {"os-start": None}


async def test_server_resize_of_a_u2_instance_keeps_nova_message(client, nhn):
    message = "u2 instances cannot be resized"
    nhn.post(f"{COMPUTE_KR2}/servers/{SERVER_ID}/action", **_nova_error(400, "badRequest", message))
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action/",
        json={"action": "resize", "flavor_id": M2_FLAVOR_ID},
        headers=compute_headers(),
    )
    assert response.status == 400
    assert await response.json() == {"error": message, "code": 400}


async def test_server_confirm_resize_409_keeps_nova_message(client, nhn):
    message = f"Cannot 'confirmResize' instance {SERVER_ID} while it is in vm_state active"
    nhn.post(
        f"{COMPUTE_KR2}/servers/{SERVER_ID}/action",
        **_nova_error(409, "conflictingRequest", message),
    )
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action/",
        json={"action": "confirm_resize"},
        headers=compute_headers(),
    )
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


INVALID_ACTIONS = [
    {"action": "resize"},
    {"action": "resize", "flavor_id": None},
    {"action": "resize", "flavor_id": ""},
    {"action": "resize", "flavor_id": "x" * 129},
    {"action": "resize", "flavor_id": 5},
    {"action": "start", "flavor_id": M2_FLAVOR_ID},
    {"action": "confirm_resize", "flavor_id": M2_FLAVOR_ID},
    {"action": "revert_resize", "flavor_id": M2_FLAVOR_ID},
]


async def test_server_action_flavor_id_for_resize_only(client, nhn):
    for body in INVALID_ACTIONS:
        response = await client.post(
            f"/api/nhn/compute/instances/{SERVER_ID}/action/", json=body, headers=compute_headers()
        )
        assert response.status == 400, body
        payload = await response.json()
        assert payload["code"] == 400 and "flavor_id" in payload["error"], (body, payload)
    assert nhn.calls() == []


# ----------------------------------------------------------------------- key pairs


async def test_create_keypair_generated_answers_the_private_key_once_never_logged(
    client, nhn, caplog
):
    caplog.set_level(logging.DEBUG)
    nhn.post(f"{COMPUTE_KR2}/os-keypairs", payload=_native_keypair(PRIVATE_KEY))
    response = await client.post(
        "/api/nhn/compute/keypairs/create/",
        json={"name": "my-keypair"},
        headers=compute_headers(),
    )
    assert response.status == 201
    assert await response.json() == {
        "keypair": {
            "name": "my-keypair",
            "public_key": PUBLIC_KEY,
            "fingerprint": FINGERPRINT,
            "private_key": PRIVATE_KEY,
        }
    }
    _assert_native(
        nhn.only_call(), "POST", f"{COMPUTE_KR2}/os-keypairs", {"keypair": {"name": "my-keypair"}}
    )
    assert nhn.only_call().headers["Content-Type"] == "application/json"
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert "MIIEpAIBAAKCAQEAnV3QyU0Zr4eH" not in logged


async def test_create_keypair_null_public_key_generates_too(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/os-keypairs", payload=_native_keypair(PRIVATE_KEY))
    response = await client.post(
        "/api/nhn/compute/keypairs/create",
        json={"name": "my-keypair", "public_key": None},
        headers=compute_headers(),
    )
    assert response.status == 201
    assert (await response.json())["keypair"]["private_key"] == PRIVATE_KEY
    assert nhn.only_call().json == {"keypair": {"name": "my-keypair"}}


async def test_create_keypair_imported_answers_no_private_key(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/os-keypairs", payload=_native_keypair())
    response = await client.post(
        "/api/nhn/compute/keypairs/create/",
        json={"name": "my-keypair", "public_key": ED25519_KEY},
        headers=compute_headers(),
    )
    assert response.status == 201
    assert await response.json() == {
        "keypair": {"name": "my-keypair", "public_key": PUBLIC_KEY, "fingerprint": FINGERPRINT}
    }
    _assert_native(
        nhn.only_call(),
        "POST",
        f"{COMPUTE_KR2}/os-keypairs",
        {"keypair": {"name": "my-keypair", "public_key": ED25519_KEY}},
    )


async def test_create_keypair_generated_without_a_private_key_is_502(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/os-keypairs", payload=_native_keypair())
    response = await client.post(
        "/api/nhn/compute/keypairs/create/", json={"name": "my-keypair"}, headers=compute_headers()
    )
    assert response.status == 502


async def test_create_keypair_name_in_use_is_nhns_409(client, nhn):
    message = "Key pair 'my-keypair' already exists."
    nhn.post(f"{COMPUTE_KR2}/os-keypairs", **_nova_error(409, "conflictingRequest", message))
    response = await client.post(
        "/api/nhn/compute/keypairs/create/", json={"name": "my-keypair"}, headers=compute_headers()
    )
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


INVALID_KEYPAIRS = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "a.b"}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": 5}, "name"),
    ({"name": "kp", "public_key": ""}, "public_key"),
    ({"name": "kp", "public_key": "ssh-rsa AAAA"}, "public_key"),
    ({"name": "kp", "public_key": PRIVATE_KEY}, "public_key"),
    ({"name": "kp", "public_key": "ssh-rsa " + "A" * 16400}, "public_key"),
    ({"name": "kp", "public_key": 7}, "public_key"),
    ({"name": "kp", "private_key": PRIVATE_KEY}, "private_key"),
]


async def test_create_keypair_validation_names_the_field(client, nhn):
    for body, field in INVALID_KEYPAIRS:
        body = {key: value for key, value in body.items() if not (key == "name" and value is None)}
        response = await client.post(
            "/api/nhn/compute/keypairs/create/", json=body, headers=compute_headers()
        )
        assert response.status == 400, body
        payload = await response.json()
        assert payload["code"] == 400 and field in payload["error"], (body, payload)
    assert nhn.calls() == []


@pytest.mark.parametrize(
    ("name", "sent", "native"),
    [
        ("my-keypair", "my-keypair", "my-keypair"),
        ("my_key%202", "my_key 2", "my_key%202"),
    ],
)
async def test_delete_keypair(client, nhn, name, sent, native):
    nhn.delete(f"{COMPUTE_KR2}/os-keypairs/{native}", status=202)
    response = await client.delete(
        URL(f"/api/nhn/compute/keypairs/{name}/", encoded=True), headers=compute_headers()
    )
    assert response.status == 204
    assert await response.read() == b""
    _assert_native(nhn.only_call(), "DELETE", f"{COMPUTE_KR2}/os-keypairs/{native}")


async def test_delete_keypair_404_keeps_nova_message_without_slash(client, nhn):
    message = "Keypair my-keypair not found for user 826a1213b3f746829515486965690dfe"
    nhn.delete(f"{COMPUTE_KR2}/os-keypairs/my-keypair", **_nova_error(404, "itemNotFound", message))
    response = await client.delete(
        "/api/nhn/compute/keypairs/my-keypair", headers=compute_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


@pytest.mark.parametrize(
    ("name", "status"),
    [("a.b", 400), ("a%2Fb", 400), ("%20%20", 400), ("a%40b", 400), ("x" * 256, 400), ("..", 404)],
)
async def test_hostile_keypair_names_make_no_native_call(client, nhn, name, status):
    nhn.delete(re.compile(r".*"), status=202, repeat=True)
    response = await client.delete(
        URL(f"/api/nhn/compute/keypairs/{name}/", encoded=True), headers=compute_headers()
    )
    assert response.status == status, name
    if status == 400:
        assert "keypair_name" in (await response.json())["error"]
    assert nhn.calls() == []


# ------------------------------------------------------------------ volume attachments


async def test_attach_volume(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/servers/{SERVER_ID}/os-volume_attachments", payload=NATIVE_ATTACHMENT)
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/",
        json={"volume_id": VOLUME_ID},
        headers=compute_headers(),
    )
    assert response.status == 200
    assert await response.json() == PUBLIC_ATTACHMENT
    _assert_native(
        nhn.only_call(),
        "POST",
        f"{COMPUTE_KR2}/servers/{SERVER_ID}/os-volume_attachments",
        {"volumeAttachment": {"volumeId": VOLUME_ID}},
    )
    assert nhn.only_call().headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "key", "message"),
    [
        (400, "badRequest", "Invalid volume: volume 'a07f71dc' status must be 'available'"),
        (404, "itemNotFound", f"Volume {VOLUME_ID} could not be found."),
        (409, "conflictingRequest", "Cannot 'attach_volume' instance while it is in task_state"),
    ],
)
async def test_attach_volume_keeps_nova_errors_without_slash(client, nhn, status, key, message):
    nhn.post(
        f"{COMPUTE_KR2}/servers/{SERVER_ID}/os-volume_attachments",
        **_nova_error(status, key, message),
    )
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach",
        json={"volume_id": VOLUME_ID},
        headers=compute_headers(),
    )
    assert response.status == status
    assert await response.json() == {"error": message, "code": status}


async def test_attach_volume_unexpected_answer_is_502(client, nhn):
    nhn.post(f"{COMPUTE_KR2}/servers/{SERVER_ID}/os-volume_attachments", payload={"ok": True})
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/",
        json={"volume_id": VOLUME_ID},
        headers=compute_headers(),
    )
    assert response.status == 502


async def test_attach_volume_validation_names_volume_id(client, nhn):
    bodies = [
        {},
        {"volume_id": None},
        {"volume_id": ""},
        {"volume_id": 5},
        {"volume_id": "x" * 129},
    ]
    for body in bodies:
        response = await client.post(
            f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/",
            json=body,
            headers=compute_headers(),
        )
        assert response.status == 400, body
        payload = await response.json()
        assert payload["code"] == 400 and "volume_id" in payload["error"], (body, payload)
    extra = {"volume_id": VOLUME_ID, "device": "/dev/vdb"}
    response = await client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/",
        json=extra,
        headers=compute_headers(),
    )
    assert response.status == 400 and "device" in (await response.json())["error"]
    assert nhn.calls() == []


async def test_detach_volume(client, nhn):
    url = f"{COMPUTE_KR2}/servers/{SERVER_ID}/os-volume_attachments/{VOLUME_ID}"
    nhn.delete(url, status=202)
    response = await client.delete(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/{VOLUME_ID}/", headers=compute_headers()
    )
    assert response.status == 204
    assert await response.read() == b""
    _assert_native(nhn.only_call(), "DELETE", url)


async def test_detach_volume_404_keeps_nova_message_without_slash(client, nhn):
    message = f"volume_id not found: {VOLUME_ID}"
    nhn.delete(
        f"{COMPUTE_KR2}/servers/{SERVER_ID}/os-volume_attachments/{VOLUME_ID}",
        **_nova_error(404, "itemNotFound", message),
    )
    response = await client.delete(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/{VOLUME_ID}", headers=compute_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


@pytest.mark.parametrize("volume_id", ["a.b", "a%2Fb", "-x", "x" * 129])
async def test_hostile_volume_ids_make_no_native_call(client, nhn, volume_id):
    nhn.delete(re.compile(r".*"), status=202, repeat=True)
    response = await client.delete(
        URL(f"/api/nhn/compute/instances/{SERVER_ID}/volumes/{volume_id}/", encoded=True),
        headers=compute_headers(),
    )
    assert response.status == 400
    assert "volume_id" in (await response.json())["error"]
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
    ("POST", "/api/nhn/compute/keypairs/create/"),
    ("DELETE", "/api/nhn/compute/keypairs/my-keypair/"),
    ("POST", f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/"),
    ("DELETE", f"/api/nhn/compute/instances/{SERVER_ID}/volumes/{VOLUME_ID}/"),
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


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/"),
        ("DELETE", ""),
        ("POST", "/action/"),
        ("POST", "/volumes/attach/"),
        ("DELETE", f"/volumes/{VOLUME_ID}/"),
    ],
)
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


# ----------------------------------------------------------------------------- watchers

BLOCK_STORAGE_KR2 = f"https://kr2-api-block-storage-infrastructure.nhncloudservice.com/v2/{TENANT}"
VOLUME_URL = f"{BLOCK_STORAGE_KR2}/volumes/{VOLUME_ID}"
SERVER_URL = f"{COMPUTE_KR2}/servers/{SERVER_ID}"
OLD_FLAVOR_ID = "35a73b57-58a7-434d-aa08-5249aaa95b3e"  # the flavor of _server()


@pytest.fixture
async def upstream(settings: Settings, nhn) -> AsyncIterator[Upstream]:
    """The proxy's upstream client, started outside any app (NHN mocked by `nhn`)."""
    client = Upstream(settings.upstream, settings.regions.allowed)
    await client.start()
    yield client
    await client.close()


def _task_call(upstream: Upstream, settings: Settings, body: dict[str, Any]) -> Call:
    """The `Call` a task carries: the checked context and body of the request."""
    environment = RouteEnvironment(
        upstream=upstream,
        allowed_regions=settings.regions.allowed,
        max_pages=settings.upstream.max_pages,
        sections={},
    )
    return Call(
        environment,
        NhnContext(request_id="req-watch", region="kr2", token=TOKEN, tenant_id=TENANT),
        params={"server_id": SERVER_ID},
        body=body,
        plugin="compute",
    )


def _resized_server(
    status: str, flavor_id: str = M2_FLAVOR_ID, task_state: str | None = None, **more: Any
) -> dict:
    server = _server()
    server.update(
        {"status": status, "OS-EXT-STS:task_state": task_state, "flavor": {"id": flavor_id}}
    )
    server.update(more)
    return {"server": server}


def _public_server(native: dict) -> dict:
    return {"server": server_from_native(native)}


def _only_get(nhn, url: str) -> None:
    call = nhn.only_call()
    assert (call.method, call.url, call.json) == ("GET", url, None)
    assert call.headers["X-Auth-Token"] == TOKEN


RESIZE_BODY = {"action": "resize", "flavor_id": M2_FLAVOR_ID}


def test_action_and_attach_watchers_name_their_resource(upstream, settings):
    call = _task_call(upstream, settings, RESIZE_BODY)
    assert acted_on_server_id(call, {"status": "success", "action": "resize"}) == SERVER_ID
    assert attached_volume_id(call, PUBLIC_ATTACHMENT) == VOLUME_ID


@pytest.mark.parametrize(
    "native",
    [
        _resized_server("ACTIVE", OLD_FLAVOR_ID, "resize_prep"),  # not started yet
        _resized_server("ACTIVE", OLD_FLAVOR_ID),  # accepted, not begun: old flavor
        _resized_server("SHUTOFF", OLD_FLAVOR_ID),
        _resized_server("RESIZE", M2_FLAVOR_ID, "resize_migrating"),
        _resized_server("ACTIVE", M2_FLAVOR_ID, "resize_finish"),  # a task still running
        _resized_server("REVERT_RESIZE", OLD_FLAVOR_ID, "resize_reverting"),
    ],
)
async def test_resize_is_pending_until_it_settles(upstream, settings, nhn, native):
    nhn.get(SERVER_URL, payload=native)
    poll = await poll_server_action(_task_call(upstream, settings, RESIZE_BODY), SERVER_ID)
    assert poll == Poll(PollState.PENDING)
    _only_get(nhn, SERVER_URL)


@pytest.mark.parametrize(
    "native",
    [
        _resized_server("VERIFY_RESIZE", M2_FLAVOR_ID),
        _resized_server("ACTIVE", M2_FLAVOR_ID),  # NHN confirmed it already
        _resized_server("SHUTOFF", M2_FLAVOR_ID),  # resized while stopped
    ],
)
async def test_resize_succeeds_with_what_the_get_route_answers(upstream, settings, nhn, native):
    nhn.get(SERVER_URL, payload=native)
    poll = await poll_server_action(_task_call(upstream, settings, RESIZE_BODY), SERVER_ID)
    assert poll == Poll(PollState.SUCCEEDED, _public_server(native))
    assert poll.result["server"]["flavor"] == {"id": M2_FLAVOR_ID}
    _only_get(nhn, SERVER_URL)


async def test_resize_fails_on_error_with_the_fault_message(upstream, settings, nhn):
    fault = {"code": 500, "message": "No valid host was found.", "created": "2024-05-01T09:00:00Z"}
    nhn.get(SERVER_URL, payload=_resized_server("ERROR", OLD_FLAVOR_ID, fault=fault))
    poll = await poll_server_action(_task_call(upstream, settings, RESIZE_BODY), SERVER_ID)
    assert poll == Poll(PollState.FAILED, message="No valid host was found.")


async def test_resize_error_without_fault_still_fails(upstream, settings, nhn):
    nhn.get(SERVER_URL, payload=_resized_server("ERROR", OLD_FLAVOR_ID))
    poll = await poll_server_action(_task_call(upstream, settings, RESIZE_BODY), SERVER_ID)
    assert poll == Poll(PollState.FAILED, message="instance went to ERROR")


@pytest.mark.parametrize("action", ["start", "stop", "reboot", "confirm_resize", "revert_resize"])
async def test_other_actions_settle_at_the_first_look(upstream, settings, nhn, action):
    native = _resized_server("REBOOT", OLD_FLAVOR_ID, "rebooting")
    nhn.get(SERVER_URL, payload=native)
    poll = await poll_server_action(_task_call(upstream, settings, {"action": action}), SERVER_ID)
    assert poll == Poll(PollState.SUCCEEDED, _public_server(native))


async def test_resize_poll_lets_a_404_through(upstream, settings, nhn):
    nhn.get(SERVER_URL, **_nova_error(404, "itemNotFound", "Instance could not be found."))
    with pytest.raises(Exception) as error:
        await poll_server_action(_task_call(upstream, settings, RESIZE_BODY), SERVER_ID)
    assert getattr(error.value, "upstream_status", None) == 404


@pytest.mark.parametrize(
    "native",
    [
        _native_volume("available", None),
        _native_volume("reserved", None),
        _native_volume("attaching", None),
        _native_volume("attaching", SERVER_ID),
    ],
)
async def test_attach_is_pending_until_the_volume_is_in_use(upstream, settings, nhn, native):
    nhn.get(VOLUME_URL, payload=native)
    call = _task_call(upstream, settings, {"volume_id": VOLUME_ID})
    assert await poll_attached_volume(call, VOLUME_ID) == Poll(PollState.PENDING)
    _only_get(nhn, VOLUME_URL)


async def test_attach_succeeds_with_the_public_volume(upstream, settings, nhn):
    nhn.get(VOLUME_URL, payload=_native_volume("in-use"))
    call = _task_call(upstream, settings, {"volume_id": VOLUME_ID})
    poll = await poll_attached_volume(call, VOLUME_ID)
    assert poll == Poll(PollState.SUCCEEDED, {"volume": _public_volume("in-use")})
    _only_get(nhn, VOLUME_URL)


@pytest.mark.parametrize(
    ("native", "message"),
    [
        (_native_volume("error", None), f"volume {VOLUME_ID} went to error"),
        (_native_volume("error_attaching", None), f"volume {VOLUME_ID} went to error_attaching"),
        (
            _native_volume("in-use", NEW_SERVER_ID),
            f"volume {VOLUME_ID} is in use by another instance",
        ),
    ],
)
async def test_attach_fails_on_error_or_another_instance(upstream, settings, nhn, native, message):
    nhn.get(VOLUME_URL, payload=native)
    call = _task_call(upstream, settings, {"volume_id": VOLUME_ID})
    assert await poll_attached_volume(call, VOLUME_ID) == Poll(PollState.FAILED, message=message)


async def test_attach_poll_unusable_volume_answer_is_an_unusable_answer(upstream, settings, nhn):
    nhn.get(VOLUME_URL, payload={"volume": {"id": VOLUME_ID}})
    call = _task_call(upstream, settings, {"volume_id": VOLUME_ID})
    with pytest.raises(UpstreamBadResponse):
        await poll_attached_volume(call, VOLUME_ID)


# ----------------------------------------------------------- the tasks, through the app

FAST_TASKS = {"poll_initial": 0.01, "poll_max": 0.02, "deadline": 10}
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
async def task_client(aiohttp_client, nhn):
    settings = load_settings(
        environ={}, overrides={"tasks": FAST_TASKS, "upstream": {"retries": 0}}
    )
    return await aiohttp_client(create_app(settings))


async def _settled(client, task: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    owner = {"X-NHN-Token": TOKEN, "X-NHN-Tenant-ID": TENANT}
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/nhn/tasks/{task['id']}/", headers=owner)
        assert response.status == 200, await response.text()
        task = (await response.json())["task"]
        if task["status"] not in ("pending", "running") or time.monotonic() > deadline:
            return task
        await asyncio.sleep(0.02)


async def test_resize_task_follows_the_instance_to_its_new_flavor(task_client, nhn):
    nhn.post(f"{SERVER_URL}/action", status=202, body=b"")
    nhn.get(SERVER_URL, payload=_resized_server("RESIZE", M2_FLAVOR_ID, "resize_migrating"))
    done = _resized_server("VERIFY_RESIZE", M2_FLAVOR_ID)
    nhn.get(SERVER_URL, payload=done, repeat=True)
    response = await task_client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action/",
        json=RESIZE_BODY,
        headers={**compute_headers(), **ASYNC},
    )
    assert response.status == 202, await response.text()
    task = await _settled(task_client, (await response.json())["task"])
    assert task["operation"] == "compute.instance.resize"
    assert task["status"] == "succeeded", task
    assert task["resource"] == {"type": "instance", "id": SERVER_ID}
    assert task["result"] == _public_server(done)
    action = next(call for call in nhn.calls() if call.method == "POST")
    assert action.json == {"resize": {"flavorRef": M2_FLAVOR_ID}}


async def test_a_start_task_settles_at_the_first_look(task_client, nhn):
    nhn.post(f"{SERVER_URL}/action", status=202, body=b"")
    native = _resized_server("SHUTOFF", OLD_FLAVOR_ID, "powering-on")
    nhn.get(SERVER_URL, payload=native, repeat=True)
    response = await task_client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/action/",
        json={"action": "start"},
        headers={**compute_headers(), **ASYNC},
    )
    assert response.status == 202
    task = await _settled(task_client, (await response.json())["task"])
    assert (task["status"], task["result"]) == ("succeeded", _public_server(native))
    assert [call.method for call in nhn.calls()] == ["POST", "GET"]


async def test_attach_task_follows_the_volume_until_in_use(task_client, nhn):
    nhn.post(f"{SERVER_URL}/os-volume_attachments", payload=NATIVE_ATTACHMENT)
    nhn.get(VOLUME_URL, payload=_native_volume("attaching", None))
    nhn.get(VOLUME_URL, payload=_native_volume("in-use"), repeat=True)
    response = await task_client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/",
        json={"volume_id": VOLUME_ID},
        headers={**compute_headers(), **ASYNC},
    )
    assert response.status == 202, await response.text()
    task = await _settled(task_client, (await response.json())["task"])
    assert task["operation"] == "compute.volume.attach"
    assert task["status"] == "succeeded", task
    assert task["resource"] == {"type": "volume", "id": VOLUME_ID}
    assert task["result"] == {"volume": _public_volume("in-use")}
    gets = [call for call in nhn.calls() if call.method == "GET"]
    assert gets and all(call.url == VOLUME_URL for call in gets)


async def test_attach_task_fails_when_the_volume_errors(task_client, nhn):
    nhn.post(f"{SERVER_URL}/os-volume_attachments", payload=NATIVE_ATTACHMENT)
    nhn.get(VOLUME_URL, payload=_native_volume("error_attaching", None), repeat=True)
    response = await task_client.post(
        f"/api/nhn/compute/instances/{SERVER_ID}/volumes/attach/",
        json={"volume_id": VOLUME_ID},
        headers={**compute_headers(), **ASYNC},
    )
    task = await _settled(task_client, (await response.json())["task"])
    assert task["status"] == "failed"
    assert task["error"] == {"error": f"volume {VOLUME_ID} went to error_attaching", "code": 502}

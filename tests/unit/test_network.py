"""Network plugin: translation functions and the VPC / subnet / floating-IP routes with NHN's
network API mocked."""

from __future__ import annotations

import asyncio
import re

import pytest
from marshmallow import ValidationError
from yarl import URL

from nhn_proxy.errors import UpstreamBadResponse
from nhn_proxy.plugins.network import (
    floatingip_list_from_native,
    ipv4_network,
    subnet_from_native,
    subnet_list_from_native,
    subnet_list_query_to_native,
    subnet_to_native,
    vpc_detail_from_native,
    vpc_from_native,
    vpc_list_from_native,
    vpc_to_native,
)
from tests.conftest import NETWORK_KR2, TOKEN, network_headers

NETWORK_KR1 = "https://kr1-api-network-infrastructure.nhncloudservice.com"
VPC_ID = "8a725559-671f-486f-96f0-8d77a21f6394"
SUBNET_ID = "8136b0e0-6360-4392-8947-48febf857cad"

# Native bodies copied from shared/nhn-api/network.md.
NATIVE_VPCS = {
    "vpcs": [
        {
            "router:external": True,
            "name": "public_network",
            "tenant_id": "e873d250f2ca40b78e2c12cfbaaeb740",
            "state": "available",
            "create_time": "2020-02-27 03:16:05",
            "cidrv4": "0.0.0.0/0",
            "shared": True,
            "id": "751b8227-7b45-440a-9349-dbf829d0aba5",
        },
        {
            "router:external": False,
            "name": "Default Network",
            "tenant_id": "6cdebe3eb0094910bc41f1d42ebe4cb7",
            "state": "available",
            "create_time": "2023-01-16 07:20:11",
            "cidrv4": "192.168.0.0/16",
            "shared": False,
            "id": "245ff686-4ca2-4176-a069-81013537ac3a",
        },
    ]
}
PUBLIC_VPCS = {
    "vpcs": [
        {
            "id": "751b8227-7b45-440a-9349-dbf829d0aba5",
            "name": "public_network",
            "cidrv4": "0.0.0.0/0",
            "state": "available",
            "external": True,
        },
        {
            "id": "245ff686-4ca2-4176-a069-81013537ac3a",
            "name": "Default Network",
            "cidrv4": "192.168.0.0/16",
            "state": "available",
            "external": False,
        },
    ]
}
NATIVE_VPC_CREATED = {
    "vpc": {
        "name": "vpc-test1",
        "tenant_id": "1fb0cf13afb341b699f74bbbecab2117",
        "state": "available",
        "create_time": "2023-01-17 05:14:52.037777",
        "cidrv4": "10.10.0.0/16",
        "shared": False,
        "id": "88eb3d8b-32ef-46e4-85c4-8612ab544705",
    }
}
PUBLIC_VPC_CREATED = {
    "vpc": {
        "id": "88eb3d8b-32ef-46e4-85c4-8612ab544705",
        "name": "vpc-test1",
        "cidrv4": "10.10.0.0/16",
        "state": "available",
        "external": False,
    }
}
NATIVE_SUBNET_FULL = {
    "router:external": False,
    "name": "vpc-subnet-2",
    "enable_dhcp": True,
    "tenant_id": "1fb0cf13afb341b699f74bbbecab2117",
    "gateway": "192.168.1.1",
    "routingtable": {
        "gateway_id": "4d6f3b31-f58d-4b39-9787-c1c39c6282ac",
        "default_table": True,
        "explicit": False,
        "id": "01ea946c-08d0-44fe-8e65-3c2cddfaa527",
        "name": "vpc-8a725559-671f",
    },
    "routes": [],
    "state": "available",
    "create_time": "2023-01-16 07:24:01",
    "available_ip_count": 251,
    "vpc": {
        "shared": False,
        "state": "available",
        "id": VPC_ID,
        "cidrv4": "192.168.0.0/16",
        "name": "hcpak-network",
    },
    "shared": False,
    "id": SUBNET_ID,
    "vpc_id": VPC_ID,
    "hidden": False,
    "cidr": "192.168.1.0/24",
}
PUBLIC_SUBNET = {
    "id": SUBNET_ID,
    "name": "vpc-subnet-2",
    "vpc_id": VPC_ID,
    "cidr": "192.168.1.0/24",
    "gateway": "192.168.1.1",
    "external": False,
}
NATIVE_VPC_DETAIL = {
    "vpc": {
        "router:external": False,
        "routingtables": [
            {
                "default_table": True,
                "id": "01ea946c-08d0-44fe-8e65-3c2cddfaa527",
                "name": "vpc-8a725559-671f",
            }
        ],
        "name": "hcpak-network",
        "subnets": [NATIVE_SUBNET_FULL],
        "tenant_id": "1fb0cf13afb341b699f74bbbecab2117",
        "state": "available",
        "create_time": "2023-01-16 07:20:11",
        "cidrv4": "192.168.0.0/16",
        "shared": False,
        "id": VPC_ID,
    }
}
PUBLIC_VPC_DETAIL = {
    "vpc": {
        "id": VPC_ID,
        "name": "hcpak-network",
        "cidrv4": "192.168.0.0/16",
        "state": "available",
        "external": False,
        "subnets": [PUBLIC_SUBNET],
    }
}
NATIVE_SUBNETS = {"vpcsubnets": [{k: v for k, v in NATIVE_SUBNET_FULL.items() if k != "hidden"}]}
NATIVE_SUBNET_CREATED = {
    "vpcsubnet": {
        "name": "vpc-subnet-1",
        "tenant_id": "1fb0cf13afb341b699f74bbbecab2117",
        "id": "bc6c7035-f9a7-4eea-a6c7-14c3036aa912",
        "state": "available",
        "create_time": "2023-01-17 05:39:28",
        "vpc_id": "b9f8e7b1-45e8-4eb5-95b2-7256dc60f7ff",
        "shared": False,
        "cidr": "10.3.0.0/24",
        "gateway": "10.3.0.1",
    }
}
PUBLIC_SUBNET_CREATED = {
    "vpcsubnet": {
        "id": "bc6c7035-f9a7-4eea-a6c7-14c3036aa912",
        "name": "vpc-subnet-1",
        "vpc_id": "b9f8e7b1-45e8-4eb5-95b2-7256dc60f7ff",
        "cidr": "10.3.0.0/24",
        "gateway": "10.3.0.1",
        "external": False,
    }
}
NATIVE_FLOATINGIPS = {
    "floatingips": [
        {
            "floating_network_id": "4b61db01-8183-4540-b2a3-47254a58298d",
            "router_id": None,
            "fixed_ip_address": None,
            "floating_ip_address": "133.186.242.214",
            "tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0",
            "status": "DOWN",
            "port_id": None,
            "id": "fed3fcf6-59b1-4f43-93e5-23a47cb5452e",
            "delete_protection": False,
            "label": "",
        },
        {
            "floating_network_id": "4b61db01-8183-4540-b2a3-47254a58298d",
            "router_id": "4d6f3b31-f58d-4b39-9787-c1c39c6282ac",
            "fixed_ip_address": "192.168.0.15",
            "floating_ip_address": "133.186.242.215",
            "tenant_id": "19eeb40d58684543aef29cbb5ebfe8f0",
            "status": "ACTIVE",
            "port_id": "2a83bc25-ed76-4a2b-83b7-a4408aa99c4a",
            "id": "0a9c7d3e-1b2f-4c5d-8e6f-7a8b9c0d1e2f",
            "delete_protection": True,
            "label": "web",
        },
    ]
}
PUBLIC_FLOATINGIPS = {
    "floatingips": [
        {
            "id": "fed3fcf6-59b1-4f43-93e5-23a47cb5452e",
            "floating_ip_address": "133.186.242.214",
            "status": "DOWN",
            "port_id": None,
        },
        {
            "id": "0a9c7d3e-1b2f-4c5d-8e6f-7a8b9c0d1e2f",
            "floating_ip_address": "133.186.242.215",
            "status": "ACTIVE",
            "port_id": "2a83bc25-ed76-4a2b-83b7-a4408aa99c4a",
        },
    ]
}


def neutron_error(kind: str, message: str) -> dict:
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


async def assert_refused(client, nhn, method: str, path, status: int | None, field: str, **kwargs):
    """The proxy answers `status` (None: 400, or 404 when the client library already
    normalised the path so that no route matches) naming `field`; NHN is never called."""
    response = await client.request(method, path, headers=network_headers(), **kwargs)
    payload = await response.json()
    expected = (400, 404) if status is None else (status,)
    assert response.status in expected, (path, kwargs, payload)
    assert payload["code"] == response.status, payload
    if response.status == 400:
        assert field in payload["error"], (kwargs, payload)
    assert nhn.calls() == []


def assert_native(call, method: str, url: str, body=None) -> None:
    assert (call.method, call.url) == (method, url)
    assert call.headers["X-Auth-Token"] == TOKEN
    assert call.json == body


# ----------------------------------------------------------------------------- translation


def test_vpc_list_from_native_keeps_external_network_marked():
    assert vpc_list_from_native(NATIVE_VPCS) == PUBLIC_VPCS


def test_vpc_from_native_create_answer_without_external_flag_is_not_external():
    assert vpc_from_native(NATIVE_VPC_CREATED) == PUBLIC_VPC_CREATED


def test_vpc_detail_from_native_gives_subnets_in_public_shape():
    assert vpc_detail_from_native(NATIVE_VPC_DETAIL) == PUBLIC_VPC_DETAIL


def test_vpc_detail_from_native_without_subnets_is_empty_list():
    native = {"vpc": {k: v for k, v in NATIVE_VPCS["vpcs"][0].items()}}
    assert vpc_detail_from_native(native) == {"vpc": {**PUBLIC_VPCS["vpcs"][0], "subnets": []}}


def test_vpc_to_native_renames_cidr():
    assert vpc_to_native({"name": "vpc-test1", "cidr": "10.10.0.0/16"}) == {
        "vpc": {"name": "vpc-test1", "cidrv4": "10.10.0.0/16"}
    }


def test_subnet_list_from_native_picks_five_fields():
    assert subnet_list_from_native(NATIVE_SUBNETS) == {"vpcsubnets": [PUBLIC_SUBNET]}


def test_subnet_from_native_wraps_created_subnet():
    assert subnet_from_native(NATIVE_SUBNET_CREATED) == PUBLIC_SUBNET_CREATED


def test_subnet_from_native_null_gateway():
    native = {"vpcsubnet": {**NATIVE_SUBNET_CREATED["vpcsubnet"], "gateway": None}}
    assert subnet_from_native(native)["vpcsubnet"]["gateway"] is None


def test_subnet_to_native_and_query():
    body = {"vpc_id": "b9f8e7b1", "name": "vpc-subnet-1", "cidr": "10.3.0.0/24"}
    assert subnet_to_native(body) == {"vpcsubnet": body}
    assert subnet_list_query_to_native({}) == {}
    assert subnet_list_query_to_native({"vpc_id": VPC_ID}) == {"vpc_id": VPC_ID}


def test_floatingip_list_from_native_keeps_null_port():
    assert floatingip_list_from_native(NATIVE_FLOATINGIPS) == PUBLIC_FLOATINGIPS


@pytest.mark.parametrize(
    ("function", "native"),
    [
        (vpc_list_from_native, {"networks": []}),
        (vpc_list_from_native, {"vpcs": {"id": "x"}}),
        (vpc_list_from_native, {"vpcs": [{"id": "x", "name": "n"}]}),
        (vpc_list_from_native, {"vpcs": [{**NATIVE_VPCS["vpcs"][0], "id": 5}]}),
        (vpc_from_native, {"vpc": []}),
        (vpc_detail_from_native, {"vpc": {**NATIVE_VPC_DETAIL["vpc"], "subnets": "x"}}),
        (subnet_list_from_native, {"vpcsubnets": [{"id": "x"}]}),
        (subnet_from_native, {}),
        (floatingip_list_from_native, {"floatingips": [{"id": "x", "status": "DOWN"}]}),
        (
            floatingip_list_from_native,
            {"floatingips": [{**PUBLIC_FLOATINGIPS["floatingips"][0], "port_id": 7}]},
        ),
    ],
)
def test_from_native_rejects_unexpected_shapes(function, native):
    with pytest.raises(UpstreamBadResponse):
        function(native)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.0/16", "10.0.0.0/16"), ("10.0.0.0/08", "10.0.0.0/8"), ("0.0.0.0/0", "0.0.0.0/0")],
)
def test_ipv4_network_accepts_networks(value, expected):
    assert ipv4_network(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.1/16",
        "10.0.0.0",
        "10.0.0.0/33",
        "010.0.0.0/8",
        "::/0",
        "10.0.0.0/255.255.0.0",
        "300.0.0.0/8",
        "abc",
    ],
)
def test_ipv4_network_refuses_the_rest(value):
    with pytest.raises(ValidationError):
        ipv4_network(value)


# ----------------------------------------------------------------------------- VPC routes


async def test_list_vpcs(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/vpcs", payload=NATIVE_VPCS)
    response = await client.get("/api/nhn/vpc/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == PUBLIC_VPCS
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR2}/v2.0/vpcs")


async def test_list_vpcs_without_slash_in_other_region(client, nhn):
    nhn.get(f"{NETWORK_KR1}/v2.0/vpcs", payload=NATIVE_VPCS)
    response = await client.get("/api/nhn/vpc", headers=network_headers("KR1"))
    assert response.status == 200
    assert await response.json() == PUBLIC_VPCS
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR1}/v2.0/vpcs")


async def test_create_vpc(client, nhn):
    nhn.post(f"{NETWORK_KR2}/v2.0/vpcs", status=201, payload=NATIVE_VPC_CREATED)
    response = await client.post(
        "/api/nhn/vpc/create/",
        json={"name": "vpc-test1", "cidr": "10.10.0.0/16"},
        headers=network_headers(),
    )
    assert response.status == 201
    assert await response.json() == PUBLIC_VPC_CREATED
    call = nhn.only_call()
    assert_native(
        call,
        "POST",
        f"{NETWORK_KR2}/v2.0/vpcs",
        {"vpc": {"name": "vpc-test1", "cidrv4": "10.10.0.0/16"}},
    )
    assert call.headers["Content-Type"] == "application/json"


async def test_create_vpc_without_slash_sends_normalised_cidr(client, nhn):
    nhn.post(f"{NETWORK_KR2}/v2.0/vpcs", status=201, payload=NATIVE_VPC_CREATED)
    response = await client.post(
        "/api/nhn/vpc/create",
        json={"name": "vpc-test1", "cidr": "10.0.0.0/08"},
        headers=network_headers(),
    )
    assert response.status == 201
    assert nhn.only_call().json == {"vpc": {"name": "vpc-test1", "cidrv4": "10.0.0.0/8"}}


VPC_BODY_PROBLEMS = [
    ({"cidr": "10.0.0.0/16"}, "name"),
    ({"name": "v"}, "cidr"),
    ({"name": "", "cidr": "10.0.0.0/16"}, "name"),
    ({"name": "v" * 256, "cidr": "10.0.0.0/16"}, "name"),
    ({"name": 5, "cidr": "10.0.0.0/16"}, "name"),
    ({"name": "v", "cidr": "10.0.0.1/16"}, "cidr"),
    ({"name": "v", "cidr": "10.0.0.0"}, "cidr"),
    ({"name": "v", "cidr": "fd00::/8"}, "cidr"),
    ({"name": "v", "cidr": "10.0.0.0/255.255.0.0"}, "cidr"),
    ({"name": "v", "cidr": "1" * 5000}, "cidr"),
    ({"name": "v", "cidr": ["10.0.0.0/16"]}, "cidr"),
    ({"name": "v", "cidr": "10.0.0.0/16", "tenant_id": "x"}, "tenant_id"),
]


async def test_create_vpc_validation_names_the_field(client, nhn):
    for body, field in VPC_BODY_PROBLEMS:
        await assert_refused(client, nhn, "POST", "/api/nhn/vpc/create/", 400, field, json=body)


async def test_create_vpc_conflict_passes_neutron_message(client, nhn):
    nhn.post(
        f"{NETWORK_KR2}/v2.0/vpcs",
        status=409,
        payload=neutron_error("OverQuota", "Quota exceeded for resources: ['network']."),
    )
    response = await client.post(
        "/api/nhn/vpc/create/",
        json={"name": "v", "cidr": "10.0.0.0/16"},
        headers=network_headers(),
    )
    assert response.status == 409
    assert await response.json() == {
        "error": "Quota exceeded for resources: ['network'].",
        "code": 409,
    }


async def test_get_vpc(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/vpcs/{VPC_ID}", payload=NATIVE_VPC_DETAIL)
    response = await client.get(f"/api/nhn/vpc/{VPC_ID}/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == PUBLIC_VPC_DETAIL
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR2}/v2.0/vpcs/{VPC_ID}")


async def test_get_vpc_not_found(client, nhn):
    message = f"Network {VPC_ID} could not be found."
    nhn.get(
        f"{NETWORK_KR2}/v2.0/vpcs/{VPC_ID}",
        status=404,
        payload=neutron_error("NetworkNotFound", message),
    )
    response = await client.get(f"/api/nhn/vpc/{VPC_ID}", headers=network_headers())
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_delete_vpc(client, nhn):
    nhn.delete(f"{NETWORK_KR2}/v2.0/vpcs/{VPC_ID}", status=204)
    response = await client.delete(f"/api/nhn/vpc/{VPC_ID}/", headers=network_headers())
    assert response.status == 204
    assert await response.read() == b""
    assert_native(nhn.only_call(), "DELETE", f"{NETWORK_KR2}/v2.0/vpcs/{VPC_ID}")


async def test_delete_vpc_with_subnets_is_409(client, nhn):
    message = (
        f"Unable to complete operation on network {VPC_ID}. "
        "There are one or more ports still in use on the network."
    )
    nhn.delete(
        f"{NETWORK_KR2}/v2.0/vpcs/{VPC_ID}",
        status=409,
        payload=neutron_error("NetworkInUse", message),
    )
    response = await client.delete(f"/api/nhn/vpc/{VPC_ID}", headers=network_headers())
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


# ----------------------------------------------------------------------------- subnet routes


async def test_list_subnets(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/vpcsubnets", payload=NATIVE_SUBNETS)
    response = await client.get("/api/nhn/subnet/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"vpcsubnets": [PUBLIC_SUBNET]}
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR2}/v2.0/vpcsubnets")


async def test_list_subnets_of_one_vpc_without_slash(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/vpcsubnets?vpc_id={VPC_ID}", payload=NATIVE_SUBNETS)
    response = await client.get(
        f"/api/nhn/subnet?vpc_id={VPC_ID}&_=1700000000", headers=network_headers()
    )
    assert response.status == 200
    assert await response.json() == {"vpcsubnets": [PUBLIC_SUBNET]}
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR2}/v2.0/vpcsubnets?vpc_id={VPC_ID}")


async def test_list_subnets_refuses_bad_vpc_id(client, nhn):
    for vpc_id in ["", "..", "a/b", "x&router:external=true", "v" * 129]:
        params = {"vpc_id": vpc_id}
        await assert_refused(client, nhn, "GET", "/api/nhn/subnet/", 400, "vpc_id", params=params)


async def test_create_subnet(client, nhn):
    nhn.post(f"{NETWORK_KR2}/v2.0/vpcsubnets", status=201, payload=NATIVE_SUBNET_CREATED)
    body = {
        "vpc_id": "b9f8e7b1-45e8-4eb5-95b2-7256dc60f7ff",
        "name": "vpc-subnet-1",
        "cidr": "10.3.0.0/24",
    }
    response = await client.post("/api/nhn/subnet/create/", json=body, headers=network_headers())
    assert response.status == 201
    assert await response.json() == PUBLIC_SUBNET_CREATED
    assert_native(nhn.only_call(), "POST", f"{NETWORK_KR2}/v2.0/vpcsubnets", {"vpcsubnet": body})


async def test_create_subnet_without_slash(client, nhn):
    nhn.post(f"{NETWORK_KR2}/v2.0/vpcsubnets", status=201, payload=NATIVE_SUBNET_CREATED)
    body = {"vpc_id": VPC_ID, "name": "vpc-subnet-1", "cidr": "10.3.0.0/24"}
    response = await client.post("/api/nhn/subnet/create", json=body, headers=network_headers())
    assert response.status == 201
    assert nhn.only_call().json == {"vpcsubnet": body}


SUBNET_BODY_PROBLEMS = [
    ({"name": "s", "cidr": "10.3.0.0/24"}, "vpc_id"),
    ({"vpc_id": VPC_ID, "cidr": "10.3.0.0/24"}, "name"),
    ({"vpc_id": VPC_ID, "name": "s"}, "cidr"),
    ({"vpc_id": "../vpcs", "name": "s", "cidr": "10.3.0.0/24"}, "vpc_id"),
    ({"vpc_id": "v" * 129, "name": "s", "cidr": "10.3.0.0/24"}, "vpc_id"),
    ({"vpc_id": VPC_ID, "name": "s" * 256, "cidr": "10.3.0.0/24"}, "name"),
    ({"vpc_id": VPC_ID, "name": "s", "cidr": "10.3.0.7/24"}, "cidr"),
    ({"vpc_id": VPC_ID, "name": "s", "cidr": 24}, "cidr"),
    ({"vpc_id": VPC_ID, "name": "s", "cidr": "10.3.0.0/24", "gateway": "10.3.0.1"}, "gateway"),
]


async def test_create_subnet_validation_names_the_field(client, nhn):
    for body, field in SUBNET_BODY_PROBLEMS:
        await assert_refused(client, nhn, "POST", "/api/nhn/subnet/create/", 400, field, json=body)


async def test_create_subnet_outside_vpc_range_keeps_neutron_400(client, nhn):
    message = (
        "Invalid input for operation: Requested subnet with cidr: 10.9.0.0/24 is not in the VPC."
    )
    nhn.post(
        f"{NETWORK_KR2}/v2.0/vpcsubnets", status=400, payload=neutron_error("InvalidInput", message)
    )
    body = {"vpc_id": VPC_ID, "name": "s", "cidr": "10.9.0.0/24"}
    response = await client.post("/api/nhn/subnet/create/", json=body, headers=network_headers())
    assert response.status == 400
    assert await response.json() == {"error": message, "code": 400}


async def test_get_subnet(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET_ID}", payload={"vpcsubnet": NATIVE_SUBNET_FULL})
    response = await client.get(f"/api/nhn/subnet/{SUBNET_ID}/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"vpcsubnet": PUBLIC_SUBNET}
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET_ID}")


async def test_get_subnet_not_found_without_slash(client, nhn):
    message = f"Subnet {SUBNET_ID} could not be found."
    nhn.get(
        f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET_ID}",
        status=404,
        payload=neutron_error("SubnetNotFound", message),
    )
    response = await client.get(f"/api/nhn/subnet/{SUBNET_ID}", headers=network_headers())
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_delete_subnet(client, nhn):
    nhn.delete(f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET_ID}", status=204)
    response = await client.delete(f"/api/nhn/subnet/{SUBNET_ID}/", headers=network_headers())
    assert response.status == 204
    assert_native(nhn.only_call(), "DELETE", f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET_ID}")


async def test_delete_subnet_in_use_is_409(client, nhn):
    message = (
        f"Unable to complete operation on subnet {SUBNET_ID}: "
        "One or more ports have an IP allocation from this subnet."
    )
    nhn.delete(
        f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET_ID}",
        status=409,
        payload=neutron_error("SubnetInUse", message),
    )
    response = await client.delete(f"/api/nhn/subnet/{SUBNET_ID}", headers=network_headers())
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


# ----------------------------------------------------------------------------- floating IPs


async def test_list_floatingips(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/floatingips", payload=NATIVE_FLOATINGIPS)
    response = await client.get("/api/nhn/floatingip/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == PUBLIC_FLOATINGIPS
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR2}/v2.0/floatingips")


async def test_list_floatingips_without_slash(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/floatingips", payload={"floatingips": []})
    response = await client.get("/api/nhn/floatingip", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"floatingips": []}


# ----------------------------------------------------------------------------- common failures

LIST_ROUTES = [
    "/api/nhn/vpc/",
    "/api/nhn/subnet/",
    "/api/nhn/floatingip/",
    f"/api/nhn/vpc/{VPC_ID}/",
]


async def test_missing_token_is_401(client, nhn):
    for path in LIST_ROUTES:
        response = await client.get(path, headers={"X-NHN-Region": "kr2"})
        assert response.status == 401, path
        assert await response.json() == {"error": "X-NHN-Token header is required", "code": 401}
    assert nhn.calls() == []


async def test_missing_or_unknown_region_is_400(client, nhn):
    for region in [None, "", "kr9", "kr2.evil.com"]:
        headers = {"X-NHN-Token": TOKEN}
        if region is not None:
            headers["X-NHN-Region"] = region
        response = await client.get("/api/nhn/vpc/", headers=headers)
        assert response.status == 400, region
        assert "X-NHN-Region" in (await response.json())["error"]
    assert nhn.calls() == []


async def test_create_without_token_is_401_before_body_check(client, nhn):
    response = await client.post(
        "/api/nhn/subnet/create/", json={}, headers={"X-NHN-Region": "kr2"}
    )
    assert response.status == 401
    assert nhn.calls() == []


UNEXPECTED_BODIES = [
    ("/api/nhn/vpc/", {"networks": []}),
    ("/api/nhn/subnet/", {"vpcsubnets": None}),
    ("/api/nhn/floatingip/", {"floatingips": [{"id": "x"}]}),
    (f"/api/nhn/vpc/{VPC_ID}/", {"vpcs": []}),
    (f"/api/nhn/subnet/{SUBNET_ID}/", {"vpcsubnet": "x"}),
]


async def test_unexpected_native_body_is_502(client, nhn):
    for path, native in UNEXPECTED_BODIES:
        nhn.get(re.compile(re.escape(NETWORK_KR2) + r"/v2\.0/.*"), payload=native)
        response = await client.get(path, headers=network_headers())
        payload = await response.json()
        assert response.status == 502, (path, payload)
        assert payload["code"] == 502 and "network" in payload["error"]


async def test_non_json_native_body_is_502(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/vpcs", body="<html>maintenance</html>", content_type="text/html")
    response = await client.get("/api/nhn/vpc/", headers=network_headers())
    assert response.status == 502


async def test_native_server_error_is_502(client, nhn):
    nhn.get(f"{NETWORK_KR2}/v2.0/floatingips", status=500, payload=neutron_error("X", "boom"))
    response = await client.get("/api/nhn/floatingip/", headers=network_headers())
    assert response.status == 502
    assert (await response.json())["code"] == 502


HOSTILE_IDS = [
    "%2e%2e",
    "a%2Fb",
    "..%2F..%2Fnetworks",
    "a%3Fb",
    "a%23b",
    "a%40b",
    "a%20b",
    "a;b",
    "%00",
    "v" * 129,
]


@pytest.mark.parametrize("resource", ["vpc", "subnet"])
async def test_hostile_ids_never_reach_nhn(client, nhn, resource):
    for method in ("GET", "DELETE"):
        for raw_id in HOSTILE_IDS:
            url = URL(f"/api/nhn/{resource}/{raw_id}/", encoded=True)
            await assert_refused(client, nhn, method, url, None, resource + "_id")
        # a literal `..` is normalised away before routing: no route, no call
        url = URL(f"/api/nhn/{resource}/../", encoded=True)
        response = await client.request(method, url, headers=network_headers())
        assert response.status in (400, 404)
        assert nhn.calls() == []


async def test_dot_segments_sent_verbatim_are_400(client, nhn):
    # aiohttp's client would normalise `%2e%2e` away; send the request line byte for byte
    for raw in ("..", "%2e%2e", "%2E%2e", "."):
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        request = [f"DELETE /api/nhn/vpc/{raw}/ HTTP/1.1", "Host: localhost", "Connection: close"]
        request += [f"{name}: {value}" for name, value in network_headers().items()]
        writer.write(("\r\n".join(request) + "\r\n\r\n").encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b"vpc_id" in answer
    assert nhn.calls() == []


def test_subnets_of_the_shared_external_network_are_marked_external():
    native = {"vpcsubnets": [{**NATIVE_SUBNETS["vpcsubnets"][0], "router:external": True}]}
    assert subnet_list_from_native(native)["vpcsubnets"][0]["external"] is True

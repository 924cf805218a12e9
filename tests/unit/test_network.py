"""Network plugin: translation functions and the VPC / subnet / security-group / floating-IP
routes with NHN's network API mocked."""

from __future__ import annotations

import asyncio
import re

import pytest
from marshmallow import ValidationError
from yarl import URL

from nhn_proxy.errors import UpstreamBadResponse
from nhn_proxy.plugins.network import (
    external_network_from_native,
    floatingip_from_native,
    floatingip_list_from_native,
    floatingip_port_to_native,
    floatingip_to_native,
    ipv4_network,
    remote_prefix,
    security_group_from_native,
    security_group_list_from_native,
    security_group_rule_from_native,
    security_group_rule_to_native,
    security_group_to_native,
    server_ports_from_native,
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


# ============================================================================ security groups

GROUP_ID = "148cfc28-a58c-497f-aaab-c610bf7b5f18"
DEFAULT_GROUP_ID = "877b092c-2a31-4509-8d23-deeb02d95633"
RULE_ID = "057e031a-ec2a-4bee-859a-6bc1d88c57d0"
NHN_TENANT = "19eeb40d58684543aef29cbb5ebfe8f0"
GROUPS_URL = f"{NETWORK_KR2}/v2.0/security-groups"
RULES_URL = f"{NETWORK_KR2}/v2.0/security-group-rules"


def native_rule(rule_id: str, group_id: str, direction: str, ethertype: str, **extra) -> dict:
    """A rule as Neutron answers it (every field, nulls included)."""
    rule = {
        "direction": direction,
        "protocol": None,
        "description": None,
        "port_range_max": None,
        "id": rule_id,
        "remote_group_id": None,
        "remote_ip_prefix": None,
        "security_group_id": group_id,
        "tenant_id": NHN_TENANT,
        "port_range_min": None,
        "ethertype": ethertype,
    }
    rule.update(extra)
    return rule


def public_rule(rule_id: str, direction: str, ethertype: str, **extra) -> dict:
    rule = {
        "id": rule_id,
        "direction": direction,
        "ethertype": ethertype,
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": None,
    }
    rule.update(extra)
    return rule


# network.md §6: a new group has two egress rules (IPv4 and IPv6, any protocol)
NATIVE_GROUP = {
    "tenant_id": NHN_TENANT,
    "description": "security group for webservers",
    "id": GROUP_ID,
    "security_group_rules": [
        native_rule(RULE_ID, GROUP_ID, "egress", "IPv4"),
        native_rule("cd37d4a7-75ac-4246-95cf-e93b37b75a9f", GROUP_ID, "egress", "IPv6"),
    ],
    "name": "webservers",
}
PUBLIC_GROUP = {
    "id": GROUP_ID,
    "name": "webservers",
    "description": "security group for webservers",
    "rules": [
        public_rule(RULE_ID, "egress", "IPv4"),
        public_rule("cd37d4a7-75ac-4246-95cf-e93b37b75a9f", "egress", "IPv6"),
    ],
}
# the default group: ingress from its own members, an SSH rule added by the user
NATIVE_DEFAULT_GROUP = {
    "tenant_id": NHN_TENANT,
    "description": "Default security group",
    "id": DEFAULT_GROUP_ID,
    "security_group_rules": [
        native_rule(
            "0c4c9fd4-1b6e-4b4e-9f5e-2f8a3e0c1a01",
            DEFAULT_GROUP_ID,
            "ingress",
            "IPv4",
            remote_group_id=DEFAULT_GROUP_ID,
        ),
        native_rule(
            "0c4c9fd4-1b6e-4b4e-9f5e-2f8a3e0c1a02",
            DEFAULT_GROUP_ID,
            "ingress",
            "IPv4",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix="0.0.0.0/0",
            description="ssh",
        ),
    ],
    "name": "default",
}
PUBLIC_DEFAULT_GROUP = {
    "id": DEFAULT_GROUP_ID,
    "name": "default",
    "description": "Default security group",
    "rules": [
        public_rule(
            "0c4c9fd4-1b6e-4b4e-9f5e-2f8a3e0c1a01",
            "ingress",
            "IPv4",
            remote_group_id=DEFAULT_GROUP_ID,
        ),
        public_rule(
            "0c4c9fd4-1b6e-4b4e-9f5e-2f8a3e0c1a02",
            "ingress",
            "IPv4",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix="0.0.0.0/0",
        ),
    ],
}
NATIVE_SSH_RULE = native_rule(
    "2bc0accf-312e-429a-956e-e4407625eb62",
    GROUP_ID,
    "ingress",
    "IPv4",
    protocol="tcp",
    port_range_min=22,
    port_range_max=22,
    remote_ip_prefix="0.0.0.0/0",
)
PUBLIC_SSH_RULE = public_rule(
    "2bc0accf-312e-429a-956e-e4407625eb62",
    "ingress",
    "IPv4",
    protocol="tcp",
    port_range_min=22,
    port_range_max=22,
    remote_ip_prefix="0.0.0.0/0",
)


# ----------------------------------------------------------------------------- translation


def test_security_group_list_from_native_keeps_rules_and_their_nulls():
    native = {"security_groups": [NATIVE_DEFAULT_GROUP, NATIVE_GROUP]}
    assert security_group_list_from_native(native) == {
        "security_groups": [PUBLIC_DEFAULT_GROUP, PUBLIC_GROUP]
    }


def test_security_group_from_native_without_description_is_null():
    native = {k: v for k, v in NATIVE_GROUP.items() if k != "description"}
    public = security_group_from_native({"security_group": native})
    assert public == {"security_group": {**PUBLIC_GROUP, "description": None}}


def test_security_group_rule_from_native_drops_neutron_only_fields():
    answer = security_group_rule_from_native({"security_group_rule": NATIVE_SSH_RULE})
    assert answer == {"security_group_rule": PUBLIC_SSH_RULE}


def test_security_group_to_native_sends_description_only_when_given():
    assert security_group_to_native({"name": "web", "description": "http"}) == {
        "security_group": {"name": "web", "description": "http"}
    }
    assert security_group_to_native({"name": "web", "description": None}) == {
        "security_group": {"name": "web"}
    }


def test_security_group_rule_to_native_takes_the_group_from_the_path_and_leaves_out_nulls():
    body = {
        "direction": "egress",
        "ethertype": "IPv4",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
    }
    assert security_group_rule_to_native(GROUP_ID, body) == {
        "security_group_rule": {
            "security_group_id": GROUP_ID,
            "direction": "egress",
            "ethertype": "IPv4",
        }
    }
    full = {**body, "protocol": "icmp", "port_range_min": 8, "port_range_max": 0}
    assert security_group_rule_to_native(GROUP_ID, full)["security_group_rule"] == {
        "security_group_id": GROUP_ID,
        "direction": "egress",
        "ethertype": "IPv4",
        "protocol": "icmp",
        "port_range_min": 8,
        "port_range_max": 0,
    }


@pytest.mark.parametrize(
    ("value", "ethertype", "expected"),
    [
        ("0.0.0.0/0", "IPv4", "0.0.0.0/0"),
        ("203.0.113.0/24", "IPv4", "203.0.113.0/24"),
        ("::/0", "IPv6", "::/0"),
        ("2001:DB8::/32", "IPv6", "2001:db8::/32"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001/128", "IPv6", "2001:db8::1/128"),
    ],
)
def test_remote_prefix_accepts_networks_of_the_ethertype(value, ethertype, expected):
    assert remote_prefix(value, ethertype) == expected


@pytest.mark.parametrize(
    ("value", "ethertype", "problem"),
    [
        ("::/0", "IPv4", "does not match ethertype IPv4"),
        ("2001:db8::/32", "IPv4", "does not match ethertype IPv4"),
        ("0.0.0.0/0", "IPv6", "does not match ethertype IPv6"),
        ("10.0.0.1/24", "IPv4", "host bits"),
        ("2001:db8::1/32", "IPv6", "host bits"),
        ("10.0.0.1", "IPv4", "CIDR"),
        ("2001:db8::1", "IPv6", "CIDR"),
        ("fe80::%eth0/64", "IPv6", "CIDR"),
        ("2001:db8::/129", "IPv6", "IPv6"),
        ("2001:db8:::/32", "IPv6", "IPv6"),
        ("anywhere", "IPv4", "CIDR"),
    ],
)
def test_remote_prefix_refuses_the_rest(value, ethertype, problem):
    with pytest.raises(ValidationError, match=problem):
        remote_prefix(value, ethertype)


@pytest.mark.parametrize(
    ("function", "native"),
    [
        (security_group_list_from_native, {"security_group": []}),
        (security_group_list_from_native, {"security_groups": [{"id": GROUP_ID}]}),
        (security_group_from_native, {"security_group": {**NATIVE_GROUP, "name": None}}),
        (
            security_group_from_native,
            {"security_group": {**NATIVE_GROUP, "security_group_rules": None}},
        ),
        (security_group_rule_from_native, {"security_group_rule": "x"}),
        (
            security_group_rule_from_native,
            {"security_group_rule": {**NATIVE_SSH_RULE, "port_range_min": "22"}},
        ),
        (
            security_group_rule_from_native,
            {"security_group_rule": {**NATIVE_SSH_RULE, "port_range_max": True}},
        ),
        (
            security_group_rule_from_native,
            {"security_group_rule": {**NATIVE_SSH_RULE, "protocol": 6}},
        ),
        (
            security_group_rule_from_native,
            {"security_group_rule": {k: v for k, v in NATIVE_SSH_RULE.items() if k != "direction"}},
        ),
    ],
)
def test_security_group_from_native_rejects_unexpected_shapes(function, native):
    with pytest.raises(UpstreamBadResponse):
        function(native)


# ----------------------------------------------------------------------------- group routes


async def test_list_security_groups(client, nhn):
    nhn.get(GROUPS_URL, payload={"security_groups": [NATIVE_DEFAULT_GROUP, NATIVE_GROUP]})
    response = await client.get("/api/nhn/security-groups/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"security_groups": [PUBLIC_DEFAULT_GROUP, PUBLIC_GROUP]}
    assert_native(nhn.only_call(), "GET", GROUPS_URL)


async def test_list_security_groups_without_slash_in_other_region(client, nhn):
    nhn.get(f"{NETWORK_KR1}/v2.0/security-groups", payload={"security_groups": []})
    response = await client.get("/api/nhn/security-groups", headers=network_headers("kr1"))
    assert response.status == 200
    assert await response.json() == {"security_groups": []}
    assert_native(nhn.only_call(), "GET", f"{NETWORK_KR1}/v2.0/security-groups")


async def test_get_security_group(client, nhn):
    nhn.get(f"{GROUPS_URL}/{GROUP_ID}", payload={"security_group": NATIVE_GROUP})
    response = await client.get(f"/api/nhn/security-groups/{GROUP_ID}/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"security_group": PUBLIC_GROUP}
    assert_native(nhn.only_call(), "GET", f"{GROUPS_URL}/{GROUP_ID}")


async def test_get_security_group_not_found_passes_through(client, nhn):
    message = f"Security group {GROUP_ID} does not exist"
    nhn.get(
        f"{GROUPS_URL}/{GROUP_ID}",
        status=404,
        payload=neutron_error("SecurityGroupNotFound", message),
    )
    response = await client.get(f"/api/nhn/security-groups/{GROUP_ID}", headers=network_headers())
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_create_security_group(client, nhn):
    nhn.post(GROUPS_URL, status=201, payload={"security_group": NATIVE_GROUP})
    body = {"name": "webservers", "description": "security group for webservers"}
    response = await client.post(
        "/api/nhn/security-groups/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == {"security_group": PUBLIC_GROUP}
    call = nhn.only_call()
    assert_native(call, "POST", GROUPS_URL, {"security_group": body})
    assert call.headers["Content-Type"] == "application/json"


async def test_create_security_group_without_description_or_slash(client, nhn):
    nhn.post(GROUPS_URL, status=201, payload={"security_group": NATIVE_GROUP}, repeat=True)
    for body in ({"name": "webservers"}, {"name": "webservers", "description": None}):
        response = await client.post(
            "/api/nhn/security-groups/create", json=body, headers=network_headers()
        )
        assert response.status == 201
    assert [call.json for call in nhn.calls()] == [{"security_group": {"name": "webservers"}}] * 2


GROUP_BODY_PROBLEMS = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "g" * 256}, "name"),
    ({"name": 5}, "name"),
    ({"name": "g", "description": "d" * 256}, "description"),
    ({"name": "g", "description": ["d"]}, "description"),
    ({"name": "g", "tenant_id": NHN_TENANT}, "tenant_id"),
]


async def test_create_security_group_validation_names_the_field(client, nhn):
    for body, field in GROUP_BODY_PROBLEMS:
        path = "/api/nhn/security-groups/create/"
        await assert_refused(client, nhn, "POST", path, 400, field, json=body)


async def test_create_second_default_group_conflict_passes_through(client, nhn):
    message = "Default security group already exists."
    nhn.post(
        GROUPS_URL,
        status=409,
        payload=neutron_error("SecurityGroupDefaultAlreadyExists", message),
    )
    response = await client.post(
        "/api/nhn/security-groups/create/", json={"name": "default"}, headers=network_headers()
    )
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


async def test_delete_security_group(client, nhn):
    nhn.delete(f"{GROUPS_URL}/{GROUP_ID}", status=204)
    response = await client.delete(
        f"/api/nhn/security-groups/{GROUP_ID}/", headers=network_headers()
    )
    assert response.status == 204
    assert await response.read() == b""
    assert_native(nhn.only_call(), "DELETE", f"{GROUPS_URL}/{GROUP_ID}")


async def test_delete_security_group_in_use_is_409(client, nhn):
    message = f"Security Group {GROUP_ID} in use."
    nhn.delete(
        f"{GROUPS_URL}/{GROUP_ID}", status=409, payload=neutron_error("SecurityGroupInUse", message)
    )
    response = await client.delete(
        f"/api/nhn/security-groups/{GROUP_ID}", headers=network_headers()
    )
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


# ----------------------------------------------------------------------------- rule routes


def rule_path(group_id: str = GROUP_ID) -> str:
    return f"/api/nhn/security-groups/{group_id}/rules/create/"


async def test_create_rule_sends_the_group_of_the_path(client, nhn):
    nhn.post(RULES_URL, status=201, payload={"security_group_rule": NATIVE_SSH_RULE})
    body = {
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0",
        "ethertype": "IPv4",
    }
    response = await client.post(rule_path(), json=body, headers=network_headers())
    assert response.status == 201
    assert await response.json() == {"security_group_rule": PUBLIC_SSH_RULE}
    assert_native(
        nhn.only_call(),
        "POST",
        RULES_URL,
        {"security_group_rule": {"security_group_id": GROUP_ID, **body}},
    )


async def test_create_rule_with_direction_only_defaults_to_ipv4_and_sends_no_nulls(client, nhn):
    native = native_rule(RULE_ID, GROUP_ID, "egress", "IPv4")
    nhn.post(RULES_URL, status=201, payload={"security_group_rule": native})
    body = {"direction": "egress", "protocol": None, "remote_ip_prefix": None}
    response = await client.post(rule_path().rstrip("/"), json=body, headers=network_headers())
    assert response.status == 201
    assert await response.json() == {"security_group_rule": public_rule(RULE_ID, "egress", "IPv4")}
    assert nhn.only_call().json == {
        "security_group_rule": {
            "security_group_id": GROUP_ID,
            "direction": "egress",
            "ethertype": "IPv4",
        }
    }


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        # ICMP echo request: type 8, code 0 (Neutron's type/code reading of the two ports)
        (
            {"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
            {"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
        ),
        (
            {"direction": "ingress", "protocol": "icmp", "port_range_min": 3},
            {"protocol": "icmp", "port_range_min": 3},
        ),
        ({"direction": "ingress", "protocol": "icmp"}, {"protocol": "icmp"}),
        (
            {
                "direction": "ingress",
                "protocol": "udp",
                "port_range_min": 1,
                "port_range_max": 65535,
            },
            {"protocol": "udp", "port_range_min": 1, "port_range_max": 65535},
        ),
        ({"direction": "ingress", "protocol": "tcp"}, {"protocol": "tcp"}),
        (
            {"direction": "ingress", "remote_ip_prefix": "10.0.0.0/08"},
            {"remote_ip_prefix": "10.0.0.0/8"},
        ),
        (
            {"direction": "egress", "ethertype": "IPv6", "remote_ip_prefix": "2001:DB8::/32"},
            {"ethertype": "IPv6", "remote_ip_prefix": "2001:db8::/32"},
        ),
    ],
)
async def test_create_rule_sends_checked_values(client, nhn, body, sent):
    native = native_rule(RULE_ID, GROUP_ID, body["direction"], sent.get("ethertype", "IPv4"))
    nhn.post(RULES_URL, status=201, payload={"security_group_rule": {**native, **sent}})
    response = await client.post(rule_path(), json=body, headers=network_headers())
    assert response.status == 201, await response.text()
    expected = {"security_group_id": GROUP_ID, "direction": body["direction"], "ethertype": "IPv4"}
    assert nhn.only_call().json == {"security_group_rule": {**expected, **sent}}


RULE_BODY_PROBLEMS = [
    ({}, "direction"),
    ({"direction": "inbound"}, "direction"),
    ({"direction": "INGRESS"}, "direction"),
    ({"direction": None}, "direction"),
    ({"direction": "ingress", "protocol": "sctp"}, "protocol"),
    ({"direction": "ingress", "protocol": "TCP"}, "protocol"),
    ({"direction": "ingress", "protocol": 6}, "protocol"),
    ({"direction": "ingress", "ethertype": "ipv4"}, "ethertype"),
    ({"direction": "ingress", "ethertype": None}, "ethertype"),
    # tcp/udp: both ports or neither, 1-65535, min <= max
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 22},
        "port_range_max",
    ),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 22}, "port_range_max"),
    ({"direction": "ingress", "protocol": "udp", "port_range_max": 53}, "port_range_min"),
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 22},
        "port_range_min",
    ),
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 1, "port_range_max": 65536},
        "port_range_max",
    ),
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": -1, "port_range_max": 22},
        "port_range_min",
    ),
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": "22", "port_range_max": 22},
        "port_range_min",
    ),
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": 22.5, "port_range_max": 23},
        "port_range_min",
    ),
    (
        {"direction": "ingress", "protocol": "tcp", "port_range_min": True, "port_range_max": 1},
        "port_range_min",
    ),
    # ports without a protocol
    ({"direction": "ingress", "port_range_min": 22, "port_range_max": 22}, "port_range_min"),
    ({"direction": "ingress", "protocol": None, "port_range_max": 22}, "port_range_max"),
    # icmp: type 0-255, code 0-255 and only with a type
    ({"direction": "ingress", "protocol": "icmp", "port_range_max": 0}, "port_range_min"),
    ({"direction": "ingress", "protocol": "icmp", "port_range_min": 256}, "port_range_min"),
    (
        {"direction": "ingress", "protocol": "icmp", "port_range_min": 3, "port_range_max": 300},
        "port_range_max",
    ),
    # remote_ip_prefix: a network of the ethertype
    ({"direction": "ingress", "remote_ip_prefix": "::/0"}, "remote_ip_prefix"),
    (
        {"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "0.0.0.0/0"},
        "remote_ip_prefix",
    ),
    ({"direction": "ingress", "remote_ip_prefix": "10.0.0.1/24"}, "remote_ip_prefix"),
    ({"direction": "ingress", "remote_ip_prefix": "10.0.0.1"}, "remote_ip_prefix"),
    ({"direction": "ingress", "remote_ip_prefix": ""}, "remote_ip_prefix"),
    ({"direction": "ingress", "remote_ip_prefix": "1" * 65}, "remote_ip_prefix"),
    ({"direction": "ingress", "remote_ip_prefix": ["0.0.0.0/0"]}, "remote_ip_prefix"),
    # fields of NHN not offered here, and the group, which comes from the path
    ({"direction": "ingress", "security_group_id": DEFAULT_GROUP_ID}, "security_group_id"),
    ({"direction": "ingress", "remote_group_id": DEFAULT_GROUP_ID}, "remote_group_id"),
]


async def test_create_rule_validation_names_the_field(client, nhn):
    for body, field in RULE_BODY_PROBLEMS:
        await assert_refused(client, nhn, "POST", rule_path(), 400, field, json=body)


async def test_create_rule_duplicate_is_409(client, nhn):
    message = "Security group rule already exists. Rule id is 2bc0accf-312e-429a-956e-e4407625eb62."
    nhn.post(RULES_URL, status=409, payload=neutron_error("SecurityGroupRuleExists", message))
    body = {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    response = await client.post(rule_path(), json=body, headers=network_headers())
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


async def test_create_rule_in_unknown_group_is_404(client, nhn):
    message = f"Security group {GROUP_ID} does not exist"
    nhn.post(RULES_URL, status=404, payload=neutron_error("SecurityGroupNotFound", message))
    response = await client.post(
        rule_path(), json={"direction": "ingress"}, headers=network_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_create_ipv6_rule_refused_by_nhn_passes_through(client, nhn):
    # NHN documents only IPv4 rules as creatable: its refusal is the answer
    message = "Invalid input for ethertype. Reason: 'IPv6' is not in ['IPv4']."
    nhn.post(RULES_URL, status=400, payload=neutron_error("HTTPBadRequest", message))
    body = {"direction": "ingress", "ethertype": "IPv6"}
    response = await client.post(rule_path(), json=body, headers=network_headers())
    assert response.status == 400
    assert await response.json() == {"error": message, "code": 400}
    assert nhn.only_call().json["security_group_rule"]["ethertype"] == "IPv6"


async def test_delete_rule(client, nhn):
    nhn.delete(f"{RULES_URL}/{RULE_ID}", status=204)
    response = await client.delete(
        f"/api/nhn/security-groups/rules/{RULE_ID}/", headers=network_headers()
    )
    assert response.status == 204
    assert await response.read() == b""
    assert_native(nhn.only_call(), "DELETE", f"{RULES_URL}/{RULE_ID}")


async def test_delete_rule_not_found_without_slash(client, nhn):
    message = f"Security group rule {RULE_ID} does not exist"
    nhn.delete(
        f"{RULES_URL}/{RULE_ID}",
        status=404,
        payload=neutron_error("SecurityGroupRuleNotFound", message),
    )
    response = await client.delete(
        f"/api/nhn/security-groups/rules/{RULE_ID}", headers=network_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


# ----------------------------------------------------------------------------- route matching


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        # `rules` and `create` name sibling routes, never a group: refused before NHN
        ("GET", "/api/nhn/security-groups/rules/", "security_group_id"),
        ("GET", "/api/nhn/security-groups/rules", "security_group_id"),
        ("DELETE", "/api/nhn/security-groups/rules/", "security_group_id"),
        ("GET", "/api/nhn/security-groups/create/", "security_group_id"),
        ("DELETE", "/api/nhn/security-groups/create/", "security_group_id"),
        ("POST", "/api/nhn/security-groups/rules/rules/create/", "security_group_id"),
        ("DELETE", "/api/nhn/floatingip/create/", "floatingip_id"),
        ("POST", "/api/nhn/floatingip/create/associate/", "floatingip_id"),
    ],
)
async def test_sibling_route_words_are_not_ids(client, nhn, method, path, field):
    # the path is checked before the body: a valid body changes nothing
    body = {"direction": "ingress"} if "security-groups" in path else {"server_id": SERVER_ID}
    kwargs = {"json": body} if method == "POST" else {}
    await assert_refused(client, nhn, method, path, 400, field, **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", f"/api/nhn/security-groups/rules/{RULE_ID}/", "DELETE"),
        ("POST", "/api/nhn/security-groups/rules/create/", "DELETE"),
        ("POST", "/api/nhn/security-groups/", "GET"),
        ("GET", f"/api/nhn/floatingip/{RULE_ID}/associate/", "POST"),
    ],
)
async def test_other_methods_on_the_new_paths_are_405(client, nhn, method, path, allowed):
    response = await client.request(method, path, headers=network_headers())
    assert response.status == 405
    payload = await response.json()
    assert payload["code"] == 405 and allowed in payload["error"]
    assert nhn.calls() == []


def test_the_document_has_the_new_routes_and_tags(app_document):
    paths = app_document["paths"]
    expected = {
        ("/api/nhn/security-groups/", "get"): ("security-groups", "200"),
        ("/api/nhn/security-groups/create/", "post"): ("security-groups", "201"),
        ("/api/nhn/security-groups/{security_group_id}/", "get"): ("security-groups", "200"),
        ("/api/nhn/security-groups/{security_group_id}/", "delete"): ("security-groups", "204"),
        (
            "/api/nhn/security-groups/{security_group_id}/rules/create/",
            "post",
        ): ("security-groups", "201"),
        ("/api/nhn/security-groups/rules/{rule_id}/", "delete"): ("security-groups", "204"),
        ("/api/nhn/floatingip/create/", "post"): ("floatingip", "201"),
        ("/api/nhn/floatingip/{floatingip_id}/associate/", "post"): ("floatingip", "200"),
        ("/api/nhn/floatingip/{floatingip_id}/disassociate/", "post"): ("floatingip", "200"),
        ("/api/nhn/floatingip/{floatingip_id}/", "delete"): ("floatingip", "204"),
    }
    for (path, method), (tag, status) in expected.items():
        operation = paths[path][method]
        assert operation["tags"] == [tag], path
        assert status in operation["responses"], (path, method)
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"X-NHN-Token", "X-NHN-Region"}, path
    create = paths["/api/nhn/floatingip/create/"]["post"]
    assert {"404", "409"} <= set(create["responses"])
    associate = paths["/api/nhn/floatingip/{floatingip_id}/associate/"]["post"]
    assert "409" in associate["responses"]
    schemas = app_document["components"]["schemas"]
    # "Try it out" allocates on the region's own external network: no id to replace
    assert (
        schemas["FloatingIpCreateRequest"]["properties"]["external_network_id"]["example"] is None
    )
    rule = schemas["SecurityGroupRuleCreateRequest"]["properties"]
    assert rule["ethertype"]["enum"] == ["IPv4", "IPv6"]
    assert rule["protocol"]["enum"] == ["tcp", "udp", "icmp", None]  # null: any protocol


@pytest.fixture
def app_document(settings):
    from nhn_proxy.app import create_app
    from nhn_proxy.keys import OPENAPI

    return create_app(settings)[OPENAPI]


# ============================================================================ floating IPs

FIP_ID = "fed3fcf6-59b1-4f43-93e5-23a47cb5452e"
SERVER_ID = "10b9643d-9bc8-4b0f-a5dd-cfcb4033d70b"
PORT_ID = "2a83bc25-ed76-4a2b-83b7-a4408aa99c4a"
OTHER_PORT_ID = "af41e9f7-18ae-43c5-8b7e-7026f792bf3a"
PUBLIC_NETWORK_ID = "751b8227-7b45-440a-9349-dbf829d0aba5"
FIPS_URL = f"{NETWORK_KR2}/v2.0/floatingips"
NETWORKS_URL = f"{NETWORK_KR2}/v2.0/networks?router:external=True"
PORTS_URL = f"{NETWORK_KR2}/v2.0/ports?device_id={SERVER_ID}"
NATIVE_FIP_DOWN = {**NATIVE_FLOATINGIPS["floatingips"][0], "floating_network_id": PUBLIC_NETWORK_ID}
PUBLIC_FIP_DOWN = PUBLIC_FLOATINGIPS["floatingips"][0]
# NHN's example still shows DOWN right after an attach; ACTIVE comes asynchronously
NATIVE_FIP_ATTACHED = {
    **NATIVE_FIP_DOWN,
    "port_id": PORT_ID,
    "fixed_ip_address": "192.168.0.15",
    "router_id": "4d6f3b31-f58d-4b39-9787-c1c39c6282ac",
}
PUBLIC_FIP_ATTACHED = {**PUBLIC_FIP_DOWN, "port_id": PORT_ID}
NATIVE_EXTERNAL_NETWORKS = {
    "networks": [
        {
            "name": "public_network",
            "id": PUBLIC_NETWORK_ID,
            "status": "ACTIVE",
            "shared": True,
            "subnets": ["6b3f7d6d-df61-4345-beb5-1621fd274659"],
            "admin_state_up": True,
            "port_security_enabled": True,
            "router:external": True,
            "tenant_id": "e873d250f2ca40b78e2c12cfbaaeb740",
            "mtu": 0,
        }
    ]
}


def native_port(port_id: str, device_id: str = SERVER_ID) -> dict:
    """An instance NIC as network.md §4 shows it."""
    return {
        "status": "ACTIVE",
        "name": "",
        "admin_state_up": True,
        "network_id": "c46ee4e8-c9fa-462e-8a3b-55b1f11dd8f8",
        "tenant_id": NHN_TENANT,
        "device_owner": "compute:kr-pub-a",
        "mac_address": "fa:16:3e:1a:ed:34",
        "fixed_ips": [
            {"subnet_id": "eb166bdf-dd99-4b02-ac8e-64be21dff2d5", "ip_address": "192.168.0.15"}
        ],
        "id": port_id,
        "security_groups": [DEFAULT_GROUP_ID],
        "device_id": device_id,
    }


# ----------------------------------------------------------------------------- translation


def test_floatingip_translations():
    assert floatingip_from_native({"floatingip": NATIVE_FIP_ATTACHED}) == {
        "floatingip": PUBLIC_FIP_ATTACHED
    }
    assert floatingip_to_native(PUBLIC_NETWORK_ID) == {
        "floatingip": {"floating_network_id": PUBLIC_NETWORK_ID}
    }
    assert floatingip_port_to_native(PORT_ID) == {"floatingip": {"port_id": PORT_ID}}
    assert floatingip_port_to_native(None) == {"floatingip": {"port_id": None}}


def test_external_network_from_native_takes_the_first_not_marked_internal():
    internal = {"id": VPC_ID, "router:external": False}
    unmarked = {"id": "0d1e5d2b-8c43-4b0d-93f4-0f0f7a1fd0b1"}
    native = {"networks": [internal, NATIVE_EXTERNAL_NETWORKS["networks"][0], unmarked]}
    assert external_network_from_native(native) == PUBLIC_NETWORK_ID
    assert external_network_from_native({"networks": [internal, unmarked]}) == unmarked["id"]
    assert external_network_from_native({"networks": [internal]}) is None
    assert external_network_from_native({"networks": []}) is None


def test_server_ports_from_native_counts_only_the_servers_ports():
    native = {"ports": [native_port(PORT_ID), native_port(OTHER_PORT_ID, device_id=VPC_ID)]}
    assert server_ports_from_native(native, SERVER_ID) == [PORT_ID]


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (floatingip_from_native, ({"floatingips": []},)),
        (floatingip_from_native, ({"floatingip": {**NATIVE_FIP_DOWN, "status": None}},)),
        (external_network_from_native, ({"networks": [{"router:external": True}]},)),
        (external_network_from_native, ({"vpcs": []},)),
        (server_ports_from_native, ({"ports": [{"id": PORT_ID}]}, SERVER_ID)),
        (server_ports_from_native, ({"ports": "x"}, SERVER_ID)),
    ],
)
def test_floatingip_from_native_rejects_unexpected_shapes(function, args):
    with pytest.raises(UpstreamBadResponse):
        function(*args)


# ----------------------------------------------------------------------------- create


async def test_create_floatingip_on_given_network(client, nhn):
    nhn.post(FIPS_URL, status=201, payload={"floatingip": NATIVE_FIP_DOWN})
    body = {"external_network_id": PUBLIC_NETWORK_ID}
    response = await client.post(
        "/api/nhn/floatingip/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == {"floatingip": PUBLIC_FIP_DOWN}
    assert_native(
        nhn.only_call(),
        "POST",
        FIPS_URL,
        {"floatingip": {"floating_network_id": PUBLIC_NETWORK_ID}},
    )


async def test_create_floatingip_finds_the_external_network(client, nhn):
    nhn.get(NETWORKS_URL, payload=NATIVE_EXTERNAL_NETWORKS, repeat=True)
    nhn.post(FIPS_URL, status=201, payload={"floatingip": NATIVE_FIP_DOWN}, repeat=True)
    for body in ({}, {"external_network_id": None}, None):
        kwargs = {"json": body} if body is not None else {}
        response = await client.post(
            "/api/nhn/floatingip/create", headers=network_headers(), **kwargs
        )
        assert response.status == 201
        assert await response.json() == {"floatingip": PUBLIC_FIP_DOWN}
    lookup, create = nhn.calls()[0], nhn.calls()[-1]
    assert_native(lookup, "GET", NETWORKS_URL)
    assert_native(
        create, "POST", FIPS_URL, {"floatingip": {"floating_network_id": PUBLIC_NETWORK_ID}}
    )
    assert len(nhn.calls()) == 6


async def test_create_floatingip_without_external_network_is_400(client, nhn):
    nhn.get(NETWORKS_URL, payload={"networks": [{"id": VPC_ID, "router:external": False}]})
    response = await client.post("/api/nhn/floatingip/create/", json={}, headers=network_headers())
    assert response.status == 400
    assert await response.json() == {
        "error": "external_network_id: no external network found in region kr2; "
        "give external_network_id",
        "code": 400,
    }
    assert_native(nhn.only_call(), "GET", NETWORKS_URL)


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (404, "NetworkNotFound", f"Network {PUBLIC_NETWORK_ID} could not be found."),
        (
            409,
            "ExternalIpAddressExhausted",
            f"Unable to find any IP address on external network {PUBLIC_NETWORK_ID}.",
        ),
        (
            400,
            "BadRequest",
            f"Bad floatingip request: Network {PUBLIC_NETWORK_ID} is not a valid external network.",
        ),
    ],
)
async def test_create_floatingip_nhn_errors_pass_through(client, nhn, status, kind, message):
    nhn.post(FIPS_URL, status=status, payload=neutron_error(kind, message))
    body = {"external_network_id": PUBLIC_NETWORK_ID}
    response = await client.post(
        "/api/nhn/floatingip/create/", json=body, headers=network_headers()
    )
    assert response.status == status
    assert await response.json() == {"error": message, "code": status}


FIP_CREATE_PROBLEMS = [
    ({"external_network_id": ""}, "external_network_id"),
    ({"external_network_id": "../networks"}, "external_network_id"),
    ({"external_network_id": 5}, "external_network_id"),
    ({"external_network_id": "n" * 129}, "external_network_id"),
    ({"port_id": PORT_ID}, "port_id"),
]


async def test_create_floatingip_validation_names_the_field(client, nhn):
    for body, field in FIP_CREATE_PROBLEMS:
        path = "/api/nhn/floatingip/create/"
        await assert_refused(client, nhn, "POST", path, 400, field, json=body)


# ----------------------------------------------------------------------------- associate


def associate_path(fip_id: str = FIP_ID) -> str:
    return f"/api/nhn/floatingip/{fip_id}/associate/"


async def test_associate_finds_the_servers_only_port(client, nhn):
    nhn.get(PORTS_URL, payload={"ports": [native_port(PORT_ID)]})
    nhn.put(f"{FIPS_URL}/{FIP_ID}", payload={"floatingip": NATIVE_FIP_ATTACHED})
    response = await client.post(
        associate_path(), json={"server_id": SERVER_ID}, headers=network_headers()
    )
    assert response.status == 200
    assert await response.json() == {"floatingip": PUBLIC_FIP_ATTACHED}
    lookup, update = nhn.calls()
    assert_native(lookup, "GET", PORTS_URL)
    assert_native(update, "PUT", f"{FIPS_URL}/{FIP_ID}", {"floatingip": {"port_id": PORT_ID}})


async def test_associate_with_several_ports_is_409_listing_them(client, nhn):
    ports = [native_port(PORT_ID), native_port(OTHER_PORT_ID)]
    nhn.get(PORTS_URL, payload={"ports": ports})
    response = await client.post(
        associate_path(), json={"server_id": SERVER_ID}, headers=network_headers()
    )
    assert response.status == 409
    assert await response.json() == {
        "error": f"server {SERVER_ID} has 2 ports ({PORT_ID}, {OTHER_PORT_ID}); "
        "give port_id to choose one",
        "code": 409,
    }
    assert_native(nhn.only_call(), "GET", PORTS_URL)


async def test_associate_with_no_port_is_409(client, nhn):
    # ports of another device, should NHN ignore the filter, do not count
    nhn.get(PORTS_URL, payload={"ports": [native_port(OTHER_PORT_ID, device_id=VPC_ID)]})
    response = await client.post(
        associate_path(), json={"server_id": SERVER_ID, "port_id": None}, headers=network_headers()
    )
    assert response.status == 409
    assert await response.json() == {
        "error": f"server {SERVER_ID} has no port to attach a floating IP to; check "
        "server_id, or give port_id",
        "code": 409,
    }
    assert_native(nhn.only_call(), "GET", PORTS_URL)


async def test_associate_with_port_id_of_the_server(client, nhn):
    nhn.get(PORTS_URL, payload={"ports": [native_port(PORT_ID), native_port(OTHER_PORT_ID)]})
    native = {**NATIVE_FIP_ATTACHED, "port_id": OTHER_PORT_ID}
    nhn.put(f"{FIPS_URL}/{FIP_ID}", payload={"floatingip": native})
    body = {"server_id": SERVER_ID, "port_id": OTHER_PORT_ID}
    response = await client.post(associate_path().rstrip("/"), json=body, headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"floatingip": {**PUBLIC_FIP_DOWN, "port_id": OTHER_PORT_ID}}
    update = nhn.calls()[1]
    assert_native(update, "PUT", f"{FIPS_URL}/{FIP_ID}", {"floatingip": {"port_id": OTHER_PORT_ID}})


async def test_associate_with_port_id_of_another_server_is_400(client, nhn):
    nhn.get(PORTS_URL, payload={"ports": [native_port(PORT_ID)]})
    body = {"server_id": SERVER_ID, "port_id": OTHER_PORT_ID}
    response = await client.post(associate_path(), json=body, headers=network_headers())
    assert response.status == 400
    assert await response.json() == {
        "error": f"port_id: port {OTHER_PORT_ID} is not a port of server {SERVER_ID} "
        f"(its ports: {PORT_ID})",
        "code": 400,
    }
    assert_native(nhn.only_call(), "GET", PORTS_URL)


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (404, "FloatingIPNotFound", f"Floating IP {FIP_ID} could not be found"),
        (
            409,
            "FloatingIPPortAlreadyAssociated",
            f"Cannot associate floating IP 133.186.242.214 ({FIP_ID}) with port {PORT_ID} "
            "using fixed IP 192.168.0.15, as that fixed IP already has a floating IP on "
            f"external network {PUBLIC_NETWORK_ID}.",
        ),
    ],
)
async def test_associate_nhn_errors_pass_through(client, nhn, status, kind, message):
    nhn.get(PORTS_URL, payload={"ports": [native_port(PORT_ID)]})
    nhn.put(f"{FIPS_URL}/{FIP_ID}", status=status, payload=neutron_error(kind, message))
    response = await client.post(
        associate_path(), json={"server_id": SERVER_ID}, headers=network_headers()
    )
    assert response.status == status
    assert await response.json() == {"error": message, "code": status}


ASSOCIATE_PROBLEMS = [
    ({}, "server_id"),
    ({"server_id": ""}, "server_id"),
    ({"server_id": None}, "server_id"),
    ({"server_id": "a/b"}, "server_id"),
    ({"server_id": SERVER_ID, "port_id": "x?device_id=y"}, "port_id"),
    ({"server_id": SERVER_ID, "port_id": 7}, "port_id"),
    ({"server_id": SERVER_ID, "fixed_ip_address": "192.168.0.15"}, "fixed_ip_address"),
]


async def test_associate_validation_names_the_field(client, nhn):
    for body, field in ASSOCIATE_PROBLEMS:
        await assert_refused(client, nhn, "POST", associate_path(), 400, field, json=body)


# ----------------------------------------------------------------------------- disassociate, delete


async def test_disassociate_sends_a_null_port(client, nhn):
    nhn.put(f"{FIPS_URL}/{FIP_ID}", payload={"floatingip": NATIVE_FIP_DOWN})
    response = await client.post(
        f"/api/nhn/floatingip/{FIP_ID}/disassociate/", headers=network_headers()
    )
    assert response.status == 200
    assert await response.json() == {"floatingip": {**PUBLIC_FIP_DOWN, "port_id": None}}
    assert_native(nhn.only_call(), "PUT", f"{FIPS_URL}/{FIP_ID}", {"floatingip": {"port_id": None}})


async def test_disassociate_unknown_floatingip_is_404(client, nhn):
    message = f"Floating IP {FIP_ID} could not be found"
    nhn.put(
        f"{FIPS_URL}/{FIP_ID}", status=404, payload=neutron_error("FloatingIPNotFound", message)
    )
    response = await client.post(
        f"/api/nhn/floatingip/{FIP_ID}/disassociate", headers=network_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}


async def test_delete_floatingip(client, nhn):
    nhn.delete(f"{FIPS_URL}/{FIP_ID}", status=204)
    response = await client.delete(f"/api/nhn/floatingip/{FIP_ID}/", headers=network_headers())
    assert response.status == 204
    assert await response.read() == b""
    assert_native(nhn.only_call(), "DELETE", f"{FIPS_URL}/{FIP_ID}")


async def test_delete_protected_floatingip_refusal_passes_through(client, nhn):
    message = f"Floating IP {FIP_ID} is protected from deletion."
    nhn.delete(
        f"{FIPS_URL}/{FIP_ID}",
        status=409,
        payload=neutron_error("FloatingIPDeleteProtected", message),
    )
    response = await client.delete(f"/api/nhn/floatingip/{FIP_ID}", headers=network_headers())
    assert response.status == 409
    assert await response.json() == {"error": message, "code": 409}


# ----------------------------------------------------------------------------- common failures


NEW_ROUTES = [
    ("GET", "/api/nhn/security-groups/"),
    ("GET", f"/api/nhn/security-groups/{GROUP_ID}/"),
    ("DELETE", f"/api/nhn/security-groups/{GROUP_ID}/"),
    ("POST", "/api/nhn/security-groups/create/"),
    ("POST", rule_path()),
    ("DELETE", f"/api/nhn/security-groups/rules/{RULE_ID}/"),
    ("POST", "/api/nhn/floatingip/create/"),
    ("POST", associate_path()),
    ("POST", f"/api/nhn/floatingip/{FIP_ID}/disassociate/"),
    ("DELETE", f"/api/nhn/floatingip/{FIP_ID}/"),
]


async def test_new_routes_need_a_token_and_a_region(client, nhn):
    for method, path in NEW_ROUTES:
        response = await client.request(method, path, headers={"X-NHN-Region": "kr2"}, json={})
        assert response.status == 401, (method, path)
        response = await client.request(method, path, headers={"X-NHN-Token": TOKEN}, json={})
        assert response.status == 400, (method, path)
        assert "X-NHN-Region" in (await response.json())["error"]
    assert nhn.calls() == []


@pytest.mark.parametrize(
    ("method", "template", "field"),
    [
        ("GET", "/api/nhn/security-groups/{}/", "security_group_id"),
        ("DELETE", "/api/nhn/security-groups/{}/", "security_group_id"),
        ("DELETE", "/api/nhn/security-groups/rules/{}/", "rule_id"),
        ("DELETE", "/api/nhn/floatingip/{}/", "floatingip_id"),
        ("POST", "/api/nhn/floatingip/{}/disassociate/", "floatingip_id"),
    ],
)
async def test_hostile_ids_of_new_routes_never_reach_nhn(client, nhn, method, template, field):
    for raw_id in HOSTILE_IDS:
        url = URL(template.format(raw_id), encoded=True)
        response = await client.request(method, url, headers=network_headers())
        payload = await response.json()
        # 400 naming the parameter; or, once `..` is normalised away, another route's 404/405
        assert response.status in (400, 404, 405), (url, payload)
        if response.status == 400:
            assert field in payload["error"], (url, payload)
        assert nhn.calls() == []


UNEXPECTED_NEW_BODIES = [
    ("GET", "/api/nhn/security-groups/", {"security_groups": [{"id": GROUP_ID}]}),
    ("GET", f"/api/nhn/security-groups/{GROUP_ID}/", {"security_groups": []}),
    ("POST", f"/api/nhn/floatingip/{FIP_ID}/disassociate/", {"floatingip": []}),
]


async def test_unexpected_native_bodies_of_new_routes_are_502(client, nhn):
    for method, path, native in UNEXPECTED_NEW_BODIES:
        nhn.add(re.compile(re.escape(NETWORK_KR2) + r"/v2\.0/.*"), method, payload=native)
        response = await client.request(method, path, headers=network_headers())
        payload = await response.json()
        assert response.status == 502, (path, payload)
        assert payload["code"] == 502 and "network" in payload["error"]

"""`GET /api/nhn/compute/availability-zones/` through the proxy against the emulator, and
the translation of NHN's answer on its own."""

from __future__ import annotations

import pytest
from nhn_proxy.plugin import UpstreamBadResponse

from nhn_proxy_example_plugin import from_native

ZONES = "/api/nhn/compute/availability-zones/"


async def test_lists_the_zones_of_the_region(nhn_client, nhn_emulator):
    response = await nhn_client.get(ZONES)
    assert response.status == 200, await response.text()
    assert await response.json() == {  # the emulator's zones of kr1, the demo region
        "availability_zones": [
            {"name": "kr-pub-a", "available": True},
            {"name": "kr-pub-b", "available": True},
        ]
    }
    native = await nhn_emulator.requests(service="compute")
    assert [entry["native_path"] for entry in native] == [
        f"/v2/{nhn_client.headers['X-NHN-Tenant-ID']}/os-availability-zone"
    ]


async def test_without_a_token_is_401(nhn_client, nhn_demo_headers):
    headers = {k: v for k, v in nhn_demo_headers.items() if k != "X-NHN-Token"}
    response = await nhn_client.get(ZONES, headers=headers)
    assert response.status == 401
    assert (await response.json())["code"] == 401


async def test_without_a_tenant_is_400(nhn_client, nhn_demo_headers, nhn_emulator):
    headers = {k: v for k, v in nhn_demo_headers.items() if k != "X-NHN-Tenant-ID"}
    response = await nhn_client.get(ZONES, headers=headers)
    assert response.status == 400
    assert "X-NHN-Tenant-ID" in (await response.json())["error"]
    assert await nhn_emulator.requests(service="compute") == []  # refused before any call


async def test_nhn_error_is_mapped(nhn_client, nhn_emulator):
    await nhn_emulator.fault("compute", path="*/os-availability-zone", status=403)
    response = await nhn_client.get(ZONES)
    assert response.status == 403
    assert set(await response.json()) == {"error", "code"}


def test_from_native():
    native = {
        "availabilityZoneInfo": [
            {"zoneState": {"available": True}, "hosts": None, "zoneName": "kr-pub-a"},
            {"zoneState": {"available": False}, "zoneName": "kr-pub-b"},
        ]
    }
    assert from_native(native) == {
        "availability_zones": [
            {"name": "kr-pub-a", "available": True},
            {"name": "kr-pub-b", "available": False},
        ]
    }


@pytest.mark.parametrize(
    "native",
    [
        {},
        {"availabilityZoneInfo": None},
        {"availabilityZoneInfo": [{"zoneName": "kr-pub-a"}]},
        {"availabilityZoneInfo": [{"zoneName": 7, "zoneState": {"available": True}}]},
        {"availabilityZoneInfo": [{"zoneName": "kr-pub-a", "zoneState": {"available": "yes"}}]},
    ],
)
def test_from_native_refuses_an_unexpected_body(native):
    with pytest.raises(UpstreamBadResponse) as caught:
        from_native(native)
    assert caught.value.status == 502

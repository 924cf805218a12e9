"""Availability zones of NHN Cloud Compute: `GET /api/nhn/compute/availability-zones/`.

An example nhn-cloud-proxy plugin, installed as its own distribution and found through its
entry point (`nhn_proxy.plugins`). It uses only the public plugin module `nhn_proxy.plugin`
and marshmallow: the core checks the headers, calls NHN, maps its errors and documents the
route in the OpenAPI document; the plugin declares the route and translates the answer.

NHN facts used (Compute API, "Availability zones"): `GET /v2/{tenantId}/os-availability-zone`
on the region's compute endpoint answers
`{"availabilityZoneInfo": [{"zoneName": "kr-pub-a", "zoneState": {"available": true}}]}`
(upstream Nova adds `"hosts": null`, which is not exposed).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from nhn_proxy.plugin import (
    Call,
    Header,
    PluginConfig,
    Route,
    hookimpl,
    list_of,
    native_answer,
    object_of,
    text,
)

SERVICE = "compute"


class AvailabilityZoneSchema(Schema):
    name = fields.String(
        required=True,
        metadata={
            "description": "zone name, e.g. for an instance's availability_zone",
            "example": "kr-pub-a",
        },
    )
    available = fields.Boolean(
        required=True,
        metadata={"description": "whether NHN accepts new resources there", "example": True},
    )


class AvailabilityZoneListSchema(Schema):
    availability_zones = fields.List(fields.Nested(AvailabilityZoneSchema), required=True)


@native_answer(SERVICE)
def from_native(native: dict[str, Any]) -> dict[str, Any]:
    """NHN's zone list as the public answer; anything unexpected in it is a 502."""
    zones = []
    for zone in list_of(native, "availabilityZoneInfo"):
        available = object_of(zone, "zoneState")["available"]
        if not isinstance(available, bool):
            raise TypeError("zoneState.available is not a boolean")
        zones.append({"name": text(zone["zoneName"], "zoneName"), "available": available})
    return {"availability_zones": zones}


async def list_availability_zones(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v2/{tenant}/os-availability-zone")
    return from_native(answer.json_object())


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    return [
        Route(
            "GET",
            "/compute/availability-zones/",
            list_availability_zones,
            summary="List availability zones",
            description="The Compute availability zones of the region and whether each "
            "is available (NHN `GET /v2/{tenant}/os-availability-zone`).",
            tags=("compute",),
            needs=frozenset({Header.TOKEN, Header.REGION, Header.TENANT}),
            response=AvailabilityZoneListSchema,
        )
    ]

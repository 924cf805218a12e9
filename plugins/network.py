"""Network: VPCs, VPC subnets and floating IPs through NHN's VPC API (`/v2.0/vpcs`,
`/v2.0/vpcsubnets`) and its Neutron-compatible floating-IP API (`/v2.0/floatingips`).

NHN facts used (`shared/nhn-api/network.md`, README §8): every path is under `/v2.0` on the
region's network endpoint, with no tenant in the path; a VPC carries `id`, `name`, `cidrv4`,
`state` and `router:external`; the VPC list includes the shared external `public_network`
(`router:external: true`), which we keep and mark `"external": true` (design §8) so a front
end can hide it or use it for NKS; `GET /v2.0/vpcs/{id}` adds the full `subnets`; creates
answer 201 with the object wrapped (`{"vpc": ...}`, `{"vpcsubnet": ...}`), deletes 204.
Errors come in Neutron's `{"NeutronError": {"message"}}` wrapper, which the core reduces to
its message; a VPC that still has subnets answers 409, passed through.

Choices where the docs are silent or unconfirmed:
- The create answer of a VPC has no `router:external` (NHN's example); a VPC created through
  the proxy is never the external network, so a missing flag means `external: false`.
- Whether the public network's detail carries `subnets` is unconfirmed; a missing list is
  answered as `[]` rather than a 502.
- A subnet's `gateway` is `null` when NHN gives none (every NHN example has one).
- NHN's `create_time` ("YYYY-MM-DD hh:mm:ss", not ISO-8601) is not exposed.
- `GET /subnet/?vpc_id=` is forwarded as NHN's own `vpc_id` filter; other query
  parameters are ignored (as on every other route), so a SPA's cache buster does no harm.
- CIDRs must be IPv4 networks in `a.b.c.d/n` notation without host bits
  (`10.0.0.1/16` is refused) and are sent in their normalised form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from nhn_proxy.plugin import (
    RESOURCE_ID,
    Call,
    PluginConfig,
    Route,
    hookimpl,
    list_of,
    native_answer,
    object_of,
    optional_text,
    text,
)

SERVICE = "network"
MAX_NAME = 255
_CIDR_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}")
_ID_RULE = validate.Regexp(
    rf"^{RESOURCE_ID.pattern}$", error="must be an NHN Cloud resource id (UUID)"
)
_ID_LENGTH = validate.Length(min=1, max=RESOURCE_ID.max_length)


def ipv4_network(value: str) -> str:
    """`10.0.0.0/16` in its normalised form; anything else is a ValidationError (→ 400)."""
    if not _CIDR_SHAPE.fullmatch(value):
        raise ValidationError("must be an IPv4 network in CIDR notation, e.g. 10.0.0.0/16")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValidationError(f"not a valid IPv4 network: {exc}") from None
    return str(network)


class CidrField(fields.String):
    """An IPv4 network in CIDR notation, loaded in its normalised form."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 18:  # "255.255.255.255/32"
            raise ValidationError("must be an IPv4 network in CIDR notation, e.g. 10.0.0.0/16")
        return ipv4_network(text)


# ----------------------------------------------------------------------------- schemas


class VpcCreateRequestSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_NAME),
        metadata={"description": "name of the new VPC", "example": "my-new-vpc"},
    )
    cidr = CidrField(
        required=True,
        metadata={
            "description": "IPv4 address range of the VPC in CIDR notation",
            "example": "10.0.0.0/16",
        },
    )


class VpcSchema(Schema):
    id = fields.String(required=True, metadata={"example": "vpc-id-123"})
    name = fields.String(required=True, metadata={"example": "my-vpc"})
    cidrv4 = fields.String(required=True, metadata={"example": "10.0.0.0/16"})
    state = fields.String(
        required=True, metadata={"description": "NHN's VPC state", "example": "available"}
    )
    external = fields.Boolean(
        required=True,
        metadata={
            "description": "true for NHN's shared external network (`public_network`), used "
            "for floating IPs and public NKS clusters; false for the project's own VPCs",
            "example": False,
        },
    )


class VpcSubnetSchema(Schema):
    id = fields.String(required=True, metadata={"example": "subnet-id-123"})
    name = fields.String(required=True, metadata={"example": "my-subnet"})
    vpc_id = fields.String(required=True, metadata={"example": "vpc-id-123"})
    cidr = fields.String(required=True, metadata={"example": "10.0.1.0/24"})
    gateway = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "gateway address, null if none", "example": "10.0.1.1"},
    )
    external = fields.Boolean(
        required=True,
        metadata={
            "description": "true for a subnet of NHN's shared external network "
            "(public_network); such a subnet cannot hold instances",
            "example": False,
        },
    )


class VpcDetailSchema(VpcSchema):
    subnets = fields.List(
        fields.Nested(VpcSubnetSchema),
        required=True,
        metadata={"description": "the VPC's subnets"},
    )


class VpcListSchema(Schema):
    vpcs = fields.List(fields.Nested(VpcSchema), required=True)


class VpcAnswerSchema(Schema):
    vpc = fields.Nested(VpcSchema, required=True)


class VpcDetailAnswerSchema(Schema):
    vpc = fields.Nested(VpcDetailSchema, required=True)


class VpcSubnetCreateRequestSchema(Schema):
    vpc_id = fields.String(
        required=True,
        validate=[_ID_LENGTH, _ID_RULE],
        metadata={"description": "VPC the subnet belongs to", "example": "vpc-id-123"},
    )
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_NAME),
        metadata={"description": "name of the new subnet", "example": "my-new-subnet"},
    )
    cidr = CidrField(
        required=True,
        metadata={
            "description": "IPv4 range of the subnet, inside the VPC's range",
            "example": "10.0.1.0/24",
        },
    )


class VpcSubnetListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    vpc_id = fields.String(
        validate=[_ID_LENGTH, _ID_RULE],
        metadata={"description": "only the subnets of this VPC"},
    )


class VpcSubnetListSchema(Schema):
    vpcsubnets = fields.List(fields.Nested(VpcSubnetSchema), required=True)


class VpcSubnetAnswerSchema(Schema):
    vpcsubnet = fields.Nested(VpcSubnetSchema, required=True)


class FloatingIpSchema(Schema):
    id = fields.String(required=True, metadata={"example": "fip-id-123"})
    floating_ip_address = fields.String(required=True, metadata={"example": "133.186.242.214"})
    status = fields.String(
        required=True,
        metadata={
            "description": "ACTIVE (attached), DOWN (not attached) or ERROR",
            "example": "ACTIVE",
        },
    )
    port_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "port it is attached to, null if none", "example": "port-id"},
    )


class FloatingIpListSchema(Schema):
    floatingips = fields.List(fields.Nested(FloatingIpSchema), required=True)


# ----------------------------------------------------------------------------- translation


def _vpc(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(native["id"], "id"),
        "name": text(native["name"], "name"),
        "cidrv4": text(native["cidrv4"], "cidrv4"),
        "state": text(native["state"], "state"),
        "external": native.get("router:external") is True,
    }


def _subnet(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(native["id"], "id"),
        "name": text(native["name"], "name"),
        "vpc_id": text(native["vpc_id"], "vpc_id"),
        "cidr": text(native["cidr"], "cidr"),
        "gateway": optional_text(native.get("gateway"), "gateway"),
        "external": native.get("router:external") is True,
    }


def vpc_to_native(body: dict[str, Any]) -> dict[str, Any]:
    """`{"name", "cidr"}` → NHN's create body."""
    return {"vpc": {"name": body["name"], "cidrv4": body["cidr"]}}


@native_answer(SERVICE)
def vpc_list_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {"vpcs": [_vpc(vpc) for vpc in list_of(native, "vpcs")]}


@native_answer(SERVICE)
def vpc_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """NHN's create answer `{"vpc": {...}}` → `{"vpc": {id, name, cidrv4, state, external}}`."""
    return {"vpc": _vpc(object_of(native, "vpc"))}


@native_answer(SERVICE)
def vpc_detail_from_native(native: dict[str, Any]) -> dict[str, Any]:
    vpc = object_of(native, "vpc")
    subnets = list_of(vpc, "subnets") if "subnets" in vpc else []
    return {"vpc": {**_vpc(vpc), "subnets": [_subnet(subnet) for subnet in subnets]}}


def subnet_to_native(body: dict[str, Any]) -> dict[str, Any]:
    return {"vpcsubnet": {"vpc_id": body["vpc_id"], "name": body["name"], "cidr": body["cidr"]}}


def subnet_list_query_to_native(query: dict[str, Any]) -> dict[str, str]:
    return {"vpc_id": query["vpc_id"]} if query.get("vpc_id") else {}


@native_answer(SERVICE)
def subnet_list_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {"vpcsubnets": [_subnet(subnet) for subnet in list_of(native, "vpcsubnets")]}


@native_answer(SERVICE)
def subnet_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {"vpcsubnet": _subnet(object_of(native, "vpcsubnet"))}


@native_answer(SERVICE)
def floatingip_list_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "floatingips": [
            {
                "id": text(fip["id"], "id"),
                "floating_ip_address": text(fip["floating_ip_address"], "floating_ip_address"),
                "status": text(fip["status"], "status"),
                "port_id": optional_text(fip.get("port_id"), "port_id"),
            }
            for fip in list_of(native, "floatingips")
        ]
    }


# ----------------------------------------------------------------------------- handlers


async def list_vpcs(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v2.0/vpcs")
    return vpc_list_from_native(answer.json_object())


async def create_vpc(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "POST", "/v2.0/vpcs", json=vpc_to_native(call.body))
    return vpc_from_native(answer.json_object())


async def get_vpc(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v2.0/vpcs/{vpc_id}", path=call.params)
    return vpc_detail_from_native(answer.json_object())


async def delete_vpc(call: Call) -> None:
    await call.native(SERVICE, "DELETE", "/v2.0/vpcs/{vpc_id}", path=call.params)


async def list_subnets(call: Call) -> dict[str, Any]:
    query = subnet_list_query_to_native(call.query)
    answer = await call.native(SERVICE, "GET", "/v2.0/vpcsubnets", query=query)
    return subnet_list_from_native(answer.json_object())


async def create_subnet(call: Call) -> dict[str, Any]:
    body = subnet_to_native(call.body)
    answer = await call.native(SERVICE, "POST", "/v2.0/vpcsubnets", json=body)
    return subnet_from_native(answer.json_object())


async def get_subnet(call: Call) -> dict[str, Any]:
    template = "/v2.0/vpcsubnets/{subnet_id}"
    answer = await call.native(SERVICE, "GET", template, path=call.params)
    return subnet_from_native(answer.json_object())


async def delete_subnet(call: Call) -> None:
    await call.native(SERVICE, "DELETE", "/v2.0/vpcsubnets/{subnet_id}", path=call.params)


async def list_floatingips(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v2.0/floatingips")
    return floatingip_list_from_native(answer.json_object())


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    vpc_id = {"vpc_id": RESOURCE_ID}
    subnet_id = {"subnet_id": RESOURCE_ID}
    return [
        Route(
            "GET",
            "/vpc/",
            list_vpcs,
            summary="List VPCs",
            description="The project's VPCs and NHN's shared external network "
            "(`external: true`), from NHN `GET /v2.0/vpcs`.",
            tags=("vpc",),
            response=VpcListSchema,
            service_name="Network",
        ),
        Route(
            "POST",
            "/vpc/create/",
            create_vpc,
            summary="Create a VPC",
            description="NHN `POST /v2.0/vpcs`. `cidr` must be an IPv4 network in CIDR "
            "notation without host bits.",
            tags=("vpc",),
            body=VpcCreateRequestSchema,
            response=VpcAnswerSchema,
            status=201,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "GET",
            "/vpc/{vpc_id}/",
            get_vpc,
            summary="Get one VPC with its subnets",
            description="NHN `GET /v2.0/vpcs/{vpcId}`.",
            tags=("vpc",),
            params=vpc_id,
            response=VpcDetailAnswerSchema,
            service_name="Network",
        ),
        Route(
            "DELETE",
            "/vpc/{vpc_id}/",
            delete_vpc,
            summary="Delete a VPC",
            description="NHN `DELETE /v2.0/vpcs/{vpcId}`; 409 while it still has subnets.",
            tags=("vpc",),
            params=vpc_id,
            status=204,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "GET",
            "/subnet/",
            list_subnets,
            summary="List VPC subnets",
            description="NHN `GET /v2.0/vpcsubnets`. Optional query parameter `vpc_id` "
            "lists only the subnets of that VPC.",
            tags=("subnet",),
            query=VpcSubnetListQuerySchema,
            response=VpcSubnetListSchema,
            service_name="Network",
        ),
        Route(
            "POST",
            "/subnet/create/",
            create_subnet,
            summary="Create a VPC subnet",
            description="NHN `POST /v2.0/vpcsubnets`. `cidr` must lie inside the VPC's range.",
            tags=("subnet",),
            body=VpcSubnetCreateRequestSchema,
            response=VpcSubnetAnswerSchema,
            status=201,
            service_name="Network",
            errors=(404, 409),
        ),
        Route(
            "GET",
            "/subnet/{subnet_id}/",
            get_subnet,
            summary="Get one VPC subnet",
            description="NHN `GET /v2.0/vpcsubnets/{subnetId}`.",
            tags=("subnet",),
            params=subnet_id,
            response=VpcSubnetAnswerSchema,
            service_name="Network",
        ),
        Route(
            "DELETE",
            "/subnet/{subnet_id}/",
            delete_subnet,
            summary="Delete a VPC subnet",
            description="NHN `DELETE /v2.0/vpcsubnets/{subnetId}`; 409 while ports use it.",
            tags=("subnet",),
            params=subnet_id,
            status=204,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "GET",
            "/floatingip/",
            list_floatingips,
            summary="List floating IPs",
            description="NHN `GET /v2.0/floatingips`; `port_id` is null when not attached.",
            tags=("floatingip",),
            response=FloatingIpListSchema,
            service_name="Network",
        ),
    ]

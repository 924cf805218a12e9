"""Network: VPCs, VPC subnets, security groups and floating IPs through NHN's VPC API
(`/v2.0/vpcs`, `/v2.0/vpcsubnets`) and its Neutron-compatible APIs (`/v2.0/security-groups`,
`/v2.0/security-group-rules`, `/v2.0/floatingips`, `/v2.0/networks`, `/v2.0/ports`).

NHN facts used (`shared/nhn-api/network.md`, README §8): every path is under `/v2.0` on the
region's network endpoint, with no tenant in the path; a VPC carries `id`, `name`, `cidrv4`,
`state` and `router:external`; the VPC list includes the shared external `public_network`
(`router:external: true`), which we keep and mark `"external": true` (design §8) so a front
end can hide it or use it for NKS; `GET /v2.0/vpcs/{id}` adds the full `subnets`; creates
answer 201 with the object wrapped (`{"vpc": ...}`, `{"vpcsubnet": ...}`), deletes 204.
Errors come in Neutron's `{"NeutronError": {"message"}}` wrapper, which the core reduces to
its message; a VPC that still has subnets answers 409, passed through.

Security groups carry their rules (`security_group_rules`); a new group already has two
egress rules (IPv4 and IPv6, any protocol); a group in use, or the `default` group, cannot be
deleted (409) and a duplicate rule is a 409 (`SecurityGroupRuleExists`), all passed through.
A floating IP is allocated on the external network (`floating_network_id`), attached by
`PUT /v2.0/floatingips/{id}` with the port of an instance NIC (`port_id`, found with
`GET /v2.0/ports?device_id={server id}`) and detached with `port_id: null`; its `status`
turns `ACTIVE` asynchronously after an attach.

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
- Security group rules: the ports follow Neutron's rules, checked before NHN is called.
  With `tcp`/`udp` both ports are given (1-65535, min <= max) or neither (every port);
  with `icmp` they are the ICMP type (`port_range_min`, 0-255) and code (`port_range_max`,
  0-255, only with a type), as in Neutron's API reference (NHN's guide names only ports);
  with no protocol (any) there are no ports. `remote_ip_prefix` is a network in CIDR
  notation without host bits, of the rule's `ethertype`; null means anywhere. NHN's guide
  and its Terraform provider say only IPv4 rules can be created: an `IPv6` rule is passed
  on as asked and NHN's refusal (400) passes through. Fields left out are not sent.
- `GET /security-groups/rules/` (and any `security_group_id` of `rules` or `create`) names
  a sibling route, not a group: a 400 for `security_group_id` before NHN is called, rather
  than NHN's 404 for a group called "rules"; likewise `floatingip_id` `create`.
- Floating IP create without `external_network_id`: the first network of
  `GET /v2.0/networks?router:external=True` (NKS guide; the floating IP guide lists the same
  network with `GET /v2.0/vpcs?router:external=true`) that is not explicitly marked
  `router:external: false`; none is a 400 asking for `external_network_id`.
- Associate: the instance's ports come from `GET /v2.0/ports?device_id={server_id}` (only
  ports whose `device_id` is the server are counted, should the filter be ignored). Without
  `port_id`, exactly one port is needed: none or several is a 409 asking for `port_id`
  (listing the ports). A given `port_id` must be one of the server's ports (else 400), so
  `server_id` in the body is never silently ignored.
- Deleting a floating IP with NHN's `delete_protection` is refused by NHN (status
  unconfirmed, likely 409); passed through.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from nhn_proxy.plugin import (
    RESOURCE_ID,
    BadRequest,
    Call,
    Conflict,
    PathParam,
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


_IPV6_SHAPE = re.compile(r"[0-9A-Fa-f:.]{2,45}/\d{1,3}")
ETHERTYPES = ("IPv4", "IPv6")
PROTOCOLS = ("tcp", "udp", "icmp")
PORT_PROTOCOLS = ("tcp", "udp")
ICMP_MAX = 255  # ICMP type and code are one octet each


def remote_prefix(value: str, ethertype: str) -> str:
    """A rule's `remote_ip_prefix`: a network of the rule's `ethertype` in CIDR notation
    without host bits, normalised (`2001:DB8::/32` → `2001:db8::/32`); else a
    ValidationError (→ 400)."""
    if ethertype == "IPv4":
        if _IPV6_SHAPE.fullmatch(value) and ":" in value:
            raise ValidationError("an IPv6 network does not match ethertype IPv4")
        return ipv4_network(value)
    if _CIDR_SHAPE.fullmatch(value):
        raise ValidationError("an IPv4 network does not match ethertype IPv6")
    if not _IPV6_SHAPE.fullmatch(value) or ":" not in value:
        raise ValidationError("must be an IPv6 network in CIDR notation, e.g. 2001:db8::/32")
    try:
        network = ipaddress.IPv6Network(value, strict=True)
    except ValueError as exc:
        raise ValidationError(f"not a valid IPv6 network: {exc}") from None
    return str(network)


def sibling_safe_id(*words: str) -> PathParam:
    """RESOURCE_ID except the words that name a sibling route (`create`, `rules`), so that
    e.g. `GET /security-groups/rules/` is a 400 here, not a call for a group "rules"."""
    names = " and ".join(f"`{word}`" for word in words)
    return PathParam(
        rf"(?!(?:{'|'.join(words)})$){RESOURCE_ID.pattern}",
        f"{RESOURCE_ID.description}; {names} name other routes",
        example=RESOURCE_ID.example,
        max_length=RESOURCE_ID.max_length,
    )


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


class FloatingIpAnswerSchema(Schema):
    floatingip = fields.Nested(FloatingIpSchema, required=True)


class FloatingIpCreateRequestSchema(Schema):
    external_network_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=[_ID_LENGTH, _ID_RULE],
        metadata={
            "description": "external network to allocate from (a VPC with `external: true`); "
            "null or left out: the region's external network, looked up by the proxy",
            "example": None,
        },
    )


class FloatingIpAssociateRequestSchema(Schema):
    server_id = fields.String(
        required=True,
        validate=[_ID_LENGTH, _ID_RULE],
        metadata={
            "description": "instance to attach the floating IP to",
            "example": "3a005d5b-63cf-4493-bfc6-49db990b5b50",
        },
    )
    port_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=[_ID_LENGTH, _ID_RULE],
        metadata={
            "description": "the instance's port (NIC) to attach to; needed only when the "
            "instance has several ports, and must be one of them",
            "example": None,
        },
    )


class SecurityGroupRuleSchema(Schema):
    id = fields.String(required=True, metadata={"example": "057e031a-ec2a-4bee-859a-6bc1d88c57d0"})
    direction = fields.String(
        required=True,
        metadata={"description": "ingress (to the instance) or egress", "example": "ingress"},
    )
    ethertype = fields.String(
        required=True, metadata={"description": "IPv4 or IPv6", "example": "IPv4"}
    )
    protocol = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "tcp, udp, icmp…; null for any protocol", "example": "tcp"},
    )
    port_range_min = fields.Integer(
        required=True,
        allow_none=True,
        metadata={
            "description": "first port (tcp/udp) or ICMP type (icmp); null for all",
            "example": 22,
        },
    )
    port_range_max = fields.Integer(
        required=True,
        allow_none=True,
        metadata={
            "description": "last port (tcp/udp) or ICMP code (icmp); null for all",
            "example": 22,
        },
    )
    remote_ip_prefix = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "allowed peer network; null for anywhere", "example": "0.0.0.0/0"},
    )
    remote_group_id = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "allowed peer security group (its members); null if none",
            "example": None,
        },
    )


class SecurityGroupSchema(Schema):
    id = fields.String(required=True, metadata={"example": "148cfc28-a58c-497f-aaab-c610bf7b5f18"})
    name = fields.String(required=True, metadata={"example": "default"})
    description = fields.String(
        required=True, allow_none=True, metadata={"example": "Default security group"}
    )
    rules = fields.List(
        fields.Nested(SecurityGroupRuleSchema),
        required=True,
        metadata={"description": "the group's rules"},
    )


class SecurityGroupListSchema(Schema):
    security_groups = fields.List(fields.Nested(SecurityGroupSchema), required=True)


class SecurityGroupAnswerSchema(Schema):
    security_group = fields.Nested(SecurityGroupSchema, required=True)


class SecurityGroupRuleAnswerSchema(Schema):
    security_group_rule = fields.Nested(SecurityGroupRuleSchema, required=True)


class SecurityGroupCreateRequestSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_NAME),
        metadata={"description": "name of the new security group", "example": "web-servers"},
    )
    description = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_NAME),
        metadata={"description": "what the group is for", "example": "HTTP and SSH from anywhere"},
    )


class SecurityGroupRuleCreateRequestSchema(Schema):
    direction = fields.String(
        required=True,
        validate=validate.OneOf(("ingress", "egress")),
        metadata={
            "description": "ingress: traffic to the instance; egress: from it",
            "example": "ingress",
        },
    )
    protocol = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(PROTOCOLS),
        metadata={"description": "tcp, udp or icmp; null or left out: any", "example": "tcp"},
    )
    port_range_min = fields.Integer(
        load_default=None,
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=65535),
        metadata={
            "description": "tcp/udp: first port (1-65535), with port_range_max; icmp: ICMP "
            "type (0-255); null or left out: every port / type",
            "example": 22,
        },
    )
    port_range_max = fields.Integer(
        load_default=None,
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=65535),
        metadata={
            "description": "tcp/udp: last port (port_range_min-65535), with port_range_min; "
            "icmp: ICMP code (0-255), only with a type; null or left out: every port / code",
            "example": 22,
        },
    )
    remote_ip_prefix = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "allowed peer network in CIDR notation without host bits, of "
            "the rule's ethertype; null or left out: anywhere",
            "example": "0.0.0.0/0",
        },
    )
    ethertype = fields.String(
        load_default="IPv4",
        validate=validate.OneOf(ETHERTYPES),
        metadata={
            "description": "IPv4 (default) or IPv6; NHN documents only IPv4 rules as "
            "creatable: an IPv6 rule is passed on and NHN's refusal passes through",
            "example": "IPv4",
        },
    )

    @validates_schema
    def ports_fit_the_protocol(self, data: dict[str, Any], **_kwargs: Any) -> None:
        check_ports(data["protocol"], data["port_range_min"], data["port_range_max"])

    @post_load
    def normalise_prefix(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if data["remote_ip_prefix"] is not None:
            try:
                prefix = remote_prefix(data["remote_ip_prefix"], data["ethertype"])
            except ValidationError as exc:
                raise ValidationError(exc.messages, "remote_ip_prefix") from None
            data["remote_ip_prefix"] = prefix
        return data


def check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    """Neutron's port rules for a rule, as a ValidationError naming the field (→ 400)."""
    if low is None and high is None:
        return
    if protocol is None:
        field = "port_range_min" if low is not None else "port_range_max"
        raise ValidationError("ports need protocol tcp or udp (icmp: type and code)", field)
    if protocol in PORT_PROTOCOLS:
        if low is None:
            raise ValidationError("required with port_range_max", "port_range_min")
        if high is None:
            raise ValidationError("required with port_range_min", "port_range_max")
        if low < 1:
            raise ValidationError("must be a port between 1 and 65535", "port_range_min")
        if high < low:
            raise ValidationError("must not be below port_range_min", "port_range_max")
        return
    # icmp: Neutron reads the two as the ICMP type and code
    if low is None:
        raise ValidationError("an ICMP code needs an ICMP type (port_range_min)", "port_range_min")
    if low > ICMP_MAX:
        raise ValidationError("an ICMP type is between 0 and 255", "port_range_min")
    if high is not None and high > ICMP_MAX:
        raise ValidationError("an ICMP code is between 0 and 255", "port_range_max")


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


def _floatingip(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(native["id"], "id"),
        "floating_ip_address": text(native["floating_ip_address"], "floating_ip_address"),
        "status": text(native["status"], "status"),
        "port_id": optional_text(native.get("port_id"), "port_id"),
    }


@native_answer(SERVICE)
def floatingip_list_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {"floatingips": [_floatingip(fip) for fip in list_of(native, "floatingips")]}


@native_answer(SERVICE)
def floatingip_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`{"floatingip": {...}}` of a create or update → `{"floatingip": {id, floating_ip_address,
    status, port_id}}`."""
    return {"floatingip": _floatingip(object_of(native, "floatingip"))}


def floatingip_to_native(network_id: str) -> dict[str, Any]:
    return {"floatingip": {"floating_network_id": network_id}}


def floatingip_port_to_native(port_id: str | None) -> dict[str, Any]:
    """The update body that attaches the floating IP to `port_id`, or detaches it (None)."""
    return {"floatingip": {"port_id": port_id}}


@native_answer(SERVICE)
def external_network_from_native(native: dict[str, Any]) -> str | None:
    """The id of the first network of `GET /v2.0/networks?router:external=True` not marked
    `router:external: false` (a guard should the filter be ignored), or None."""
    for network in list_of(native, "networks"):
        if network.get("router:external") is not False:
            return text(network["id"], "id")
    return None


@native_answer(SERVICE)
def server_ports_from_native(native: dict[str, Any], server_id: str) -> list[str]:
    """The ids of the ports of `GET /v2.0/ports?device_id=` that belong to `server_id`."""
    return [
        text(port["id"], "id")
        for port in list_of(native, "ports")
        if text(port["device_id"], "device_id") == server_id
    ]


def _port_number(value: Any, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{what} is not an integer")
    return value


def _rule(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(native["id"], "id"),
        "direction": text(native["direction"], "direction"),
        "ethertype": text(native["ethertype"], "ethertype"),
        "protocol": optional_text(native.get("protocol"), "protocol"),
        "port_range_min": _port_number(native.get("port_range_min"), "port_range_min"),
        "port_range_max": _port_number(native.get("port_range_max"), "port_range_max"),
        "remote_ip_prefix": optional_text(native.get("remote_ip_prefix"), "remote_ip_prefix"),
        "remote_group_id": optional_text(native.get("remote_group_id"), "remote_group_id"),
    }


def _security_group(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": text(native["id"], "id"),
        "name": text(native["name"], "name"),
        "description": optional_text(native.get("description"), "description"),
        "rules": [_rule(rule) for rule in list_of(native, "security_group_rules")],
    }


@native_answer(SERVICE)
def security_group_list_from_native(native: dict[str, Any]) -> dict[str, Any]:
    groups = list_of(native, "security_groups")
    return {"security_groups": [_security_group(group) for group in groups]}


@native_answer(SERVICE)
def security_group_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {"security_group": _security_group(object_of(native, "security_group"))}


@native_answer(SERVICE)
def security_group_rule_from_native(native: dict[str, Any]) -> dict[str, Any]:
    return {"security_group_rule": _rule(object_of(native, "security_group_rule"))}


def security_group_to_native(body: dict[str, Any]) -> dict[str, Any]:
    """`{"name", "description"?}` → NHN's create body (a null description is not sent)."""
    group = {"name": body["name"]}
    if body.get("description") is not None:
        group["description"] = body["description"]
    return {"security_group": group}


RULE_FIELDS = ("protocol", "port_range_min", "port_range_max", "remote_ip_prefix")


def security_group_rule_to_native(group_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The checked rule body → NHN's create body for the group of the path; optional fields
    left out or null are not sent (Neutron's defaults: any protocol, port, peer)."""
    rule = {
        "security_group_id": group_id,
        "direction": body["direction"],
        "ethertype": body["ethertype"],
    }
    rule.update({key: body[key] for key in RULE_FIELDS if body.get(key) is not None})
    return {"security_group_rule": rule}


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


EXTERNAL_NETWORK_QUERY = {"router:external": "True"}


async def find_external_network(call: Call) -> str:
    """The region's external network (for a floating IP), or a 400 asking for its id."""
    answer = await call.native(SERVICE, "GET", "/v2.0/networks", query=EXTERNAL_NETWORK_QUERY)
    network_id = external_network_from_native(answer.json_object())
    if network_id is None:
        raise BadRequest(
            f"external_network_id: no external network found in region {call.ctx.region}; "
            "give external_network_id"
        )
    return network_id


async def create_floatingip(call: Call) -> dict[str, Any]:
    network_id = call.body["external_network_id"] or await find_external_network(call)
    body = floatingip_to_native(network_id)
    answer = await call.native(SERVICE, "POST", "/v2.0/floatingips", json=body)
    return floatingip_from_native(answer.json_object())


async def choose_port(call: Call, server_id: str, port_id: str | None) -> str:
    """The port of `server_id` to attach to: `port_id` when it is one of the server's
    ports, else the server's only port; anything else is refused before the update."""
    query = {"device_id": server_id}
    answer = await call.native(SERVICE, "GET", "/v2.0/ports", query=query)
    ports = server_ports_from_native(answer.json_object(), server_id)
    if port_id is not None:
        if port_id not in ports:
            found = ", ".join(ports) if ports else "none"
            raise BadRequest(
                f"port_id: port {port_id} is not a port of server {server_id} (its ports: {found})"
            )
        return port_id
    if not ports:
        raise Conflict(
            f"server {server_id} has no port to attach a floating IP to; check server_id, "
            "or give port_id"
        )
    if len(ports) > 1:
        raise Conflict(
            f"server {server_id} has {len(ports)} ports ({', '.join(ports)}); "
            "give port_id to choose one"
        )
    return ports[0]


async def associate_floatingip(call: Call) -> dict[str, Any]:
    port_id = await choose_port(call, call.body["server_id"], call.body["port_id"])
    template = "/v2.0/floatingips/{floatingip_id}"
    body = floatingip_port_to_native(port_id)
    answer = await call.native(SERVICE, "PUT", template, path=call.params, json=body)
    return floatingip_from_native(answer.json_object())


async def disassociate_floatingip(call: Call) -> dict[str, Any]:
    template = "/v2.0/floatingips/{floatingip_id}"
    body = floatingip_port_to_native(None)
    answer = await call.native(SERVICE, "PUT", template, path=call.params, json=body)
    return floatingip_from_native(answer.json_object())


async def delete_floatingip(call: Call) -> None:
    template = "/v2.0/floatingips/{floatingip_id}"
    await call.native(SERVICE, "DELETE", template, path=call.params)


async def list_security_groups(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v2.0/security-groups")
    return security_group_list_from_native(answer.json_object())


async def create_security_group(call: Call) -> dict[str, Any]:
    body = security_group_to_native(call.body)
    answer = await call.native(SERVICE, "POST", "/v2.0/security-groups", json=body)
    return security_group_from_native(answer.json_object())


async def get_security_group(call: Call) -> dict[str, Any]:
    template = "/v2.0/security-groups/{security_group_id}"
    answer = await call.native(SERVICE, "GET", template, path=call.params)
    return security_group_from_native(answer.json_object())


async def delete_security_group(call: Call) -> None:
    template = "/v2.0/security-groups/{security_group_id}"
    await call.native(SERVICE, "DELETE", template, path=call.params)


async def create_security_group_rule(call: Call) -> dict[str, Any]:
    body = security_group_rule_to_native(call.params["security_group_id"], call.body)
    answer = await call.native(SERVICE, "POST", "/v2.0/security-group-rules", json=body)
    return security_group_rule_from_native(answer.json_object())


async def delete_security_group_rule(call: Call) -> None:
    template = "/v2.0/security-group-rules/{rule_id}"
    await call.native(SERVICE, "DELETE", template, path=call.params)


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    vpc_id = {"vpc_id": RESOURCE_ID}
    subnet_id = {"subnet_id": RESOURCE_ID}
    group_id = {"security_group_id": sibling_safe_id("create", "rules")}
    rule_id = {"rule_id": RESOURCE_ID}
    floatingip_id = {"floatingip_id": sibling_safe_id("create")}
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
        Route(
            "POST",
            "/floatingip/create/",
            create_floatingip,
            summary="Allocate a floating IP",
            description="NHN `POST /v2.0/floatingips` on `external_network_id`; without it, "
            "on the region's external network (the first of NHN `GET /v2.0/networks"
            "?router:external=True`; none is a 400). The new IP is not attached "
            "(`status: DOWN`, `port_id: null`).",
            tags=("floatingip",),
            body=FloatingIpCreateRequestSchema,
            response=FloatingIpAnswerSchema,
            status=201,
            service_name="Network",
            errors=(404, 409),
        ),
        Route(
            "POST",
            "/floatingip/{floatingip_id}/associate/",
            associate_floatingip,
            summary="Attach a floating IP to an instance",
            description="Finds the instance's ports (NHN `GET /v2.0/ports?device_id=`), then "
            "NHN `PUT /v2.0/floatingips/{floatingIpId}` with the port. Without `port_id` the "
            "instance must have exactly one port: none or several is a 409 (give `port_id`); "
            "a `port_id` that is not one of the instance's ports is a 400. `status` becomes "
            "ACTIVE shortly after.",
            tags=("floatingip",),
            params=floatingip_id,
            body=FloatingIpAssociateRequestSchema,
            response=FloatingIpAnswerSchema,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "POST",
            "/floatingip/{floatingip_id}/disassociate/",
            disassociate_floatingip,
            summary="Detach a floating IP",
            description="NHN `PUT /v2.0/floatingips/{floatingIpId}` with `port_id: null`; "
            "the IP stays allocated.",
            tags=("floatingip",),
            params=floatingip_id,
            response=FloatingIpAnswerSchema,
            service_name="Network",
        ),
        Route(
            "DELETE",
            "/floatingip/{floatingip_id}/",
            delete_floatingip,
            summary="Release a floating IP",
            description="NHN `DELETE /v2.0/floatingips/{floatingIpId}`; refused by NHN while "
            "its delete protection is on.",
            tags=("floatingip",),
            params=floatingip_id,
            status=204,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "GET",
            "/security-groups/",
            list_security_groups,
            summary="List security groups with their rules",
            description="NHN `GET /v2.0/security-groups`; every project has a `default` group.",
            tags=("security-groups",),
            response=SecurityGroupListSchema,
            service_name="Network",
        ),
        Route(
            "POST",
            "/security-groups/create/",
            create_security_group,
            summary="Create a security group",
            description="NHN `POST /v2.0/security-groups`; the new group already allows all "
            "egress traffic (one IPv4 and one IPv6 rule) and no ingress.",
            tags=("security-groups",),
            body=SecurityGroupCreateRequestSchema,
            response=SecurityGroupAnswerSchema,
            status=201,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "GET",
            "/security-groups/{security_group_id}/",
            get_security_group,
            summary="Get one security group with its rules",
            description="NHN `GET /v2.0/security-groups/{securityGroupId}`. `rules` and "
            "`create` are not group ids (400): `GET /security-groups/rules/` is no route.",
            tags=("security-groups",),
            params=group_id,
            response=SecurityGroupAnswerSchema,
            service_name="Network",
        ),
        Route(
            "DELETE",
            "/security-groups/{security_group_id}/",
            delete_security_group,
            summary="Delete a security group",
            description="NHN `DELETE /v2.0/security-groups/{securityGroupId}`; 409 while a "
            "port (instance) uses it, and for the `default` group.",
            tags=("security-groups",),
            params=group_id,
            status=204,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "POST",
            "/security-groups/{security_group_id}/rules/create/",
            create_security_group_rule,
            summary="Add a rule to a security group",
            description="NHN `POST /v2.0/security-group-rules` for the group of the path. "
            "tcp/udp: both ports or neither, 1-65535, min <= max; icmp: `port_range_min` is "
            "the ICMP type and `port_range_max` the code (0-255); no protocol: no ports. "
            "`remote_ip_prefix` must match `ethertype`. An identical rule is a 409.",
            tags=("security-groups",),
            params=group_id,
            body=SecurityGroupRuleCreateRequestSchema,
            response=SecurityGroupRuleAnswerSchema,
            status=201,
            service_name="Network",
            errors=(409,),
        ),
        Route(
            "DELETE",
            "/security-groups/rules/{rule_id}/",
            delete_security_group_rule,
            summary="Delete a security group rule",
            description="NHN `DELETE /v2.0/security-group-rules/{ruleId}`.",
            tags=("security-groups",),
            params=rule_id,
            status=204,
            service_name="Network",
        ),
    ]

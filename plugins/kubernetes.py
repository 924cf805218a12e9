"""NKS (NHN Kubernetes Service): list, show, create and delete clusters and fetch a kubeconfig.

Follows `shared/nhn-api/kubernetes.md` (NKS is OpenStack Magnum, container-infra API v1, plus
NHN extensions) and the mapping of `shared/nhn-api/README.md` §8. NKS runs only in the regions
of this plugin's own settings, `[kubernetes] regions` (default kr1, kr2, kr3; the core still
reads the old `regions.nks` for one release, with a deprecation warning): every route declares
them, so the core answers 400 for any other region without calling NHN. A region there must be
a code like kr1 (any case, kept lower-case); anything else stops start-up. Every native call
sends `OpenStack-API-Version: container-infra latest` (without it Magnum uses its oldest
microversion) and `Accept: application/json`.

Cluster create (design §8): the proxy fills what NKS requires and the public body does not ask
for — `cluster_template_id: "iaas_console"`, `create_timeout: 60`, and string-valued labels
`cert_manager_api: "True"`, `master_lb_floating_ip_enabled` ("True"/"False" from `is_public`),
`ca_enable: "false"` (no cluster autoscaler), `clusterautoscale: "nodegroupfeature"` (present
in every NHN example though not in its table). Three inputs are filled when not given:

* `addons` — NKS requires a CNI and CoreDNS add-on (NKS user guide, "Add-on types": types CNI
  and kube-dns are mandatory; NHN's Terraform provider marks `addons` required, "CNI and CoreDNS
  are required"). Unless the request gives its own list, the proxy sends NHN's documented
  defaults, `calico` `v3.28.2-nks1` with `{"mode": "vxlan"}` and `coredns` `1.8.4-nks1`: the
  add-ons of the NKS API guide's "Create a Cluster" example and of its `GET /v1/addons`
  example, where calico's `mode` option defaults to `vxlan` and both add-ons declare
  `k8s_min_version` v1.26.0 and no maximum — so the same pair fits every Kubernetes version
  NKS still offers for new clusters (v1.29 and later). Newer add-on builds exist (the user
  guide lists calico v3.28.2-nks2, v3.30.2-nks1/2 and coredns 1.8.4-nks2); a caller that needs
  one gives `addons` itself, and then the whole list: the proxy adds nothing to it.
* `labels.node_image` — unless the request names `node_image`, the image service's
  NKS-flagged public images (`GET /v2/images?nhncloud_allow_nks_cpu_flavor=true&
  visibility=public&status=active&limit=100`, following `next`) are ranked: amd64 (or no
  architecture given) first, then Ubuntu (by `os_distro`, else by name), then the newest
  `created_at`. No candidate → 400 asking for `node_image`. A `next` link without exactly one
  usable marker is a 502, never a silently shortened list of candidates.
* `labels.external_network_id` / `external_subnet_id_list` — NHN requires them whenever the
  router of the cluster's subnet is attached to an internet gateway (NKS API guide, "Create a
  Cluster": "Must be set when a router associated with a VPC subnet is attached to the
  internet gateway"), public endpoint or not, and a public endpoint needs them in any case.
  Given explicitly they are forwarded as they are (no lookup). Otherwise:
  - a public cluster looks the external network up at once;
  - a private cluster first reads its subnet, `GET /v2.0/vpcsubnets/{subnet_id}`: the VPC
    API documents `vpcsubnet.routingtable.gateway_id` as the internet gateway of the subnet's
    routing table (absent or null when none is attached). Only with a gateway is the external
    network looked up; without one no label is sent. A routing table or gateway id of the
    wrong type is a 502, never a guess.
  The external network is the first `router:external` network of
  `GET /v2.0/networks?router:external=True` that has subnets: its `id` and its `subnets`
  joined with ":". None → 400 naming both fields. Giving only one of the two fields is a 400
  naming the other. These look-ups run alongside the node image look-up; the first to fail
  cancels the other.

Choices where NHN is silent or unconfirmed:

* Cluster name rule: NHN's API doc states none; the NKS user guide says "only lowercase
  English letters, numbers, and '-'; must start with a lowercase letter and end with a
  lowercase letter or number; RFC 4122 UUID formats cannot be used", and since NHN's release
  of 2022-11-29 (release notes; the current guide agrees) up to 32 characters (20 before) —
  enforced as `^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`, minus 32 hex digits (a UUID without its
  hyphens, which Magnum would read as one; with them a UUID has 36 characters).
  Path values (name or UUID) only need to be a plain token.
* `node_count`: NHN's default quota allows at most 10 nodes per worker node group (the NKS
  user guide's autoscaler settings range 1-10; its API guide bounds upgrade buffer nodes by
  "the maximum number of nodes per worker node group quota"), and the quota can be raised.
  The proxy accepts 1-100 so that a raised quota is not refused; above the project's quota
  NKS answers with an error that passes through.
* Magnum error bodies (`{"errors": [{"detail"}]}`, unconfirmed for NKS) are read by the core;
  their status passes through (404 unknown cluster, 409 busy or name taken).
* NHN answers create with 202 and only `{"uuid"}`; the proxy answers 201 with
  `{"cluster": {"uuid", "name", "status": "CREATE_IN_PROGRESS", "node_count"}}` from the request.
* The kubeconfig is a secret: it is registered with the log masker and never logged.

Kubernetes versions (issue 12): `GET /nks/versions/` reads NKS `GET /v1/supports`, whose
`supported_k8s` maps each version to whether new clusters may use it (older versions stay
listed with `false`), and lists them newest first in semantic version order (major, minor,
patch as numbers: v1.32.10 above v1.32.3); a `supported_k8s` that is not an object of
booleans is a 502. Cluster create reads the same table alongside its other look-ups (the
first to fail cancels the others) and refuses a `kubernetes_version` NKS does not offer for
new clusters with a 400 naming those it does, before anything is created.

Node groups (issue 12; NKS API guide "Node Groups", NHN's Terraform provider
`nhncloud_kubernetes_nodegroup_v1` and `..._cluster_resize_v1`, Magnum's node group API):

* list: `GET /v1/clusters/{cluster}/nodegroups` already carries the six public fields (uuid,
  name, status, node_count, flavor_id, image_id: NHN's example and Magnum's list view), so
  no detail call is made; `flavor_id`/`image_id` are shown as null when NKS leaves them out.
* show: `GET /v1/clusters/{cluster}/nodegroups/{nodegroup}` (name or uuid).
* create: `POST /v1/clusters/{cluster}/nodegroups` with `name`, `flavor_id` (the body's
  `instance_type`), `image_id` (the node image looked up as for cluster create: NKS requires
  it), `node_count` and NKS's required labels `availability_zone`, `boot_volume_type`,
  `boot_volume_size` (a string) and `ca_enable: "false"`. NKS answers 202 with the new
  group, without a status (Magnum sets it afterwards): the proxy answers 201
  `{"nodegroup": {uuid, name, status}}` with NKS's status if given, else
  CREATE_IN_PROGRESS. The name follows the cluster name rule (NHN states none for groups:
  unconfirmed).
* delete: `DELETE .../nodegroups/{nodegroup}` → 204. NKS refuses to delete the default
  worker group (Magnum's 400 "Deleting a default nodegroup is not supported."), which passes
  through.
* resize: the cluster is read first (`GET /v1/clusters/{cluster}`: its uuid and name for the
  answer, and a 404 before any change), then `POST /v1/clusters/{uuid}/actions/resize`
  `{"node_count", "nodegroup"}` (NHN's gophercloud fork expects 202 `{"uuid"}`); the proxy
  answers 202 `{"cluster": {uuid, name, status: "UPDATE_IN_PROGRESS"}}`. `nodegroup` defaults
  to `default-worker` (Magnum resizes the default worker group when none is named).

Async tasks (design §4): cluster create and delete are long-running operations
(`nks.cluster.create`, `nks.cluster.delete`) whose routes declare their watchers. Both
poll `GET /v1/clusters/{uuid or name}`, the native call of `GET /nks/clusters/{cluster_name}/`:

* create follows the new cluster's uuid and settles at `CREATE_COMPLETE` (the task's result is
  that route's answer, `{"cluster": {...}}`) or at any `*_FAILED` status (failed with NKS's
  `status_reason`);
* delete follows the name or uuid of the path and settles when the cluster is gone (404, or
  `DELETE_COMPLETE`, which NKS rarely shows; result null) or at `DELETE_FAILED`. Other
  `*_FAILED` statuses do not fail a delete: Magnum starts deleting asynchronously, so the
  first look may still show the status the cluster had before, e.g. `CREATE_FAILED`.

Node group create and delete (`nks.nodegroup.create`, `nks.nodegroup.delete`, resource type
`nodegroup`) follow one group with `GET /v1/clusters/{cluster}/nodegroups/{nodegroup}`.
Their resource id is `{cluster}/{nodegroup}` — the path's cluster name or uuid and the new
group's uuid (create) or the path's group name or uuid (delete) — the form NHN's Terraform
provider gives a node group's id; neither part can hold a `/`. Create settles at
`CREATE_COMPLETE` (result: the group as `GET .../nodegroups/{nodegroup_name}/` shows it) or
any `*_FAILED`; until the group is found it is pending, as Magnum's API answers before its
conductor has stored the new group (the task's deadline bounds the wait). Delete settles
when the group (or its cluster) is gone (404) or `DELETE_COMPLETE`, and fails at
`DELETE_FAILED`.

Cluster resize (`nks.cluster.resize`, resource type `cluster`, the cluster's uuid) polls the
cluster: `UPDATE_COMPLETE` succeeds (result: the cluster as `GET /nks/clusters/{name}/`
shows it) once the resized group also shows the requested node count (Magnum resizes
asynchronously, so a first look may still show the `UPDATE_COMPLETE` of an earlier change;
NHN's Terraform provider, too, waits 30 s before its first look); any
`*_FAILED` fails with NKS's `status_reason`; anything else is pending.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from nhn_proxy.plugin import (
    BadRequest,
    Call,
    DemoAccount,
    Header,
    PathParam,
    PluginConfig,
    Poll,
    PollState,
    Route,
    StrictBoolean,
    UpstreamHTTPError,
    Watcher,
    extra_text,
    glance_next_marker,
    hookimpl,
    list_of,
    native_answer,
    object_of,
    optional_text,
    register_secret,
    text,
)

T = TypeVar("T")

SERVICE = "kubernetes"
TAGS = ("nks",)
NEEDS = frozenset({Header.TOKEN, Header.REGION})
# Magnum picks its oldest microversion without this header; NHN's Terraform provider sets it.
NKS_HEADERS = {"OpenStack-API-Version": "container-infra latest", "Accept": "application/json"}
CLUSTER_TEMPLATE_ID = "iaas_console"
CREATE_TIMEOUT_MINUTES = 60
IMAGE_QUERY = {
    "nhncloud_allow_nks_cpu_flavor": "true",
    "visibility": "public",
    "status": "active",
    "limit": "100",
}
EXTERNAL_NETWORK_QUERY = {"router:external": "True"}
# NHN's default add-ons (see the module docstring): a CNI and CoreDNS, both mandatory types
DEFAULT_ADDONS: tuple[dict[str, Any], ...] = (
    {"name": "calico", "version": "v3.28.2-nks1", "options": {"mode": "vxlan"}},
    {"name": "coredns", "version": "1.8.4-nks1"},
)
MAX_ADDONS = 16
_AMD64 = frozenset({"", "amd64", "x86_64"})
# long-running operations followed by a watcher when asked with `Prefer: respond-async`
CLUSTER_CREATE = "nks.cluster.create"
CLUSTER_DELETE = "nks.cluster.delete"
CLUSTER_RESIZE = "nks.cluster.resize"
NODEGROUP_CREATE = "nks.nodegroup.create"
NODEGROUP_DELETE = "nks.nodegroup.delete"
RESOURCE_TYPE = "cluster"
NODEGROUP_RESOURCE_TYPE = "nodegroup"
DEFAULT_WORKER = "default-worker"

DEFAULT_REGIONS = ("kr1", "kr2", "kr3")
_REGION = re.compile(r"[a-z]{2}[0-9]{1,2}")

CLUSTER_NAME = PathParam(
    r"[A-Za-z0-9][A-Za-z0-9_-]*",
    "an NKS cluster name or UUID",
    example="my-cluster",
    max_length=128,
)
NODEGROUP_NAME = PathParam(
    r"[A-Za-z0-9][A-Za-z0-9_-]*",
    "an NKS node group name or UUID",
    example="default-worker",
    max_length=128,
)


# --- settings --------------------------------------------------------------------------------


class RegionCode(fields.String):
    """A region code like kr1, in any case; loaded lower-case, as the core compares regions."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        region = super()._deserialize(value, attr, data, **kwargs).lower()
        if not _REGION.fullmatch(region):
            raise ValidationError(f"{value!r} is not a region code like kr1")
        return region


class KubernetesSettingsSchema(Schema):
    """`[kubernetes]`: the plugin's own settings, checked at start-up."""

    regions = fields.List(
        RegionCode(),
        load_default=list(DEFAULT_REGIONS),
        metadata={"description": "regions where NHN runs NKS; others answer 400 without a call"},
    )


# --- request and response schemas ------------------------------------------------------------

_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*"
NHN_ID = (
    validate.Length(min=1, max=128),
    validate.Regexp(f"^{_ID_PATTERN}$", error="must be an NHN Cloud id (UUID)"),
)
# optional ids may also be sent blank by a form: "" counts as not given
OPTIONAL_ID = (
    validate.Length(max=128),
    validate.Regexp(f"^({_ID_PATTERN})?$", error="must be an NHN Cloud id (UUID)"),
)
SUBNET_ID_LIST = (
    validate.Length(max=1024),
    validate.Regexp(
        f"^({_ID_PATTERN}(:{_ID_PATTERN})*)?$",
        error="must be a subnet id (several may be joined with ':')",
    ),
)


# NKS's cluster name rule (see the module docstring), also applied to node group names
NKS_NAME = r"^(?![0-9a-f]{32}$)[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"
NKS_NAME_RULE = (
    "must be 1-32 lowercase letters, digits or '-', start with a letter and end with a "
    "letter or digit, and not be 32 hex digits (NKS's rule)"
)
NODE_COUNT_RANGE = validate.Range(min=1, max=100)
BOOT_VOLUME_SIZE_RANGE = validate.Range(min=10, max=1000)


class AddonOptionValue(fields.Field):
    """An add-on option value: a string (NHN's STRING and SELECT options) or an integer
    (INTEGER options); a boolean is neither, whatever Python thinks of `True == 1`."""

    default_error_messages = {
        "invalid": "Not a valid option value (a string or an integer).",
        "too_long": "Longer than maximum length 255.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | int:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        if isinstance(value, str) and len(value) > 255:
            raise self.make_error("too_long")
        return value


def _at_most_16_options(options: dict[str, Any] | None) -> None:
    # a function, not validate.Length: OpenAPI would show Length as a string's maxLength
    if options is not None and len(options) > 16:
        raise ValidationError("at most 16 options")


class ClusterAddonSchema(Schema):
    """One add-on of a new cluster, as NKS's `addons` items: `{name, version, options?}`."""

    name = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z][a-z0-9_-]{0,63}$", error="must be an NKS add-on name such as calico"
        ),
        metadata={"description": "add-on name (calico, coredns, …)", "example": "calico"},
    )
    version = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
            error="must be an add-on version such as v3.28.2-nks1",
        ),
        metadata={"description": "add-on version", "example": "v3.28.2-nks1"},
    )
    options = fields.Dict(
        keys=fields.String(
            validate=validate.Regexp(
                r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", error="must be an add-on option name"
            )
        ),
        values=AddonOptionValue(),
        load_default=None,
        allow_none=True,
        validate=_at_most_16_options,
        metadata={
            "description": "add-on options (string or integer values), e.g. calico's mode "
            "vxlan or ebpf",
            "example": {"mode": "vxlan"},
        },
    )


def _distinct_addon_names(addons: list[dict[str, Any]]) -> None:
    names = [addon["name"] for addon in addons]
    if len(set(names)) != len(names):
        raise ValidationError("each add-on may appear once")


class ClusterCreateSchema(Schema):
    """The seed spec's cluster create body, plus the optional `node_image` and `addons`
    (design §8)."""

    cluster_name = fields.String(
        required=True,
        validate=validate.Regexp(NKS_NAME, error=NKS_NAME_RULE),
        metadata={"description": "cluster name", "example": "my-cluster"},
    )
    vpc_id = fields.String(
        required=True,
        validate=NHN_ID,
        metadata={"description": "VPC id", "example": "eb212079-b6ec-430c-ba57-14280a457bcb"},
    )
    subnet_id = fields.String(
        required=True,
        validate=NHN_ID,
        metadata={
            "description": "subnet id (of that VPC)",
            "example": "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90",
        },
    )
    instance_type = fields.String(
        required=True,
        validate=NHN_ID,
        metadata={
            "description": "node flavor id",
            "example": "6ef27f21-c774-4c0e-84ff-7dd4a762571f",
        },
    )
    keypair_name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "key pair name", "example": "my-keypair"},
    )
    kubernetes_version = fields.String(
        required=True,
        validate=validate.Regexp(r"^v\d{1,3}\.\d{1,3}\.\d{1,3}$", error="must look like v1.28.3"),
        metadata={
            "description": "Kubernetes version; one NKS offers for new clusters (`true` in "
            "NKS `GET /v1/supports`, e.g. v1.29.3 to v1.32.3)",
            # v1.28.3 is listed `false` (no new clusters) in NHN's /v1/supports example
            "example": "v1.32.3",
        },
    )
    availability_zone = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", error="must be an availability zone name"
        ),
        metadata={"description": "availability zone", "example": "kr-pub-a"},
    )
    is_public = StrictBoolean(
        load_default=True,
        metadata={
            "description": "public cluster: its API endpoint gets a floating IP",
            "example": True,
        },
    )
    external_network_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=OPTIONAL_ID,
        metadata={
            "description": "external (internet gateway) network id; NHN requires it whenever "
            "the subnet's routing table is attached to an internet gateway. When omitted "
            "together with external_subnet_id it is looked up: always for a public cluster, "
            "for a private one when its subnet has an internet gateway",
            "example": "751b8227-7b45-440a-9349-dbf829d0aba5",
        },
    )
    external_subnet_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=SUBNET_ID_LIST,
        metadata={
            "description": "subnet id of the external network (several joined with ':')",
            "example": "59ddc195-76b1-431d-9693-f09880747dc6",
        },
    )
    node_count = fields.Integer(
        load_default=1,
        strict=True,
        validate=NODE_COUNT_RANGE,
        metadata={
            "description": "worker nodes of the default node group; NHN's default quota "
            "allows at most 10 per node group (a raised quota allows more, hence the bound "
            "of 100 here)",
            "example": 3,
        },
    )
    boot_volume_size = fields.Integer(
        load_default=50,
        strict=True,
        validate=BOOT_VOLUME_SIZE_RANGE,
        metadata={"description": "node boot volume size in GB", "example": 50},
    )
    boot_volume_type = fields.String(
        load_default="General SSD",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "node boot volume type", "example": "General SSD"},
    )
    node_image = fields.String(
        load_default=None,
        allow_none=True,
        validate=OPTIONAL_ID,
        metadata={
            "description": "node base image id; by default the newest NKS-enabled public "
            "Ubuntu image of the region",
            "example": "f462a2a5-ba24-46d6-b7a1-9a9febcd3cfc",
        },
    )
    addons = fields.List(
        fields.Nested(ClusterAddonSchema),
        load_default=None,
        allow_none=True,
        validate=(validate.Length(min=1, max=MAX_ADDONS), _distinct_addon_names),
        metadata={
            "description": "add-ons to install, replacing NHN's defaults (calico "
            "v3.28.2-nks1 with mode vxlan, and coredns 1.8.4-nks1) when given: NKS requires "
            "a CNI (calico) and CoreDNS, so list both",
            "example": [dict(addon) for addon in DEFAULT_ADDONS],
        },
    )

    @validates_schema
    def external_fields_come_together(self, data: dict[str, Any], **_kwargs: Any) -> None:
        network, subnet = data.get("external_network_id"), data.get("external_subnet_id")
        if network and not subnet:
            raise ValidationError(
                "required when external_network_id is given", "external_subnet_id"
            )
        if subnet and not network:
            raise ValidationError(
                "required when external_subnet_id is given", "external_network_id"
            )


class ClusterSummarySchema(Schema):
    uuid = fields.String(
        required=True, metadata={"example": "2b778d83-8b67-45b1-920e-b0c5ad5c2f30"}
    )
    name = fields.String(required=True, metadata={"example": "my-cluster"})
    status = fields.String(
        required=True,
        metadata={
            "description": "Magnum status, e.g. CREATE_IN_PROGRESS, CREATE_COMPLETE, "
            "UPDATE_COMPLETE, DELETE_IN_PROGRESS, CREATE_FAILED",
            "example": "CREATE_COMPLETE",
        },
    )
    node_count = fields.Integer(
        required=True, metadata={"description": "worker nodes of all node groups", "example": 3}
    )


class ClusterListSchema(Schema):
    clusters = fields.List(fields.Nested(ClusterSummarySchema), required=True)


def _nullable(description: str, example: str | None = None) -> fields.String:
    metadata: dict[str, Any] = {"description": description}
    if example is not None:
        metadata["example"] = example
    return fields.String(required=True, allow_none=True, metadata=metadata)


class ClusterDetailSchema(ClusterSummarySchema):
    status_reason = _nullable("why the cluster is in its status (e.g. of a *_FAILED status)")
    kubernetes_version = _nullable("Kubernetes version (label kube_tag)", "v1.28.3")
    api_address = _nullable(
        "Kubernetes API endpoint", "https://2b778d83-kr2-k8s.container.cloud.toast.com:6443"
    )
    created_at = _nullable("creation time (UTC)", "2021-08-05T01:48:39+00:00")
    updated_at = _nullable("last update time (UTC)", "2021-08-05T04:39:49+00:00")
    health_status = _nullable("NHN health status (free text)", "HEALTHY")
    fixed_network = _nullable("VPC id", "eb212079-b6ec-430c-ba57-14280a457bcb")
    fixed_subnet = _nullable("subnet id", "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90")
    flavor_id = _nullable("flavor id of the default worker group")
    keypair = _nullable("key pair name of the default worker group", "my-keypair")


class ClusterAnswerSchema(Schema):
    cluster = fields.Nested(ClusterDetailSchema, required=True)


class ClusterCreatedSchema(Schema):
    cluster = fields.Nested(ClusterSummarySchema, required=True)


class KubeconfigSchema(Schema):
    config = fields.String(
        required=True,
        metadata={
            "description": "kubeconfig YAML of the cluster (a secret: it holds the admin "
            "client certificate and key)",
            "example": "apiVersion: v1\nclusters:\n- cluster:...",
        },
    )


class KubernetesVersionSchema(Schema):
    version = fields.String(
        required=True, metadata={"description": "Kubernetes version", "example": "v1.32.3"}
    )
    can_create = fields.Boolean(
        required=True,
        metadata={
            "description": "whether new clusters may use this version (older versions stay "
            "listed, false)",
            "example": True,
        },
    )


class KubernetesVersionListSchema(Schema):
    kubernetes_versions = fields.List(
        fields.Nested(KubernetesVersionSchema),
        required=True,
        metadata={"description": "the versions NKS knows, newest first"},
    )


def _nullable_count(description: str, example: int | None = None) -> fields.Integer:
    metadata: dict[str, Any] = {"description": description}
    if example is not None:
        metadata["example"] = example
    return fields.Integer(required=True, allow_none=True, metadata=metadata)


class NodeGroupSummarySchema(Schema):
    uuid = fields.String(
        required=True, metadata={"example": "018b06c5-1293-4081-8242-167a1cb9f262"}
    )
    name = fields.String(required=True, metadata={"example": DEFAULT_WORKER})
    status = fields.String(
        required=True,
        metadata={
            "description": "Magnum status, e.g. CREATE_IN_PROGRESS, CREATE_COMPLETE, "
            "UPDATE_IN_PROGRESS, UPDATE_COMPLETE, DELETE_IN_PROGRESS, CREATE_FAILED",
            "example": "CREATE_COMPLETE",
        },
    )
    node_count = fields.Integer(
        required=True, metadata={"description": "nodes of the group", "example": 3}
    )
    flavor_id = _nullable("node flavor id", "069bdcff-e9b6-42c8-83ce-4c743ea30394")
    image_id = _nullable("node base image id", "96aff4ab-d221-4688-8364-2fcf02d50547")


class NodeGroupListSchema(Schema):
    nodegroups = fields.List(fields.Nested(NodeGroupSummarySchema), required=True)


class NodeGroupDetailSchema(NodeGroupSummarySchema):
    status_reason = _nullable(
        "why the group is in its status", "Stack CREATE completed successfully"
    )
    role = _nullable("node group role", "worker")
    min_node_count = _nullable_count("fewest nodes the group may have", 1)
    max_node_count = _nullable_count("most nodes the group may have (null: no bound set)", 10)
    kubernetes_version = _nullable("Kubernetes version of the group's nodes", "v1.32.3")
    availability_zone = _nullable("availability zone of the nodes", "kr-pub-a")
    boot_volume_type = _nullable("node boot volume type", "General SSD")
    boot_volume_size = _nullable_count("node boot volume size in GB", 50)
    node_addresses = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "the nodes' IP addresses", "example": ["192.168.0.5"]},
    )
    created_at = _nullable("creation time (UTC)", "2021-08-05T01:48:39+00:00")
    updated_at = _nullable("last update time (UTC)", "2021-08-05T04:39:49+00:00")


class NodeGroupAnswerSchema(Schema):
    nodegroup = fields.Nested(NodeGroupDetailSchema, required=True)


class NodeGroupCreateSchema(Schema):
    """A node group to add to a cluster, described like cluster create's default group."""

    name = fields.String(
        required=True,
        validate=validate.Regexp(NKS_NAME, error=NKS_NAME_RULE),
        metadata={"description": "node group name", "example": "workers-2"},
    )
    instance_type = fields.String(
        required=True,
        validate=NHN_ID,
        metadata={
            "description": "node flavor id",
            "example": "6ef27f21-c774-4c0e-84ff-7dd4a762571f",
        },
    )
    availability_zone = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", error="must be an availability zone name"
        ),
        metadata={"description": "availability zone", "example": "kr-pub-a"},
    )
    node_count = fields.Integer(
        load_default=1,
        strict=True,
        validate=NODE_COUNT_RANGE,
        metadata={
            "description": "nodes of the group; NHN's default quota allows at most 10 per "
            "node group (a raised quota allows more, hence the bound of 100 here)",
            "example": 1,
        },
    )
    boot_volume_size = fields.Integer(
        load_default=50,
        strict=True,
        validate=BOOT_VOLUME_SIZE_RANGE,
        metadata={"description": "node boot volume size in GB", "example": 50},
    )
    boot_volume_type = fields.String(
        load_default="General SSD",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "node boot volume type", "example": "General SSD"},
    )


class NodeGroupCreatedSummarySchema(Schema):
    uuid = fields.String(
        required=True, metadata={"example": "018b06c5-1293-4081-8242-167a1cb9f262"}
    )
    name = fields.String(required=True, metadata={"example": "workers-2"})
    status = fields.String(required=True, metadata={"example": "CREATE_IN_PROGRESS"})


class NodeGroupCreatedSchema(Schema):
    nodegroup = fields.Nested(NodeGroupCreatedSummarySchema, required=True)


class ClusterResizeSchema(Schema):
    nodegroup = fields.String(
        load_default=DEFAULT_WORKER,
        validate=(
            validate.Length(min=1, max=128),
            validate.Regexp(f"^{_ID_PATTERN}$", error="must be a node group name or UUID"),
        ),
        metadata={
            "description": "the node group to resize, by name or UUID (default: the "
            "default-worker group)",
            "example": DEFAULT_WORKER,
        },
    )
    node_count = fields.Integer(
        required=True,
        strict=True,
        validate=NODE_COUNT_RANGE,
        metadata={
            "description": "the group's new node count; NHN's default quota allows at most "
            "10 per node group",
            "example": 2,
        },
    )


class ClusterResizedSummarySchema(Schema):
    uuid = fields.String(
        required=True, metadata={"example": "2b778d83-8b67-45b1-920e-b0c5ad5c2f30"}
    )
    name = fields.String(required=True, metadata={"example": "my-cluster"})
    status = fields.String(required=True, metadata={"example": "UPDATE_IN_PROGRESS"})


class ClusterResizedSchema(Schema):
    cluster = fields.Nested(ClusterResizedSummarySchema, required=True)


# --- translations (pure) ---------------------------------------------------------------------


def _count(value: Any) -> int:
    # NHN's field table calls node_count a string while its examples use a number
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TypeError(f"node_count is not a number: {value!r}")


def _summary(cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": text(cluster["uuid"], "uuid"),
        "name": text(cluster["name"], "name"),
        "status": text(cluster["status"], "status"),
        "node_count": _count(cluster["node_count"]),
    }


@native_answer(SERVICE)
def clusters_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/clusters` → `{"clusters": [{uuid, name, status, node_count}]}`."""
    return {"clusters": [_summary(cluster) for cluster in list_of(native, "clusters")]}


@native_answer(SERVICE)
def cluster_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/clusters/{id}` (the object unwrapped) → `{"cluster": {...}}`."""
    labels = native.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    version = extra_text(labels.get("kube_tag")) or extra_text(native.get("coe_version"))
    cluster = _summary(native)
    cluster.update(
        {
            "status_reason": extra_text(native.get("status_reason")),
            "kubernetes_version": version,
            "api_address": extra_text(native.get("api_address")),
            "created_at": extra_text(native.get("created_at")),
            "updated_at": extra_text(native.get("updated_at")),
            "health_status": extra_text(native.get("health_status")),
            "fixed_network": extra_text(native.get("fixed_network")),
            "fixed_subnet": extra_text(native.get("fixed_subnet")),
            "flavor_id": extra_text(native.get("flavor_id")),
            "keypair": extra_text(native.get("keypair")),
        }
    )
    return {"cluster": cluster}


@native_answer(SERVICE)
def cluster_state_from_native(native: dict[str, Any]) -> tuple[str, str | None]:
    """(status, status_reason) of a `GET /v1/clusters/{id}` answer."""
    return text(native["status"], "status"), extra_text(native.get("status_reason"))


@native_answer(SERVICE)
def config_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/clusters/{id}/config` → `{"config": "<kubeconfig yaml>"}` (passes through)."""
    return {"config": text(native["config"], "config")}


_SEMANTIC_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def version_order(version: str) -> tuple[bool, tuple[int, ...], str]:
    """Sort key of a Kubernetes version: semantic versions by their numbers (v1.32.10 after
    v1.32.3), anything else before them."""
    found = _SEMANTIC_VERSION.match(version)
    if found is None:
        return False, (), version
    return True, tuple(int(part or 0) for part in found.groups()), version


@native_answer(SERVICE)
def versions_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/supports` → `{"kubernetes_versions": [{version, can_create}]}`, newest first."""
    supported = native["supported_k8s"]
    if not isinstance(supported, dict):
        raise TypeError("supported_k8s is not an object")
    versions = []
    for version, can_create in supported.items():
        if not isinstance(can_create, bool):
            raise TypeError(f"supported_k8s[{version!r}] is not a boolean")
        versions.append({"version": version, "can_create": can_create})
    versions.sort(key=lambda item: version_order(item["version"]), reverse=True)
    return {"kubernetes_versions": versions}


def creatable_versions(versions: dict[str, Any]) -> list[str]:
    """The versions new clusters may use, newest first."""
    return [item["version"] for item in versions["kubernetes_versions"] if item["can_create"]]


def _optional_count(value: Any) -> int | None:
    # lenient: an extra field of an unexpected type is shown as null, never a 502
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _nodegroup_summary(native: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": text(native["uuid"], "uuid"),
        "name": text(native["name"], "name"),
        "status": text(native["status"], "status"),
        "node_count": _count(native["node_count"]),
        "flavor_id": extra_text(native.get("flavor_id")),
        "image_id": extra_text(native.get("image_id")),
    }


@native_answer(SERVICE)
def nodegroups_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/clusters/{id}/nodegroups` → `{"nodegroups": [{uuid, name, status, node_count,
    flavor_id, image_id}]}` (the list carries every field: no detail call)."""
    return {"nodegroups": [_nodegroup_summary(group) for group in list_of(native, "nodegroups")]}


@native_answer(SERVICE)
def nodegroup_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/clusters/{id}/nodegroups/{id}` (the object unwrapped) → `{"nodegroup": {...}}`:
    the list's fields plus the group's details and labels."""
    labels = native.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    addresses = native.get("node_addresses")
    group = _nodegroup_summary(native)
    group.update(
        {
            "status_reason": extra_text(native.get("status_reason")),
            "role": extra_text(native.get("role")),
            "min_node_count": _optional_count(native.get("min_node_count")),
            "max_node_count": _optional_count(native.get("max_node_count")),
            "kubernetes_version": extra_text(native.get("version"))
            or extra_text(labels.get("kube_tag")),
            "availability_zone": extra_text(labels.get("availability_zone")),
            "boot_volume_type": extra_text(labels.get("boot_volume_type")),
            "boot_volume_size": _optional_count(labels.get("boot_volume_size")),
            "node_addresses": [a for a in addresses if isinstance(a, str)]
            if isinstance(addresses, list)
            else [],
            "created_at": extra_text(native.get("created_at")),
            "updated_at": extra_text(native.get("updated_at")),
        }
    )
    return {"nodegroup": group}


@native_answer(SERVICE)
def nodegroup_state_from_native(native: dict[str, Any]) -> tuple[str, str | None, int]:
    """(status, status_reason, node_count) of a `GET /v1/clusters/{id}/nodegroups/{id}`
    answer."""
    return (
        text(native["status"], "status"),
        extra_text(native.get("status_reason")),
        _count(native["node_count"]),
    )


def nodegroup_to_native(body: dict[str, Any], *, image_id: str) -> dict[str, Any]:
    """The `POST /v1/clusters/{id}/nodegroups` body: NKS's required labels as strings, no
    cluster autoscaler (as for cluster create)."""
    return {
        "name": body["name"],
        "flavor_id": body["instance_type"],
        "image_id": image_id,
        "node_count": body["node_count"],
        "labels": {
            "availability_zone": body["availability_zone"],
            "boot_volume_type": body["boot_volume_type"],
            "boot_volume_size": str(body["boot_volume_size"]),
            "ca_enable": "false",
        },
    }


@native_answer(SERVICE)
def nodegroup_created_from_native(native: dict[str, Any]) -> dict[str, Any]:
    """NKS answers create with the new group but no status yet (Magnum sets it afterwards)."""
    return {
        "nodegroup": {
            "uuid": text(native["uuid"], "uuid"),
            "name": text(native["name"], "name"),
            "status": extra_text(native.get("status")) or "CREATE_IN_PROGRESS",
        }
    }


def resize_to_native(body: dict[str, Any]) -> dict[str, Any]:
    """The `POST /v1/clusters/{id}/actions/resize` body."""
    return {"node_count": body["node_count"], "nodegroup": body["nodegroup"]}


@native_answer(SERVICE)
def cluster_identity_from_native(native: dict[str, Any]) -> tuple[str, str]:
    """(uuid, name) of a `GET /v1/clusters/{id}` answer."""
    return text(native["uuid"], "uuid"), text(native["name"], "name")


@native_answer(SERVICE)
def resized_from_native(native: dict[str, Any], name: str) -> dict[str, Any]:
    """NKS answers resize with only `{"uuid"}`; the cluster is then UPDATE_IN_PROGRESS."""
    return {
        "cluster": {
            "uuid": text(native["uuid"], "uuid"),
            "name": name,
            "status": "UPDATE_IN_PROGRESS",
        }
    }


def to_native(
    body: dict[str, Any], *, node_image: str, external: tuple[str, str] | None
) -> dict[str, Any]:
    """The `POST /v1/clusters` body. `external` is (network id, ':'-joined subnet ids) or None.

    Every label value is a string, as NKS requires. `addons` are the request's, or NHN's
    defaults (`DEFAULT_ADDONS`) when it gives none.
    """
    labels = {
        "kube_tag": body["kubernetes_version"],
        "availability_zone": body["availability_zone"],
        "node_image": node_image,
        "boot_volume_type": body["boot_volume_type"],
        "boot_volume_size": str(body["boot_volume_size"]),
        "cert_manager_api": "True",
        "master_lb_floating_ip_enabled": "True" if body["is_public"] else "False",
        "ca_enable": "false",
        "clusterautoscale": "nodegroupfeature",
    }
    if external is not None:
        labels["external_network_id"], labels["external_subnet_id_list"] = external
    addons = body.get("addons") or DEFAULT_ADDONS
    return {
        "name": body["cluster_name"],
        "cluster_template_id": CLUSTER_TEMPLATE_ID,
        "create_timeout": CREATE_TIMEOUT_MINUTES,
        "fixed_network": body["vpc_id"],
        "fixed_subnet": body["subnet_id"],
        "flavor_id": body["instance_type"],
        "keypair": body["keypair_name"],
        "node_count": body["node_count"],
        "labels": labels,
        "addons": [_addon_to_native(addon) for addon in addons],
    }


def _addon_to_native(addon: dict[str, Any]) -> dict[str, Any]:
    native: dict[str, Any] = {"name": addon["name"], "version": addon["version"]}
    if addon.get("options") is not None:
        # a copy: the defaults are shared by every request
        native["options"] = copy.deepcopy(addon["options"])
    return native


@native_answer(SERVICE)
def created_from_native(native: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """NKS answers create with only `{"uuid"}`; the rest comes from the request."""
    return {
        "cluster": {
            "uuid": text(native["uuid"], "uuid"),
            "name": body["cluster_name"],
            "status": "CREATE_IN_PROGRESS",
            "node_count": body["node_count"],
        }
    }


@native_answer("image")
def images_from_native(native: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `GET /v2/images` and the marker of the next page (from `next`), if any."""
    return list_of(native, "images"), glance_next_marker(native)


def choose_node_image(images: list[dict[str, Any]]) -> str | None:
    """The node image to use: amd64 (or unstated) first, then Ubuntu, then the newest."""

    def usable(image: dict[str, Any]) -> bool:
        flag = image.get("nhncloud_allow_nks_cpu_flavor", "true")
        return (
            isinstance(image.get("id"), str)
            and image.get("status", "active") == "active"
            and str(flag).lower() == "true"
        )

    def rank(image: dict[str, Any]) -> tuple[bool, bool, str]:
        architecture = str(image.get("os_architecture") or "").lower()
        distro = str(image.get("os_distro") or "").lower()
        name = str(image.get("name") or "").lower()
        ubuntu = distro == "ubuntu" if distro else "ubuntu" in name
        return architecture in _AMD64, ubuntu, str(image.get("created_at") or "")

    candidates = [image for image in images if usable(image)]
    if not candidates:
        return None
    return max(candidates, key=rank)["id"]


@native_answer("network")
def external_network_from_native(native: dict[str, Any]) -> tuple[str, str] | None:
    """The first external network with subnets: (its id, its subnet ids joined with ':')."""
    for network in list_of(native, "networks"):
        if network.get("router:external", True) is False:
            continue
        subnets = network.get("subnets") or []
        if not isinstance(subnets, list) or not all(isinstance(s, str) for s in subnets):
            raise TypeError("network subnets is not a list of ids")
        if subnets:
            return text(network["id"], "id"), ":".join(subnets)
    return None


@native_answer("network")
def internet_gateway_from_native(native: dict[str, Any]) -> str | None:
    """`GET /v2.0/vpcsubnets/{id}` → the id of the internet gateway attached to the subnet's
    routing table, or None when none is (`gateway_id` absent, null or empty, or no table)."""
    table = object_of(native, "vpcsubnet").get("routingtable")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise TypeError("vpcsubnet routingtable is not an object")
    return optional_text(table.get("gateway_id"), "routingtable gateway_id") or None


# --- handlers --------------------------------------------------------------------------------


async def list_clusters(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v1/clusters", headers=NKS_HEADERS)
    return clusters_from_native(answer.json_object())


async def read_cluster(call: Call, cluster: str) -> dict[str, Any]:
    """NKS's own `GET /v1/clusters/{cluster}` answer (`cluster` is a name or uuid)."""
    answer = await call.native(
        SERVICE, "GET", "/v1/clusters/{cluster}", path={"cluster": cluster}, headers=NKS_HEADERS
    )
    return answer.json_object()


async def get_cluster(call: Call) -> dict[str, Any]:
    return cluster_from_native(await read_cluster(call, call.params["cluster_name"]))


async def get_kubeconfig(call: Call) -> dict[str, Any]:
    answer = await call.native(
        SERVICE,
        "GET",
        "/v1/clusters/{cluster}/config",
        path={"cluster": call.params["cluster_name"]},
        headers=NKS_HEADERS,
    )
    public = config_from_native(answer.json_object())
    register_secret(public["config"])
    return public


async def delete_cluster(call: Call) -> None:
    await call.native(
        SERVICE,
        "DELETE",
        "/v1/clusters/{cluster}",
        path={"cluster": call.params["cluster_name"]},
        headers=NKS_HEADERS,
    )


async def find_node_image(call: Call) -> str:
    async def fetch(marker: str | None) -> tuple[list[dict[str, Any]], str | None]:
        query = dict(IMAGE_QUERY, marker=marker) if marker else IMAGE_QUERY
        answer = await call.native("image", "GET", "/v2/images", query=query)
        return images_from_native(answer.json_object())

    images = await call.listing(fetch, service="image")
    image_id = choose_node_image(images)
    if image_id is None:
        raise BadRequest(
            f"node_image: no NKS node image found in region {call.ctx.region}; "
            "give node_image (an image id)"
        )
    return image_id


async def find_external_network(call: Call, why: str) -> tuple[str, str]:
    answer = await call.native("network", "GET", "/v2.0/networks", query=EXTERNAL_NETWORK_QUERY)
    external = external_network_from_native(answer.json_object())
    if external is None:
        raise BadRequest(
            f"external_network_id, external_subnet_id: no external network found in region "
            f"{call.ctx.region}; give both {why}"
        )
    return external


async def subnet_internet_gateway(call: Call, subnet_id: str) -> str | None:
    """The internet gateway of the subnet's routing table, if one is attached."""
    answer = await call.native(
        "network", "GET", "/v2.0/vpcsubnets/{subnet}", path={"subnet": subnet_id}
    )
    return internet_gateway_from_native(answer.json_object())


async def find_external_network_if_routed(call: Call, subnet_id: str) -> tuple[str, str] | None:
    """For a private cluster: the external network when the subnet has an internet gateway
    (NHN then requires the labels), else None and no further look-up."""
    if await subnet_internet_gateway(call, subnet_id) is None:
        return None
    return await find_external_network(
        call, "(the subnet's routing table is attached to an internet gateway)"
    )


def external_lookup(call: Call, body: dict[str, Any]) -> Awaitable[tuple[str, str] | None]:
    """What fills the external network labels: the request's values, else a look-up for a
    public cluster, else a look-up only if the private cluster's subnet has an internet
    gateway."""
    if body["external_network_id"] and body["external_subnet_id"]:
        return _given((body["external_network_id"], body["external_subnet_id"]))
    if body["is_public"]:
        return find_external_network(call, "for a public cluster")
    return find_external_network_if_routed(call, body["subnet_id"])


async def _together(*lookups: Awaitable[Any]) -> list[Any]:
    """Run look-ups at once; if one fails, cancel the others and raise that failure."""
    tasks = [asyncio.ensure_future(lookup) for lookup in lookups]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


async def _given(value: T) -> T:
    return value


async def read_versions(call: Call) -> dict[str, Any]:
    answer = await call.native(SERVICE, "GET", "/v1/supports", headers=NKS_HEADERS)
    return versions_from_native(answer.json_object())


async def list_versions(call: Call) -> dict[str, Any]:
    return await read_versions(call)


async def check_kubernetes_version(call: Call, version: str) -> None:
    """A 400 naming the versions NKS offers unless `version` is one of them."""
    creatable = creatable_versions(await read_versions(call))
    if version in creatable:
        return
    if not creatable:
        raise BadRequest(
            f"kubernetes_version: NKS offers no version for new clusters in region "
            f"{call.ctx.region}"
        )
    raise BadRequest(
        f"kubernetes_version: NKS does not create clusters with {version}; use one of: "
        f"{', '.join(creatable)}"
    )


async def create_cluster(call: Call) -> dict[str, Any]:
    body = call.body
    node_image_lookup = _given(body["node_image"]) if body["node_image"] else find_node_image(call)
    _, node_image, external = await _together(
        check_kubernetes_version(call, body["kubernetes_version"]),
        node_image_lookup,
        external_lookup(call, body),
    )
    answer = await call.native(
        SERVICE,
        "POST",
        "/v1/clusters",
        json=to_native(body, node_image=node_image, external=external),
        headers=NKS_HEADERS,
    )
    return created_from_native(answer.json_object(), body)


async def list_nodegroups(call: Call) -> dict[str, Any]:
    answer = await call.native(
        SERVICE,
        "GET",
        "/v1/clusters/{cluster}/nodegroups",
        path={"cluster": call.params["cluster_name"]},
        headers=NKS_HEADERS,
    )
    return nodegroups_from_native(answer.json_object())


async def read_nodegroup(call: Call, cluster: str, nodegroup: str) -> dict[str, Any]:
    """NKS's own `GET /v1/clusters/{cluster}/nodegroups/{nodegroup}` answer (names or uuids)."""
    answer = await call.native(
        SERVICE,
        "GET",
        "/v1/clusters/{cluster}/nodegroups/{nodegroup}",
        path={"cluster": cluster, "nodegroup": nodegroup},
        headers=NKS_HEADERS,
    )
    return answer.json_object()


async def get_nodegroup(call: Call) -> dict[str, Any]:
    native = await read_nodegroup(call, call.params["cluster_name"], call.params["nodegroup_name"])
    return nodegroup_from_native(native)


async def create_nodegroup(call: Call) -> dict[str, Any]:
    image_id = await find_node_image(call)
    answer = await call.native(
        SERVICE,
        "POST",
        "/v1/clusters/{cluster}/nodegroups",
        path={"cluster": call.params["cluster_name"]},
        json=nodegroup_to_native(call.body, image_id=image_id),
        headers=NKS_HEADERS,
    )
    return nodegroup_created_from_native(answer.json_object())


async def delete_nodegroup(call: Call) -> None:
    await call.native(
        SERVICE,
        "DELETE",
        "/v1/clusters/{cluster}/nodegroups/{nodegroup}",
        path={"cluster": call.params["cluster_name"], "nodegroup": call.params["nodegroup_name"]},
        headers=NKS_HEADERS,
    )


async def resize_cluster(call: Call) -> dict[str, Any]:
    # read first: the answer names the cluster, and an unknown one is a 404 before any change
    uuid, name = cluster_identity_from_native(await read_cluster(call, call.params["cluster_name"]))
    answer = await call.native(
        SERVICE,
        "POST",
        "/v1/clusters/{cluster}/actions/resize",
        path={"cluster": uuid},
        json=resize_to_native(call.body),
        headers=NKS_HEADERS,
    )
    return resized_from_native(answer.json_object(), name)


# --- watchers --------------------------------------------------------------------------------


def created_cluster_id(call: Call, payload: Any) -> str:
    """The new cluster's uuid, from what the create route returned, `{"cluster": {"uuid"}}`."""
    return payload["cluster"]["uuid"]


def deleted_cluster_id(call: Call, payload: Any) -> str:
    """The name or uuid of the path (the delete route returns no payload)."""
    return call.params["cluster_name"]


async def poll_created_cluster(call: Call, uuid: str) -> Poll:
    """One look at a new cluster: CREATE_COMPLETE succeeds, any *_FAILED fails, anything else
    is pending.

    The result is exactly what `GET /nks/clusters/{cluster_name}/` answers, the wrapped
    `{"cluster": {...}}`. Upstream errors (a 404 included: the new cluster must exist)
    propagate for the task manager to judge.
    """
    native = await read_cluster(call, uuid)
    status, reason = cluster_state_from_native(native)
    if status == "CREATE_COMPLETE":
        return Poll(PollState.SUCCEEDED, cluster_from_native(native))
    if status.endswith("_FAILED"):
        return Poll(PollState.FAILED, message=reason or f"cluster went to {status}")
    return Poll(PollState.PENDING)


async def poll_deleted_cluster(call: Call, cluster: str) -> Poll:
    """One look at a cluster being deleted: gone (404 or DELETE_COMPLETE) succeeds with no
    result, DELETE_FAILED fails, anything else is pending."""
    try:
        native = await read_cluster(call, cluster)
    except UpstreamHTTPError as exc:
        if exc.upstream_status == 404:
            return Poll(PollState.SUCCEEDED)
        raise
    status, reason = cluster_state_from_native(native)
    if status == "DELETE_COMPLETE":
        return Poll(PollState.SUCCEEDED)
    if status == "DELETE_FAILED":
        return Poll(PollState.FAILED, message=reason or "cluster went to DELETE_FAILED")
    return Poll(PollState.PENDING)


def resized_cluster_id(call: Call, payload: Any) -> str:
    """The resized cluster's uuid, from what the resize route returned."""
    return payload["cluster"]["uuid"]


async def poll_resized_cluster(call: Call, uuid: str) -> Poll:
    """One look at a cluster being resized: UPDATE_COMPLETE with the group at the requested
    size succeeds (result: `{"cluster": {...}}` as the get route shows it), any *_FAILED
    fails, anything else is pending."""
    native = await read_cluster(call, uuid)
    status, reason = cluster_state_from_native(native)
    if status.endswith("_FAILED"):
        return Poll(PollState.FAILED, message=reason or f"cluster went to {status}")
    if status != "UPDATE_COMPLETE":
        return Poll(PollState.PENDING)
    # an UPDATE_COMPLETE of an earlier change until NKS has taken this one up
    group = await read_nodegroup(call, uuid, call.body["nodegroup"])
    if nodegroup_state_from_native(group)[2] != call.body["node_count"]:
        return Poll(PollState.PENDING)
    return Poll(PollState.SUCCEEDED, cluster_from_native(native))


def nodegroup_resource_id(cluster: str, nodegroup: str) -> str:
    """`{cluster}/{nodegroup}`: names or uuids, neither of which can hold a `/`."""
    return f"{cluster}/{nodegroup}"


def _nodegroup_parts(resource_id: str) -> tuple[str, str]:
    cluster, _, nodegroup = resource_id.partition("/")
    return cluster, nodegroup


def created_nodegroup_id(call: Call, payload: Any) -> str:
    """The path's cluster and the new group's uuid (`{"nodegroup": {"uuid"}}`)."""
    return nodegroup_resource_id(call.params["cluster_name"], payload["nodegroup"]["uuid"])


def deleted_nodegroup_id(call: Call, payload: Any) -> str:
    """The path's cluster and node group (the delete route returns no payload)."""
    return nodegroup_resource_id(call.params["cluster_name"], call.params["nodegroup_name"])


async def poll_created_nodegroup(call: Call, resource_id: str) -> Poll:
    """One look at a new node group: CREATE_COMPLETE succeeds (result: `{"nodegroup": {...}}`
    as the get route shows it), any *_FAILED fails, anything else — not found yet included
    (Magnum stores the group after answering) — is pending; other upstream errors
    propagate."""
    try:
        native = await read_nodegroup(call, *_nodegroup_parts(resource_id))
    except UpstreamHTTPError as exc:
        if exc.upstream_status == 404:
            return Poll(PollState.PENDING)
        raise
    status, reason, _ = nodegroup_state_from_native(native)
    if status == "CREATE_COMPLETE":
        return Poll(PollState.SUCCEEDED, nodegroup_from_native(native))
    if status.endswith("_FAILED"):
        return Poll(PollState.FAILED, message=reason or f"node group went to {status}")
    return Poll(PollState.PENDING)


async def poll_deleted_nodegroup(call: Call, resource_id: str) -> Poll:
    """One look at a node group being deleted: gone (404, its cluster's too, or
    DELETE_COMPLETE) succeeds with no result, DELETE_FAILED fails, anything else is
    pending."""
    try:
        native = await read_nodegroup(call, *_nodegroup_parts(resource_id))
    except UpstreamHTTPError as exc:
        if exc.upstream_status == 404:
            return Poll(PollState.SUCCEEDED)
        raise
    status, reason, _ = nodegroup_state_from_native(native)
    if status == "DELETE_COMPLETE":
        return Poll(PollState.SUCCEEDED)
    if status == "DELETE_FAILED":
        return Poll(PollState.FAILED, message=reason or "node group went to DELETE_FAILED")
    return Poll(PollState.PENDING)


@hookimpl
def nhn_proxy_settings() -> dict[str, type[Schema]]:
    return {"kubernetes": KubernetesSettingsSchema}


@hookimpl
def nhn_proxy_demo_examples(demo: DemoAccount) -> dict[type[Schema], dict[str, Any]]:
    # the emulator's demo tenant already has this key pair, so "Try it out" creates a cluster
    return {ClusterCreateSchema: {"keypair_name": demo.keypair_name}}


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    common: dict[str, Any] = {
        "tags": TAGS,
        "needs": NEEDS,
        "regions": tuple(config.section("kubernetes")["regions"]),
        "service_name": "NKS",
    }
    cluster_param = {"cluster_name": CLUSTER_NAME}
    nodegroup_params = {"cluster_name": CLUSTER_NAME, "nodegroup_name": NODEGROUP_NAME}
    return [
        Route(
            "GET",
            "/nks/clusters/",
            list_clusters,
            summary="List Kubernetes clusters",
            description="The project's NKS clusters in the region (NKS `GET /v1/clusters`).",
            response=ClusterListSchema,
            errors=(403,),
            **common,
        ),
        Route(
            "POST",
            "/nks/clusters/create/",
            create_cluster,
            summary="Create a Kubernetes cluster",
            description="Starts creating an NKS cluster (NKS `POST /v1/clusters`); it is then "
            "CREATE_IN_PROGRESS until CREATE_COMPLETE. The node image and the external "
            "network (for a public cluster, or a private one whose subnet has an internet "
            "gateway) are looked up when not given; without `addons` NHN's defaults (calico "
            "and coredns) are installed. With "
            "`Prefer: respond-async` the answer is a task that follows the cluster until "
            "CREATE_COMPLETE (result: the cluster as GET /nks/clusters/{cluster_name}/ shows "
            "it) or CREATE_FAILED.",
            body=ClusterCreateSchema,
            response=ClusterCreatedSchema,
            status=201,
            # 404: NHN knows no such subnet (read for a private cluster) or key pair
            errors=(403, 404, 409),
            operation=CLUSTER_CREATE,
            watcher=Watcher(RESOURCE_TYPE, created_cluster_id, poll_created_cluster),
            **common,
        ),
        Route(
            "GET",
            "/nks/clusters/{cluster_name}/",
            get_cluster,
            summary="Show a Kubernetes cluster",
            description="One NKS cluster by name or UUID (NKS `GET /v1/clusters/{id}`).",
            params=cluster_param,
            response=ClusterAnswerSchema,
            errors=(403, 409),
            **common,
        ),
        Route(
            "GET",
            "/nks/clusters/{cluster_name}/config/",
            get_kubeconfig,
            summary="Get a cluster's kubeconfig",
            description="The kubeconfig YAML of an NKS cluster (NKS "
            "`GET /v1/clusters/{id}/config`). It holds admin credentials: keep it secret.",
            params=cluster_param,
            response=KubeconfigSchema,
            errors=(403, 409),
            **common,
        ),
        Route(
            "DELETE",
            "/nks/clusters/{cluster_name}/",
            delete_cluster,
            summary="Delete a Kubernetes cluster",
            description="Starts deleting an NKS cluster by name or UUID (NKS "
            "`DELETE /v1/clusters/{id}`); it is DELETE_IN_PROGRESS, then gone. With "
            "`Prefer: respond-async` the answer is a task that follows the cluster until it is "
            "gone (result: null) or DELETE_FAILED.",
            params=cluster_param,
            status=204,
            errors=(403, 409),
            operation=CLUSTER_DELETE,
            watcher=Watcher(RESOURCE_TYPE, deleted_cluster_id, poll_deleted_cluster),
            **common,
        ),
        Route(
            "GET",
            "/nks/versions/",
            list_versions,
            summary="List Kubernetes versions",
            description="The Kubernetes versions NKS knows in the region, newest first, and "
            "whether new clusters may use each (NKS `GET /v1/supports`).",
            response=KubernetesVersionListSchema,
            errors=(403,),
            **common,
        ),
        Route(
            "POST",
            "/nks/clusters/{cluster_name}/resize/",
            resize_cluster,
            summary="Resize a node group of a Kubernetes cluster",
            description="Sets the node count of one node group (default: default-worker) "
            "(NKS `POST /v1/clusters/{id}/actions/resize`); the cluster is then "
            "UPDATE_IN_PROGRESS until UPDATE_COMPLETE, and the answer is 202 with the "
            "cluster. With `Prefer: respond-async` the answer is instead a task (also 202) "
            "that follows the cluster until UPDATE_COMPLETE with the group at its new size "
            "(result: the cluster as GET /nks/clusters/{cluster_name}/ shows it) or a "
            "*_FAILED status.",
            params=cluster_param,
            body=ClusterResizeSchema,
            response=ClusterResizedSchema,
            status=202,
            # 400: NKS refuses a size outside the group's bounds or a busy cluster or group
            errors=(403, 409),
            operation=CLUSTER_RESIZE,
            watcher=Watcher(RESOURCE_TYPE, resized_cluster_id, poll_resized_cluster),
            **common,
        ),
        Route(
            "GET",
            "/nks/clusters/{cluster_name}/nodegroups/",
            list_nodegroups,
            summary="List a cluster's node groups",
            description="The node groups of an NKS cluster (NKS "
            "`GET /v1/clusters/{id}/nodegroups`).",
            params=cluster_param,
            response=NodeGroupListSchema,
            errors=(403, 409),
            **common,
        ),
        Route(
            "POST",
            "/nks/clusters/{cluster_name}/nodegroups/create/",
            create_nodegroup,
            summary="Add a node group to a Kubernetes cluster",
            description="Starts creating a node group (NKS "
            "`POST /v1/clusters/{id}/nodegroups`) with the region's NKS node image, looked "
            "up as for cluster create; it is then CREATE_IN_PROGRESS until CREATE_COMPLETE. "
            "NKS adds groups only to a created cluster (409 before). With "
            "`Prefer: respond-async` the answer is a task that follows the group until "
            "CREATE_COMPLETE (result: the group as "
            "GET /nks/clusters/{cluster_name}/nodegroups/{nodegroup_name}/ shows it) or "
            "CREATE_FAILED.",
            params=cluster_param,
            body=NodeGroupCreateSchema,
            response=NodeGroupCreatedSchema,
            status=201,
            errors=(403, 409),
            operation=NODEGROUP_CREATE,
            watcher=Watcher(NODEGROUP_RESOURCE_TYPE, created_nodegroup_id, poll_created_nodegroup),
            **common,
        ),
        Route(
            "GET",
            "/nks/clusters/{cluster_name}/nodegroups/{nodegroup_name}/",
            get_nodegroup,
            summary="Show a node group",
            description="One node group of an NKS cluster by name or UUID (NKS "
            "`GET /v1/clusters/{id}/nodegroups/{id}`).",
            params=nodegroup_params,
            response=NodeGroupAnswerSchema,
            errors=(403, 409),
            **common,
        ),
        Route(
            "DELETE",
            "/nks/clusters/{cluster_name}/nodegroups/{nodegroup_name}/",
            delete_nodegroup,
            summary="Delete a node group",
            description="Starts deleting a node group by name or UUID (NKS "
            "`DELETE /v1/clusters/{id}/nodegroups/{id}`); it is DELETE_IN_PROGRESS, then "
            "gone. NKS does not delete the default-worker group (400). With "
            "`Prefer: respond-async` the answer is a task that follows the group until it "
            "is gone (result: null) or DELETE_FAILED.",
            params=nodegroup_params,
            status=204,
            errors=(403, 409),
            operation=NODEGROUP_DELETE,
            watcher=Watcher(NODEGROUP_RESOURCE_TYPE, deleted_nodegroup_id, poll_deleted_nodegroup),
            **common,
        ),
    ]

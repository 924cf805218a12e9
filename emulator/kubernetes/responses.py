"""Kubernetes' (NKS, Magnum v1) handlers: clusters, kubeconfig, supported versions, node
groups, resize and NKS's add-on catalog.

Creation validates what NHN documents: NKS's cluster name rule, the ``iaas_console``
template, string labels, a supported ``kube_tag``, the add-ons (known names and versions, one
CNI and one kube-dns add-on) and existing VPC, subnet, flavor, key pair and node image of the
caller's tenant — looked up in the other services' state through ``ctx.regional``.

Node groups follow Magnum's API (NKS is Magnum) with NKS's required labels
(``availability_zone``, ``boot_volume_type``, ``boot_volume_size``, ``ca_enable``: NHN's API
guide and its Terraform provider): a group is added only to a created cluster (Magnum's 409
"Cluster API address is not available yet"), its name is unique in the cluster (409
NodeGroupAlreadyExists), create answers 202 with the new group (no status yet, as Magnum's
answer), delete 204; the default worker group cannot be deleted (Magnum's 400 "Deleting a
default nodegroup is not supported."). ``actions/resize`` (202 ``{"uuid"}``) changes one
group's node count (the default worker group when none is named) within its bounds (Magnum's
NGResizeOutBounds, 400) and puts the cluster and the group in UPDATE_IN_PROGRESS; a cluster
not in a ``*_COMPLETE`` status cannot be resized (Magnum's conductor refuses it; the emulator
says so at once, 400) and a group with an operation in progress neither (NgOperationInProgress,
400). Creating or deleting a group leaves the cluster's own status alone (a simplification).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import uuid
from typing import Any

from aiohttp import web

from nhn_proxy.emulator.base import Ctx, empty_response, iso_offset, json_response, new_uuid
from nhn_proxy.emulator.errors import ApiError
from nhn_proxy.emulator.kubernetes.models import (
    ADDON_MIN_K8S,
    ADDON_TYPES,
    ADDONS,
    DEFAULT_ADDONS,
    DEFAULT_WORKER,
    NODE_QUOTA,
    SUPPORTED_EVENTS,
    SUPPORTED_K8S,
    Addon,
    Cluster,
    KubernetesState,
    NodeGroup,
    addon_type_uuid,
    addon_uuid,
)

_REQUIRED_FIELDS = (
    "name",
    "cluster_template_id",
    "keypair",
    "flavor_id",
    "fixed_network",
    "fixed_subnet",
    "node_count",
    "labels",
)
_REQUIRED_LABELS = (
    "kube_tag",
    "availability_zone",
    "node_image",
    "boot_volume_type",
    "boot_volume_size",
    "cert_manager_api",
    "master_lb_floating_ip_enabled",
    "ca_enable",
)
# Labels whose value is an array, not a string (NHN's table).
_ARRAY_LABELS = ("extra_security_groups", "extra_volumes")
# NKS's cluster name rule (user guide, "Create a cluster"; raised from 20 to 32 characters in
# the 2022-11-29 release): at most 32 lowercase letters, digits and '-', starting with a letter
# and ending with a letter or digit, and not in RFC 4122 UUID format.
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
_NAME_RULE = (
    "Cluster names must be at most 32 characters: lowercase letters, digits and '-', "
    "starting with a lowercase letter and ending with a lowercase letter or digit, "
    "and not in UUID format."
)
# Ranges a cluster subnet may not overlap (link-local and NKS internal).
_RESERVED_RANGES = ("169.254.0.0/16", "198.18.0.0/19")
_PLATFORM_VERSION = "1.202511.0"


def _nks(ctx: Ctx) -> KubernetesState:
    state = ctx.regional.kubernetes
    assert state is not None  # the dispatcher refuses regions without NKS
    return state


def _find(ctx: Ctx, id_or_name: str) -> Cluster:
    clusters = _nks(ctx).tenant(ctx.tenant_id).clusters
    if id_or_name in clusters:
        return clusters[id_or_name]
    named = [c for c in clusters.values() if c.name == id_or_name]
    if len(named) > 1:
        raise ApiError(
            409, "Multiple clusters exist with same name. Please use the cluster uuid instead."
        )
    if not named:
        raise ApiError(404, f"Cluster {id_or_name} could not be found.")
    return named[0]


def _links(ctx: Ctx, path: str) -> list[dict[str, str]]:
    return [
        {"href": ctx.url(f"/v1/{path}"), "rel": "self"},
        {"href": ctx.url(f"/{path}"), "rel": "bookmark"},
    ]


def _api_address(ctx: Ctx, cluster: Cluster) -> str:
    return f"https://{cluster.uuid[:8]}-{ctx.region}-k8s.container.cloud.toast.com:6443"


def _updated_at(ctx: Ctx, status: str, phase_started: float) -> str | None:
    """Magnum's ``updated_at``: none while being created, then when the last change began
    (in progress) or ended (complete)."""
    if status == "CREATE_IN_PROGRESS":
        return None
    if status.endswith("_COMPLETE"):
        return iso_offset(phase_started + _nks(ctx).delay)
    return iso_offset(phase_started)


def _timestamps(ctx: Ctx, cluster: Cluster) -> tuple[str, str | None]:
    status = _nks(ctx).status(cluster, ctx.now)
    return iso_offset(cluster.created), _updated_at(ctx, status, cluster.phase_started)


def _health(ctx: Ctx, cluster: Cluster) -> tuple[str | None, dict[str, str]]:
    if not _nks(ctx).ready(cluster, ctx.now):
        return None, {}
    reasons = {"api": "ok"}
    for group in cluster.nodegroups.values():
        for index in range(group.node_count):
            node = f"{cluster.name}-{group.name[:9]}-{group.stack_id[:12]}-node-{index}"
            reasons[f"{node}.Ready"] = "True"
    return "HEALTHY", reasons


def cluster_summary(ctx: Ctx, cluster: Cluster) -> dict[str, Any]:
    health, reasons = _health(ctx, cluster)
    return {
        "uuid": cluster.uuid,
        "name": cluster.name,
        "cluster_template_id": _nks(ctx).template_id,
        "create_timeout": cluster.create_timeout,
        "docker_volume_size": None,
        "flavor_id": cluster.flavor_id,
        "keypair": cluster.keypair,
        "node_count": cluster.node_count,
        "stack_id": cluster.stack_id,
        "status": _nks(ctx).status(cluster, ctx.now),
        "status_reason": None,
        "health_status": health,
        "health_status_reason": reasons,
        "labels": dict(cluster.labels),
        "links": _links(ctx, f"clusters/{cluster.uuid}"),
    }


def cluster_detail(ctx: Ctx, cluster: Cluster) -> dict[str, Any]:
    view = cluster_summary(ctx, cluster)
    created, updated = _timestamps(ctx, cluster)
    complete = _nks(ctx).ready(cluster, ctx.now)
    view.update(
        {
            "api_address": _api_address(ctx, cluster) if complete else None,
            "coe_version": cluster.labels.get("kube_tag"),
            "container_version": "1.7.24",
            "created_at": created,
            "updated_at": updated,
            "fixed_network": cluster.fixed_network,
            "fixed_subnet": cluster.fixed_subnet,
            "floating_ip_enabled": False,
            "node_addresses": list(cluster.node_ips) if complete else [],
            "project_id": cluster.tenant_id,
            "user_id": cluster.user_id,
            "master_count": 1,
            "discovery_url": None,
        }
    )
    return view


# -- create validation --------------------------------------------------------------------------


def _invalid(field_name: str, value: Any, reason: str) -> ApiError:
    return ApiError(
        400, f"Invalid input for field/attribute {field_name}. Value: {value!r}. {reason}"
    )


def _uuid_like(value: str) -> bool:
    """Whether Magnum (oslo's ``is_uuid_like``) would read ``value`` as a UUID rather than a
    name: any spelling of one, with or without hyphens (32 hex digits fit in 32 characters)."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.hex == value.replace("-", "").lower()


def _check_name(name: Any, rule: str = _NAME_RULE) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or _uuid_like(name):
        raise _invalid("name", name, rule)
    return name


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _addon_options(addon: Addon, options: Any) -> dict[str, Any]:
    """The options of one requested add-on checked against its ``option_schemas``, with the
    defaults of the options not given."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise _invalid(f"addons.{addon.name}.options", options, "Must be an object.")
    schemas = {option.name: option for option in addon.options}
    for key, value in options.items():
        schema = schemas.get(key)
        if schema is None:
            raise ApiError(400, f"Add-on {addon.name} has no option {key!r}.")
        if schema.data_type == "SELECT" and value not in schema.choices:
            raise ApiError(
                400,
                f"Option {key} of add-on {addon.name} must be one of "
                f"{', '.join(schema.choices)}; got {value!r}.",
            )
        integer = isinstance(value, int) and not isinstance(value, bool)
        if schema.data_type == "INTEGER" and not integer:
            raise ApiError(400, f"Option {key} of add-on {addon.name} must be an integer.")
        if schema.data_type == "STRING" and not isinstance(value, str):
            raise ApiError(400, f"Option {key} of add-on {addon.name} must be a string.")
    checked = dict(options)
    for schema in addon.options:
        if schema.name in checked:
            continue
        if schema.mandatory:
            raise ApiError(400, f"Option {schema.name} of add-on {addon.name} is required.")
        if schema.default is not None:
            checked[schema.name] = schema.default
    return checked


def _validate_addons(addons: Any, kube_tag: str) -> list[dict[str, Any]]:
    """``addons`` as NKS checks it: optional (NHN's API guide), but a given list names known
    add-ons in supported versions and holds one add-on of each mandatory type (a CNI and
    kube-dns). Without it the cluster gets NHN's default pair."""
    if addons is None:
        return [dict(addon, options=dict(addon["options"])) for addon in DEFAULT_ADDONS]
    if not isinstance(addons, list) or not all(
        isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("version"), str)
        for a in addons
    ):
        raise _invalid("addons", addons, "Must be a list of {name, version, options} objects.")
    checked: list[dict[str, Any]] = []
    types: set[str] = set()
    for requested in addons:
        name, version = requested["name"], requested["version"]
        addon = ADDONS.get(name)
        if addon is None:
            raise ApiError(
                400,
                f"Add-on {name} could not be found. Available add-ons: {', '.join(ADDONS)}.",
            )
        if version not in addon.versions:
            raise ApiError(
                400,
                f"Version {version} of add-on {name} could not be found. "
                f"Available versions: {', '.join(addon.versions)}.",
            )
        if addon.type in types:
            raise ApiError(400, f"Only one add-on of type {addon.type} may be installed.")
        if _version_key(kube_tag) < _version_key(ADDON_MIN_K8S):
            raise ApiError(
                400, f"Add-on {name} {version} needs Kubernetes {ADDON_MIN_K8S} or later."
            )
        types.add(addon.type)
        options = _addon_options(addon, requested.get("options"))
        checked.append({"name": name, "version": version, "options": options})
    for type_name, mandatory in ADDON_TYPES.items():
        if mandatory and type_name not in types:
            offered = ", ".join(a.name for a in ADDONS.values() if a.type == type_name)
            raise ApiError(400, f"An add-on of type {type_name} is required ({offered}).")
    return checked


def _validate_labels(ctx: Ctx, labels: Any) -> dict[str, Any]:
    if not isinstance(labels, dict):
        raise _invalid("labels", labels, "Wrong type. Expected 'dict'")
    for key in _REQUIRED_LABELS:
        if key not in labels:
            raise ApiError(400, f"Label '{key}' is required.")
    for key, value in labels.items():
        if key in _ARRAY_LABELS:
            if not isinstance(value, list):
                raise _invalid(f"labels.{key}", value, "Must be an array")
        elif not isinstance(value, str):
            raise _invalid(f"labels.{key}", value, "Label values must be strings")
    kube_tag = labels["kube_tag"]
    if SUPPORTED_K8S.get(kube_tag) is not True:
        raise ApiError(
            400,
            f"Kubernetes version {kube_tag} is not supported for new clusters. "
            f"Supported: {', '.join(v for v, ok in SUPPORTED_K8S.items() if ok)}.",
        )
    if labels["availability_zone"] not in ctx.regional.compute.zones:
        raise ApiError(400, f"Availability zone {labels['availability_zone']} is not available.")
    if labels["boot_volume_type"] not in ("General HDD", "General SSD"):
        raise ApiError(400, f"Volume type {labels['boot_volume_type']} could not be found.")
    if (
        not labels["boot_volume_size"].isdigit()
        or not 10 <= int(labels["boot_volume_size"]) <= 2000
    ):
        raise _invalid(
            "labels.boot_volume_size", labels["boot_volume_size"], "Must be 10..2000 (GB)"
        )
    if labels["cert_manager_api"] != "True":
        raise _invalid("labels.cert_manager_api", labels["cert_manager_api"], "Must be 'True'")
    for key in ("master_lb_floating_ip_enabled", "ca_enable"):
        if labels[key].lower() not in ("true", "false"):
            raise _invalid(f"labels.{key}", labels[key], "Must be 'True' or 'False'")
    image = ctx.regional.image.find(ctx.tenant_id, labels["node_image"])
    if image is None or image.properties.get("nhncloud_allow_nks_cpu_flavor") != "true":
        raise ApiError(400, f"Image {labels['node_image']} is not an NKS node image.")
    network = ctx.regional.network
    if labels["master_lb_floating_ip_enabled"].lower() == "true" or any(
        key in labels for key in ("external_network_id", "external_subnet_id_list")
    ):
        external_id = labels.get("external_network_id")
        subnet_list = labels.get("external_subnet_id_list")
        if not external_id or not subnet_list:
            raise ApiError(
                400,
                "external_network_id and external_subnet_id_list are required when "
                "master_lb_floating_ip_enabled is True.",
            )
        if external_id != network.public.id:
            raise ApiError(400, f"External network {external_id} could not be found.")
        for subnet_id in subnet_list.split(":"):
            if subnet_id not in network.public_subnets:
                raise ApiError(400, f"External subnet {subnet_id} could not be found.")
    return dict(labels)


def _enriched_labels(
    ctx: Ctx, labels: dict[str, Any], cluster_id: str, flavor_type: str
) -> dict[str, Any]:
    image = ctx.regional.image.find(ctx.tenant_id, labels["node_image"])
    assert image is not None
    defaults = {
        "clusterautoscale": "nodegroupfeature",
        "etcd_volume_size": "10",
        "flavor_type": flavor_type,
        "hypervisor_type": "qemu",
        "login_username": image.properties.get("login_username", ""),
        "os_arch": "amd64",
        "os_distro": image.properties.get("os_distro", ""),
        "os_type": "linux",
        "os_version": image.properties.get("os_version", ""),
        "project_domain": "NORMAL",
        "server_group_meta": f"k8s_{cluster_id}_{new_uuid()}",
        "service_cluster_ip_range": "10.254.0.0/16",
        "pods_network_cidr": "10.100.0.0/16",
        "pods_network_subnet": "24",
        "strict_sg_rules": "False",
        "kube_version_status": "LATEST"
        if labels["kube_tag"] == max(SUPPORTED_K8S)
        else "NEED_UPGRADE",
        "platform_version": _PLATFORM_VERSION,
    }
    return {**defaults, **labels}


def _check_cidrs(subnet_cidr: str, labels: dict[str, Any]) -> None:
    subnet = ipaddress.IPv4Network(subnet_cidr)
    if subnet.prefixlen > 24:
        raise ApiError(
            400, f"Subnet {subnet_cidr} is too small for a cluster: it must be /24 or larger."
        )
    others = {
        "pods_network_cidr": labels.get("pods_network_cidr", "10.100.0.0/16"),
        "service_cluster_ip_range": labels.get("service_cluster_ip_range", "10.254.0.0/16"),
    }
    parsed = {}
    for key, value in others.items():
        try:
            parsed[key] = ipaddress.IPv4Network(value)
        except ValueError:
            raise _invalid(f"labels.{key}", value, "Must be a CIDR") from None
    for name, reserved in (
        *parsed.items(),
        *((r, ipaddress.IPv4Network(r)) for r in _RESERVED_RANGES),
    ):
        if subnet.overlaps(reserved):
            raise ApiError(400, f"Subnet {subnet_cidr} overlaps {name} ({reserved}).")
    if parsed["pods_network_cidr"].overlaps(parsed["service_cluster_ip_range"]):
        raise ApiError(400, "pods_network_cidr overlaps service_cluster_ip_range.")


def _fake_pem_b64(kind: str) -> str:
    body = base64.b64encode(secrets.token_bytes(768)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return base64.b64encode(
        f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n".encode()
    ).decode()


async def create_cluster(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object()
    for key in _REQUIRED_FIELDS:
        if body.get(key) is None:
            raise _invalid(key, None, "Mandatory field missing.")
    name = _check_name(body["name"])
    template = body["cluster_template_id"]
    if template != "iaas_console":
        # NKS only accepts the literal "iaas_console" template.
        raise ApiError(400, f"ClusterTemplate {template} could not be found.")
    node_count = body["node_count"]
    if isinstance(node_count, str) and node_count.isdigit():
        node_count = int(node_count)
    if isinstance(node_count, bool) or not isinstance(node_count, int) or not 1 <= node_count <= 10:
        raise _invalid("node_count", body["node_count"], "Must be an integer from 1 to 10.")
    create_timeout = body.get("create_timeout", 60)
    if (
        isinstance(create_timeout, bool)
        or not isinstance(create_timeout, int)
        or create_timeout < 0
    ):
        raise _invalid("create_timeout", create_timeout, "Must be a non-negative integer.")
    for key in ("keypair", "flavor_id", "fixed_network", "fixed_subnet"):
        if not isinstance(body[key], str):
            raise _invalid(key, body[key], "Wrong type. Expected 'str'")
    labels = _validate_labels(ctx, body["labels"])
    addons = _validate_addons(body.get("addons"), labels["kube_tag"])

    nks = _nks(ctx)
    data = nks.tenant(ctx.tenant_id)
    if any(c.name == name for c in data.clusters.values()):
        raise ApiError(409, f"Cluster with name {name} already exists.")
    network = ctx.regional.network
    vpc = network.tenant(ctx.tenant_id).vpcs.get(body["fixed_network"])
    if vpc is None:
        raise ApiError(400, f"Fixed network {body['fixed_network']} could not be found.")
    subnet = network.tenant(ctx.tenant_id).subnets.get(body["fixed_subnet"])
    if subnet is None or subnet.vpc_id != vpc.id:
        raise ApiError(400, f"Fixed subnet {body['fixed_subnet']} could not be found.")
    _check_cidrs(subnet.cidr, labels)
    if network.internet_gateway_of(subnet) is not None and not (
        labels.get("external_network_id") and labels.get("external_subnet_id_list")
    ):
        # NHN's API guide: the two labels "must be set when a router associated with a VPC
        # subnet is attached to the internet gateway", public API endpoint or not.
        raise ApiError(
            400,
            "external_network_id and external_subnet_id_list are required when the router "
            f"of subnet {subnet.id} is attached to an internet gateway.",
        )
    flavor = ctx.regional.compute.flavors.get(body["flavor_id"])
    if flavor is None:
        raise ApiError(400, f"Unable to find flavor {body['flavor_id']}.")
    if body["keypair"] not in ctx.regional.compute.tenant(ctx.tenant_id).keypairs:
        # Magnum's KeyPairNotFound is a 404.
        raise ApiError(404, f"Unable to find keypair {body['keypair']}.")
    if subnet.available < node_count:
        raise ApiError(409, f"No more IP addresses available on subnet {subnet.id}.")

    assert ctx.token is not None
    cluster_id = new_uuid()
    cluster = Cluster(
        uuid=cluster_id,
        name=name,
        tenant_id=ctx.tenant_id,
        user_id=ctx.token.user_id,
        flavor_id=flavor.id,
        keypair=body["keypair"],
        fixed_network=vpc.id,
        fixed_subnet=subnet.id,
        labels=_enriched_labels(ctx, labels, cluster_id, flavor.flavor_type),
        addons=addons,
        create_timeout=create_timeout,
        created=ctx.now,
        stack_id=new_uuid(),
        ca_data=_fake_pem_b64("CERTIFICATE"),
        client_cert=_fake_pem_b64("CERTIFICATE"),
        client_key=_fake_pem_b64("RSA PRIVATE KEY"),
        phase="create",
        phase_started=ctx.now,
    )
    default = NodeGroup(
        uuid=new_uuid(),
        id=nks.next_nodegroup_id(),
        name=DEFAULT_WORKER,
        flavor_id=flavor.id,
        image_id=labels["node_image"],
        node_count=node_count,
        labels={k: cluster.labels[k] for k in _NODEGROUP_LABELS if k in cluster.labels},
        node_ips=[subnet.allocate() for _ in range(node_count)],
        created=ctx.now,
        stack_id=new_uuid(),
        default=True,
        max_node_count=NODE_QUOTA,
        phase="create",
        phase_started=ctx.now,
    )
    cluster.nodegroups[default.uuid] = default
    data.clusters[cluster.uuid] = cluster
    return json_response({"uuid": cluster.uuid}, status=202)


# -- clusters: read / delete / config ------------------------------------------------------------


async def list_clusters(ctx: Ctx) -> web.StreamResponse:
    clusters = _nks(ctx).tenant(ctx.tenant_id).clusters.values()
    return json_response({"clusters": [cluster_summary(ctx, c) for c in clusters]})


async def get_cluster(ctx: Ctx) -> web.StreamResponse:
    return json_response(cluster_detail(ctx, _find(ctx, ctx.match["cluster"])))


async def delete_cluster(ctx: Ctx) -> web.StreamResponse:
    cluster = _find(ctx, ctx.match["cluster"])
    if cluster.phase == "delete":
        raise ApiError(
            409, f"Cluster {cluster.uuid} is already being deleted (DELETE_IN_PROGRESS)."
        )
    # Deleting during CREATE_IN_PROGRESS is allowed: it aborts the creation, as in Magnum.
    cluster.phase = "delete"
    cluster.phase_started = ctx.now
    return empty_response(204)


def kubeconfig(ctx: Ctx, cluster: Cluster) -> str:
    return (
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {cluster.ca_data}\n"
        f"    server: {_api_address(ctx, cluster)}\n"
        f'  name: "{cluster.name}"\n'
        "contexts:\n"
        "- context:\n"
        f'    cluster: "{cluster.name}"\n'
        "    user: admin\n"
        "  name: default\n"
        "current-context: default\n"
        "kind: Config\n"
        "preferences: {}\n"
        "users:\n"
        "- name: admin\n"
        "  user:\n"
        f"    client-certificate-data: {cluster.client_cert}\n"
        f"    client-key-data: {cluster.client_key}\n"
    )


async def get_config(ctx: Ctx) -> web.StreamResponse:
    cluster = _find(ctx, ctx.match["cluster"])
    status = _nks(ctx).status(cluster, ctx.now)
    if not _nks(ctx).ready(cluster, ctx.now):
        # What NKS answers before CREATE_COMPLETE is unconfirmed; a state conflict fits best.
        raise ApiError(
            409,
            f"Cluster {cluster.uuid} is in status {status}; the kubeconfig is "
            "available once it is CREATE_COMPLETE.",
        )
    return json_response({"config": kubeconfig(ctx, cluster)})


async def supports(ctx: Ctx) -> web.StreamResponse:
    return json_response(
        {"supported_k8s": dict(SUPPORTED_K8S), "supported_event_type": dict(SUPPORTED_EVENTS)}
    )


# -- add-on catalog (NHN's "Add-on Management": types and add-ons NKS offers) -------------------


def _addon_type_view(type_name: str) -> dict[str, Any]:
    return {
        "uuid": addon_type_uuid(type_name),
        "name": type_name,
        "mandatory": ADDON_TYPES[type_name],
    }


def _addon_view(addon: Addon, version: str) -> dict[str, Any]:
    return {
        "uuid": addon_uuid(addon.name, version),
        "type": addon.type,
        "version": version,
        "name": addon.name,
        "option_schemas": [
            {
                "name": option.name,
                "data_type": option.data_type,
                "default": option.default,
                "updatable": option.updatable,
                "mandatory": option.mandatory,
                "choices": list(option.choices),
            }
            for option in addon.options
        ],
        "k8s_min_version": ADDON_MIN_K8S,
        "k8s_max_version": None,
        "description": addon.description,
    }


async def list_addon_types(ctx: Ctx) -> web.StreamResponse:
    return json_response({"addon_types": [_addon_type_view(name) for name in ADDON_TYPES]})


async def get_addon_type(ctx: Ctx) -> web.StreamResponse:
    wanted = ctx.match["addon_type"]
    for name in ADDON_TYPES:
        if wanted in (name, addon_type_uuid(name)):
            return json_response(_addon_type_view(name))
    raise ApiError(404, f"Addon type {wanted} could not be found.")


async def list_addons(ctx: Ctx) -> web.StreamResponse:
    views = [_addon_view(addon, version) for addon in ADDONS.values() for version in addon.versions]
    return json_response({"addons": views})


async def get_addon(ctx: Ctx) -> web.StreamResponse:
    wanted = ctx.match["addon"]
    for addon in ADDONS.values():
        for version in addon.versions:
            if wanted == addon_uuid(addon.name, version):
                return json_response(_addon_view(addon, version))
    raise ApiError(404, f"Addon {wanted} could not be found.")


# -- node groups ---------------------------------------------------------------------------------

# The labels a node group shows (NHN's "View Node Group" example keys).
_NODEGROUP_LABELS = (
    "availability_zone",
    "boot_volume_size",
    "boot_volume_type",
    "ca_enable",
    "clusterautoscale",
    "kube_tag",
    "node_image",
    "platform_version",
)
_REQUIRED_NODEGROUP_LABELS = (
    "availability_zone",
    "boot_volume_type",
    "boot_volume_size",
    "ca_enable",
)
# What NKS fills in a new group's labels (NKS API guide, "Create Node Group" answer: ca_*,
# clusterautoscale and user_script_v2 defaults).
_NODEGROUP_LABEL_DEFAULTS = {
    "ca_max_node_count": "10",
    "ca_min_node_count": "1",
    "ca_pod_replicas": "1",
    "ca_scale_down_delay_after_add": "10",
    "ca_scale_down_enable": "true",
    "ca_scale_down_unneeded_time": "10",
    "ca_scale_down_util_thresh": "50",
    "clusterautoscale": "nodegroupfeature",
    "user_script_v2": "",
}
_NODEGROUP_NAME_RULE = (
    "Node group names must be at most 32 characters: lowercase letters, digits and '-', "
    "starting with a lowercase letter and ending with a lowercase letter or digit, "
    "and not in UUID format."
)


def _find_nodegroup(cluster: Cluster, wanted: str) -> NodeGroup:
    group = cluster.find_nodegroup(wanted)
    if group is None:
        raise ApiError(404, f"Nodegroup {wanted} could not be found.")
    return group


def nodegroup_summary(ctx: Ctx, cluster: Cluster, group: NodeGroup) -> dict[str, Any]:
    return {
        "uuid": group.uuid,
        "name": group.name,
        "flavor_id": group.flavor_id,
        "image_id": group.image_id,
        # NHN's example shows is_default false even for default-worker.
        "is_default": False,
        "max_node_count": group.max_node_count,
        "min_node_count": group.min_node_count,
        "node_count": group.node_count,
        "role": "worker",
        "stack_id": group.stack_id,
        "status": _nks(ctx).nodegroup_status(cluster, group, ctx.now),
    }


def _status_reason(status: str) -> str | None:
    if status.endswith("_COMPLETE"):
        return f"Stack {status.removesuffix('_COMPLETE')} completed successfully"
    return None


def nodegroup_detail(ctx: Ctx, cluster: Cluster, group: NodeGroup) -> dict[str, Any]:
    view = nodegroup_summary(ctx, cluster, group)
    status = view["status"]
    built = status not in ("CREATE_IN_PROGRESS",) and _nks(ctx).ready(cluster, ctx.now)
    view.update(
        {
            "id": group.id,
            "cluster_id": cluster.uuid,
            "project_id": cluster.tenant_id,
            "labels": dict(group.labels),
            "node_addresses": list(group.node_ips) if built else [],
            "status_reason": _status_reason(status),
            "docker_volume_size": None,
            "version": cluster.labels.get("kube_tag"),
            "links": _links(ctx, f"clusters/{cluster.uuid}/nodegroups/{group.uuid}"),
            "created_at": iso_offset(group.created),
            "updated_at": _updated_at(ctx, status, group.phase_started),
        }
    )
    return view


async def list_nodegroups(ctx: Ctx) -> web.StreamResponse:
    cluster = _find(ctx, ctx.match["cluster"])
    groups = [nodegroup_summary(ctx, cluster, group) for group in cluster.nodegroups.values()]
    return json_response({"nodegroups": groups})


async def get_nodegroup(ctx: Ctx) -> web.StreamResponse:
    cluster = _find(ctx, ctx.match["cluster"])
    group = _find_nodegroup(cluster, ctx.match["nodegroup"])
    return json_response(nodegroup_detail(ctx, cluster, group))


def _node_count(value: Any, *, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("node_count", value, "Wrong type. Expected 'int'")
    return value


def _validate_nodegroup_labels(ctx: Ctx, labels: Any) -> dict[str, Any]:
    if not isinstance(labels, dict):
        raise _invalid("labels", labels, "Wrong type. Expected 'dict'")
    for key in _REQUIRED_NODEGROUP_LABELS:
        if key not in labels:
            raise ApiError(400, f"Label '{key}' is required.")
    for key, value in labels.items():
        if key in _ARRAY_LABELS:
            if not isinstance(value, list):
                raise _invalid(f"labels.{key}", value, "Must be an array")
        elif not isinstance(value, str):
            raise _invalid(f"labels.{key}", value, "Label values must be strings")
    if labels["availability_zone"] not in ctx.regional.compute.zones:
        raise ApiError(400, f"Availability zone {labels['availability_zone']} is not available.")
    if labels["boot_volume_type"] not in ("General HDD", "General SSD"):
        raise ApiError(400, f"Volume type {labels['boot_volume_type']} could not be found.")
    size = labels["boot_volume_size"]
    if not size.isdigit() or not 10 <= int(size) <= 2000:
        raise _invalid("labels.boot_volume_size", size, "Must be 10..2000 (GB)")
    if labels["ca_enable"].lower() not in ("true", "false"):
        raise _invalid("labels.ca_enable", labels["ca_enable"], "Must be 'True' or 'False'")
    return dict(labels)


async def create_nodegroup(ctx: Ctx) -> web.StreamResponse:
    cluster = _find(ctx, ctx.match["cluster"])
    body = await ctx.json_object()
    for key in ("name", "flavor_id", "image_id", "labels"):
        if body.get(key) is None:
            raise _invalid(key, None, "Mandatory field missing.")
    name = _check_name(body["name"], _NODEGROUP_NAME_RULE)
    node_count = _node_count(body.get("node_count"), default=1)
    if not 1 <= node_count <= NODE_QUOTA:
        raise _invalid("node_count", node_count, f"Must be an integer from 1 to {NODE_QUOTA}.")
    for key in ("flavor_id", "image_id"):
        if not isinstance(body[key], str):
            raise _invalid(key, body[key], "Wrong type. Expected 'str'")
    if body.get("role", "worker") != "worker":
        raise ApiError(400, "Creating master nodegroups is currently not supported.")
    labels = _validate_nodegroup_labels(ctx, body["labels"])

    nks = _nks(ctx)
    if not nks.ready(cluster, ctx.now):
        raise ApiError(409, "Cluster API address is not available yet")
    if cluster.find_nodegroup(name) is not None:
        raise ApiError(
            409, f"A node group with name {name} already exists in the cluster {cluster.name}."
        )
    flavor = ctx.regional.compute.flavors.get(body["flavor_id"])
    if flavor is None:
        raise ApiError(400, f"Unable to find flavor {body['flavor_id']}.")
    image = ctx.regional.image.find(ctx.tenant_id, body["image_id"])
    if image is None or image.properties.get("nhncloud_allow_nks_cpu_flavor") != "true":
        raise ApiError(400, f"Image {body['image_id']} is not an NKS node image.")
    subnet = ctx.regional.network.find_subnet(ctx.tenant_id, cluster.fixed_subnet)
    if subnet is None or subnet.available < node_count:
        raise ApiError(409, f"No more IP addresses available on subnet {cluster.fixed_subnet}.")

    group = NodeGroup(
        uuid=new_uuid(),
        id=nks.next_nodegroup_id(),
        name=name,
        flavor_id=flavor.id,
        image_id=image.id,
        node_count=node_count,
        labels={
            **_NODEGROUP_LABEL_DEFAULTS,
            **labels,
            "kube_tag": cluster.labels["kube_tag"],
            "node_image": image.id,
            "platform_version": _PLATFORM_VERSION,
        },
        node_ips=[subnet.allocate() for _ in range(node_count)],
        created=ctx.now,
        stack_id=new_uuid(),
        phase="create",
        phase_started=ctx.now,
    )
    cluster.nodegroups[group.uuid] = group
    # Magnum answers with the new group as it was asked for: no status yet
    answer = {
        "cluster_id": cluster.uuid,
        "flavor_id": group.flavor_id,
        "image_id": group.image_id,
        "labels": dict(group.labels),
        "links": _links(ctx, f"clusters/{cluster.uuid}/nodegroups/{group.uuid}"),
        "max_node_count": group.max_node_count,
        "min_node_count": group.min_node_count,
        "name": group.name,
        "node_count": group.node_count,
        "project_id": cluster.tenant_id,
        "role": "worker",
        "uuid": group.uuid,
    }
    return json_response(answer, status=202)


async def delete_nodegroup(ctx: Ctx) -> web.StreamResponse:
    cluster = _find(ctx, ctx.match["cluster"])
    group = _find_nodegroup(cluster, ctx.match["nodegroup"])
    if group.default:
        raise ApiError(400, "Deleting a default nodegroup is not supported.")
    if _nks(ctx).nodegroup_status(cluster, group, ctx.now) == "DELETE_IN_PROGRESS":
        raise ApiError(400, f"Nodegroup {group.name} already has an operation in progress.")
    group.phase = "delete"
    group.phase_started = ctx.now
    return empty_response(204)


async def resize_cluster(ctx: Ctx) -> web.StreamResponse:
    """``POST /v1/clusters/{id}/actions/resize``: ``node_count`` (required), ``nodegroup``
    (name or uuid; the default worker group when left out) and ``nodes_to_remove``
    (accepted, not acted on: the emulator's nodes have no ids)."""
    cluster = _find(ctx, ctx.match["cluster"])
    body = await ctx.json_object()
    if body.get("node_count") is None:
        raise _invalid("node_count", None, "Mandatory field missing.")
    node_count = _node_count(body["node_count"])
    wanted = body.get("nodegroup")
    if wanted is not None and not isinstance(wanted, str):
        raise _invalid("nodegroup", wanted, "Wrong type. Expected 'str'")
    removed = body.get("nodes_to_remove")
    if removed is not None and (
        not isinstance(removed, list) or not all(isinstance(n, str) for n in removed)
    ):
        raise _invalid("nodes_to_remove", removed, "Must be a list of node uuids.")
    nks = _nks(ctx)
    status = nks.status(cluster, ctx.now)
    if not status.endswith("_COMPLETE"):
        raise ApiError(400, f'Resizing a cluster when status is "{status}" is not supported.')
    if wanted:
        group = _find_nodegroup(cluster, wanted)
    else:
        group = next(g for g in cluster.nodegroups.values() if g.default)
    if nks.nodegroup_status(cluster, group, ctx.now).endswith("_IN_PROGRESS"):
        raise ApiError(400, f"Nodegroup {group.name} already has an operation in progress.")
    highest = group.max_node_count or NODE_QUOTA
    if not group.min_node_count <= node_count <= highest:
        raise ApiError(
            400,
            f"Resizing {group.name} outside the allowed range: min_node_count = "
            f"{group.min_node_count}, max_node_count = {highest}",
        )
    subnet = ctx.regional.network.find_subnet(ctx.tenant_id, cluster.fixed_subnet)
    grow = node_count - group.node_count
    if grow > 0:
        if subnet is None or subnet.available < grow:
            raise ApiError(409, f"No more IP addresses available on subnet {cluster.fixed_subnet}.")
        group.node_ips.extend(subnet.allocate() for _ in range(grow))
    elif grow < 0:
        for address in group.node_ips[grow:]:
            if subnet is not None:
                subnet.release(address)
        del group.node_ips[grow:]
    group.node_count = node_count
    group.phase = cluster.phase = "update"
    group.phase_started = cluster.phase_started = ctx.now
    return json_response({"uuid": cluster.uuid}, status=202)


# -- version discovery (no token: Magnum's public routes are / and /v1) -----------------------

# Magnum's microversion range (container-infra 1.1 to 1.11, node groups included).
_MIN_VERSION = "1.1"
_MAX_VERSION = "1.11"


async def list_versions(ctx: Ctx) -> web.StreamResponse:
    version = {
        "id": "v1",
        "links": [{"href": ctx.url("/v1/"), "rel": "self"}],
        "status": "CURRENT",
        "max_version": _MAX_VERSION,
        "min_version": _MIN_VERSION,
    }
    return json_response(
        {
            "versions": [version],
            "name": "OpenStack Magnum API",
            "description": "Magnum is an OpenStack project which aims to provide container "
            "cluster management.",
        }
    )


async def show_v1(ctx: Ctx) -> web.StreamResponse:
    """The v1 document; of Magnum's collections only the emulated ``clusters`` is linked."""
    body = {
        "id": "v1",
        "links": [
            {"href": ctx.url("/v1/"), "rel": "self"},
            {
                "href": "http://docs.openstack.org/developer/magnum/dev/api-spec-v1.html",
                "rel": "describedby",
                "type": "text/html",
            },
        ],
        "media_types": [
            {"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}
        ],
        "clusters": [
            {"href": ctx.url("/v1/clusters/"), "rel": "self"},
            {"href": ctx.url("/clusters/"), "rel": "bookmark"},
        ],
    }
    headers = {
        "OpenStack-API-Minimum-Version": f"container-infra {_MIN_VERSION}",
        "OpenStack-API-Maximum-Version": f"container-infra {_MAX_VERSION}",
    }
    return json_response(body, headers=headers)

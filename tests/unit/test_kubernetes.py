"""NKS plugin: translation functions and the routes with NHN (NKS, image, network) mocked."""

from __future__ import annotations

import pytest
from yarl import URL

from nhn_proxy.app import create_app
from nhn_proxy.context import NhnContext
from nhn_proxy.plugin import Poll, PollState, UpstreamBadResponse, UpstreamHTTPError
from nhn_proxy.plugins.kubernetes import (
    ClusterCreateSchema,
    choose_node_image,
    cluster_from_native,
    clusters_from_native,
    config_from_native,
    creatable_versions,
    created_from_native,
    created_nodegroup_id,
    deleted_nodegroup_id,
    external_network_from_native,
    images_from_native,
    internet_gateway_from_native,
    nhn_proxy_demo_examples,
    nodegroup_created_from_native,
    nodegroup_from_native,
    nodegroup_to_native,
    nodegroups_from_native,
    poll_created_nodegroup,
    poll_deleted_nodegroup,
    poll_resized_cluster,
    resize_to_native,
    resized_cluster_id,
    resized_from_native,
    to_native,
    versions_from_native,
)
from nhn_proxy.routing import Call, RouteEnvironment
from nhn_proxy.settings import load_settings
from nhn_proxy.upstream import Upstream
from tests.conftest import DEMO, IMAGE_KR2, KUBERNETES_KR2, NETWORK_KR2, TOKEN, network_headers

CLUSTER_UUID = "2b778d83-8b67-45b1-920e-b0c5ad5c2f30"
NEW_UUID = "5801ef8a-3760-4858-b467-fc4c1201241d"
VPC = "eb212079-b6ec-430c-ba57-14280a457bcb"
SUBNET = "4fdf5b80-3d35-43f5-a5c1-010a3b6c8e90"
FLAVOR = "6ef27f21-c774-4c0e-84ff-7dd4a762571f"
EXTERNAL_NETWORK = "b04b1c31-f2e9-4ae0-a264-02b7d61ad618"
EXTERNAL_SUBNETS = ("6b3f7d6d-df61-4345-beb5-1621fd274659", "f22ae5cb-5e52-4704-9c31-83dc3826efb7")
UBUNTU_NKS_IMAGE = "1c868787-6207-4ff2-a1e7-ae1331d6829b"
ROCKY_NKS_IMAGE = "9a1e6c27-62d1-4bb2-a0a9-61fd6c6b3f21"
OLD_UBUNTU_NKS_IMAGE = "f462a2a5-ba24-46d6-b7a1-9a9febcd3cfc"

CLUSTERS_URL = f"{KUBERNETES_KR2}/v1/clusters"
SUPPORTS_URL = f"{KUBERNETES_KR2}/v1/supports"
# NKS API guide's `GET /v1/supports` example
NATIVE_SUPPORTS = {
    "supported_k8s": {
        "v1.28.3": False,
        "v1.29.3": True,
        "v1.30.3": True,
        "v1.31.4": True,
        "v1.32.3": True,
    },
    "supported_event_type": {
        "CLUSTER_CREATE": "Create a cluster",
        "CLUSTER_DELETE": "Delete a cluster",
        "CLUSTER_RESIZE": "Resize a cluster",
        "NODEGROUP_CREATE": "Create a node group",
        "NODEGROUP_DELETE": "Delete a node group",
        "NODEGROUP_UPGRADE": "Node group upgrade",
    },
}
IMAGES_URL = (
    f"{IMAGE_KR2}/v2/images?nhncloud_allow_nks_cpu_flavor=true&visibility=public"
    "&status=active&limit=100"
)
NETWORKS_URL = f"{NETWORK_KR2}/v2.0/networks?router:external=True"
SUBNET_URL = f"{NETWORK_KR2}/v2.0/vpcsubnets/{SUBNET}"
ROUTING_TABLE = "01ea946c-08d0-44fe-8e65-3c2cddfaa527"
INTERNET_GATEWAY = "4d6f3b31-f58d-4b39-9787-c1c39c6282ac"
# NHN's default add-ons, as NKS receives them (NKS API guide's create example)
DEFAULT_NATIVE_ADDONS = [
    {"name": "calico", "version": "v3.28.2-nks1", "options": {"mode": "vxlan"}},
    {"name": "coredns", "version": "1.8.4-nks1"},
]

NATIVE_LIST = {
    "clusters": [
        {
            "uuid": CLUSTER_UUID,
            "name": "k8s-test",
            "cluster_template_id": "b4503d97-6012-499d-a31a-5200f94a7890",
            "create_timeout": 60,
            "docker_volume_size": None,
            "flavor_id": FLAVOR,
            "keypair": "testkeypair",
            "node_count": 1,
            "stack_id": "7f497472-9729-4b89-9124-1c097335b856",
            "status": "CREATE_COMPLETE",
            "health_status": "HEALTHY",
            "labels": {
                "availability_zone": "kr2-pub-b",
                "cert_manager_api": "True",
                "kube_tag": "v1.23.3",
                "master_lb_floating_ip_enabled": "true",
            },
            "links": [{"href": f"{CLUSTERS_URL}/{CLUSTER_UUID}", "rel": "self"}],
        },
        {
            "uuid": NEW_UUID,
            "name": "k8s-new",
            "node_count": 3,
            "status": "CREATE_IN_PROGRESS",
            "labels": {},
        },
    ]
}
NATIVE_CLUSTER = {
    "uuid": CLUSTER_UUID,
    "name": "test-k8s",
    "status": "CREATE_COMPLETE",
    "status_reason": None,
    "api_address": "https://2b778d83-kr2-k8s.container.cloud.toast.com:6443",
    "cluster_template_id": "b4503d97-6012-499d-a31a-5200f94a7890",
    "coe_version": "v1.23.3",
    "container_version": "1.12.6",
    "create_timeout": 60,
    "created_at": "2021-08-05T01:48:39+00:00",
    "updated_at": "2021-08-05T04:39:49+00:00",
    "docker_volume_size": None,
    "fixed_network": VPC,
    "fixed_subnet": SUBNET,
    "flavor_id": FLAVOR,
    "floating_ip_enabled": False,
    "health_status": "HEALTHY",
    "health_status_reason": {"api": "ok", "test-k8s-default-w-bnga636xulqk-node-0.Ready": "True"},
    "keypair": "test-keypair",
    "labels": {
        "kube_tag": "v1.23.4",
        "availability_zone": "kr2-pub-b",
        "node_image": OLD_UBUNTU_NKS_IMAGE,
        "cert_manager_api": "True",
        "master_lb_floating_ip_enabled": "true",
        "kube_version_status": "NEED_UPGRADE",
    },
    "links": [{"href": f"{CLUSTERS_URL}/{CLUSTER_UUID}", "rel": "self"}],
    "node_addresses": ["192.168.0.5"],
    "node_count": 1,
    "project_id": "1ffeaca9bbf94ab1aa9cffdec29a258a",
    "stack_id": "7f497472-9729-4b89-9124-1c097335b856",
    "user_id": "12ba32bebc414c4992a2c9be3952a64c",
}
PUBLIC_CLUSTER = {
    "uuid": CLUSTER_UUID,
    "name": "test-k8s",
    "status": "CREATE_COMPLETE",
    "node_count": 1,
    "status_reason": None,
    "kubernetes_version": "v1.23.4",
    "api_address": "https://2b778d83-kr2-k8s.container.cloud.toast.com:6443",
    "created_at": "2021-08-05T01:48:39+00:00",
    "updated_at": "2021-08-05T04:39:49+00:00",
    "health_status": "HEALTHY",
    "fixed_network": VPC,
    "fixed_subnet": SUBNET,
    "flavor_id": FLAVOR,
    "keypair": "test-keypair",
}
KUBECONFIG = (
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRU...\n"
    '    server: https://96742ac4-kr2-k8s.container.cloud.toast.com:6443\n  name: "test-k8s"\n'
    'contexts:\n- context:\n    cluster: "test-k8s"\n    user: admin\n  name: default\n'
    "current-context: default\nkind: Config\npreferences: {}\nusers:\n- name: admin\n  user:\n"
    "    client-certificate-data: LS0tLS1CRU...\n    client-key-data: LS0tLS1CRU...\n"
)


def image(image_id, name, created_at, *, distro="ubuntu", architecture="amd64"):
    return {
        "id": image_id,
        "name": name,
        "status": "active",
        "visibility": "public",
        "created_at": created_at,
        "updated_at": created_at,
        "os_type": "linux",
        "os_distro": distro,
        "os_architecture": architecture,
        "nhncloud_allow_nks_cpu_flavor": "true",
        "self": f"/v2/images/{image_id}",
    }


NATIVE_IMAGES = {
    "images": [
        image(
            ROCKY_NKS_IMAGE,
            "Rocky Linux 8.10 - Container (2025.01.21)",
            "2025-01-21T02:02:00Z",
            distro="rocky",
        ),
        image(
            UBUNTU_NKS_IMAGE,
            "Ubuntu Server 22.04 LTS - Container (2025.01.21)",
            "2025-01-21T02:01:00Z",
        ),
        image(
            OLD_UBUNTU_NKS_IMAGE,
            "Ubuntu Server 20.04 LTS - Container (2023.11.21)",
            "2023-11-21T02:00:00Z",
        ),
    ],
    "schema": "/v2/schemas/images",
    "first": "/v2/images?nhncloud_allow_nks_cpu_flavor=true&visibility=public",
}
NATIVE_NETWORKS = {
    "networks": [
        {
            "name": "public_network",
            "id": EXTERNAL_NETWORK,
            "status": "ACTIVE",
            "shared": True,
            "subnets": list(EXTERNAL_SUBNETS),
            "admin_state_up": True,
            "port_security_enabled": True,
            "router:external": True,
            "tenant_id": "e873d250f2ca40b78e2c12cfbaaeb740",
            "mtu": 0,
        }
    ]
}
CREATE_BODY = {
    "cluster_name": "my-cluster",
    "vpc_id": VPC,
    "subnet_id": SUBNET,
    "instance_type": FLAVOR,
    "keypair_name": "my-keypair",
    "kubernetes_version": "v1.32.3",
    "availability_zone": "kr2-pub-b",
    "node_count": 3,
}
# CREATE_BODY after validation: defaults filled in
LOADED_BODY = {
    **CREATE_BODY,
    "is_public": True,
    "external_network_id": None,
    "external_subnet_id": None,
    "boot_volume_size": 50,
    "boot_volume_type": "General SSD",
    "node_image": None,
    "addons": None,
}


def native_create_body(
    node_image, external=None, *, public=True, node_count=3, addons=DEFAULT_NATIVE_ADDONS
):
    labels = {
        "kube_tag": "v1.32.3",
        "availability_zone": "kr2-pub-b",
        "node_image": node_image,
        "boot_volume_type": "General SSD",
        "boot_volume_size": "50",
        "cert_manager_api": "True",
        "master_lb_floating_ip_enabled": "True" if public else "False",
        "ca_enable": "false",
        "clusterautoscale": "nodegroupfeature",
    }
    if external:
        labels["external_network_id"], labels["external_subnet_id_list"] = external
    return {
        "name": "my-cluster",
        "cluster_template_id": "iaas_console",
        "create_timeout": 60,
        "fixed_network": VPC,
        "fixed_subnet": SUBNET,
        "flavor_id": FLAVOR,
        "keypair": "my-keypair",
        "node_count": node_count,
        "labels": labels,
        "addons": addons,
    }


def native_subnet(gateway_id=INTERNET_GATEWAY):
    """`GET /v2.0/vpcsubnets/{id}` as NHN's VPC API guide shows it; `gateway_id` is the internet
    gateway of the subnet's routing table (the key is left out when none is attached)."""
    routingtable = {
        "default_table": True,
        "explicit": False,
        "id": ROUTING_TABLE,
        "name": "vpc-eb212079-b6ec",
    }
    if gateway_id is not None:
        routingtable["gateway_id"] = gateway_id
    return {
        "vpcsubnet": {
            "router:external": False,
            "name": "vpc-subnet-2",
            "enable_dhcp": True,
            "tenant_id": "1fb0cf13afb341b699f74bbbecab2117",
            "state": "available",
            "id": SUBNET,
            "routingtable": routingtable,
            "create_time": "2023-01-16 07:24:01",
            "available_ip_count": 251,
            "vpc": {
                "shared": False,
                "state": "available",
                "id": VPC,
                "cidrv4": "192.168.0.0/16",
                "name": "hcpak-network",
            },
            "vpc_id": VPC,
            "routes": [],
            "shared": False,
            "hidden": False,
            "cidr": "192.168.1.0/24",
            "gateway": "192.168.1.1",
        }
    }


# the subnet of a private cluster that does not reach the internet
ISOLATED_SUBNET = native_subnet(None)


def magnum_error(status, detail):
    return {
        "errors": [
            {
                "request_id": "",
                "code": "client",
                "status": status,
                "title": detail.rstrip("."),
                "detail": detail,
                "links": [],
            }
        ]
    }


def assert_nks_headers(call):
    assert call.headers["X-Auth-Token"] == TOKEN
    assert call.headers["OpenStack-API-Version"] == "container-infra latest"
    assert call.headers["Accept"] == "application/json"


def normal(url):
    """A URL with its query sorted (aioresponses records queries sorted)."""
    parsed = URL(url)
    return str(parsed.with_query(sorted(parsed.query.items())))


def by_url(nhn):
    return {(call.method, normal(call.url)): call for call in nhn.calls()}


def supports(nhn, payload=NATIVE_SUPPORTS, **kwargs):
    """NKS's version table, read by every cluster create (alongside its other look-ups)."""
    nhn.get(SUPPORTS_URL, payload=payload, **kwargs)


def assert_supports_read(calls):
    """The version table was read with the NKS headers."""
    read = calls["GET", SUPPORTS_URL]
    assert_nks_headers(read)
    assert read.json is None


# --- translations ----------------------------------------------------------------------------


def test_clusters_from_native_keeps_the_four_spec_fields():
    assert clusters_from_native(NATIVE_LIST) == {
        "clusters": [
            {
                "uuid": CLUSTER_UUID,
                "name": "k8s-test",
                "status": "CREATE_COMPLETE",
                "node_count": 1,
            },
            {"uuid": NEW_UUID, "name": "k8s-new", "status": "CREATE_IN_PROGRESS", "node_count": 3},
        ]
    }


def test_clusters_from_native_accepts_node_count_as_string():
    native = {"clusters": [{"uuid": NEW_UUID, "name": "a", "status": "X", "node_count": "2"}]}
    assert clusters_from_native(native)["clusters"][0]["node_count"] == 2


@pytest.mark.parametrize(
    "native",
    [
        {},
        {"clusters": None},
        {"clusters": [{"uuid": NEW_UUID, "name": "a", "status": "X"}]},
        {"clusters": [{"uuid": NEW_UUID, "name": "a", "status": "X", "node_count": True}]},
        {"clusters": [{"uuid": None, "name": "a", "status": "X", "node_count": 1}]},
    ],
)
def test_clusters_from_native_rejects_unexpected_bodies(native):
    with pytest.raises(UpstreamBadResponse):
        clusters_from_native(native)


def test_cluster_from_native_wraps_and_adds_extras():
    assert cluster_from_native(NATIVE_CLUSTER) == {"cluster": PUBLIC_CLUSTER}


def test_cluster_from_native_version_falls_back_to_coe_version_and_extras_to_null():
    native = {
        "uuid": NEW_UUID,
        "name": "fresh",
        "status": "CREATE_IN_PROGRESS",
        "node_count": 2,
        "coe_version": "v1.29.3",
        "labels": None,
        "health_status": {"unexpected": "object"},
    }
    assert cluster_from_native(native) == {
        "cluster": {
            "uuid": NEW_UUID,
            "name": "fresh",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 2,
            "status_reason": None,
            "kubernetes_version": "v1.29.3",
            "api_address": None,
            "created_at": None,
            "updated_at": None,
            "health_status": None,
            "fixed_network": None,
            "fixed_subnet": None,
            "flavor_id": None,
            "keypair": None,
        }
    }


def test_config_from_native_passes_the_yaml_through():
    assert config_from_native({"config": KUBECONFIG}) == {"config": KUBECONFIG}
    with pytest.raises(UpstreamBadResponse):
        config_from_native({"config": {"apiVersion": "v1"}})


def test_to_native_public_cluster():
    external = (EXTERNAL_NETWORK, ":".join(EXTERNAL_SUBNETS))
    native = to_native(LOADED_BODY, node_image=UBUNTU_NKS_IMAGE, external=external)
    assert native == native_create_body(UBUNTU_NKS_IMAGE, external)
    assert all(isinstance(value, str) for value in native["labels"].values())


def test_to_native_private_cluster_with_options():
    body = {
        **LOADED_BODY,
        "is_public": False,
        "boot_volume_size": 100,
        "boot_volume_type": "General HDD",
        "node_count": 1,
    }
    native = to_native(body, node_image=ROCKY_NKS_IMAGE, external=None)
    expected = native_create_body(ROCKY_NKS_IMAGE, public=False, node_count=1)
    expected["labels"].update({"boot_volume_size": "100", "boot_volume_type": "General HDD"})
    assert native == expected


CALLER_ADDONS = [
    {"name": "calico", "version": "v3.30.2-nks1", "options": {"mode": "ebpf"}},
    {"name": "coredns", "version": "1.8.4-nks2", "options": None},
]


def test_to_native_sends_the_callers_addons_instead_of_the_defaults():
    native = to_native(
        {**LOADED_BODY, "addons": CALLER_ADDONS}, node_image=UBUNTU_NKS_IMAGE, external=None
    )
    # options left out (null) are not sent at all, as in NHN's coredns example
    assert native["addons"] == [
        {"name": "calico", "version": "v3.30.2-nks1", "options": {"mode": "ebpf"}},
        {"name": "coredns", "version": "1.8.4-nks2"},
    ]


def test_to_native_default_addons_are_fresh_for_every_request():
    first = to_native(LOADED_BODY, node_image=UBUNTU_NKS_IMAGE, external=None)
    first["addons"][0]["options"]["mode"] = "ebpf"
    second = to_native(LOADED_BODY, node_image=UBUNTU_NKS_IMAGE, external=None)
    assert second["addons"] == DEFAULT_NATIVE_ADDONS


def test_created_from_native_builds_the_cluster_from_the_request():
    assert created_from_native({"uuid": NEW_UUID}, LOADED_BODY) == {
        "cluster": {
            "uuid": NEW_UUID,
            "name": "my-cluster",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 3,
        }
    }
    with pytest.raises(UpstreamBadResponse):
        created_from_native({}, LOADED_BODY)


def test_images_from_native_reads_the_next_marker():
    images, marker = images_from_native(
        {**NATIVE_IMAGES, "next": f"/v2/images?limit=100&marker={UBUNTU_NKS_IMAGE}"}
    )
    assert [item["id"] for item in images] == [
        ROCKY_NKS_IMAGE,
        UBUNTU_NKS_IMAGE,
        OLD_UBUNTU_NKS_IMAGE,
    ]
    assert marker == UBUNTU_NKS_IMAGE
    assert images_from_native(NATIVE_IMAGES)[1] is None
    with pytest.raises(UpstreamBadResponse):
        images_from_native({"images": "none"})


@pytest.mark.parametrize(
    "next_link",
    [
        "/v2/images?limit=100",  # no marker: the list would silently end here
        "/v2/images?marker=",
        f"/v2/images?marker={ROCKY_NKS_IMAGE}&marker={UBUNTU_NKS_IMAGE}",
        "/v2/images?marker=" + "x" * 256,
        {"href": f"/v2/images?marker={ROCKY_NKS_IMAGE}"},
    ],
)
def test_images_from_native_refuses_a_next_link_without_one_usable_marker(next_link):
    with pytest.raises(UpstreamBadResponse):
        images_from_native({**NATIVE_IMAGES, "next": next_link})


def test_choose_node_image_prefers_newest_ubuntu():
    assert choose_node_image(NATIVE_IMAGES["images"]) == UBUNTU_NKS_IMAGE


def test_choose_node_image_falls_back_to_other_distributions_and_skips_arm():
    rocky = image(
        ROCKY_NKS_IMAGE, "Rocky Linux 8.10 - Container", "2024-01-01T00:00:00Z", distro="rocky"
    )
    arm = image(
        UBUNTU_NKS_IMAGE,
        "Ubuntu 22.04 - Container (arm)",
        "2025-06-01T00:00:00Z",
        architecture="aarch64",
    )
    assert choose_node_image([arm, rocky]) == ROCKY_NKS_IMAGE
    assert choose_node_image([arm]) == UBUNTU_NKS_IMAGE  # better than nothing


def test_choose_node_image_recognises_ubuntu_by_name_and_ignores_unusable_images():
    unnamed = {
        "id": UBUNTU_NKS_IMAGE,
        "name": "Ubuntu Server 22.04 - Container",
        "created_at": "2024-01-01T00:00:00Z",
    }
    newer_rocky = image(ROCKY_NKS_IMAGE, "Rocky", "2025-01-01T00:00:00Z", distro="rocky")
    queued = {**image(OLD_UBUNTU_NKS_IMAGE, "Ubuntu", "2026-01-01T00:00:00Z"), "status": "queued"}
    assert choose_node_image([newer_rocky, unnamed, queued]) == UBUNTU_NKS_IMAGE
    assert choose_node_image([queued]) is None
    assert choose_node_image([]) is None


def test_external_network_from_native_joins_subnets():
    assert external_network_from_native(NATIVE_NETWORKS) == (
        EXTERNAL_NETWORK,
        ":".join(EXTERNAL_SUBNETS),
    )


def test_external_network_from_native_skips_internal_and_subnetless_networks():
    internal = {"id": VPC, "subnets": [SUBNET], "router:external": False}
    empty = {"id": "0d1e5d2b-8c43-4b0d-93f4-0f0f7a1fd0b1", "subnets": [], "router:external": True}
    assert external_network_from_native({"networks": [internal, empty]}) is None
    assert external_network_from_native({"networks": []}) is None
    with pytest.raises(UpstreamBadResponse):
        external_network_from_native({"networks": [{"id": VPC, "subnets": "x"}]})


def test_internet_gateway_from_native_reads_the_routing_tables_gateway():
    assert internet_gateway_from_native(native_subnet()) == INTERNET_GATEWAY
    assert internet_gateway_from_native(ISOLATED_SUBNET) is None


@pytest.mark.parametrize(
    "routingtable",
    [
        None,  # e.g. a subnet of the shared external network: it has no routing table
        {"id": ROUTING_TABLE, "gateway_id": None},
        {"id": ROUTING_TABLE, "gateway_id": ""},
    ],
)
def test_internet_gateway_from_native_without_a_gateway_is_none(routingtable):
    native = {"vpcsubnet": {"id": SUBNET, "routingtable": routingtable}}
    assert internet_gateway_from_native(native) is None


@pytest.mark.parametrize(
    "native",
    [
        {},
        {"vpcsubnets": [{"id": SUBNET}]},
        {"vpcsubnet": None},
        {"vpcsubnet": {"id": SUBNET, "routingtable": "rt"}},
        {"vpcsubnet": {"id": SUBNET, "routingtable": {"gateway_id": 5}}},
        {"vpcsubnet": {"id": SUBNET, "routingtable": {"gateway_id": True}}},
    ],
)
def test_internet_gateway_from_native_refuses_what_it_cannot_judge(native):
    # deciding wrongly would send or drop labels NHN requires: a 502, never a guess
    with pytest.raises(UpstreamBadResponse):
        internet_gateway_from_native(native)


# --- list ------------------------------------------------------------------------------------


async def test_list_clusters_sends_native_request_and_answers_spec_shape(client, nhn):
    nhn.get(CLUSTERS_URL, payload=NATIVE_LIST)
    response = await client.get("/api/nhn/nks/clusters/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == clusters_from_native(NATIVE_LIST)
    call = nhn.only_call()
    assert (call.method, call.url) == ("GET", CLUSTERS_URL)
    assert_nks_headers(call)
    assert call.json is None


async def test_list_clusters_without_trailing_slash_in_kr1(client, nhn):
    kr1 = "https://kr1-api-kubernetes-infrastructure.nhncloudservice.com/v1/clusters"
    nhn.get(kr1, payload={"clusters": []})
    response = await client.get("/api/nhn/nks/clusters", headers=network_headers("KR1"))
    assert response.status == 200
    assert await response.json() == {"clusters": []}
    assert nhn.only_call().url == kr1


NKS_ROUTES = (
    ("GET", "/api/nhn/nks/clusters/"),
    ("GET", "/api/nhn/nks/clusters/my-cluster/"),
    ("GET", "/api/nhn/nks/clusters/my-cluster/config/"),
    ("POST", "/api/nhn/nks/clusters/create/"),
    ("DELETE", "/api/nhn/nks/clusters/my-cluster/"),
)


async def test_nks_is_refused_in_jp1_without_upstream_call(client, nhn):
    for method, path in NKS_ROUTES:
        kwargs = {"json": CREATE_BODY} if method == "POST" else {}
        response = await client.request(method, path, headers=network_headers("jp1"), **kwargs)
        assert response.status == 400, (method, path)
        payload = await response.json()
        assert payload["code"] == 400
        assert "NKS" in payload["error"] and "jp1" in payload["error"], payload
    assert nhn.calls() == []


async def test_missing_token_is_401_and_missing_region_400(client, nhn):
    response = await client.get("/api/nhn/nks/clusters/", headers={"X-NHN-Region": "kr2"})
    assert response.status == 401
    assert (await response.json())["code"] == 401
    response = await client.get("/api/nhn/nks/clusters/", headers={"X-NHN-Token": TOKEN})
    assert response.status == 400
    assert "X-NHN-Region" in (await response.json())["error"]
    response = await client.get(
        "/api/nhn/nks/clusters/", headers={"X-NHN-Token": TOKEN, "X-NHN-Region": "us1"}
    )
    assert response.status == 400
    assert nhn.calls() == []


async def test_list_clusters_unexpected_body_is_502(client, nhn):
    nhn.get(CLUSTERS_URL, payload={"items": []})
    response = await client.get("/api/nhn/nks/clusters/", headers=network_headers())
    assert response.status == 502
    payload = await response.json()
    assert payload["code"] == 502 and "kubernetes" in payload["error"]


async def test_list_clusters_upstream_401_passes_through(client, nhn):
    nhn.get(
        CLUSTERS_URL,
        status=401,
        payload={
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }
        },
    )
    response = await client.get("/api/nhn/nks/clusters/", headers=network_headers())
    assert response.status == 401
    assert await response.json() == {
        "error": "The request you have made requires authentication.",
        "code": 401,
    }


# --- get / config ----------------------------------------------------------------------------


async def test_get_cluster_by_name(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/test-k8s", payload=NATIVE_CLUSTER)
    response = await client.get("/api/nhn/nks/clusters/test-k8s/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"cluster": PUBLIC_CLUSTER}
    call = nhn.only_call()
    assert (call.method, call.url) == ("GET", f"{CLUSTERS_URL}/test-k8s")
    assert_nks_headers(call)


async def test_get_cluster_by_uuid_without_trailing_slash(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/{CLUSTER_UUID}", payload=NATIVE_CLUSTER)
    response = await client.get(f"/api/nhn/nks/clusters/{CLUSTER_UUID}", headers=network_headers())
    assert response.status == 200
    assert (await response.json())["cluster"]["uuid"] == CLUSTER_UUID


async def test_get_cluster_404_keeps_magnum_message(client, nhn):
    detail = "Cluster missing-one could not be found."
    nhn.get(f"{CLUSTERS_URL}/missing-one", status=404, payload=magnum_error(404, detail))
    response = await client.get("/api/nhn/nks/clusters/missing-one/", headers=network_headers())
    assert response.status == 404
    assert await response.json() == {"error": detail, "code": 404}


async def test_get_cluster_unexpected_body_is_502(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/test-k8s", payload={"cluster": NATIVE_CLUSTER})
    response = await client.get("/api/nhn/nks/clusters/test-k8s/", headers=network_headers())
    assert response.status == 502
    assert (await response.json())["code"] == 502


PATH_TRICKS = (
    "..",
    "%2e%2e",
    "a%2Fb",
    "%2F",
    "a%3Fb",
    "a%23b",
    ".hidden",
    "a%20b",
    "a.b",
    "-x",
    "x" * 129,
)


async def test_cluster_name_path_tricks_make_no_upstream_call(client, nhn):
    for name in PATH_TRICKS:
        for suffix in ("/", "/config/", ""):
            response = await client.get(
                f"/api/nhn/nks/clusters/{name}{suffix}", headers=network_headers()
            )
            assert response.status in (400, 404), (name, suffix, response.status)
            assert (await response.json())["code"] == response.status
    assert nhn.calls() == []


async def test_delete_path_tricks_make_no_upstream_call(client, nhn):
    for name in ("%2e%2e", "a%2Fb", "a%3Fb"):
        response = await client.delete(f"/api/nhn/nks/clusters/{name}/", headers=network_headers())
        assert response.status in (400, 404)
    assert nhn.calls() == []


async def test_get_kubeconfig(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/test-k8s/config", payload={"config": KUBECONFIG})
    response = await client.get("/api/nhn/nks/clusters/test-k8s/config/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == {"config": KUBECONFIG}
    call = nhn.only_call()
    assert (call.method, call.url) == ("GET", f"{CLUSTERS_URL}/test-k8s/config")
    assert_nks_headers(call)


async def test_get_kubeconfig_without_trailing_slash_and_409_passthrough(client, nhn):
    detail = "Cluster test-k8s is not ready: CREATE_IN_PROGRESS."
    nhn.get(f"{CLUSTERS_URL}/test-k8s/config", status=409, payload=magnum_error(409, detail))
    response = await client.get("/api/nhn/nks/clusters/test-k8s/config", headers=network_headers())
    assert response.status == 409
    assert await response.json() == {"error": detail, "code": 409}


async def test_kubeconfig_is_not_logged(client, nhn, caplog):
    caplog.set_level("DEBUG")
    secret = "client-key-data: c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M="
    nhn.get(f"{CLUSTERS_URL}/test-k8s/config", payload={"config": f"kind: Config\n{secret}\n"})
    response = await client.get("/api/nhn/nks/clusters/test-k8s/config/", headers=network_headers())
    assert response.status == 200
    assert "c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M=" in (await response.json())["config"]
    for record in caplog.records:
        assert "c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M=" not in record.getMessage()
        assert "c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M=" not in repr(getattr(record, "fields", ""))


# --- delete ----------------------------------------------------------------------------------


async def test_delete_cluster(client, nhn):
    nhn.delete(f"{CLUSTERS_URL}/test-k8s", status=204)
    response = await client.delete("/api/nhn/nks/clusters/test-k8s/", headers=network_headers())
    assert response.status == 204
    assert await response.read() == b""
    call = nhn.only_call()
    assert (call.method, call.url) == ("DELETE", f"{CLUSTERS_URL}/test-k8s")
    assert_nks_headers(call)
    assert call.json is None


async def test_delete_cluster_without_trailing_slash_409_passthrough(client, nhn):
    detail = "Cluster test-k8s already has an operation in progress."
    nhn.delete(f"{CLUSTERS_URL}/test-k8s", status=409, payload=magnum_error(409, detail))
    response = await client.delete("/api/nhn/nks/clusters/test-k8s", headers=network_headers())
    assert response.status == 409
    assert await response.json() == {"error": detail, "code": 409}


async def test_delete_cluster_404_passthrough(client, nhn):
    detail = "Cluster gone could not be found."
    nhn.delete(f"{CLUSTERS_URL}/gone", status=404, payload=magnum_error(404, detail))
    response = await client.delete("/api/nhn/nks/clusters/gone/", headers=network_headers())
    assert response.status == 404
    assert await response.json() == {"error": detail, "code": 404}


# --- create ----------------------------------------------------------------------------------

CREATED = {
    "cluster": {
        "uuid": NEW_UUID,
        "name": "my-cluster",
        "status": "CREATE_IN_PROGRESS",
        "node_count": 3,
    }
}


async def test_create_public_cluster_looks_up_image_and_external_network(client, nhn):
    supports(nhn)
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.get(NETWORKS_URL, payload=NATIVE_NETWORKS)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=CREATE_BODY, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == CREATED
    calls = by_url(nhn)
    assert set(calls) == {
        ("GET", SUPPORTS_URL),
        ("GET", normal(IMAGES_URL)),
        ("GET", normal(NETWORKS_URL)),
        ("POST", CLUSTERS_URL),
    }
    assert_supports_read(calls)
    # the POST comes last, after every look-up
    assert (nhn.calls()[-1].method, nhn.calls()[-1].url) == ("POST", CLUSTERS_URL)
    for lookup in (calls["GET", normal(IMAGES_URL)], calls["GET", normal(NETWORKS_URL)]):
        assert lookup.headers["X-Auth-Token"] == TOKEN
        assert lookup.json is None
    create = calls["POST", CLUSTERS_URL]
    assert_nks_headers(create)
    assert create.headers["Content-Type"] == "application/json"
    assert create.json == native_create_body(
        UBUNTU_NKS_IMAGE, (EXTERNAL_NETWORK, ":".join(EXTERNAL_SUBNETS))
    )


async def test_create_private_cluster_on_a_subnet_without_internet_gateway(client, nhn):
    # the subnet's routing table has no internet gateway: no external network look-up, and
    # no external labels (trailing slash optional)
    supports(nhn)
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.get(SUBNET_URL, payload=ISOLATED_SUBNET)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {**CREATE_BODY, "is_public": False, "node_count": 1}
    response = await client.post(
        "/api/nhn/nks/clusters/create", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == {
        "cluster": {**CREATED["cluster"], "node_count": 1},
    }
    calls = by_url(nhn)
    assert set(calls) == {
        ("GET", SUPPORTS_URL),
        ("GET", normal(IMAGES_URL)),
        ("GET", SUBNET_URL),
        ("POST", CLUSTERS_URL),
    }
    subnet = calls["GET", SUBNET_URL]
    assert subnet.headers["X-Auth-Token"] == TOKEN
    assert subnet.json is None
    assert calls["POST", CLUSTERS_URL].json == native_create_body(
        UBUNTU_NKS_IMAGE, public=False, node_count=1
    )


async def test_create_private_cluster_on_an_internet_gateway_subnet_sets_external_labels(
    client, nhn
):
    # NHN requires the external network labels whenever the subnet's router is attached to an
    # internet gateway, even when the API endpoint stays private
    supports(nhn)
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.get(SUBNET_URL, payload=native_subnet())
    nhn.get(NETWORKS_URL, payload=NATIVE_NETWORKS)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {**CREATE_BODY, "is_public": False}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == CREATED
    calls = by_url(nhn)
    assert set(calls) == {
        ("GET", SUPPORTS_URL),
        ("GET", normal(IMAGES_URL)),
        ("GET", SUBNET_URL),
        ("GET", normal(NETWORKS_URL)),
        ("POST", CLUSTERS_URL),
    }
    for lookup in (calls["GET", SUBNET_URL], calls["GET", normal(NETWORKS_URL)]):
        assert (lookup.headers["X-Auth-Token"], lookup.json) == (TOKEN, None)
    create = calls["POST", CLUSTERS_URL]
    assert_nks_headers(create)
    assert create.json == native_create_body(
        UBUNTU_NKS_IMAGE, (EXTERNAL_NETWORK, ":".join(EXTERNAL_SUBNETS)), public=False
    )
    assert create.json["labels"]["master_lb_floating_ip_enabled"] == "False"


async def test_create_private_cluster_internet_gateway_without_external_network_is_400(client, nhn):
    supports(nhn)
    nhn.get(SUBNET_URL, payload=native_subnet())
    nhn.get(NETWORKS_URL, payload={"networks": []})
    body = {**CREATE_BODY, "is_public": False, "node_image": OLD_UBUNTU_NKS_IMAGE}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert "external_network_id" in error and "external_subnet_id" in error
    assert "internet gateway" in error
    # the version table is read alongside; nothing is created
    assert set(by_url(nhn)) == {
        ("GET", SUPPORTS_URL),
        ("GET", SUBNET_URL),
        ("GET", normal(NETWORKS_URL)),
    }


async def test_create_private_cluster_unreadable_subnet_answer_is_502(client, nhn):
    supports(nhn)
    nhn.get(SUBNET_URL, payload={"vpcsubnet": {"id": SUBNET, "routingtable": ["rt"]}})
    body = {**CREATE_BODY, "is_public": False, "node_image": OLD_UBUNTU_NKS_IMAGE}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 502
    payload = await response.json()
    assert payload["code"] == 502 and "network" in payload["error"]
    calls = by_url(nhn)
    # the version table is read alongside and may or may not have been asked for
    assert ("GET", SUBNET_URL) in calls
    assert set(calls) <= {("GET", SUBNET_URL), ("GET", SUPPORTS_URL)}


async def test_create_private_cluster_unknown_subnet_404_passes_through(client, nhn):
    message = f"Subnet {SUBNET} could not be found."
    supports(nhn)
    nhn.get(
        SUBNET_URL,
        status=404,
        payload={"NeutronError": {"type": "SubnetNotFound", "message": message, "detail": ""}},
    )
    body = {**CREATE_BODY, "is_public": False, "node_image": OLD_UBUNTU_NKS_IMAGE}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": message, "code": 404}
    calls = by_url(nhn)
    assert ("GET", SUBNET_URL) in calls
    assert set(calls) <= {("GET", SUBNET_URL), ("GET", SUPPORTS_URL)}


async def test_create_with_the_callers_addons(client, nhn):
    supports(nhn)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    addons = [
        {"name": "calico", "version": "v3.30.2-nks2", "options": {"mode": "ebpf"}},
        {"name": "coredns", "version": "1.8.4-nks2"},
        {"name": "metrics_server", "version": "v0.4.4-nks2", "options": {}},
    ]
    body = {
        **CREATE_BODY,
        "node_image": OLD_UBUNTU_NKS_IMAGE,
        "external_network_id": EXTERNAL_NETWORK,
        "external_subnet_id": ":".join(EXTERNAL_SUBNETS),
        "addons": addons,
    }
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == CREATED
    calls = by_url(nhn)
    assert set(calls) == {("GET", SUPPORTS_URL), ("POST", CLUSTERS_URL)}
    assert calls["POST", CLUSTERS_URL].json == native_create_body(
        OLD_UBUNTU_NKS_IMAGE, (EXTERNAL_NETWORK, ":".join(EXTERNAL_SUBNETS)), addons=addons
    )


async def test_create_node_count_above_nhns_default_quota_is_left_to_nhn(client, nhn):
    # NHN's default quota is 10 nodes per node group, but a project's quota can be raised
    supports(nhn)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {
        **CREATE_BODY,
        "node_image": OLD_UBUNTU_NKS_IMAGE,
        "external_network_id": EXTERNAL_NETWORK,
        "external_subnet_id": ":".join(EXTERNAL_SUBNETS),
        "node_count": 11,
    }
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert (await response.json())["cluster"]["node_count"] == 11
    assert by_url(nhn)["POST", CLUSTERS_URL].json["node_count"] == 11


async def test_create_with_explicit_node_image_and_external_network_makes_no_lookup(client, nhn):
    supports(nhn)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {
        **CREATE_BODY,
        "is_public": True,
        "node_image": OLD_UBUNTU_NKS_IMAGE,
        "external_network_id": "751b8227-7b45-440a-9349-dbf829d0aba5",
        "external_subnet_id": "59ddc195-76b1-431d-9693-f09880747dc6",
        "boot_volume_size": 20,
        "boot_volume_type": "General HDD",
    }
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert await response.json() == CREATED
    calls = by_url(nhn)
    # only the version table is read: it has no input to stand for
    assert set(calls) == {("GET", SUPPORTS_URL), ("POST", CLUSTERS_URL)}
    call = calls["POST", CLUSTERS_URL]
    expected = native_create_body(
        OLD_UBUNTU_NKS_IMAGE,
        ("751b8227-7b45-440a-9349-dbf829d0aba5", "59ddc195-76b1-431d-9693-f09880747dc6"),
    )
    expected["labels"].update({"boot_volume_size": "20", "boot_volume_type": "General HDD"})
    assert call.json == expected


async def test_create_private_cluster_forwards_explicit_external_network(client, nhn):
    # NHN requires these labels whenever the subnet's router reaches an internet gateway
    supports(nhn)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {
        **CREATE_BODY,
        "is_public": False,
        "node_image": OLD_UBUNTU_NKS_IMAGE,
        "external_network_id": EXTERNAL_NETWORK,
        "external_subnet_id": ":".join(EXTERNAL_SUBNETS),
    }
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert by_url(nhn)["POST", CLUSTERS_URL].json == native_create_body(
        OLD_UBUNTU_NKS_IMAGE, (EXTERNAL_NETWORK, ":".join(EXTERNAL_SUBNETS)), public=False
    )


async def test_create_blank_optional_ids_count_as_absent(client, nhn):
    supports(nhn)
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.get(SUBNET_URL, payload=ISOLATED_SUBNET)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {
        **CREATE_BODY,
        "is_public": False,
        "external_network_id": "",
        "external_subnet_id": None,
        "node_image": "",
        "addons": None,  # null: NHN's default add-ons
    }
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert by_url(nhn)["POST", CLUSTERS_URL].json == native_create_body(
        UBUNTU_NKS_IMAGE, public=False
    )


async def test_create_follows_image_pages(client, nhn):
    first_page = {
        **NATIVE_IMAGES,
        "images": NATIVE_IMAGES["images"][:1],
        "next": f"/v2/images?marker={ROCKY_NKS_IMAGE}",
    }
    second_page = {**NATIVE_IMAGES, "images": NATIVE_IMAGES["images"][1:]}
    supports(nhn)
    nhn.get(IMAGES_URL, payload=first_page)
    nhn.get(f"{IMAGES_URL}&marker={ROCKY_NKS_IMAGE}", payload=second_page)
    nhn.get(SUBNET_URL, payload=ISOLATED_SUBNET)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {**CREATE_BODY, "is_public": False}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 201
    assert len(nhn.calls()) == 5
    assert by_url(nhn)["POST", CLUSTERS_URL].json["labels"]["node_image"] == UBUNTU_NKS_IMAGE


async def test_create_image_page_without_a_usable_marker_is_502(client, nhn):
    # a `next` link that names no marker cannot be followed: a 502, not the first page alone
    supports(nhn)
    nhn.get(IMAGES_URL, payload={**NATIVE_IMAGES, "next": "/v2/images?limit=100"})
    nhn.get(SUBNET_URL, payload=ISOLATED_SUBNET)
    nhn.post(CLUSTERS_URL, status=202, payload={"uuid": NEW_UUID})
    body = {**CREATE_BODY, "is_public": False}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 502
    payload = await response.json()
    assert payload["code"] == 502 and "image" in payload["error"]
    calls = by_url(nhn)
    # the subnet and version look-ups run alongside and may or may not have been sent;
    # nothing else is
    assert ("GET", normal(IMAGES_URL)) in calls
    assert set(calls) <= {("GET", normal(IMAGES_URL)), ("GET", SUBNET_URL), ("GET", SUPPORTS_URL)}


async def test_create_public_without_external_network_is_400_naming_fields(client, nhn):
    supports(nhn)
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.get(NETWORKS_URL, payload={"networks": []})
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=CREATE_BODY, headers=network_headers()
    )
    assert response.status == 400
    payload = await response.json()
    assert payload["code"] == 400
    assert "external_network_id" in payload["error"] and "external_subnet_id" in payload["error"]
    assert ("POST", CLUSTERS_URL) not in by_url(nhn)


async def test_create_without_nks_image_is_400_naming_node_image(client, nhn):
    supports(nhn)
    nhn.get(IMAGES_URL, payload={"images": [], "schema": "/v2/schemas/images"})
    nhn.get(NETWORKS_URL, payload=NATIVE_NETWORKS)
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=CREATE_BODY, headers=network_headers()
    )
    assert response.status == 400
    payload = await response.json()
    assert "node_image" in payload["error"]
    assert ("POST", CLUSTERS_URL) not in by_url(nhn)


async def test_create_lookup_failure_is_reported(client, nhn):
    supports(nhn)
    nhn.get(NETWORKS_URL, status=500, body="boom")
    body = {**CREATE_BODY, "node_image": OLD_UBUNTU_NKS_IMAGE}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 502
    calls = by_url(nhn)
    assert ("GET", normal(NETWORKS_URL)) in calls
    assert set(calls) <= {("GET", normal(NETWORKS_URL)), ("GET", SUPPORTS_URL)}


async def test_create_409_passes_through(client, nhn):
    detail = "A cluster with the name my-cluster already exists."
    supports(nhn)
    nhn.get(SUBNET_URL, payload=ISOLATED_SUBNET)
    nhn.post(CLUSTERS_URL, status=409, payload=magnum_error(409, detail))
    body = {**CREATE_BODY, "is_public": False, "node_image": OLD_UBUNTU_NKS_IMAGE}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 409
    assert await response.json() == {"error": detail, "code": 409}


async def test_create_unexpected_answer_is_502(client, nhn):
    supports(nhn)
    nhn.get(SUBNET_URL, payload=ISOLATED_SUBNET)
    nhn.post(CLUSTERS_URL, status=202, payload={"id": NEW_UUID})
    body = {**CREATE_BODY, "is_public": False, "node_image": OLD_UBUNTU_NKS_IMAGE}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 502
    assert (await response.json())["code"] == 502


def without(field):
    return {key: value for key, value in CREATE_BODY.items() if key != field}


INVALID_BODIES = (
    (without("cluster_name"), "cluster_name"),
    (without("vpc_id"), "vpc_id"),
    (without("subnet_id"), "subnet_id"),
    (without("instance_type"), "instance_type"),
    (without("keypair_name"), "keypair_name"),
    (without("kubernetes_version"), "kubernetes_version"),
    (without("availability_zone"), "availability_zone"),
    ({**CREATE_BODY, "cluster_name": "1cluster"}, "cluster_name"),
    ({**CREATE_BODY, "cluster_name": "my_cluster"}, "cluster_name"),
    ({**CREATE_BODY, "cluster_name": "a" * 33}, "cluster_name"),
    ({**CREATE_BODY, "cluster_name": "abcdef0123456789abcdef0123456789"}, "cluster_name"),
    ({**CREATE_BODY, "cluster_name": "MyCluster"}, "cluster_name"),  # lowercase only (NKS)
    ({**CREATE_BODY, "is_public": 1}, "is_public"),  # a number is not a JSON boolean
    ({**CREATE_BODY, "is_public": "true"}, "is_public"),
    ({**CREATE_BODY, "cluster_name": "my-cluster-"}, "cluster_name"),  # must end alnum
    ({**CREATE_BODY, "cluster_name": ""}, "cluster_name"),
    ({**CREATE_BODY, "vpc_id": "../etc"}, "vpc_id"),
    ({**CREATE_BODY, "subnet_id": "x" * 129}, "subnet_id"),
    ({**CREATE_BODY, "instance_type": 5}, "instance_type"),
    ({**CREATE_BODY, "keypair_name": ""}, "keypair_name"),
    ({**CREATE_BODY, "keypair_name": "k" * 256}, "keypair_name"),
    ({**CREATE_BODY, "kubernetes_version": "1.28.3"}, "kubernetes_version"),
    ({**CREATE_BODY, "kubernetes_version": "v1.28"}, "kubernetes_version"),
    ({**CREATE_BODY, "availability_zone": "kr pub a"}, "availability_zone"),
    ({**CREATE_BODY, "is_public": "yes"}, "is_public"),
    ({**CREATE_BODY, "node_count": 0}, "node_count"),
    ({**CREATE_BODY, "node_count": 101}, "node_count"),
    ({**CREATE_BODY, "node_count": "3"}, "node_count"),
    ({**CREATE_BODY, "node_count": 2.5}, "node_count"),
    ({**CREATE_BODY, "boot_volume_size": 9}, "boot_volume_size"),
    ({**CREATE_BODY, "boot_volume_size": 1001}, "boot_volume_size"),
    ({**CREATE_BODY, "boot_volume_type": ""}, "boot_volume_type"),
    ({**CREATE_BODY, "boot_volume_type": "t" * 65}, "boot_volume_type"),
    ({**CREATE_BODY, "node_image": "a/b"}, "node_image"),
    ({**CREATE_BODY, "external_network_id": EXTERNAL_NETWORK}, "external_subnet_id"),
    ({**CREATE_BODY, "external_subnet_id": EXTERNAL_SUBNETS[0]}, "external_network_id"),
    ({**CREATE_BODY, "external_subnet_id": "a::b"}, "external_subnet_id"),
    ({**CREATE_BODY, "addons": []}, "addons"),  # NKS requires a CNI and CoreDNS
    ({**CREATE_BODY, "addons": "calico"}, "addons"),
    ({**CREATE_BODY, "addons": {"name": "calico", "version": "v3.28.2-nks1"}}, "addons"),
    ({**CREATE_BODY, "addons": [{"name": "calico"}]}, "addons.0.version"),
    ({**CREATE_BODY, "addons": [{"version": "1.8.4-nks1"}]}, "addons.0.name"),
    ({**CREATE_BODY, "addons": [{"name": "Calico!", "version": "v1"}]}, "addons.0.name"),
    ({**CREATE_BODY, "addons": [{"name": "calico", "version": "v 1"}]}, "addons.0.version"),
    ({**CREATE_BODY, "addons": [{"name": "calico", "version": 3}]}, "addons.0.version"),
    ({**CREATE_BODY, "addons": [{"name": "c", "version": "1", "type": "cni"}]}, "addons.0.type"),
    ({**CREATE_BODY, "addons": [{"name": "c", "version": "1", "options": "x"}]}, "options"),
    ({**CREATE_BODY, "addons": [{"name": "c", "version": "1", "options": {"m": True}}]}, "m"),
    ({**CREATE_BODY, "addons": [{"name": "c", "version": "1", "options": {"m": [1]}}]}, "m"),
    ({**CREATE_BODY, "addons": [{"name": "c", "version": "1", "options": {"m": "x" * 256}}]}, "m"),
    ({**CREATE_BODY, "addons": [{"name": "c", "version": "1", "options": {"1m": "x"}}]}, "options"),
    (
        {
            **CREATE_BODY,
            "addons": [{"name": "c", "version": "1", "options": {f"o{i}": "x" for i in range(17)}}],
        },
        "options",
    ),
    (
        {**CREATE_BODY, "addons": [{"name": "coredns", "version": "1"}] * 2},
        "addons",
    ),
    (
        {**CREATE_BODY, "addons": [{"name": f"a{i}", "version": "1"} for i in range(17)]},
        "addons",
    ),
)


async def test_create_validation_names_the_field(client, nhn):
    for body, field in INVALID_BODIES:
        response = await client.post(
            "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
        )
        assert response.status == 400, (field, body)
        payload = await response.json()
        assert payload["code"] == 400 and field in payload["error"], (field, payload)
    assert nhn.calls() == []


async def test_create_rejects_malformed_bodies(client, nhn):
    for raw in (b"not json", b"[]", b'{"cluster_name": ', b'"text"'):
        response = await client.post(
            "/api/nhn/nks/clusters/create/",
            data=raw,
            headers={**network_headers(), "Content-Type": "application/json"},
        )
        assert response.status == 400, raw
        assert (await response.json())["code"] == 400
    assert nhn.calls() == []


async def test_create_requires_token(client, nhn):
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=CREATE_BODY, headers={"X-NHN-Region": "kr2"}
    )
    assert response.status == 401
    assert nhn.calls() == []


async def test_get_create_path_is_a_cluster_lookup_not_a_create(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/create", status=404, payload=magnum_error(404, "Not found."))
    response = await client.get("/api/nhn/nks/clusters/create/", headers=network_headers())
    assert response.status == 404
    assert nhn.only_call().method == "GET"


# --- Kubernetes versions ---------------------------------------------------------------------

PUBLIC_VERSIONS = {
    "kubernetes_versions": [
        {"version": "v1.32.3", "can_create": True},
        {"version": "v1.31.4", "can_create": True},
        {"version": "v1.30.3", "can_create": True},
        {"version": "v1.29.3", "can_create": True},
        {"version": "v1.28.3", "can_create": False},
    ]
}


def test_versions_from_native_lists_newest_first():
    assert versions_from_native(NATIVE_SUPPORTS) == PUBLIC_VERSIONS


def test_versions_are_ordered_by_their_numbers_not_as_text():
    native = {
        "supported_k8s": {
            "v1.9.11": False,
            "v1.32.3": True,
            "v1.100.0": True,
            "v1.32.10": True,
            "latest": False,
        },
        # the shape NHN's field table gives its event types: not read
        "supported_event_type": {"cluster_events": {}, "nodegroup_events": {}},
    }
    versions = versions_from_native(native)["kubernetes_versions"]
    assert [item["version"] for item in versions] == [
        "v1.100.0",
        "v1.32.10",
        "v1.32.3",
        "v1.9.11",
        "latest",  # not a version number: last
    ]
    assert creatable_versions({"kubernetes_versions": versions}) == [
        "v1.100.0",
        "v1.32.10",
        "v1.32.3",
    ]


@pytest.mark.parametrize(
    "native",
    [
        {},
        {"supported_k8s": None},
        {"supported_k8s": ["v1.32.3"]},
        {"supported_k8s": {"v1.32.3": "true"}},
        {"supported_k8s": {"v1.32.3": 1}},
    ],
)
def test_versions_from_native_refuses_what_it_cannot_judge(native):
    with pytest.raises(UpstreamBadResponse):
        versions_from_native(native)


async def test_list_versions(client, nhn):
    supports(nhn)
    response = await client.get("/api/nhn/nks/versions/", headers=network_headers())
    assert response.status == 200
    assert await response.json() == PUBLIC_VERSIONS
    call = nhn.only_call()
    assert (call.method, call.url, call.json) == ("GET", SUPPORTS_URL, None)
    assert_nks_headers(call)


async def test_list_versions_without_slash_unusable_table_is_502(client, nhn):
    supports(nhn, payload={"supported_k8s": {"v1.32.3": "yes"}})
    response = await client.get("/api/nhn/nks/versions", headers=network_headers())
    assert response.status == 502
    payload = await response.json()
    assert payload["code"] == 502 and "kubernetes" in payload["error"]


# the inputs that need no look-up: only the version table is read before the create
NO_LOOKUP_BODY = {
    **CREATE_BODY,
    "node_image": OLD_UBUNTU_NKS_IMAGE,
    "external_network_id": EXTERNAL_NETWORK,
    "external_subnet_id": ":".join(EXTERNAL_SUBNETS),
}


@pytest.mark.parametrize("version", ["v1.28.3", "v1.99.0"])
async def test_create_with_a_version_nks_does_not_offer_is_400_and_creates_nothing(
    client, nhn, version
):
    # v1.28.3 is listed `false` (no new clusters), v1.99.0 not at all
    supports(nhn)
    body = {**NO_LOOKUP_BODY, "kubernetes_version": version}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 400
    assert await response.json() == {
        "error": f"kubernetes_version: NKS does not create clusters with {version}; use one "
        "of: v1.32.3, v1.31.4, v1.30.3, v1.29.3",
        "code": 400,
    }
    assert set(by_url(nhn)) == {("GET", SUPPORTS_URL)}


async def test_create_version_check_runs_alongside_the_lookups_and_stops_them(client, nhn):
    supports(nhn)
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.get(NETWORKS_URL, payload=NATIVE_NETWORKS)
    body = {**CREATE_BODY, "kubernetes_version": "v1.28.3"}
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=body, headers=network_headers()
    )
    assert response.status == 400
    assert "v1.29.3" in (await response.json())["error"]
    calls = by_url(nhn)
    assert ("GET", SUPPORTS_URL) in calls and ("POST", CLUSTERS_URL) not in calls


async def test_create_when_nks_offers_no_version_is_400(client, nhn):
    supports(nhn, payload={"supported_k8s": {"v1.28.3": False}})
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=NO_LOOKUP_BODY, headers=network_headers()
    )
    assert response.status == 400
    assert await response.json() == {
        "error": "kubernetes_version: NKS offers no version for new clusters in region kr2",
        "code": 400,
    }
    assert set(by_url(nhn)) == {("GET", SUPPORTS_URL)}


async def test_create_with_an_unusable_version_table_is_502_and_creates_nothing(client, nhn):
    supports(nhn, payload={"supported_k8s": "v1.32.3"})
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=NO_LOOKUP_BODY, headers=network_headers()
    )
    assert response.status == 502
    assert set(by_url(nhn)) == {("GET", SUPPORTS_URL)}


async def test_create_version_table_error_passes_through(client, nhn):
    supports(nhn, status=403, payload=magnum_error(403, "Policy doesn't allow this."))
    response = await client.post(
        "/api/nhn/nks/clusters/create/", json=NO_LOOKUP_BODY, headers=network_headers()
    )
    assert response.status == 403
    assert await response.json() == {"error": "Policy doesn't allow this.", "code": 403}
    assert set(by_url(nhn)) == {("GET", SUPPORTS_URL)}


# --- node groups -----------------------------------------------------------------------------

NODEGROUP_UUID = "018b06c5-1293-4081-8242-167a1cb9f262"
NEW_NODEGROUP_UUID = "a5b1f3ee-6f3e-4c36-9d77-4b1b6cf3c1b2"
NODE_FLAVOR = "069bdcff-e9b6-42c8-83ce-4c743ea30394"
NODE_IMAGE = "96aff4ab-d221-4688-8364-2fcf02d50547"
NODEGROUPS_URL = f"{CLUSTERS_URL}/test-k8s/nodegroups"
RESIZE_URL = f"{CLUSTERS_URL}/{CLUSTER_UUID}/actions/resize"
# NKS API guide's "List Node Groups" example
NATIVE_NODEGROUPS = {
    "nodegroups": [
        {
            "uuid": NODEGROUP_UUID,
            "name": "default-worker",
            "flavor_id": NODE_FLAVOR,
            "image_id": NODE_IMAGE,
            "is_default": False,
            "max_node_count": 10,
            "min_node_count": 1,
            "node_count": 2,
            "role": "worker",
            "stack_id": "f04c157a-78e3-4bfc-a83e-fbe7c01ab616",
            "status": "UPDATE_COMPLETE",
        },
        {
            "uuid": NEW_NODEGROUP_UUID,
            "name": "workers-2",
            "flavor_id": None,
            "node_count": "1",
            "status": "CREATE_IN_PROGRESS",
        },
    ]
}
PUBLIC_NODEGROUPS = {
    "nodegroups": [
        {
            "uuid": NODEGROUP_UUID,
            "name": "default-worker",
            "status": "UPDATE_COMPLETE",
            "node_count": 2,
            "flavor_id": NODE_FLAVOR,
            "image_id": NODE_IMAGE,
        },
        {
            "uuid": NEW_NODEGROUP_UUID,
            "name": "workers-2",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 1,
            "flavor_id": None,
            "image_id": None,
        },
    ]
}
# NKS API guide's "View Node Group" fields
NATIVE_NODEGROUP = {
    "uuid": NODEGROUP_UUID,
    "id": 3,
    "name": "default-worker",
    "cluster_id": CLUSTER_UUID,
    "project_id": "1ffeaca9bbf94ab1aa9cffdec29a258a",
    "flavor_id": NODE_FLAVOR,
    "image_id": NODE_IMAGE,
    "labels": {
        "availability_zone": "kr2-pub-b",
        "boot_volume_size": "20",
        "boot_volume_type": "General HDD",
        "ca_enable": "false",
        "clusterautoscale": "nodegroupfeature",
        "kube_tag": "v1.32.3",
        "node_image": NODE_IMAGE,
        "platform_version": "1.202511.0",
    },
    "max_node_count": 10,
    "min_node_count": 1,
    "node_count": 2,
    "node_addresses": ["192.168.0.5", "192.168.0.6"],
    "role": "worker",
    "is_default": False,
    "stack_id": "f04c157a-78e3-4bfc-a83e-fbe7c01ab616",
    "status": "UPDATE_COMPLETE",
    "status_reason": "Stack UPDATE completed successfully",
    "docker_volume_size": None,
    "version": "v1.32.3",
    "links": [{"href": f"{NODEGROUPS_URL}/{NODEGROUP_UUID}", "rel": "self"}],
    "created_at": "2021-08-05T01:48:39+00:00",
    "updated_at": "2021-08-05T04:39:49+00:00",
}
PUBLIC_NODEGROUP = {
    "uuid": NODEGROUP_UUID,
    "name": "default-worker",
    "status": "UPDATE_COMPLETE",
    "node_count": 2,
    "flavor_id": NODE_FLAVOR,
    "image_id": NODE_IMAGE,
    "status_reason": "Stack UPDATE completed successfully",
    "role": "worker",
    "min_node_count": 1,
    "max_node_count": 10,
    "kubernetes_version": "v1.32.3",
    "availability_zone": "kr2-pub-b",
    "boot_volume_type": "General HDD",
    "boot_volume_size": 20,
    "node_addresses": ["192.168.0.5", "192.168.0.6"],
    "created_at": "2021-08-05T01:48:39+00:00",
    "updated_at": "2021-08-05T04:39:49+00:00",
}
NODEGROUP_BODY = {
    "name": "workers-2",
    "instance_type": FLAVOR,
    "availability_zone": "kr2-pub-b",
}
# NKS API guide's "Create Node Group" answer: the group, no status yet
NATIVE_NODEGROUP_CREATED = {
    "cluster_id": CLUSTER_UUID,
    "flavor_id": FLAVOR,
    "image_id": UBUNTU_NKS_IMAGE,
    "labels": {
        "availability_zone": "kr2-pub-b",
        "boot_volume_size": "50",
        "boot_volume_type": "General SSD",
        "ca_enable": "false",
        "clusterautoscale": "nodegroupfeature",
        "user_script_v2": "",
    },
    "links": [{"href": f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}", "rel": "self"}],
    "max_node_count": None,
    "min_node_count": 1,
    "name": "workers-2",
    "node_count": 1,
    "project_id": "1ffeaca9bbf94ab1aa9cffdec29a258a",
    "role": "worker",
    "uuid": NEW_NODEGROUP_UUID,
}


def native_nodegroup_body(*, node_count=1, size="50", volume_type="General SSD", zone="kr2-pub-b"):
    return {
        "name": "workers-2",
        "flavor_id": FLAVOR,
        "image_id": UBUNTU_NKS_IMAGE,
        "node_count": node_count,
        "labels": {
            "availability_zone": zone,
            "boot_volume_type": volume_type,
            "boot_volume_size": size,
            "ca_enable": "false",
        },
    }


def test_nodegroups_from_native_keeps_the_six_fields():
    assert nodegroups_from_native(NATIVE_NODEGROUPS) == PUBLIC_NODEGROUPS


@pytest.mark.parametrize(
    "native",
    [
        {},
        {"nodegroups": None},
        {"nodegroups": [{"uuid": NODEGROUP_UUID, "name": "a", "status": "X"}]},
        {"nodegroups": [{"uuid": NODEGROUP_UUID, "name": "a", "status": 1, "node_count": 1}]},
        {"nodegroups": [{"uuid": NODEGROUP_UUID, "name": "a", "status": "X", "node_count": True}]},
    ],
)
def test_nodegroups_from_native_rejects_unexpected_bodies(native):
    with pytest.raises(UpstreamBadResponse):
        nodegroups_from_native(native)


def test_nodegroup_from_native_wraps_the_details():
    assert nodegroup_from_native(NATIVE_NODEGROUP) == {"nodegroup": PUBLIC_NODEGROUP}


def test_nodegroup_from_native_falls_back_to_labels_and_nulls():
    native = {
        "uuid": NEW_NODEGROUP_UUID,
        "name": "workers-2",
        "status": "CREATE_IN_PROGRESS",
        "node_count": 1,
        "labels": {"kube_tag": "v1.31.4", "boot_volume_size": "big"},
        "max_node_count": None,
        "min_node_count": "1",
        "node_addresses": None,
    }
    assert nodegroup_from_native(native) == {
        "nodegroup": {
            "uuid": NEW_NODEGROUP_UUID,
            "name": "workers-2",
            "status": "CREATE_IN_PROGRESS",
            "node_count": 1,
            "flavor_id": None,
            "image_id": None,
            "status_reason": None,
            "role": None,
            "min_node_count": 1,
            "max_node_count": None,
            "kubernetes_version": "v1.31.4",
            "availability_zone": None,
            "boot_volume_type": None,
            "boot_volume_size": None,
            "node_addresses": [],
            "created_at": None,
            "updated_at": None,
        }
    }
    with pytest.raises(UpstreamBadResponse):
        nodegroup_from_native({"nodegroup": NATIVE_NODEGROUP})


def test_nodegroup_to_native_sends_nks_required_labels_as_strings():
    body = {**NODEGROUP_BODY, "node_count": 3, "boot_volume_size": 100, "boot_volume_type": "X"}
    native = nodegroup_to_native(body, image_id=UBUNTU_NKS_IMAGE)
    assert native == native_nodegroup_body(node_count=3, size="100", volume_type="X")
    assert all(isinstance(value, str) for value in native["labels"].values())


def test_nodegroup_created_from_native_without_a_status_is_create_in_progress():
    assert nodegroup_created_from_native(NATIVE_NODEGROUP_CREATED) == {
        "nodegroup": {
            "uuid": NEW_NODEGROUP_UUID,
            "name": "workers-2",
            "status": "CREATE_IN_PROGRESS",
        }
    }
    given = {**NATIVE_NODEGROUP_CREATED, "status": "CREATE_COMPLETE"}
    assert nodegroup_created_from_native(given)["nodegroup"]["status"] == "CREATE_COMPLETE"
    with pytest.raises(UpstreamBadResponse):
        nodegroup_created_from_native({"uuid": NEW_NODEGROUP_UUID})


def test_resize_translations():
    assert resize_to_native({"nodegroup": "workers-2", "node_count": 4}) == {
        "node_count": 4,
        "nodegroup": "workers-2",
    }
    assert resized_from_native({"uuid": CLUSTER_UUID}, "test-k8s") == {
        "cluster": {"uuid": CLUSTER_UUID, "name": "test-k8s", "status": "UPDATE_IN_PROGRESS"}
    }
    with pytest.raises(UpstreamBadResponse):
        resized_from_native({"id": CLUSTER_UUID}, "test-k8s")


async def test_list_nodegroups(client, nhn):
    nhn.get(NODEGROUPS_URL, payload=NATIVE_NODEGROUPS)
    response = await client.get(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/", headers=network_headers()
    )
    assert response.status == 200
    assert await response.json() == PUBLIC_NODEGROUPS
    # one call: the list carries every public field
    call = nhn.only_call()
    assert (call.method, call.url, call.json) == ("GET", NODEGROUPS_URL, None)
    assert_nks_headers(call)


async def test_list_nodegroups_of_an_unknown_cluster_is_404(client, nhn):
    detail = "Cluster nope could not be found."
    nhn.get(f"{CLUSTERS_URL}/nope/nodegroups", status=404, payload=magnum_error(404, detail))
    response = await client.get("/api/nhn/nks/clusters/nope/nodegroups", headers=network_headers())
    assert response.status == 404
    assert await response.json() == {"error": detail, "code": 404}


async def test_get_nodegroup(client, nhn):
    nhn.get(f"{NODEGROUPS_URL}/default-worker", payload=NATIVE_NODEGROUP)
    response = await client.get(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/default-worker/", headers=network_headers()
    )
    assert response.status == 200
    assert await response.json() == {"nodegroup": PUBLIC_NODEGROUP}
    call = nhn.only_call()
    assert (call.method, call.url) == ("GET", f"{NODEGROUPS_URL}/default-worker")
    assert_nks_headers(call)


async def test_get_nodegroup_404_keeps_magnum_message(client, nhn):
    detail = "Nodegroup nope could not be found."
    nhn.get(f"{NODEGROUPS_URL}/nope", status=404, payload=magnum_error(404, detail))
    response = await client.get(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/nope", headers=network_headers()
    )
    assert response.status == 404
    assert await response.json() == {"error": detail, "code": 404}


async def test_create_nodegroup_looks_up_the_node_image(client, nhn):
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.post(NODEGROUPS_URL, status=202, payload=NATIVE_NODEGROUP_CREATED)
    response = await client.post(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/create/",
        json=NODEGROUP_BODY,
        headers=network_headers(),
    )
    assert response.status == 201
    assert await response.json() == {
        "nodegroup": {
            "uuid": NEW_NODEGROUP_UUID,
            "name": "workers-2",
            "status": "CREATE_IN_PROGRESS",
        }
    }
    calls = nhn.calls()
    assert [(call.method, normal(call.url)) for call in calls] == [
        ("GET", normal(IMAGES_URL)),
        ("POST", NODEGROUPS_URL),
    ]
    create = calls[1]
    assert_nks_headers(create)
    assert create.headers["Content-Type"] == "application/json"
    # the defaults: one node, a 50 GB General SSD boot volume
    assert create.json == native_nodegroup_body()


async def test_create_nodegroup_with_every_field(client, nhn):
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    nhn.post(NODEGROUPS_URL, status=202, payload=NATIVE_NODEGROUP_CREATED)
    body = {
        **NODEGROUP_BODY,
        "node_count": 4,
        "boot_volume_size": 100,
        "boot_volume_type": "General HDD",
    }
    response = await client.post(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/create",
        json=body,
        headers=network_headers(),
    )
    assert response.status == 201
    assert by_url(nhn)["POST", NODEGROUPS_URL].json == native_nodegroup_body(
        node_count=4, size="100", volume_type="General HDD"
    )


async def test_create_nodegroup_without_a_node_image_is_400_and_creates_nothing(client, nhn):
    nhn.get(IMAGES_URL, payload={"images": [], "schema": "/v2/schemas/images"})
    response = await client.post(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/create/",
        json=NODEGROUP_BODY,
        headers=network_headers(),
    )
    assert response.status == 400
    assert "node_image" in (await response.json())["error"]
    assert set(by_url(nhn)) == {("GET", normal(IMAGES_URL))}


async def test_create_nodegroup_nks_refusal_passes_through(client, nhn):
    nhn.get(IMAGES_URL, payload=NATIVE_IMAGES)
    detail = "Cluster API address is not available yet"
    nhn.post(NODEGROUPS_URL, status=409, payload=magnum_error(409, detail))
    response = await client.post(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/create/",
        json=NODEGROUP_BODY,
        headers=network_headers(),
    )
    assert response.status == 409
    assert await response.json() == {"error": detail, "code": 409}


INVALID_NODEGROUP_BODIES = (
    ({"instance_type": FLAVOR, "availability_zone": "kr2-pub-b"}, "name"),
    ({"name": "workers-2", "availability_zone": "kr2-pub-b"}, "instance_type"),
    ({"name": "workers-2", "instance_type": FLAVOR}, "availability_zone"),
    ({**NODEGROUP_BODY, "name": "Workers"}, "name"),
    ({**NODEGROUP_BODY, "name": "w" * 33}, "name"),
    ({**NODEGROUP_BODY, "name": "workers-"}, "name"),
    ({**NODEGROUP_BODY, "name": "abcdef0123456789abcdef0123456789"}, "name"),
    ({**NODEGROUP_BODY, "instance_type": "a/b"}, "instance_type"),
    ({**NODEGROUP_BODY, "availability_zone": "kr pub"}, "availability_zone"),
    ({**NODEGROUP_BODY, "node_count": 0}, "node_count"),
    ({**NODEGROUP_BODY, "node_count": 101}, "node_count"),
    ({**NODEGROUP_BODY, "node_count": "2"}, "node_count"),
    ({**NODEGROUP_BODY, "boot_volume_size": 9}, "boot_volume_size"),
    ({**NODEGROUP_BODY, "boot_volume_type": ""}, "boot_volume_type"),
    ({**NODEGROUP_BODY, "flavor_id": FLAVOR}, "flavor_id"),
)


async def test_create_nodegroup_validation_names_the_field(client, nhn):
    for body, field in INVALID_NODEGROUP_BODIES:
        response = await client.post(
            "/api/nhn/nks/clusters/test-k8s/nodegroups/create/",
            json=body,
            headers=network_headers(),
        )
        assert response.status == 400, (field, body)
        payload = await response.json()
        assert payload["code"] == 400 and field in payload["error"], (field, payload)
    assert nhn.calls() == []


async def test_delete_nodegroup(client, nhn):
    nhn.delete(f"{NODEGROUPS_URL}/workers-2", status=204)
    response = await client.delete(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/workers-2/", headers=network_headers()
    )
    assert response.status == 204
    assert await response.read() == b""
    call = nhn.only_call()
    assert (call.method, call.url, call.json) == ("DELETE", f"{NODEGROUPS_URL}/workers-2", None)
    assert_nks_headers(call)


async def test_deleting_the_default_worker_group_keeps_nks_400(client, nhn):
    detail = "Deleting a default nodegroup is not supported."
    nhn.delete(f"{NODEGROUPS_URL}/default-worker", status=400, payload=magnum_error(400, detail))
    response = await client.delete(
        "/api/nhn/nks/clusters/test-k8s/nodegroups/default-worker", headers=network_headers()
    )
    assert response.status == 400
    assert await response.json() == {"error": detail, "code": 400}
    assert nhn.only_call().method == "DELETE"


async def test_nodegroup_path_tricks_make_no_upstream_call(client, nhn):
    # ".." (even encoded) is resolved by the client itself: it then names the cluster's route
    for name in (trick for trick in PATH_TRICKS if trick not in ("..", "%2e%2e")):
        path = f"/api/nhn/nks/clusters/test-k8s/nodegroups/{name}/"
        for method in ("GET", "DELETE"):
            response = await client.request(method, path, headers=network_headers())
            assert response.status in (400, 404), (method, name, response.status)
    assert nhn.calls() == []


async def test_resize_reads_the_cluster_then_resizes_it_by_uuid(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/test-k8s", payload=NATIVE_CLUSTER)
    nhn.post(RESIZE_URL, status=202, payload={"uuid": CLUSTER_UUID})
    response = await client.post(
        "/api/nhn/nks/clusters/test-k8s/resize/",
        json={"nodegroup": "workers-2", "node_count": 4},
        headers=network_headers(),
    )
    assert response.status == 202
    assert await response.json() == {
        "cluster": {"uuid": CLUSTER_UUID, "name": "test-k8s", "status": "UPDATE_IN_PROGRESS"}
    }
    calls = nhn.calls()
    assert [(call.method, call.url) for call in calls] == [
        ("GET", f"{CLUSTERS_URL}/test-k8s"),
        ("POST", RESIZE_URL),
    ]
    resize = calls[1]
    assert_nks_headers(resize)
    assert resize.json == {"node_count": 4, "nodegroup": "workers-2"}


async def test_resize_defaults_to_the_default_worker_group(client, nhn):
    nhn.get(f"{CLUSTERS_URL}/{CLUSTER_UUID}", payload=NATIVE_CLUSTER)
    nhn.post(RESIZE_URL, status=202, payload={"uuid": CLUSTER_UUID})
    response = await client.post(
        f"/api/nhn/nks/clusters/{CLUSTER_UUID}/resize",
        json={"node_count": 2},
        headers=network_headers(),
    )
    assert response.status == 202
    assert (await response.json())["cluster"]["name"] == "test-k8s"
    assert by_url(nhn)["POST", RESIZE_URL].json == {"node_count": 2, "nodegroup": "default-worker"}


async def test_resize_of_an_unknown_cluster_is_404_without_a_resize(client, nhn):
    detail = "Cluster nope could not be found."
    nhn.get(f"{CLUSTERS_URL}/nope", status=404, payload=magnum_error(404, detail))
    response = await client.post(
        "/api/nhn/nks/clusters/nope/resize/",
        json={"nodegroup": "default-worker", "node_count": 2},
        headers=network_headers(),
    )
    assert response.status == 404
    assert await response.json() == {"error": detail, "code": 404}
    assert nhn.only_call().method == "GET"


async def test_resize_nks_refusal_passes_through(client, nhn):
    detail = (
        "Resizing default-worker outside the allowed range: min_node_count = 1, max_node_count = 10"
    )
    nhn.get(f"{CLUSTERS_URL}/test-k8s", payload=NATIVE_CLUSTER)
    nhn.post(RESIZE_URL, status=400, payload=magnum_error(400, detail))
    response = await client.post(
        "/api/nhn/nks/clusters/test-k8s/resize/",
        json={"nodegroup": "default-worker", "node_count": 11},
        headers=network_headers(),
    )
    assert response.status == 400
    assert await response.json() == {"error": detail, "code": 400}


async def test_resize_validation_names_the_field(client, nhn):
    for body, field in (
        ({}, "node_count"),
        ({"nodegroup": "default-worker"}, "node_count"),
        ({"node_count": 0}, "node_count"),
        ({"node_count": 101}, "node_count"),
        ({"node_count": "2"}, "node_count"),
        ({"node_count": True}, "node_count"),
        ({"node_count": 2, "nodegroup": ""}, "nodegroup"),
        ({"node_count": 2, "nodegroup": "a/b"}, "nodegroup"),
        ({"node_count": 2, "nodegroup": 3}, "nodegroup"),
        ({"node_count": 2, "nodes_to_remove": []}, "nodes_to_remove"),
    ):
        response = await client.post(
            "/api/nhn/nks/clusters/test-k8s/resize/", json=body, headers=network_headers()
        )
        assert response.status == 400, (field, body)
        payload = await response.json()
        assert field in payload["error"], (field, payload)
    assert nhn.calls() == []


async def test_new_nks_routes_are_refused_in_jp1_without_upstream_call(client, nhn):
    for method, path, body in (
        ("GET", "/api/nhn/nks/versions/", None),
        ("GET", "/api/nhn/nks/clusters/c1/nodegroups/", None),
        ("GET", "/api/nhn/nks/clusters/c1/nodegroups/default-worker/", None),
        ("POST", "/api/nhn/nks/clusters/c1/nodegroups/create/", NODEGROUP_BODY),
        ("DELETE", "/api/nhn/nks/clusters/c1/nodegroups/workers-2/", None),
        ("POST", "/api/nhn/nks/clusters/c1/resize/", {"node_count": 2}),
    ):
        response = await client.request(method, path, headers=network_headers("jp1"), json=body)
        assert response.status == 400, (method, path)
        error = (await response.json())["error"]
        assert "NKS" in error and "jp1" in error, (path, error)
    assert nhn.calls() == []


# --- watchers of the node group operations and of resize -------------------------------------


@pytest.fixture
async def upstream(settings, nhn):
    client = Upstream(settings.upstream, settings.regions.allowed)
    await client.start()
    yield client
    await client.close()


def nks_call(upstream, settings, body=None, **params):
    """The `Call` a task carries (NKS needs no tenant)."""
    environment = RouteEnvironment(
        upstream=upstream,
        allowed_regions=settings.regions.allowed,
        max_pages=settings.upstream.max_pages,
        sections={},
    )
    return Call(
        environment,
        NhnContext(request_id="req-nks-1", region="kr2", token=TOKEN),
        params=dict(params),
        body=body or {},
        plugin="kubernetes",
    )


def test_nodegroup_tasks_name_the_cluster_and_the_group(upstream, settings):
    call = nks_call(upstream, settings, cluster_name="test-k8s", nodegroup_name="workers-2")
    created = {"nodegroup": {"uuid": NEW_NODEGROUP_UUID, "name": "w", "status": "X"}}
    assert created_nodegroup_id(call, created) == f"test-k8s/{NEW_NODEGROUP_UUID}"
    assert deleted_nodegroup_id(call, None) == "test-k8s/workers-2"
    resized = {"cluster": {"uuid": CLUSTER_UUID, "name": "test-k8s", "status": "X"}}
    assert resized_cluster_id(call, resized) == CLUSTER_UUID


def nodegroup_state(status, reason=None, node_count=2):
    return {**NATIVE_NODEGROUP, "status": status, "status_reason": reason, "node_count": node_count}


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"])
async def test_nodegroup_create_is_pending_until_complete(upstream, settings, nhn, status):
    nhn.get(f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}", payload=nodegroup_state(status))
    call = nks_call(upstream, settings, cluster_name="test-k8s")
    poll = await poll_created_nodegroup(call, f"test-k8s/{NEW_NODEGROUP_UUID}")
    assert poll == Poll(PollState.PENDING)
    sent = nhn.only_call()
    assert (sent.method, sent.url) == ("GET", f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}")
    assert_nks_headers(sent)


async def test_nodegroup_create_succeeds_with_the_group_as_the_get_route_shows_it(
    upstream, settings, nhn
):
    nhn.get(f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}", payload=nodegroup_state("CREATE_COMPLETE"))
    call = nks_call(upstream, settings, cluster_name="test-k8s")
    poll = await poll_created_nodegroup(call, f"test-k8s/{NEW_NODEGROUP_UUID}")
    expected = {**PUBLIC_NODEGROUP, "status": "CREATE_COMPLETE", "status_reason": None}
    assert poll == Poll(PollState.SUCCEEDED, {"nodegroup": expected})


async def test_nodegroup_create_fails_with_the_status_reason(upstream, settings, nhn):
    reason = "Quota exceeded for instances"
    nhn.get(
        f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}",
        payload=nodegroup_state("CREATE_FAILED", reason),
    )
    call = nks_call(upstream, settings, cluster_name="test-k8s")
    poll = await poll_created_nodegroup(call, f"test-k8s/{NEW_NODEGROUP_UUID}")
    assert poll == Poll(PollState.FAILED, None, reason)


async def test_nodegroup_create_not_found_yet_is_pending(upstream, settings, nhn):
    # Magnum's API answers before its conductor has stored the group
    detail = f"Nodegroup {NEW_NODEGROUP_UUID} could not be found."
    nhn.get(f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}", status=404, payload=magnum_error(404, detail))
    nhn.get(f"{NODEGROUPS_URL}/{NEW_NODEGROUP_UUID}", status=403, payload=magnum_error(403, "No."))
    call = nks_call(upstream, settings, cluster_name="test-k8s")
    resource = f"test-k8s/{NEW_NODEGROUP_UUID}"
    assert await poll_created_nodegroup(call, resource) == Poll(PollState.PENDING)
    with pytest.raises(UpstreamHTTPError):
        await poll_created_nodegroup(call, resource)


async def test_nodegroup_delete_succeeds_once_the_group_is_gone(upstream, settings, nhn):
    detail = "Nodegroup workers-2 could not be found."
    nhn.get(f"{NODEGROUPS_URL}/workers-2", status=404, payload=magnum_error(404, detail))
    call = nks_call(upstream, settings, cluster_name="test-k8s", nodegroup_name="workers-2")
    assert await poll_deleted_nodegroup(call, "test-k8s/workers-2") == Poll(PollState.SUCCEEDED)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("DELETE_IN_PROGRESS", Poll(PollState.PENDING)),
        ("CREATE_COMPLETE", Poll(PollState.PENDING)),  # NKS has not started yet
        ("DELETE_COMPLETE", Poll(PollState.SUCCEEDED)),
        ("DELETE_FAILED", Poll(PollState.FAILED, None, "node group went to DELETE_FAILED")),
    ],
)
async def test_nodegroup_delete_judges_each_status(upstream, settings, nhn, status, expected):
    nhn.get(f"{NODEGROUPS_URL}/workers-2", payload=nodegroup_state(status))
    call = nks_call(upstream, settings, cluster_name="test-k8s", nodegroup_name="workers-2")
    assert await poll_deleted_nodegroup(call, "test-k8s/workers-2") == expected


async def test_nodegroup_delete_lets_other_errors_through(upstream, settings, nhn):
    nhn.get(f"{NODEGROUPS_URL}/workers-2", status=403, payload=magnum_error(403, "No."))
    call = nks_call(upstream, settings, cluster_name="test-k8s", nodegroup_name="workers-2")
    with pytest.raises(UpstreamHTTPError):
        await poll_deleted_nodegroup(call, "test-k8s/workers-2")


RESIZE_BODY = {"nodegroup": "default-worker", "node_count": 2}
CLUSTER_GET_URL = f"{CLUSTERS_URL}/{CLUSTER_UUID}"
RESIZED_GROUP_URL = f"{CLUSTERS_URL}/{CLUSTER_UUID}/nodegroups/default-worker"


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_IN_PROGRESS"])
async def test_resize_is_pending_until_update_complete(upstream, settings, nhn, status):
    nhn.get(CLUSTER_GET_URL, payload={**NATIVE_CLUSTER, "status": status})
    call = nks_call(upstream, settings, RESIZE_BODY, cluster_name="test-k8s")
    assert await poll_resized_cluster(call, CLUSTER_UUID) == Poll(PollState.PENDING)
    sent = nhn.only_call()
    assert (sent.method, sent.url) == ("GET", CLUSTER_GET_URL)
    assert_nks_headers(sent)


async def test_resize_succeeds_once_the_group_has_its_new_size(upstream, settings, nhn):
    complete = {**NATIVE_CLUSTER, "status": "UPDATE_COMPLETE", "node_count": 2}
    nhn.get(CLUSTER_GET_URL, payload=complete)
    nhn.get(RESIZED_GROUP_URL, payload=nodegroup_state("UPDATE_COMPLETE", node_count=2))
    call = nks_call(upstream, settings, RESIZE_BODY, cluster_name="test-k8s")
    poll = await poll_resized_cluster(call, CLUSTER_UUID)
    expected = {**PUBLIC_CLUSTER, "status": "UPDATE_COMPLETE", "node_count": 2}
    assert poll == Poll(PollState.SUCCEEDED, {"cluster": expected})
    assert [(c.method, c.url) for c in nhn.calls()] == [
        ("GET", CLUSTER_GET_URL),
        ("GET", RESIZED_GROUP_URL),
    ]


async def test_resize_an_earlier_update_complete_is_still_pending(upstream, settings, nhn):
    # the group still has its old size: NKS has not taken this resize up yet
    nhn.get(CLUSTER_GET_URL, payload={**NATIVE_CLUSTER, "status": "UPDATE_COMPLETE"})
    nhn.get(RESIZED_GROUP_URL, payload=nodegroup_state("UPDATE_COMPLETE", node_count=1))
    call = nks_call(upstream, settings, RESIZE_BODY, cluster_name="test-k8s")
    assert await poll_resized_cluster(call, CLUSTER_UUID) == Poll(PollState.PENDING)


async def test_resize_fails_with_the_status_reason(upstream, settings, nhn):
    reason = "Resource UPDATE failed: quota exceeded"
    nhn.get(
        CLUSTER_GET_URL,
        payload={**NATIVE_CLUSTER, "status": "UPDATE_FAILED", "status_reason": reason},
    )
    call = nks_call(upstream, settings, RESIZE_BODY, cluster_name="test-k8s")
    assert await poll_resized_cluster(call, CLUSTER_UUID) == Poll(PollState.FAILED, None, reason)


# --- settings and demo -----------------------------------------------------------------------


async def test_regions_come_from_the_kubernetes_section(aiohttp_client, nhn):
    settings = load_settings(environ={}, overrides={"kubernetes": {"regions": ["KR1"]}})
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/api/nhn/nks/clusters/", headers=network_headers("kr2"))
    assert response.status == 400
    assert "use one of: kr1" in (await response.json())["error"]
    assert nhn.calls() == []
    document = await (await client.get("/api/docs/openapi.json")).json()
    region = next(
        parameter
        for parameter in document["paths"]["/api/nhn/nks/clusters/"]["get"]["parameters"]
        if parameter["name"] == "X-NHN-Region"
    )
    assert region["schema"]["enum"] == ["kr1"]


def test_demo_examples_fill_the_create_body_with_the_demo_key_pair():
    demo = DEMO
    assert nhn_proxy_demo_examples(demo) == {ClusterCreateSchema: {"keypair_name": "demo-keypair"}}


# --- OpenAPI ---------------------------------------------------------------------------------


async def test_openapi_documents_the_nks_routes(client):
    response = await client.get("/api/docs/openapi.json")
    assert response.status == 200
    document = await response.json()
    paths = document["paths"]
    assert {"get"} <= set(paths["/api/nhn/nks/clusters/"])
    assert {"post"} <= set(paths["/api/nhn/nks/clusters/create/"])
    assert {"get", "delete"} <= set(paths["/api/nhn/nks/clusters/{cluster_name}/"])
    assert {"get"} <= set(paths["/api/nhn/nks/clusters/{cluster_name}/config/"])
    region = next(
        parameter
        for parameter in paths["/api/nhn/nks/clusters/"]["get"]["parameters"]
        if parameter["name"] == "X-NHN-Region"
    )
    assert region["schema"]["enum"] == ["kr1", "kr2", "kr3"]
    assert {"get"} <= set(paths["/api/nhn/nks/versions/"])
    assert {"get"} <= set(paths["/api/nhn/nks/clusters/{cluster_name}/nodegroups/"])
    assert {"post"} <= set(paths["/api/nhn/nks/clusters/{cluster_name}/nodegroups/create/"])
    nodegroup = paths["/api/nhn/nks/clusters/{cluster_name}/nodegroups/{nodegroup_name}/"]
    assert {"get", "delete"} <= set(nodegroup)
    resize = paths["/api/nhn/nks/clusters/{cluster_name}/resize/"]["post"]
    assert "202" in resize["responses"]
    schemas = document["components"]["schemas"]
    assert {"ClusterCreate", "ClusterDetail", "ClusterSummary", "Kubeconfig"} <= set(schemas)
    assert {
        "KubernetesVersionList",
        "NodeGroupList",
        "NodeGroupAnswer",
        "NodeGroupCreate",
        "NodeGroupCreated",
        "ClusterResize",
    } <= set(schemas)
    assert schemas["NodeGroupCreate"]["required"] == [
        "availability_zone",
        "instance_type",
        "name",
    ]

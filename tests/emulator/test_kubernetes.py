"""NKS (Magnum): cluster lifecycle, validation, kubeconfig, node groups, supports."""

from __future__ import annotations

import base64
import copy

from .conftest import CLUSTER_DELAY
from .doc_examples import EXAMPLES
from .shapes import assert_conforms

NKS = "/kr1/kubernetes/v1"


async def cluster_body(emu, name: str = "test-k8s") -> dict:
    """NHN's documented create example with ids from the emulator."""
    body = copy.deepcopy(EXAMPLES["cluster_create_request"])
    subnet = await emu.default_subnet()
    external = (
        await emu.json("GET", "/kr1/network/v2.0/networks", params={"router:external": "True"})
    )["networks"][0]
    node_image = (
        await emu.json(
            "GET", "/kr1/image/v2/images", params={"nhncloud_allow_nks_cpu_flavor": "true"}
        )
    )["images"][0]
    body.update(
        name=name,
        fixed_network=subnet["vpc_id"],
        fixed_subnet=subnet["id"],
        flavor_id=(await emu.flavor("m2.c4m8"))["id"],
        keypair=await emu.keypair(),
    )
    labels = body["labels"]
    labels.update(
        availability_zone="kr-pub-a",
        node_image=node_image["id"],
        external_network_id=external["id"],
        external_subnet_id_list=":".join(external["subnets"]),
    )
    labels["extra_security_groups"][0]["target_subnet"] = subnet["id"]
    return body


async def test_supports_matches_documented_example(emu):
    body = await emu.json("GET", f"{NKS}/supports")
    assert_conforms(body, EXAMPLES["supports"])
    assert body["supported_k8s"]["v1.32.3"] is True and body["supported_k8s"]["v1.28.3"] is False


async def test_cluster_lifecycle(emu):
    created = await emu.json("POST", f"{NKS}/clusters", 202, json=await cluster_body(emu))
    assert_conforms(created, EXAMPLES["cluster_create"])
    uuid = created["uuid"]
    cluster = await emu.json("GET", f"{NKS}/clusters/{uuid}")
    assert cluster["status"] == "CREATE_IN_PROGRESS"
    not_ready = await emu.call("GET", f"{NKS}/clusters/{uuid}/config")
    assert not_ready.status == 409 and "errors" in await not_ready.json()

    emu.clock.advance(CLUSTER_DELAY + 0.001)
    cluster = await emu.json("GET", f"{NKS}/clusters/test-k8s")  # by name
    assert_conforms(cluster, EXAMPLES["cluster_get"], opaque=("health_status_reason", "labels"))
    assert cluster["status"] == "CREATE_COMPLETE" and cluster["uuid"] == uuid
    assert cluster["created_at"].endswith("+00:00")
    assert all(
        isinstance(v, str)
        for k, v in cluster["labels"].items()
        if k not in ("extra_security_groups", "extra_volumes")
    )
    listed = await emu.json("GET", f"{NKS}/clusters")
    assert_conforms(listed, EXAMPLES["clusters"], opaque=("health_status_reason",))

    config = await emu.json("GET", f"{NKS}/clusters/{uuid}/config")
    assert_conforms(config, EXAMPLES["cluster_config"])
    kubeconfig = config["config"]
    assert kubeconfig.startswith(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRU"
    )
    assert 'name: "test-k8s"' in kubeconfig and "current-context: default" in kubeconfig
    key_line = next(line for line in kubeconfig.splitlines() if "client-key-data" in line)
    assert base64.b64decode(key_line.split(": ")[1]).startswith(b"-----BEGIN RSA PRIVATE KEY-----")

    groups = await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups")
    assert_conforms(groups, EXAMPLES["nodegroups"])
    group = await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups/default-worker")
    assert group["node_count"] == 1 and group["cluster_id"] == uuid and group["role"] == "worker"
    assert (await emu.call("GET", f"{NKS}/clusters/{uuid}/nodegroups/nope")).status == 404

    assert (await emu.call("DELETE", f"{NKS}/clusters/test-k8s")).status == 204
    assert (await emu.json("GET", f"{NKS}/clusters/{uuid}"))["status"] == "DELETE_IN_PROGRESS"
    assert (await emu.call("DELETE", f"{NKS}/clusters/{uuid}")).status == 409
    emu.clock.advance(CLUSTER_DELAY + 0.001)
    gone = await emu.call("GET", f"{NKS}/clusters/{uuid}")
    assert gone.status == 404
    error = (await gone.json())["errors"][0]
    assert error == {
        "request_id": "",
        "code": "client",
        "status": 404,
        "title": f"Cluster {uuid} could not be found",
        "detail": f"Cluster {uuid} could not be found.",
        "links": [],
    }


async def test_cluster_create_validation(emu):
    good = await cluster_body(emu)

    def variant(**changes):
        body = copy.deepcopy(good)
        for key, value in changes.items():
            if key.startswith("label_"):
                label = key[len("label_") :]
                if value is None:
                    body["labels"].pop(label)
                else:
                    body["labels"][label] = value
            elif value is None:
                body.pop(key)
            else:
                body[key] = value
        return body

    cases = [
        (variant(cluster_template_id="other"), 400),
        (variant(name=None), 400),
        (variant(label_kube_tag="v1.28.3"), 400),
        (variant(label_kube_tag="v9.9.9"), 400),
        (variant(label_node_image=None), 400),
        (variant(label_boot_volume_size=20), 400),
        (variant(label_availability_zone="jp-pub-a"), 400),
        (variant(fixed_network="nope"), 400),
        (variant(fixed_subnet="nope"), 400),
        (variant(flavor_id="nope"), 400),
        (variant(keypair="nope"), 404),
        (variant(node_count=0), 400),
        (variant(label_external_network_id="nope"), 400),
    ]
    for body, status in cases:
        response = await emu.call("POST", f"{NKS}/clusters", json=body)
        assert response.status == status, (body, await response.text())
        errors = (await response.json())["errors"]
        assert errors[0]["status"] == status and errors[0]["code"] == "client"
    malformed = await emu.call(
        "POST", f"{NKS}/clusters", data=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status == 400 and "errors" in await malformed.json()
    await emu.json("POST", f"{NKS}/clusters", 202, json=good)
    duplicate = await emu.call("POST", f"{NKS}/clusters", json=good)
    assert duplicate.status == 409


async def test_nks_only_in_nks_regions(emu):
    response = await emu.call("GET", "/jp1/kubernetes/v1/clusters")
    assert response.status == 404
    assert (await response.json())["errors"][0]["status"] == 404


async def test_unemulated_nks_endpoint_is_501(emu):
    response = await emu.call("GET", f"{NKS}/clusters/test-k8s/events")
    assert response.status == 501
    assert (await response.json())["errors"][0]["code"] == "server"


async def _create_status(emu, body) -> tuple[int, str]:
    response = await emu.call("POST", f"{NKS}/clusters", json=body)
    payload = await response.json()
    if response.status == 202:
        return 202, payload["uuid"]
    error = payload["errors"][0]
    assert error["status"] == response.status and error["code"] == "client", payload
    return response.status, error["detail"]


async def test_cluster_names_follow_nks_rule(emu):
    """NKS user guide: at most 32 lowercase letters, digits and '-', a letter first, a letter
    or digit last, never a UUID (2022-11-29 release: 20 -> 32 characters)."""
    good = await cluster_body(emu)
    accepted = ["k" * 32, "a", "my-cluster-01", "x1"]
    refused = [
        "k" * 33,
        "My-cluster",
        "1cluster",
        "cluster-",
        "my_cluster",
        "my.cluster",
        "",
        "abcdef0123456789abcdef0123456789",  # 32 hex digits: Magnum reads it as a UUID
        "5801ef8a-3760-4858-b467-fc4c1201241d",
        7,
    ]
    for name in refused:
        status, detail = await _create_status(emu, {**good, "name": name})
        assert status == 400, (name, detail)
        assert detail.startswith("Invalid input for field/attribute name.") and "32" in detail
    for name in accepted:
        status, _ = await _create_status(emu, {**good, "name": name})
        assert status == 202, name
    names = {c["name"] for c in (await emu.json("GET", f"{NKS}/clusters"))["clusters"]}
    assert names == set(accepted)


async def test_cluster_addons_checked_as_nks_does(emu):
    good = await cluster_body(emu)
    calico = {"name": "calico", "version": "v3.28.2-nks1", "options": {"mode": "vxlan"}}
    coredns = {"name": "coredns", "version": "1.8.4-nks1"}

    def with_addons(name: str, addons):
        body = copy.deepcopy(good)
        body["name"] = name
        if addons is None:
            body.pop("addons")
        else:
            body["addons"] = addons
        return body

    refused = {
        "no CNI": [coredns],
        "no kube-dns": [calico],
        "empty": [],
        "unknown add-on": [calico, coredns, {"name": "weave", "version": "v2.8.1"}],
        "unknown version": [{**calico, "version": "v3.99.0-nks1"}, coredns],
        "coredns version of calico": [{**calico, "version": "1.8.4-nks1"}, coredns],
        "twice": [calico, calico, coredns],
        "unknown mode": [{**calico, "options": {"mode": "ipip"}}, coredns],
        "unknown option": [calico, {**coredns, "options": {"replicas": 2}}],
        "options not an object": [{**calico, "options": "vxlan"}, coredns],
        "not a list": {"calico": "v3.28.2-nks1"},
        "no version": [{"name": "calico"}, coredns],
    }
    for case, addons in refused.items():
        status, detail = await _create_status(emu, with_addons("refused", addons))
        assert status == 400, (case, detail)
    status, detail = await _create_status(emu, with_addons("x", [calico]))
    assert "type kube-dns is required" in detail
    status, detail = await _create_status(
        emu, with_addons("x", [calico, coredns, {"name": "weave", "version": "v2.8.1"}])
    )
    assert "Add-on weave could not be found" in detail

    accepted = {
        "documented": [calico, coredns],
        "newer builds": [
            {"name": "calico", "version": "v3.30.2-nks2", "options": {"mode": "ebpf"}},
            {"name": "coredns", "version": "1.8.4-nks2", "options": {}},
        ],
        "default mode": [{"name": "calico", "version": "v3.28.2-nks2"}, coredns],
        "optional add-ons too": [
            calico,
            coredns,
            {"name": "metrics-server", "version": "v0.4.4-nks1"},
            {"name": "cinder-csi-plugin", "version": "v1.27.102-nks3"},
        ],
        # NHN's API guide marks `addons` optional
        "none given": None,
    }
    for index, addons in enumerate(accepted.values()):
        status, _ = await _create_status(emu, with_addons(f"accepted-{index}", addons))
        assert status == 202, addons
    assert len((await emu.json("GET", f"{NKS}/clusters"))["clusters"]) == len(accepted)


async def test_addon_catalog(emu):
    """NHN's "View a List of Add-ons" / "View Add-ons" / add-on types."""
    addons = (await emu.json("GET", f"{NKS}/addons/"))["addons"]
    assert (await emu.json("GET", f"{NKS}/addons"))["addons"] == addons
    by_version = {(a["name"], a["version"]): a for a in addons}
    calico = by_version[("calico", "v3.28.2-nks1")]
    # NHN's documented example entry, but for the uuid
    assert {k: v for k, v in calico.items() if k != "uuid"} == {
        "type": "cni",
        "version": "v3.28.2-nks1",
        "name": "calico",
        "option_schemas": [
            {
                "name": "mode",
                "data_type": "SELECT",
                "default": "vxlan",
                "updatable": False,
                "mandatory": False,
                "choices": ["vxlan", "ebpf"],
            }
        ],
        "k8s_min_version": "v1.26.0",
        "k8s_max_version": None,
        "description": "Calico is a CNI plugin for Kubernetes that provides networking and "
        "network security.",
    }
    coredns = by_version[("coredns", "1.8.4-nks1")]
    assert coredns["type"] == "kube-dns" and coredns["option_schemas"] == []
    assert ("calico", "v3.30.2-nks2") in by_version and ("coredns", "1.8.4-nks2") in by_version
    assert len({a["uuid"] for a in addons}) == len(addons)
    assert await emu.json("GET", f"{NKS}/addons/{calico['uuid']}") == calico
    missing = await emu.call("GET", f"{NKS}/addons/{calico['name']}")
    assert missing.status == 404 and (await missing.json())["errors"][0]["status"] == 404

    types = (await emu.json("GET", f"{NKS}/addon_types/"))["addon_types"]
    mandatory = {t["name"]: t["mandatory"] for t in types}
    assert mandatory == {
        "cni": True,
        "kube-dns": True,
        "cinder-csi-plugin": False,
        "metrics-server": False,
        "snapshot-controller": False,
        "nfs-csi-plugin": False,
    }
    cni = next(t for t in types if t["name"] == "cni")
    assert await emu.json("GET", f"{NKS}/addon_types/cni") == cni
    assert await emu.json("GET", f"{NKS}/addon_types/{cni['uuid']}") == cni
    assert {a["type"] for a in addons} == set(mandatory)
    assert (await emu.call("GET", f"{NKS}/addon_types/flannel")).status == 404


async def test_external_labels_required_where_the_subnet_reaches_an_internet_gateway(emu):
    """NHN: external_network_id / external_subnet_id_list "must be set when a router
    associated with a VPC subnet is attached to the internet gateway" — private or not."""
    good = await cluster_body(emu)

    def private(name: str, subnet: dict | None = None, *, external: bool) -> dict:
        body = copy.deepcopy(good)
        body["name"] = name
        body["labels"]["master_lb_floating_ip_enabled"] = "false"
        if subnet is not None:
            body["fixed_network"], body["fixed_subnet"] = subnet["vpc_id"], subnet["id"]
            body["labels"].pop("extra_security_groups")
        if not external:
            for key in ("external_network_id", "external_subnet_id_list"):
                body["labels"].pop(key)
        return body

    # the default subnet's routing table has the seeded internet gateway
    status, detail = await _create_status(emu, private("bare", external=False))
    assert status == 400 and "internet gateway" in detail
    only_network = private("half", external=True)
    only_network["labels"].pop("external_subnet_id_list")
    assert (await _create_status(emu, only_network))[0] == 400
    assert (await _create_status(emu, private("labelled", external=True)))[0] == 202

    # a new VPC has no internet gateway: a private cluster needs no labels there
    vpc = (
        await emu.json(
            "POST",
            "/kr1/network/v2.0/vpcs",
            201,
            json={"vpc": {"name": "inner", "cidrv4": "10.20.0.0/16"}},
        )
    )["vpc"]
    subnet = (
        await emu.json(
            "POST",
            "/kr1/network/v2.0/vpcsubnets",
            201,
            json={"vpcsubnet": {"vpc_id": vpc["id"], "cidr": "10.20.1.0/24", "name": "s"}},
        )
    )["vpcsubnet"]
    assert (await _create_status(emu, private("inner", subnet, external=False)))[0] == 202
    names = {c["name"] for c in (await emu.json("GET", f"{NKS}/clusters"))["clusters"]}
    assert names == {"labelled", "inner"}


# -- node groups and resize (NKS API guide "Node Groups" and "Resize"; Magnum's node group API) --

# NKS's "Create Node Group" answer fields (no status yet: Magnum sets it afterwards)
NODEGROUP_CREATED_KEYS = {
    "cluster_id",
    "flavor_id",
    "image_id",
    "labels",
    "links",
    "max_node_count",
    "min_node_count",
    "name",
    "node_count",
    "project_id",
    "role",
    "uuid",
}
# NKS's "View Node Group" fields
NODEGROUP_DETAIL_KEYS = {
    "uuid",
    "id",
    "name",
    "cluster_id",
    "project_id",
    "flavor_id",
    "image_id",
    "labels",
    "max_node_count",
    "min_node_count",
    "node_count",
    "node_addresses",
    "role",
    "is_default",
    "stack_id",
    "status",
    "status_reason",
    "docker_volume_size",
    "version",
    "links",
    "created_at",
    "updated_at",
}


async def created_cluster(emu, name: str = "test-k8s", *, complete: bool = True) -> str:
    created = await emu.json("POST", f"{NKS}/clusters", 202, json=await cluster_body(emu, name))
    if complete:
        emu.clock.advance(CLUSTER_DELAY + 0.001)
    return created["uuid"]


async def nodegroup_body(emu, name: str = "workers-2", **changes) -> dict:
    """NHN's documented create example with ids from the emulator."""
    node_image = (
        await emu.json(
            "GET", "/kr1/image/v2/images", params={"nhncloud_allow_nks_cpu_flavor": "true"}
        )
    )["images"][0]
    body = {
        "name": name,
        "node_count": 1,
        "flavor_id": (await emu.flavor("m2.c4m8"))["id"],
        "image_id": node_image["id"],
        "labels": {
            "availability_zone": "kr-pub-a",
            "boot_volume_size": "20",
            "boot_volume_type": "General HDD",
            "ca_enable": "false",
        },
    }
    body.update(changes)
    return body


async def available_addresses(emu) -> int:
    return (await emu.default_subnet())["available_ip_count"]


def magnum_error(detail: str, status: int) -> dict:
    """Magnum's parsable error: the detail ends with a period, the title is its first
    sentence without one."""
    assert detail.endswith(".")
    return {
        "errors": [
            {
                "request_id": "",
                "code": "client",
                "status": status,
                "title": detail.split(". ")[0].removesuffix("."),
                "detail": detail,
                "links": [],
            }
        ]
    }


async def test_a_new_cluster_has_its_default_worker_group(emu):
    uuid = await created_cluster(emu, complete=False)
    groups = (await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups"))["nodegroups"]
    assert [group["status"] for group in groups] == ["CREATE_IN_PROGRESS"]
    emu.clock.advance(CLUSTER_DELAY + 0.001)
    listed = await emu.json("GET", f"{NKS}/clusters/test-k8s/nodegroups/")
    assert_conforms(listed, EXAMPLES["nodegroups"])
    (group,) = listed["nodegroups"]
    assert group["name"] == "default-worker" and group["status"] == "CREATE_COMPLETE"
    assert (group["min_node_count"], group["max_node_count"], group["node_count"]) == (1, 10, 1)
    by_uuid = await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups/{group['uuid']}")
    assert set(by_uuid) == NODEGROUP_DETAIL_KEYS
    assert by_uuid["status_reason"] == "Stack CREATE completed successfully"
    assert by_uuid["version"] == "v1.32.3" and by_uuid["labels"]["kube_tag"] == "v1.32.3"
    assert len(by_uuid["node_addresses"]) == 1 and by_uuid["cluster_id"] == uuid


async def test_nodegroup_lifecycle(emu):
    before = await available_addresses(emu)
    uuid = await created_cluster(emu)
    path = f"{NKS}/clusters/{uuid}/nodegroups"
    created = await emu.json("POST", path, 202, json=await nodegroup_body(emu, node_count=2))
    assert set(created) == NODEGROUP_CREATED_KEYS
    assert created["cluster_id"] == uuid and created["max_node_count"] is None
    assert created["labels"]["ca_enable"] == "false"
    assert created["labels"]["clusterautoscale"] == "nodegroupfeature"
    assert created["labels"]["user_script_v2"] == ""
    assert all(isinstance(value, str) for value in created["labels"].values())

    group = await emu.json("GET", f"{path}/workers-2")
    assert group["status"] == "CREATE_IN_PROGRESS" and group["node_addresses"] == []
    assert group["status_reason"] is None and group["updated_at"] is None
    cluster = await emu.json("GET", f"{NKS}/clusters/{uuid}")
    assert cluster["node_count"] == 3 and cluster["status"] == "CREATE_COMPLETE"
    assert await available_addresses(emu) == before - 3

    emu.clock.advance(CLUSTER_DELAY + 0.001)
    group = await emu.json("GET", f"{path}/{created['uuid']}")
    assert group["status"] == "CREATE_COMPLETE" and len(group["node_addresses"]) == 2
    assert group["updated_at"].endswith("+00:00")
    names = [g["name"] for g in (await emu.json("GET", path))["nodegroups"]]
    assert names == ["default-worker", "workers-2"]

    duplicate = await emu.call("POST", path, json=await nodegroup_body(emu))
    assert duplicate.status == 409
    assert await duplicate.json() == magnum_error(
        "A node group with name workers-2 already exists in the cluster test-k8s.", 409
    )

    assert (await emu.call("DELETE", f"{path}/workers-2")).status == 204
    assert (await emu.json("GET", f"{path}/workers-2"))["status"] == "DELETE_IN_PROGRESS"
    again = await emu.call("DELETE", f"{path}/workers-2")
    assert again.status == 400
    emu.clock.advance(CLUSTER_DELAY + 0.001)
    gone = await emu.call("GET", f"{path}/workers-2")
    assert gone.status == 404
    assert await gone.json() == magnum_error("Nodegroup workers-2 could not be found.", 404)
    assert (await emu.json("GET", f"{NKS}/clusters/{uuid}"))["node_count"] == 1
    # the deleted group's addresses are free again
    assert await available_addresses(emu) == before - 1


async def test_the_default_worker_group_cannot_be_deleted(emu):
    uuid = await created_cluster(emu)
    response = await emu.call("DELETE", f"{NKS}/clusters/{uuid}/nodegroups/default-worker")
    assert response.status == 400
    assert await response.json() == magnum_error(
        "Deleting a default nodegroup is not supported.", 400
    )
    groups = (await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups"))["nodegroups"]
    assert [group["status"] for group in groups] == ["CREATE_COMPLETE"]


async def test_a_nodegroup_needs_a_created_cluster(emu):
    uuid = await created_cluster(emu, complete=False)
    response = await emu.call(
        "POST", f"{NKS}/clusters/{uuid}/nodegroups", json=await nodegroup_body(emu)
    )
    assert response.status == 409
    assert await response.json() == magnum_error("Cluster API address is not available yet.", 409)
    missing = await emu.call("POST", f"{NKS}/clusters/nope/nodegroups", json={})
    assert missing.status == 404


async def test_nodegroup_create_validation(emu):
    uuid = await created_cluster(emu)
    good = await nodegroup_body(emu)

    def labels(**changes):
        merged = {**good["labels"], **changes}
        return {**good, "labels": {k: v for k, v in merged.items() if v is not None}}

    refused = {
        "no name": {k: v for k, v in good.items() if k != "name"},
        "no flavor": {k: v for k, v in good.items() if k != "flavor_id"},
        "no image": {k: v for k, v in good.items() if k != "image_id"},
        "no labels": {k: v for k, v in good.items() if k != "labels"},
        "capital name": {**good, "name": "Workers"},
        "long name": {**good, "name": "w" * 33},
        "uuid name": {**good, "name": "5801ef8a-3760-4858-b467-fc4c1201241d"},
        "no nodes": {**good, "node_count": 0},
        "over quota": {**good, "node_count": 11},
        "count as text": {**good, "node_count": "two"},
        "unknown flavor": {**good, "flavor_id": "nope"},
        "not an NKS image": {**good, "image_id": (await emu.image())["id"]},
        "master": {**good, "role": "master"},
        "no zone": labels(availability_zone=None),
        "no volume type": labels(boot_volume_type=None),
        "no volume size": labels(boot_volume_size=None),
        "no autoscaler flag": labels(ca_enable=None),
        "unknown zone": labels(availability_zone="jp-pub-a"),
        "unknown volume type": labels(boot_volume_type="Fast"),
        "tiny volume": labels(boot_volume_size="5"),
        "number label": labels(boot_volume_size=20),
        "odd flag": labels(ca_enable="maybe"),
    }
    for case, body in refused.items():
        response = await emu.call("POST", f"{NKS}/clusters/{uuid}/nodegroups", json=body)
        assert response.status == 400, (case, await response.text())
        (error,) = (await response.json())["errors"]
        assert error["status"] == 400 and error["code"] == "client", case
    groups = (await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups"))["nodegroups"]
    assert [group["name"] for group in groups] == ["default-worker"]
    # node_count defaults to 1
    body = {k: v for k, v in good.items() if k != "node_count"}
    created = await emu.json("POST", f"{NKS}/clusters/{uuid}/nodegroups/", 202, json=body)
    assert created["node_count"] == 1


async def test_resize(emu):
    before = await available_addresses(emu)
    uuid = await created_cluster(emu)
    resize = f"{NKS}/clusters/test-k8s/actions/resize"
    answer = await emu.json(
        "POST", resize, 202, json={"node_count": 3, "nodegroup": "default-worker"}
    )
    assert answer == {"uuid": uuid}
    cluster = await emu.json("GET", f"{NKS}/clusters/{uuid}")
    assert cluster["status"] == "UPDATE_IN_PROGRESS" and cluster["node_count"] == 3
    assert cluster["api_address"] and len(cluster["node_addresses"]) == 3
    group = await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups/default-worker")
    assert (group["status"], group["node_count"]) == ("UPDATE_IN_PROGRESS", 3)
    assert group["status_reason"] is None
    assert await available_addresses(emu) == before - 3
    # the kubeconfig stays available while the cluster changes
    assert (await emu.call("GET", f"{NKS}/clusters/{uuid}/config")).status == 200
    busy = await emu.call("POST", resize, json={"node_count": 2})
    assert busy.status == 400
    assert "UPDATE_IN_PROGRESS" in (await busy.json())["errors"][0]["detail"]

    emu.clock.advance(CLUSTER_DELAY + 0.001)
    cluster = await emu.json("GET", f"{NKS}/clusters/{uuid}")
    assert cluster["status"] == "UPDATE_COMPLETE" and cluster["node_count"] == 3
    group = await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups/default-worker")
    assert group["status"] == "UPDATE_COMPLETE"
    assert group["status_reason"] == "Stack UPDATE completed successfully"

    # without `nodegroup` Magnum resizes the default worker group; shrinking frees addresses
    await emu.json("POST", resize, 202, json={"node_count": 1})
    emu.clock.advance(CLUSTER_DELAY + 0.001)
    assert (await emu.json("GET", f"{NKS}/clusters/{uuid}"))["node_count"] == 1
    assert await available_addresses(emu) == before - 1


async def test_resize_refusals(emu):
    uuid = await created_cluster(emu, complete=False)
    resize = f"{NKS}/clusters/{uuid}/actions/resize"
    creating = await emu.call("POST", resize, json={"node_count": 2})
    assert creating.status == 400
    assert await creating.json() == magnum_error(
        'Resizing a cluster when status is "CREATE_IN_PROGRESS" is not supported.', 400
    )
    emu.clock.advance(CLUSTER_DELAY + 0.001)
    await emu.json("POST", f"{NKS}/clusters/{uuid}/nodegroups", 202, json=await nodegroup_body(emu))
    group_busy = await emu.call("POST", resize, json={"node_count": 2, "nodegroup": "workers-2"})
    assert group_busy.status == 400
    assert await group_busy.json() == magnum_error(
        "Nodegroup workers-2 already has an operation in progress.", 400
    )
    out_of_bounds = await emu.call("POST", resize, json={"node_count": 11})
    assert out_of_bounds.status == 400
    assert await out_of_bounds.json() == magnum_error(
        "Resizing default-worker outside the allowed range: min_node_count = 1, "
        "max_node_count = 10.",
        400,
    )
    for body in (
        {},
        {"node_count": 0},
        {"node_count": "x"},
        {"node_count": True},
        {"node_count": 2, "nodegroup": 5},
        {"node_count": 2, "nodes_to_remove": "abc"},
    ):
        response = await emu.call("POST", resize, json=body)
        assert response.status == 400, body
    unknown = await emu.call("POST", resize, json={"node_count": 2, "nodegroup": "nope"})
    assert unknown.status == 404
    missing = await emu.call("POST", f"{NKS}/clusters/nope/actions/resize", json={"node_count": 2})
    assert missing.status == 404
    # nothing changed
    cluster = await emu.json("GET", f"{NKS}/clusters/{uuid}")
    assert cluster["status"] == "CREATE_COMPLETE" and cluster["node_count"] == 2


async def test_deleting_a_cluster_deletes_its_groups_and_frees_their_addresses(emu):
    before = await available_addresses(emu)
    uuid = await created_cluster(emu)
    await emu.json(
        "POST",
        f"{NKS}/clusters/{uuid}/nodegroups",
        202,
        json=await nodegroup_body(emu, node_count=3),
    )
    assert (await emu.call("DELETE", f"{NKS}/clusters/{uuid}")).status == 204
    groups = (await emu.json("GET", f"{NKS}/clusters/{uuid}/nodegroups"))["nodegroups"]
    assert {group["status"] for group in groups} == {"DELETE_IN_PROGRESS"}
    emu.clock.advance(CLUSTER_DELAY + 0.001)
    assert (await emu.call("GET", f"{NKS}/clusters/{uuid}/nodegroups")).status == 404
    assert await available_addresses(emu) == before

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

"""NKS as a console creates clusters, through the proxy against the emulator: the add-ons the
native body carries (NHN's defaults or the caller's) and how NKS checks them, the external
network labels NKS wants whenever the subnet's router reaches an internet gateway, and NKS's
cluster name rule.

NHN facts (NKS API guide, "Create a Cluster" and "Add-on Management"; NKS user guide,
"Create a cluster" and "Add-on management"; release notes 2022-11-29):

* `addons` is a list of `{name, version, options}`; the types CNI and kube-dns are mandatory,
  e.g. calico v3.28.2-nks1 (option mode vxlan/ebpf) and coredns 1.8.4-nks1;
* `external_network_id` / `external_subnet_id_list` "must be set when a router associated with
  a VPC subnet is attached to the internet gateway";
* a cluster name has at most 32 lowercase letters, digits and '-', starts with a letter, ends
  with a letter or digit and is not a UUID.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import (
    JSON,
    Reply,
    Stack,
    check_error,
    cluster_body,
    create_keypair,
    flavor_id,
)

pytestmark = pytest.mark.e2e

NKS = "/kr2/kubernetes/v1"
CREATE = "/nks/clusters/create/"
NHN_DEFAULT_ADDONS = [
    {"name": "calico", "version": "v3.28.2-nks1", "options": {"mode": "vxlan"}},
    {"name": "coredns", "version": "1.8.4-nks1"},
]


async def create(stack: Stack, body: JSON) -> tuple[Reply, list[JSON]]:
    """Create through the proxy with a clean journal: the reply and the native NKS creates
    (method POST on /v1/clusters) with the status the emulator answered."""
    await stack.headers("network")
    await stack.clear_requests()
    reply = await stack.post(CREATE, "network", body)
    posts = [
        entry
        for entry in await stack.native_requests(service="kubernetes")
        if entry["method"] == "POST"
    ]
    return reply, posts


async def native_clusters(stack: Stack) -> list[str]:
    """The names of the clusters NKS (the emulator) holds."""
    reply = await stack.native("GET", f"{NKS}/clusters")
    return [cluster["name"] for cluster in reply.expect(200)["clusters"]]


async def default_subnet(stack: Stack) -> JSON:
    subnets = (await stack.get("/subnet/", "network")).expect(200)["vpcsubnets"]
    return next(subnet for subnet in subnets if subnet["name"] == "default")


async def external_network(stack: Stack) -> tuple[str, str]:
    reply = await stack.native("GET", "/kr2/network/v2.0/networks?router:external=True")
    network = reply.expect(200)["networks"][0]
    return network["id"], ":".join(network["subnets"])


# -- add-ons --------------------------------------------------------------------------------------


async def test_default_addons_are_sent_and_accepted(stack: Stack) -> None:
    reply, (post,) = await create(stack, await cluster_body(stack, "defaults"))
    assert reply.expect(201)["cluster"]["name"] == "defaults"
    assert post["body"]["addons"] == NHN_DEFAULT_ADDONS
    assert post["status"] == 202
    assert await native_clusters(stack) == ["defaults"]


async def test_caller_addons_replace_the_defaults(stack: Stack) -> None:
    addons: list[dict[str, Any]] = [
        {"name": "calico", "version": "v3.30.2-nks2", "options": {"mode": "ebpf"}},
        {"name": "coredns", "version": "1.8.4-nks2"},
        {"name": "metrics-server", "version": "v0.4.4-nks2"},
    ]
    body = {**(await cluster_body(stack, "chosen")), "addons": addons}
    reply, (post,) = await create(stack, body)
    assert reply.expect(201)["cluster"]["name"] == "chosen"
    # the caller's list as given: nothing added, no option filled in
    assert post["body"]["addons"] == addons
    assert post["status"] == 202
    assert await native_clusters(stack) == ["chosen"]


@pytest.mark.parametrize(
    ("addons", "mentions"),
    [
        (
            [*NHN_DEFAULT_ADDONS, {"name": "weave", "version": "v2.8.1"}],
            ("add-on weave could not be found",),
        ),
        (
            [{"name": "calico", "version": "v3.99.9-nks1"}, NHN_DEFAULT_ADDONS[1]],
            ("version v3.99.9-nks1", "calico"),
        ),
        ([NHN_DEFAULT_ADDONS[0]], ("kube-dns", "required")),
        ([NHN_DEFAULT_ADDONS[1]], ("cni", "required")),
        (
            [{**NHN_DEFAULT_ADDONS[0], "options": {"mode": "ipip"}}, NHN_DEFAULT_ADDONS[1]],
            ("mode", "ipip"),
        ),
    ],
    ids=["unknown-addon", "unknown-version", "no-coredns", "no-cni", "unknown-mode"],
)
async def test_addons_nks_refuses_pass_through_as_400(
    stack: Stack, addons: list[JSON], mentions: tuple[str, ...]
) -> None:
    """The proxy checks only the form of an add-on; NKS knows which exist: its 400 comes back
    in the standard error shape, with NKS's message, and no cluster is made."""
    body = {**(await cluster_body(stack, "refused")), "addons": addons}
    reply, (post,) = await create(stack, body)
    check_error(reply, 400, *mentions)
    assert post["body"]["addons"] == addons and post["status"] == 400
    assert await native_clusters(stack) == []


async def test_addon_catalog_lists_the_defaults(stack: Stack) -> None:
    """NKS's "View a List of Add-ons" offers the pair the proxy sends by default."""
    addons = (await stack.native("GET", f"{NKS}/addons/")).expect(200)["addons"]
    offered = {(addon["name"], addon["version"]) for addon in addons}
    assert {(addon["name"], addon["version"]) for addon in NHN_DEFAULT_ADDONS} <= offered
    types = (await stack.native("GET", f"{NKS}/addon_types/")).expect(200)["addon_types"]
    assert {t["name"] for t in types if t["mandatory"]} == {"cni", "kube-dns"}


# -- the internet gateway and the external network labels -----------------------------------------


async def test_private_cluster_on_the_default_subnet_carries_the_external_labels(
    stack: Stack,
) -> None:
    """The default VPC's routing table has an internet gateway (NHN's first-use setup), so
    even a private cluster there must name the external network: the proxy reads the subnet,
    sees the gateway and looks the external network up."""
    await create_keypair(stack)
    subnet = await default_subnet(stack)
    body = {
        "cluster_name": "private-gw",
        "vpc_id": subnet["vpc_id"],
        "subnet_id": subnet["id"],
        "instance_type": await flavor_id(stack),
        "keypair_name": "e2e-key",
        "kubernetes_version": "v1.32.3",
        "availability_zone": "kr2-pub-a",
        "is_public": False,
    }
    reply, (post,) = await create(stack, body)
    assert reply.expect(201)["cluster"]["name"] == "private-gw"
    labels = post["body"]["labels"]
    assert labels["master_lb_floating_ip_enabled"] == "False"
    network_id, subnet_ids = await external_network(stack)
    assert labels["external_network_id"] == network_id
    assert labels["external_subnet_id_list"] == subnet_ids
    assert post["status"] == 202

    # NKS itself refuses such a cluster without the labels
    native = dict(post["body"], name="private-bare")
    native["labels"] = {
        key: value for key, value in labels.items() if not key.startswith("external_")
    }
    refused = await stack.native("POST", f"{NKS}/clusters", json=native)
    assert refused.status == 400, refused
    assert "internet gateway" in refused.body["errors"][0]["detail"]
    assert await native_clusters(stack) == ["private-gw"]


async def test_private_cluster_without_a_gateway_needs_no_labels(stack: Stack) -> None:
    """A new VPC has no internet gateway: neither the proxy nor NKS asks for the labels."""
    body = {**(await cluster_body(stack, "private-nogw")), "is_public": False}
    reply, (post,) = await create(stack, body)
    assert reply.expect(201)["cluster"]["name"] == "private-nogw"
    assert not any(key.startswith("external_") for key in post["body"]["labels"])
    assert post["status"] == 202


# -- the cluster name rule ------------------------------------------------------------------------


async def test_a_name_over_nhn_limit_is_a_400(stack: Stack) -> None:
    body = await cluster_body(stack, "k" * 33)
    reply, posts = await create(stack, body)
    check_error(reply, 400, "cluster_name")
    # refused before NKS or by it: either way no cluster exists
    assert all(post["status"] == 400 for post in posts)
    assert await native_clusters(stack) == []


async def test_nks_refuses_names_outside_its_rule(stack: Stack) -> None:
    """NKS's own check (what a client that skips the proxy meets): 33 characters, capitals,
    a trailing '-' or a UUID are 400s in Magnum's shape; 32 characters are fine."""
    await stack.headers("network")
    proxy_body = await cluster_body(stack, "probe")
    await create(stack, proxy_body)
    (post,) = [
        entry
        for entry in await stack.native_requests(service="kubernetes")
        if entry["method"] == "POST"
    ]
    native = post["body"]
    for name in ("k" * 33, "Upper", "trailing-", "abcdef0123456789abcdef0123456789"):
        reply = await stack.native("POST", f"{NKS}/clusters", json=dict(native, name=name))
        assert reply.status == 400, (name, reply)
        (error,) = reply.body["errors"]
        assert error["status"] == 400 and "name" in error["detail"]
    reply = await stack.native("POST", f"{NKS}/clusters", json=dict(native, name="k" * 32))
    assert reply.status == 202, reply
    assert sorted(await native_clusters(stack)) == ["k" * 32, "probe"]


async def test_a_32_character_name_goes_through(stack: Stack) -> None:
    reply, (post,) = await create(stack, await cluster_body(stack, "k" * 32))
    assert reply.expect(201)["cluster"]["name"] == "k" * 32
    assert post["status"] == 202

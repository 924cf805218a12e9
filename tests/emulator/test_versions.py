"""Version discovery: each service root answers OpenStack's version document without a token
(so OpenStack clients can discover the services), with links to the emulator's own URL of
that service in that region, and the links lead somewhere that answers."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_TENANT_ID, DEMO_USERNAME

# kr2, not the tests' usual kr1, so a link naming the wrong region shows.
REGION = "kr2"


def base(emu: Any, prefix: str) -> str:
    """Absolute URL of a service prefix on the emulator under test."""
    return str(emu.client.make_url(prefix))


def path_of(href: str) -> str:
    return URL(href).path


async def public_get(emu: Any, path: str, status: int) -> Any:
    """GET without any token; the answer must have ``status`` and a JSON body."""
    response = await emu.client.get(path)
    assert response.status == status, f"{path}: {response.status} {await response.text()}"
    assert response.content_type == "application/json"
    return await response.json()


def self_link(links: list[dict[str, Any]]) -> str:
    [href] = [link["href"] for link in links if link["rel"] == "self"]
    return href


# -- identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("root", ["/identity", "/identity/"])
async def test_identity_root_lists_keystone_v2(emu, root):
    body = await public_get(emu, root, 300)
    [version] = body["versions"]["values"]
    assert version["id"] == "v2.0"
    assert version["status"] == "stable"
    assert version["media-types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}
    ]
    assert self_link(version["links"]) == base(emu, "/identity/v2.0/")


async def test_identity_version_document_and_its_tokens(emu):
    root = await public_get(emu, "/identity/", 300)
    href = self_link(root["versions"]["values"][0]["links"])
    for path in (path_of(href), path_of(href).rstrip("/")):
        body = await public_get(emu, path, 200)
        assert body["version"] == root["versions"]["values"][0]
    # the version's URL is where tokens are issued
    credentials = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    auth = {"auth": {"tenantId": DEMO_TENANT_ID, "passwordCredentials": credentials}}
    response = await emu.client.post(path_of(href) + "tokens", json=auth)
    assert response.status == 200


# -- compute -------------------------------------------------------------------------------------


async def test_compute_root_lists_nova_v2(emu):
    body = await public_get(emu, f"/{REGION}/compute/", 200)
    [version] = body["versions"]
    assert set(version) == {"id", "status", "version", "min_version", "updated", "links"}
    assert version["id"] == "v2.0"
    assert version["status"] == "SUPPORTED"
    assert version["links"] == [{"rel": "self", "href": base(emu, f"/{REGION}/compute/v2/")}]
    # the unslashed root is the same document
    assert await public_get(emu, f"/{REGION}/compute", 200) == body


async def test_compute_version_document_without_token(emu):
    root = await public_get(emu, f"/{REGION}/compute/", 200)
    href = self_link(root["versions"][0]["links"])
    body = await public_get(emu, path_of(href), 200)
    version = body["version"]
    assert version["id"] == "v2.0"
    assert self_link(version["links"]) == href
    assert {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"} in (
        version["links"]
    )
    assert version["media-types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
    ]
    assert await public_get(emu, path_of(href).rstrip("/"), 200) == body


async def test_compute_tenant_root_needs_a_token_and_serves_the_api(emu):
    root = await public_get(emu, f"/{REGION}/compute/", 200)
    tenant_url = path_of(self_link(root["versions"][0]["links"])) + emu.tenant
    assert (await emu.client.get(tenant_url)).status == 401
    body = await emu.json("GET", tenant_url)
    assert body["version"]["id"] == "v2.0"
    flavors = await emu.json("GET", tenant_url + "/flavors")
    assert flavors["flavors"]
    # another tenant's root is refused like any of its URLs
    assert (await emu.call("GET", tenant_url.replace(emu.tenant, "a" * 32))).status == 403


# -- image ---------------------------------------------------------------------------------------


async def test_image_root_is_glances_multiple_choices(emu):
    body = await public_get(emu, f"/{REGION}/image/", 300)
    versions = body["versions"]
    assert [v["status"] for v in versions].count("CURRENT") == 1
    assert versions[0]["status"] == "CURRENT"
    assert all(v["id"].startswith("v2.") for v in versions)
    assert {v["id"] for v in versions} >= {"v2.0", "v2.1"}
    for version in versions:
        assert set(version) == {"id", "status", "links"}
        assert version["links"] == [{"rel": "self", "href": base(emu, f"/{REGION}/image/v2/")}]
    # /versions answers the same list with 200
    assert await public_get(emu, f"/{REGION}/image/versions", 200) == body


async def test_image_version_url_serves_the_images(emu):
    body = await public_get(emu, f"/{REGION}/image/", 300)
    href = self_link(body["versions"][0]["links"])
    images = await emu.json("GET", path_of(href) + "images")
    assert images["images"]
    assert (await emu.client.get(path_of(href) + "images")).status == 401


# -- network -------------------------------------------------------------------------------------


async def test_network_root_lists_neutron_v2(emu):
    body = await public_get(emu, f"/{REGION}/network/", 200)
    assert body == {
        "versions": [
            {
                "status": "CURRENT",
                "id": "v2.0",
                "links": [{"href": base(emu, f"/{REGION}/network/v2.0/"), "rel": "self"}],
            }
        ]
    }


async def test_network_version_root_needs_a_token_and_links_its_collections(emu):
    body = await public_get(emu, f"/{REGION}/network/", 200)
    href = self_link(body["versions"][0]["links"])
    assert (await emu.client.get(path_of(href))).status == 401
    resources = (await emu.json("GET", path_of(href)))["resources"]
    assert resources == (await emu.json("GET", path_of(href).rstrip("/")))["resources"]
    assert {(r["name"], r["collection"]) for r in resources} == {
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
    }
    for resource in resources:
        link = self_link(resource["links"])
        assert link == href + resource["collection"]
        listed = await emu.json("GET", path_of(link))
        assert resource["collection"] in listed


# -- block storage -------------------------------------------------------------------------------


async def test_block_storage_root_is_cinders_multiple_choices_with_v2(emu):
    body = await public_get(emu, f"/{REGION}/block-storage/", 300)
    [version] = body["versions"]
    assert version["id"] == "v2.0"
    assert version["status"] == "SUPPORTED"
    assert set(version) == {
        "id",
        "status",
        "version",
        "min_version",
        "updated",
        "links",
        "media-types",
    }
    assert self_link(version["links"]) == base(emu, f"/{REGION}/block-storage/v2/")
    assert version["media-types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=2"}
    ]


async def test_block_storage_v2_root_needs_a_token(emu):
    body = await public_get(emu, f"/{REGION}/block-storage/", 300)
    href = self_link(body["versions"][0]["links"])
    assert (await emu.client.get(path_of(href))).status == 401
    assert await emu.json("GET", path_of(href)) == body
    assert await emu.json("GET", path_of(href).rstrip("/")) == body
    # what the service does not emulate answers 501 (after the token check)
    snapshots = f"/{REGION}/block-storage/v2/{emu.tenant}/snapshots"
    assert (await emu.client.get(snapshots)).status == 401
    response = await emu.call("GET", snapshots)
    assert response.status == 501 and "notImplemented" in await response.json()


# -- kubernetes ----------------------------------------------------------------------------------


async def test_kubernetes_root_is_magnums(emu):
    body = await public_get(emu, f"/{REGION}/kubernetes/", 200)
    assert body["name"] == "OpenStack Magnum API"
    assert "container cluster management" in body["description"]
    assert body["versions"] == [
        {
            "id": "v1",
            "links": [{"href": base(emu, f"/{REGION}/kubernetes/v1/"), "rel": "self"}],
            "status": "CURRENT",
            "max_version": "1.11",
            "min_version": "1.1",
        }
    ]


async def test_kubernetes_v1_document_is_public_and_links_the_clusters(emu):
    root = await public_get(emu, f"/{REGION}/kubernetes/", 200)
    href = self_link(root["versions"][0]["links"])
    response = await emu.client.get(path_of(href))
    assert response.status == 200
    assert response.headers["OpenStack-API-Maximum-Version"] == "container-infra 1.11"
    body = await response.json()
    assert body == await public_get(emu, path_of(href).rstrip("/"), 200)
    assert body["id"] == "v1"
    assert self_link(body["links"]) == href
    assert body["media_types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}
    ]
    clusters = self_link(body["clusters"])
    assert clusters == href + "clusters/"
    assert (await emu.client.get(path_of(clusters))).status == 401
    assert await emu.json("GET", path_of(clusters)) == {"clusters": []}


async def test_kubernetes_root_exists_only_where_nks_runs(emu):
    response = await emu.client.get("/jp1/kubernetes/")
    assert response.status == 404
    assert (await response.json())["errors"][0]["status"] == 404


# -- all services --------------------------------------------------------------------------------

ROOTS = {
    "/identity/": 300,
    f"/{REGION}/compute/": 200,
    f"/{REGION}/image/": 300,
    f"/{REGION}/network/": 200,
    f"/{REGION}/block-storage/": 300,
    f"/{REGION}/kubernetes/": 200,
}


@pytest.mark.parametrize(("root", "status"), ROOTS.items())
async def test_roots_ignore_any_token_and_follow_the_region(emu, root, status):
    # a stale or junk token does not matter where none is needed
    response = await emu.client.get(root, headers={"X-Auth-Token": "0" * 32})
    assert response.status == status
    assert "X-Openstack-Request-Id" in response.headers
    if root.startswith(f"/{REGION}/"):
        other = await public_get(emu, root.replace(REGION, "kr3", 1), status)
        assert "/kr3/" in str(other) and f"/{REGION}/" not in str(other)


async def test_unknown_regions_have_no_roots(emu):
    response = await emu.client.get("/kr9/image/")
    assert response.status == 404


async def test_the_control_plane_lists_the_public_routes(emu):
    services = (await public_get(emu, "/_emulator", 200))["services"]
    assert services["compute"]["public_routes"] == ["GET /", "GET /v2", "GET /v2/"]
    assert services["network"]["public_routes"] == ["GET /"]
    assert services["object_storage"]["public_routes"] == []
    assert "GET /v2/{tenant_id}" in services["compute"]["routes"]

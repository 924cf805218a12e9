"""Identity: token issue, catalog, errors and token validation by the other services."""

from __future__ import annotations

import re

from nhn_proxy.emulator import DEMO_STORAGE_TENANT_ID, DEMO_TENANT_ID

from .doc_examples import EXAMPLES
from .shapes import assert_conforms

KEYSTONEMIDDLEWARE_401 = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


def test_demo_tenant_ids_are_32_lowercase_hex():
    for tenant in (DEMO_TENANT_ID, DEMO_STORAGE_TENANT_ID):
        assert re.fullmatch(r"[0-9a-f]{32}", tenant)
    assert DEMO_TENANT_ID != DEMO_STORAGE_TENANT_ID


async def test_compute_tenant_token_matches_documented_example(emu):
    response = await emu.issue()
    assert response.status == 200
    body = await response.json()
    assert_conforms(body, EXAMPLES["token_compute"])
    token = body["access"]["token"]
    assert re.fullmatch(r"[0-9a-f]{32}", token["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", token["expires"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", token["issued_at"])
    assert token["expires"] == "2026-01-01T12:00:00Z"  # fake clock start + 12 h
    assert token["tenant"]["id"] == DEMO_TENANT_ID
    assert "swift" not in token["tenant"]
    catalog = {entry["type"]: entry for entry in body["access"]["serviceCatalog"]}
    assert "object-store" not in catalog
    assert {"compute", "image", "identity", "network", "volumev2"} <= set(catalog)
    origin = str(emu.client.make_url("/")).rstrip("/")
    compute = {e["region"]: e["publicURL"] for e in catalog["compute"]["endpoints"]}
    assert compute["KR1"] == f"{origin}/kr1/compute/v2/{DEMO_TENANT_ID}"
    assert set(compute) == {"KR1", "KR2", "KR3", "JP1"}
    network = {e["region"]: e["publicURL"] for e in catalog["network"]["endpoints"]}
    assert network["KR2"] == f"{origin}/kr2/network"
    assert catalog["identity"]["endpoints"] == [
        {"region": "KR1", "publicURL": f"{origin}/identity/v2.0"}
    ]


async def test_storage_tenant_token_has_only_object_store(emu):
    response = await emu.issue(DEMO_STORAGE_TENANT_ID)
    body = await response.json()
    assert_conforms(body, EXAMPLES["token_storage"])
    assert body["access"]["token"]["tenant"]["swift"] is True
    catalog = body["access"]["serviceCatalog"]
    assert [entry["type"] for entry in catalog] == ["object-store"]
    urls = [e["publicURL"] for e in catalog[0]["endpoints"]]
    assert urls[0].endswith(f"/kr1/object-storage/v1/AUTH_{DEMO_STORAGE_TENANT_ID}")


async def test_wrong_password_is_401_keystone_body(emu):
    response = await emu.issue(password="nope")
    assert response.status == 401
    assert await response.json() == {
        "error": {
            "message": "The request you have made requires authentication.",
            "code": 401,
            "title": "Unauthorized",
        }
    }


async def test_unknown_tenant_is_401(emu):
    response = await emu.issue(tenant="f" * 32)
    assert response.status == 401


async def test_malformed_bodies_are_400(emu):
    for body in (
        b"{not json",
        b"[]",
        b'{"auth": {}}',
        b'{"auth": {"tenantId": "x"}}',
        b'{"auth": {"passwordCredentials": {"username": 1, "password": 2}, "tenantId": 3}}',
    ):
        response = await emu.client.post(
            "/identity/v2.0/tokens", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, body
        error = (await response.json())["error"]
        assert error["code"] == 400 and error["title"] == "Bad Request" and error["message"]


async def test_wrong_method_and_unemulated_identity_paths(emu):
    response = await emu.client.get("/identity/v2.0/tokens")
    assert response.status == 405
    assert (await response.json())["error"]["code"] == 405
    response = await emu.client.get("/identity/v2.0/tenants")
    assert response.status == 501
    assert (await response.json())["error"]["title"] == "Not Implemented"


async def test_token_expires_after_lifetime(emu):
    path = emu.compute("/flavors")
    assert (await emu.call("GET", path)).status == 200
    emu.clock.advance(12 * 3600)
    response = await emu.call("GET", path)
    assert response.status == 401
    assert await response.json() == KEYSTONEMIDDLEWARE_401


async def test_missing_and_unknown_tokens_are_401_in_each_style(emu):
    for path in (
        emu.compute("/flavors"),
        "/kr1/image/v2/images",
        "/kr1/network/v2.0/vpcs",
        "/kr1/kubernetes/v1/clusters",
    ):
        response = await emu.client.get(path)
        assert response.status == 401, path
        assert await response.json() == KEYSTONEMIDDLEWARE_401
        response = await emu.client.get(path, headers={"X-Auth-Token": "0" * 32})
        assert response.status == 401
    response = await emu.client.get(emu.swift())
    assert response.status == 401
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert await response.text() == (
        "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to "
        "access the document you requested.</p></html>"
    )


async def test_compute_url_of_another_tenant_is_refused(emu):
    response = await emu.call("GET", f"/kr1/compute/v2/{'a' * 32}/flavors")
    assert response.status == 403
    assert "forbidden" in await response.json()
    # A storage token cannot reach the compute tenant's URL either.
    response = await emu.call("GET", emu.compute("/flavors"), tenant=DEMO_STORAGE_TENANT_ID)
    assert response.status == 403


async def test_storage_account_must_be_the_tokens(emu):
    response = await emu.call("GET", f"/kr1/object-storage/v1/AUTH_{DEMO_TENANT_ID}")
    assert response.status == 403
    response = await emu.call(
        "GET", f"/kr1/object-storage/v1/AUTH_{'b' * 32}", tenant=DEMO_STORAGE_TENANT_ID
    )
    assert response.status == 403
    assert "<h1>Forbidden</h1>" in await response.text()

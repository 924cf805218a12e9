"""Token plugin: translation functions and the route with NHN identity mocked."""

from __future__ import annotations

import pytest

from nhn_proxy.errors import UpstreamBadResponse
from nhn_proxy.plugins.token import (
    TokenRequestSchema,
    from_native,
    nhn_proxy_demo_examples,
    to_native,
)
from tests.conftest import DEMO, IDENTITY, TENANT

NATIVE_ANSWER = {
    "access": {
        "token": {
            "id": "e42a092ed6ee4d99949bf25f5f6ecc60",
            "expires": "2020-04-29T15:31:21Z",
            "tenant": {"id": TENANT, "name": "c_VKkasVsh", "enabled": True},
            "issued_at": "2020-04-29T03:32:28.000405",
        },
        "serviceCatalog": [{"type": "compute", "name": "nova", "endpoints": []}],
    }
}
BODY = {"tenant_id": TENANT, "username": "user@example.com", "password": "s3cret-pass"}


def test_to_native_is_keystone_v2_password_auth():
    assert to_native(BODY) == {
        "auth": {
            "tenantId": TENANT,
            "passwordCredentials": {"username": "user@example.com", "password": "s3cret-pass"},
        }
    }


def test_from_native_picks_token_tenant_and_expiry():
    assert from_native(NATIVE_ANSWER) == {
        "token": "e42a092ed6ee4d99949bf25f5f6ecc60",
        "tenant_id": TENANT,
        "expires_at": "2020-04-29T15:31:21Z",
        "storage_account": None,
    }


def test_from_native_gives_storage_account_for_object_storage_tenant():
    native = {
        "access": {
            "token": {
                "id": "b587ae461278419da6ecd21a2344c8aa",
                "expires": "2018-01-15T08:05:05Z",
                "tenant": {"id": "6dbc368b94894416bec4cdfc65b5e067", "swift": True},
            },
            "serviceCatalog": [{"type": "object-store", "name": "swift", "endpoints": []}],
        }
    }
    assert from_native(native)["storage_account"] == "AUTH_6dbc368b94894416bec4cdfc65b5e067"


def test_from_native_rejects_unexpected_shape():
    with pytest.raises(UpstreamBadResponse):
        from_native({"access": {}})


def test_demo_example_is_the_demo_account_and_a_valid_request():
    demo = DEMO
    examples = nhn_proxy_demo_examples(demo)
    expected = {"tenant_id": TENANT, "username": "demo@example.com", "password": "demo-password"}
    assert examples == {TokenRequestSchema: expected}
    assert TokenRequestSchema().load(examples[TokenRequestSchema]) == expected


async def test_token_route_sends_native_request_and_answers_spec_shape(client, nhn):
    nhn.post(f"{IDENTITY}/v2.0/tokens", payload=NATIVE_ANSWER)
    response = await client.post("/api/nhn/token/", json=BODY)
    assert response.status == 200
    assert await response.json() == {
        "token": "e42a092ed6ee4d99949bf25f5f6ecc60",
        "tenant_id": TENANT,
        "expires_at": "2020-04-29T15:31:21Z",
        "storage_account": None,
    }
    call = nhn.only_call()
    assert (call.method, call.url) == ("POST", f"{IDENTITY}/v2.0/tokens")
    assert call.json == to_native(BODY)
    assert "X-Auth-Token" not in call.headers
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["X-Request-ID"] == response.headers["X-Request-ID"]


async def test_token_route_without_trailing_slash(client, nhn):
    nhn.post(f"{IDENTITY}/v2.0/tokens", payload=NATIVE_ANSWER)
    response = await client.post("/api/nhn/token", json=BODY)
    assert response.status == 200
    assert (await response.json())["token"] == "e42a092ed6ee4d99949bf25f5f6ecc60"


async def test_token_wrong_password_keeps_keystone_401_message(client, nhn):
    nhn.post(
        f"{IDENTITY}/v2.0/tokens",
        status=401,
        payload={
            "error": {
                "message": "The request you have made requires authentication.",
                "code": 401,
                "title": "Unauthorized",
            }
        },
    )
    response = await client.post("/api/nhn/token/", json=BODY)
    assert response.status == 401
    assert await response.json() == {
        "error": "The request you have made requires authentication.",
        "code": 401,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "u", "password": "p"}, "tenant_id"),
        ({"tenant_id": TENANT, "password": "p"}, "username"),
        ({"tenant_id": TENANT, "username": "u"}, "password"),
        ({**BODY, "tenant_id": "../x"}, "tenant_id"),
        ({**BODY, "extra": 1}, "extra"),
        ({**BODY, "username": 5}, "username"),
    ],
)
async def test_token_validation_names_the_field(client, nhn, body, field):
    response = await client.post("/api/nhn/token/", json=body)
    assert response.status == 400
    payload = await response.json()
    assert payload["code"] == 400 and field in payload["error"]
    assert nhn.calls() == []

"""Token: issue an NHN Cloud IaaS token (identity, Keystone v2 `POST /v2.0/tokens`).

NHN facts used (`shared/nhn-api/identity.md`): the body is
`{"auth": {"tenantId", "passwordCredentials": {"username", "password"}}}`; the answer's
`access.token.id` is the token, `access.token.expires` its UTC expiry
(`YYYY-MM-DDThh:mm:ssZ`) and `access.token.tenant.id` the tenant. A token of an Object
Storage tenant carries an `object-store` catalog entry (and `tenant.swift: true`); its
storage account is `AUTH_<tenant id>`, which the answer adds as `storage_account` so a front
end need not assemble it. The identity endpoint is global: no region header is needed.
Token lifetime is not documented by NHN (its example lives about 12 h); we pass `expires`
through unchanged.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from nhn_proxy.plugin import (
    Call,
    DemoAccount,
    PluginConfig,
    Route,
    hookimpl,
    native_answer,
    register_secret,
)

TENANT_ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="must be an NHN tenant id")


class TokenRequestSchema(Schema):
    tenant_id = fields.String(
        required=True,
        validate=TENANT_ID,
        metadata={
            "description": "tenant id (Compute > Instance > API Endpoint Setting); for Object "
            "Storage, the Object Storage tenant id",
            "example": "04a2c5b7de7e4d66b970ad950081a7c3",
        },
    )
    username = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "NHN Cloud account (e-mail) or IAM member id",
            "example": "user@example.com",
        },
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={
            "description": "the API password (not the console password)",
            "example": "your-api-password",
        },
    )


class TokenSchema(Schema):
    token = fields.String(required=True, metadata={"description": "send as X-NHN-Token"})
    tenant_id = fields.String(required=True)
    expires_at = fields.String(
        required=True, metadata={"description": "UTC expiry", "example": "2024-01-15T12:00:00Z"}
    )
    storage_account = fields.String(
        allow_none=True,
        metadata={
            "description": "AUTH_<tenant id> when this is an Object Storage token, "
            "for X-NHN-Storage-Account; null otherwise"
        },
    )


def to_native(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "auth": {
            "tenantId": body["tenant_id"],
            "passwordCredentials": {"username": body["username"], "password": body["password"]},
        }
    }


@native_answer("identity")
def from_native(native: dict[str, Any]) -> dict[str, Any]:
    token = native["access"]["token"]
    tenant = token["tenant"]
    catalog = native["access"].get("serviceCatalog") or []
    is_storage = bool(tenant.get("swift")) or any(
        isinstance(entry, dict) and entry.get("type") == "object-store" for entry in catalog
    )
    if not isinstance(token["id"], str) or not isinstance(token["expires"], str):
        raise TypeError("token id and expiry must be strings")
    return {
        "token": token["id"],
        "tenant_id": str(tenant["id"]),
        "expires_at": token["expires"],
        "storage_account": f"AUTH_{tenant['id']}" if is_storage else None,
    }


async def issue_token(call: Call) -> dict[str, Any]:
    answer = await call.native("identity", "POST", "/v2.0/tokens", json=to_native(call.body))
    public = from_native(answer.json_object())
    register_secret(public["token"])
    return public


@hookimpl
def nhn_proxy_demo_examples(demo: DemoAccount) -> dict[type[Schema], dict[str, Any]]:
    # the emulator's demo account, so Swagger UI's "Try it out" issues a working token
    return {
        TokenRequestSchema: {
            "tenant_id": demo.tenant_id,
            "username": demo.username,
            "password": demo.password,
        }
    }


@hookimpl
def nhn_proxy_routes(config: PluginConfig) -> list[Route]:
    return [
        Route(
            "POST",
            "/token/",
            issue_token,
            summary="Issue an NHN Cloud API token",
            description="Exchanges tenant id, user name and API password for a token "
            "(NHN identity `POST /v2.0/tokens`). No region or token header is needed.",
            tags=("token",),
            needs=frozenset(),
            body=TokenRequestSchema,
            response=TokenSchema,
            secret_fields=("password",),
            errors=(401,),
        )
    ]

"""Identity's handlers: ``POST /v2.0/tokens`` (token and service catalog).

Only the storage tenant's token carries the ``object-store`` catalog entry and
``tenant.swift: true``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nhn_proxy.emulator.base import Ctx, iso_micro, iso_z, json_response
from nhn_proxy.emulator.errors import ApiError
from nhn_proxy.emulator.identity.models import Token, stable_hex, stable_uuid, tenant_name

_BAD_REQUEST_TAIL = (
    " The server could not comply with the request since it is either malformed or otherwise "
    "incorrect. The client is assumed to be in error."
)
_UNAUTHORIZED = "The request you have made requires authentication."


def _catalog(token: Token, origin: str, regions: tuple[str, ...]) -> list[dict[str, Any]]:
    def entry(kind: str, name: str, path: str, only_first: bool = False) -> dict[str, Any]:
        chosen = regions[:1] if only_first else regions
        endpoints = [
            {"region": region.upper(), "publicURL": origin + path.format(region=region)}
            for region in chosen
        ]
        return {"endpoints": endpoints, "endpoints_links": [], "type": kind, "name": name}

    if token.storage:
        account = f"AUTH_{token.tenant_id}"
        return [entry("object-store", "swift", "/{region}/object-storage/v1/" + account)]
    tenant = token.tenant_id
    # NKS is reached through fixed hosts and is absent from NHN's documented catalog
    # (unconfirmed), and key-manager is not emulated, so neither is listed.
    return [
        entry("compute", "nova", "/{region}/compute/v2/" + tenant),
        entry("image", "glance", "/{region}/image"),
        entry("identity", "keystone", "/identity/v2.0", only_first=True),
        entry("volumev2", "cinderv2", "/{region}/block-storage/v2/" + tenant),
        entry("network", "neutron", "/{region}/network"),
    ]


def token_body(token: Token, origin: str, regions: tuple[str, ...]) -> dict[str, Any]:
    tenant: dict[str, Any] = {
        "id": token.tenant_id,
        "name": tenant_name(token.tenant_id),
        "groupId": stable_hex("group", token.user.username, length=16),
        "description": "",
        "enabled": True,
        "project_domain": "NORMAL",
    }
    if token.storage:
        tenant["swift"] = True
    internal_name = stable_uuid(token.user.username)
    return {
        "access": {
            "token": {
                "id": token.id,
                "expires": iso_z(token.expires_at),
                "tenant": tenant,
                "issued_at": iso_micro(token.issued_at),
            },
            "serviceCatalog": _catalog(token, origin, regions),
            "user": {
                "id": token.user_id,
                "username": internal_name,
                "name": internal_name,
                "roles": [{"name": "project_admin"}],
                "roles_links": [],
            },
            "metadata": {"roles": [stable_hex("role", "project_admin")], "is_admin": 0},
        }
    }


def _expect(container: dict[str, Any], key: str, where: str) -> Any:
    if key not in container:
        raise ApiError(400, f"Expecting to find {key} in {where}." + _BAD_REQUEST_TAIL)
    return container[key]


async def issue_token(ctx: Ctx) -> web.StreamResponse:
    body = await ctx.json_object()
    auth = _expect(body, "auth", "request body")
    if not isinstance(auth, dict):
        raise ApiError(400, "Expecting to find auth in request body." + _BAD_REQUEST_TAIL)
    credentials = _expect(auth, "passwordCredentials", "auth")
    if not isinstance(credentials, dict):
        raise ApiError(400, "Expecting to find passwordCredentials in auth." + _BAD_REQUEST_TAIL)
    username = _expect(credentials, "username", "passwordCredentials")
    password = _expect(credentials, "password", "passwordCredentials")
    tenant_id = auth.get("tenantId")
    tenant_by_name = auth.get("tenantName")
    if tenant_id is None and tenant_by_name is None:
        # Keystone would issue an unscoped token; NHN documents tenantId as required.
        raise ApiError(400, "Expecting to find tenantId in auth." + _BAD_REQUEST_TAIL)
    fields = (username, password, tenant_id if tenant_id is not None else tenant_by_name)
    if not all(isinstance(value, str) for value in fields):
        raise ApiError(
            400, "Invalid input: credentials and tenant must be strings." + _BAD_REQUEST_TAIL
        )

    identity = ctx.state.identity
    user = identity.find_user(username, password)
    if user is None:
        raise ApiError(401, _UNAUTHORIZED)
    tenants = (user.tenant_id, user.storage_tenant_id)
    if tenant_id is None:
        tenant_id = next((t for t in tenants if tenant_name(t) == tenant_by_name), None)
    if tenant_id not in tenants:
        raise ApiError(401, _UNAUTHORIZED)
    token = identity.issue(user, tenant_id, ctx.now)
    origin = str(ctx.request.url.origin())
    return json_response(token_body(token, origin, ctx.state.options.regions))


async def tokens_wrong_method(ctx: Ctx) -> web.StreamResponse:
    raise ApiError(405, "The method GET is not allowed for the requested URL.")


# -- version discovery (no token) ------------------------------------------------------------

# NHN documents Keystone v2.0 only, so v3 is not offered.
_V2_MEDIA_TYPE = "application/vnd.openstack.identity-v2.0+json"


def _v2_version(ctx: Ctx) -> dict[str, Any]:
    return {
        "id": "v2.0",
        "status": "stable",
        "updated": "2014-04-17T00:00:00Z",
        "links": [
            {"rel": "self", "href": ctx.url("/v2.0/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json", "type": _V2_MEDIA_TYPE}],
    }


async def list_versions(ctx: Ctx) -> web.StreamResponse:
    """Keystone's root: 300 Multiple Choices with ``{"versions": {"values": [...]}}``."""
    return json_response({"versions": {"values": [_v2_version(ctx)]}}, status=300)


async def show_version(ctx: Ctx) -> web.StreamResponse:
    return json_response({"version": _v2_version(ctx)})

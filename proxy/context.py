"""`NhnContext`: who is calling and where, read from the X-NHN-* headers and checked.

The region only ever comes from the allow-list in settings, so nothing a client sends can
choose the upstream host. Precedence when several headers are missing: token (401) first,
then region, then tenant / storage account (400).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from aiohttp import web

from nhn_proxy.errors import BadRequest, Unauthenticated
from nhn_proxy.logs import register_secret


class Header(enum.StrEnum):
    """The NHN headers a route may need."""

    TOKEN = "X-NHN-Token"
    REGION = "X-NHN-Region"
    TENANT = "X-NHN-Tenant-ID"
    STORAGE_ACCOUNT = "X-NHN-Storage-Account"


HEADER_ORDER = (Header.TOKEN, Header.REGION, Header.TENANT, Header.STORAGE_ACCOUNT)
# Keystone UUID tokens are 32 hex chars, Fernet tokens ~200 URL-safe chars; leave headroom.
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STORAGE_ACCOUNT = re.compile(r"AUTH_[A-Za-z0-9_-]{1,64}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_REGION_LENGTH = 16


@dataclass(frozen=True, slots=True)
class NhnContext:
    """The checked identity of one call. `token` is a secret: never log or echo it."""

    request_id: str
    region: str | None = None
    token: str | None = None
    tenant_id: str | None = None
    storage_account: str | None = None

    def __repr__(self) -> str:  # keeps the token out of tracebacks and debug prints
        return (
            f"NhnContext(request_id={self.request_id!r}, region={self.region!r}, "
            f"tenant_id={self.tenant_id!r}, storage_account={self.storage_account!r})"
        )


def sane_request_id(value: str | None) -> str | None:
    """The client's X-Request-ID if it is safe to echo and forward, else None."""
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return None


def _single(request: web.Request, header: Header) -> str | None:
    values = request.headers.getall(header, [])
    if len(values) > 1:
        raise BadRequest(f"{header} header must be sent once")
    return values[0].strip() if values else None


def read_context(
    request: web.Request,
    needs: frozenset[Header],
    *,
    allowed_regions: tuple[str, ...],
    request_id: str,
    service_regions: tuple[str, ...] | None = None,
    service_name: str = "",
) -> NhnContext:
    """Read and check the headers a route needs, in the documented precedence order."""
    token = region = tenant = account = None
    if Header.TOKEN in needs:
        token = _single(request, Header.TOKEN)
        if not token:
            raise Unauthenticated("X-NHN-Token header is required")
        if not _TOKEN.fullmatch(token):
            raise Unauthenticated("X-NHN-Token header is not a valid NHN Cloud token")
        register_secret(token)
    if Header.REGION in needs:
        region = _single(request, Header.REGION)
        if not region:
            raise BadRequest("X-NHN-Region header is required")
        region = region.lower() if len(region) <= MAX_REGION_LENGTH else ""
        if region not in allowed_regions:
            raise BadRequest(f"X-NHN-Region must be one of: {', '.join(allowed_regions)}")
        if service_regions is not None and region not in service_regions:
            raise BadRequest(
                f"{service_name or 'this service'} is not available in region {region}; "
                f"use one of: {', '.join(service_regions) or 'none configured'}"
            )
    if Header.TENANT in needs:
        tenant = _single(request, Header.TENANT)
        if not tenant:
            raise BadRequest("X-NHN-Tenant-ID header is required")
        if not _TENANT.fullmatch(tenant):
            raise BadRequest("X-NHN-Tenant-ID header is not a valid tenant id")
    if Header.STORAGE_ACCOUNT in needs:
        account = _single(request, Header.STORAGE_ACCOUNT)
        if not account:
            raise BadRequest("X-NHN-Storage-Account header is required")
        if not _STORAGE_ACCOUNT.fullmatch(account):
            raise BadRequest(
                "X-NHN-Storage-Account header must look like AUTH_<object storage tenant id>"
            )
    return NhnContext(
        request_id=request_id,
        region=region,
        token=token,
        tenant_id=tenant,
        storage_account=account,
    )

"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from nhn_proxy.metrics import Metrics
    from nhn_proxy.settings import Settings
    from nhn_proxy.upstream import Upstream

SETTINGS: web.AppKey[Settings] = web.AppKey("nhn_proxy.settings")
UPSTREAM: web.AppKey[Upstream] = web.AppKey("nhn_proxy.upstream")
METRICS: web.AppKey[Metrics] = web.AppKey("nhn_proxy.metrics")
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("nhn_proxy.openapi")
ALLOWED_ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("nhn_proxy.allowed_origins")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("nhn_proxy.request_id", str)

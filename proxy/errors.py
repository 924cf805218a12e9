"""The proxy's exceptions and the one error shape every non-2xx answer has.

ProxyError(status, message)              answered as {"error": message, "code": status}
├── BadRequest                 400        a parameter, header or body field is wrong
│   └── ValidationFailed       400        the body breaks its schema; names the field
├── Unauthenticated            401        X-NHN-Token missing or unusable
├── NotFound                   404
├── Conflict                   409        the resource's state does not allow it
├── PayloadTooLarge            413        an upload over its limit
└── UpstreamError              502        NHN could not give a usable answer
    ├── UpstreamUnreachable    502        connection refused, reset, DNS failure
    ├── UpstreamTimeout        504        connect or read took longer than allowed
    ├── UpstreamBadResponse    502        malformed, truncated, oversized or odd body
    └── UpstreamHTTPError      4xx/5xx    NHN answered an error: its status (5xx → 502,
                                          503/504 kept) and NHN's own message
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import unescape
from typing import Any

from aiohttp import web

from nhn_proxy import jsonio


class ProxyError(Exception):
    """An error with the HTTP status and message the client should see."""

    status = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ProxyError):
    status = 400


class ValidationFailed(BadRequest):
    """The request body (or a parameter) does not fit its schema."""

    def __init__(self, messages: Mapping[str, Any] | list[Any] | str) -> None:
        self.messages = messages
        super().__init__(describe_validation(messages))


class Unauthenticated(ProxyError):
    status = 401


class NotFound(ProxyError):
    status = 404


class Conflict(ProxyError):
    status = 409


class PayloadTooLarge(ProxyError):
    status = 413


class UpstreamError(ProxyError):
    status = 502


class UpstreamUnreachable(UpstreamError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamBadResponse(UpstreamError):
    status = 502


class UpstreamUnavailable(UpstreamError):
    """The endpoint's circuit is open: answered at once instead of waiting for a failure."""

    status = 503


class UpstreamHTTPError(UpstreamError):
    """NHN answered with an error status; `upstream_status` is what NHN said."""

    def __init__(self, upstream_status: int, message: str) -> None:
        self.upstream_status = upstream_status
        super().__init__(message, status=public_status(upstream_status))


def public_status(upstream_status: int) -> int:
    """4xx pass through; 503/504 are kept; any other 5xx (or odd code) becomes 502."""
    if 400 <= upstream_status < 500 or upstream_status in (503, 504):
        return upstream_status
    return 502


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": message, "code": status}


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=jsonio.dumps(error_body(status, message)),
        content_type="application/json",
        headers=headers,
    )


def describe_validation(messages: Mapping[str, Any] | list[Any] | str) -> str:
    """Flatten marshmallow's nested messages into `field: problem; other.field: problem`."""
    parts: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                name = str(key) if key != "_schema" else ""
                walk(value, f"{path}.{name}" if path and name else (name or path))
        elif isinstance(node, list) and node and all(isinstance(item, str) for item in node):
            text = " ".join(node)
            parts.append(f"{path}: {text}" if path else text)
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        else:
            parts.append(f"{path}: {node}" if path else str(node))

    walk(messages, "")
    return "invalid request: " + "; ".join(parts) if parts else "invalid request"


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
MAX_MESSAGE = 500


def native_error_message(body: bytes, content_type: str, reason: str) -> str:
    """NHN's own error message, whichever service's format it is in.

    Nova/Cinder `{"<fault>": {"message"}}`, Neutron `{"NeutronError": {"message"}}`,
    Keystone `{"error": {"message"}}`, Magnum/NKS `{"errors": [{"detail"}]}`, Glance JSON
    `{"message"}`; Swift and Glance HTML pages are reduced to their text.
    """
    text = body.decode("utf-8", "replace").strip()
    message = ""
    if text.startswith(("{", "[")):
        try:
            message = _message_from_json(json.loads(text))
        except ValueError:
            message = ""
    if not message and text:
        message = _text_of_markup(text)
    message = message or reason or "upstream error"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _message_from_json(body: Any) -> str:
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            first = errors[0]
            return str(first.get("detail") or first.get("title") or "")
        if isinstance(body.get("message"), str):
            return body["message"]
        for value in body.values():
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                return value["message"]
        if isinstance(body.get("error"), str):
            return body["error"]
    return ""


def _text_of_markup(text: str) -> str:
    """`<h1>Not Found</h1><p>The resource…</p>` → `Not Found: The resource…`."""
    pieces: list[str] = []
    for piece in _TAG.split(text):
        piece = _SPACE.sub(" ", unescape(piece)).strip()
        if piece and (not pieces or pieces[-1] != piece):
            pieces.append(piece)
    if len(pieces) > 1:
        return f"{pieces[0]}: {' '.join(pieces[1:])}"
    return pieces[0] if pieces else ""

"""Error bodies of each emulated NHN service, built exactly as the real services send them.

Handlers raise :class:`ApiError` (status, message, optional service-specific kind) and the
service dispatcher renders it with :func:`error_response` in that service's own style:
Keystone ``{"error"}``, Nova/Cinder fault wrappers, ``NeutronError``, Magnum ``errors``
list, Swift's tiny HTML page and Glance's WebOb page.
"""

from __future__ import annotations

import html
import json
import secrets
from http import HTTPStatus

from aiohttp import web

# Services whose 401 comes from keystonemiddleware (JSON) rather than from the service.
KEYSTONEMIDDLEWARE_401 = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}

_NOVA_FAULTS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}

# Swift's swob explanations, shown in the HTML body of an error.
_SWIFT_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document you "
    "requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    409: "There was a conflict when trying to complete your request.",
    411: "Content-Length header required.",
    412: "A precondition for this request was not met.",
    413: "The body of your request was too large for this server.",
    422: "Unable to process the contained instructions",
    429: "The resource is being rate limited.",
    500: "The server has either erred or is incapable of performing the requested operation.",
    501: "The server has either erred or is incapable of performing the requested operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
}


class ApiError(Exception):
    """A native API error; the dispatcher renders it in the answering service's format.

    ``kind`` is the Neutron ``type`` or an explicit Nova fault name; ``body`` replaces a
    Swift HTML page with a plain sentence (as Swift does for e.g. name-length errors).
    """

    def __init__(
        self, status: int, message: str = "", *, kind: str | None = None, body: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or reason(status)
        self.kind = kind
        self.body = body


def reason(status: int) -> str:
    """The HTTP reason phrase of ``status`` ("Not Found")."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Error"


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def keystone_error(status: int, message: str, title: str | None = None) -> web.Response:
    """Keystone v2 (and keystonemiddleware) error: ``{"error": {message, code, title}}``."""
    return _json(
        status, {"error": {"message": message, "code": status, "title": title or reason(status)}}
    )


def unauthorized_json() -> web.Response:
    """keystonemiddleware's 401 for a missing, unknown or expired token."""
    return _json(401, KEYSTONEMIDDLEWARE_401, {"WWW-Authenticate": "Keystone uri='identity'"})


def nova_error(status: int, message: str, fault: str | None = None) -> web.Response:
    """Nova/Cinder fault wrapper: ``{"itemNotFound": {"code": 404, "message": ...}}``."""
    name = fault or _NOVA_FAULTS.get(status, "computeFault")
    return _json(status, {name: {"code": status, "message": message}})


def neutron_error(
    status: int, message: str, kind: str | None = None, detail: str = ""
) -> web.Response:
    """Neutron error: ``{"NeutronError": {"type", "message", "detail"}}``."""
    if kind is None:
        # Neutron names generic webob errors after the exception class, e.g. HTTPNotFound.
        kind = "HTTP" + reason(status).replace(" ", "").replace("-", "")
    return _json(status, {"NeutronError": {"type": kind, "message": message, "detail": detail}})


def magnum_error(status: int, message: str) -> web.Response:
    """Magnum's parsable error: ``{"errors": [{request_id, code, status, title, detail, links}]}``.

    ``title`` is the first sentence of the message without its final period.
    """
    detail = message if message.endswith(".") else message + "."
    title = detail.split(". ")[0].rstrip(".")
    code = "client" if status < 500 else "server"
    body = {
        "errors": [
            {
                "request_id": "",
                "code": code,
                "status": status,
                "title": title,
                "detail": detail,
                "links": [],
            }
        ]
    }
    return _json(status, body)


def swift_error(status: int, body: str | None = None) -> web.Response:
    """Swift error page ``<html><h1>Reason</h1><p>explanation</p></html>`` (or a sentence)."""
    if body is None:
        explanation = _SWIFT_EXPLANATIONS.get(status, reason(status))
        body = f"<html><h1>{reason(status)}</h1><p>{explanation}</p></html>"
    return web.Response(status=status, text=body, content_type="text/html", charset="UTF-8")


def glance_error(status: int, message: str, accept: str = "") -> web.Response:
    """WebOb's error page as Glance sends it: HTML by default, JSON or plain text by Accept."""
    title = reason(status)
    code = f"{status} {title}"
    accept = accept.lower()
    wants_html = not accept or "text/html" in accept or "*/*" in accept
    if "application/json" in accept and "text/html" not in accept:
        return _json(status, {"message": message, "code": code, "title": title})
    if wants_html:
        text = (
            f"<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n"
            f"  <h1>{code}</h1>\n  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>"
        )
        return web.Response(status=status, text=text, content_type="text/html", charset="UTF-8")
    return web.Response(
        status=status, text=f"{code}\n\n{message}\n\n   ", content_type="text/plain"
    )


def error_response(
    service: str, error: ApiError, request: web.Request | None = None
) -> web.Response:
    """Render ``error`` in the format of ``service`` (a key of the emulator's service table)."""
    status, message = error.status, error.message
    if status == 401 and service != "identity":
        return swift_error(401) if service == "object_storage" else unauthorized_json()
    if service == "identity":
        return keystone_error(status, message)
    if service in ("compute", "block_storage"):
        return nova_error(status, message, error.kind)
    if service == "network":
        return neutron_error(status, message, error.kind)
    if service == "kubernetes":
        return magnum_error(status, message)
    if service == "object_storage":
        return swift_error(status, error.body)
    if service == "image":
        accept = request.headers.get("Accept", "") if request is not None else ""
        return glance_error(status, message, accept)
    return _json(status, {"error": {"code": status, "message": message}})


def not_implemented(service: str, method: str, path: str) -> ApiError:
    """The 501 every unemulated native endpoint answers (never a silent 200)."""
    messages = {
        "identity": "The action you have requested has not been implemented.",
        "object_storage": "",
    }
    message = messages.get(
        service, f"{method} {path} is not implemented by the NHN Cloud emulator."
    )
    return ApiError(501, message, kind="HTTPNotImplemented" if service == "network" else None)


def request_id_headers(service: str, now: float) -> dict[str, str]:
    """Request-id headers every answer of ``service`` carries (Swift: ``X-Trans-Id``)."""
    if service == "object_storage":
        trans_id = f"tx{secrets.token_hex(11)[:21]}-{int(now):010x}"
        return {"X-Trans-Id": trans_id, "X-Openstack-Request-Id": trans_id}
    request_id = (
        f"req-{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-"
        f"{secrets.token_hex(2)}-{secrets.token_hex(6)}"
    )
    headers = {"X-Openstack-Request-Id": request_id}
    if service == "compute":
        headers["X-Compute-Request-Id"] = request_id
    return headers

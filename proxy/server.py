"""The HTTP server around the app: requests aiohttp refuses before any routing (a header
over 8 KiB, a malformed request line, CRLF tricks) are answered in the standard error
shape too, and logged without echoing the offending bytes, which may hold a token."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

logger = logging.getLogger("nhn_proxy.server")

_MESSAGES: tuple[tuple[type[BaseException], str], ...] = (
    (http_exceptions.LineTooLong, "request line or header field too long"),
    (http_exceptions.InvalidHeader, "invalid HTTP header"),
    (http_exceptions.BadStatusLine, "malformed HTTP request line"),
    (http_exceptions.BadHttpMethod, "malformed HTTP request line"),
    (http_exceptions.BadHttpMessage, "malformed HTTP request"),
)


def describe_protocol_error(status: int, exc: BaseException | None) -> str:
    if status >= 500:
        return "internal error"
    for kind, message in _MESSAGES:
        if isinstance(exc, kind):
            return message
    return "malformed HTTP request"


class _StandardErrorRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error answer")
        text = describe_protocol_error(status, exc)
        request_id = uuid.uuid4().hex
        # the exception text quotes the refused bytes (possibly a token): log its kind only
        logger.info(
            "refused request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "status": status,
                    "reason": text,
                    "error": type(exc).__name__ if exc else None,
                }
            },
        )
        response = web.Response(
            status=status,
            body=json.dumps({"error": text, "code": status}).encode(),
            content_type="application/json",
            headers={"X-Request-ID": request_id},
        )
        response.force_close()
        return response


class _StandardErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return _StandardErrorRequestHandler(self, loop=self._loop, **self._kwargs)

    async def shutdown(self, timeout: float | None = None) -> None:
        """One grace period in all (`server.shutdown_timeout`), then what is still running is
        cut. aiohttp alone waits `timeout` for the handlers, then cancels only their request
        bodies and waits `timeout` once more before cancelling them: twice the setting."""
        connections = list(self._connections)
        stopping = asyncio.ensure_future(super().shutdown(timeout))
        if timeout is not None:
            await asyncio.wait({stopping}, timeout=timeout)
            for connection in connections:
                handler = getattr(connection, "_task_handler", None)
                if handler is not None and not handler.done():
                    handler.cancel()
        await stopping


class ProxyRunner(web.AppRunner):
    """`web.AppRunner` whose protocol-level errors use the standard error shape."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _StandardErrorServer  # same state, one method overridden
        return server

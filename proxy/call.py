"""`Call`: everything a plugin's handler may use for one request, and nothing more — no raw
request, no app, no whole settings. NHN is reached through `Call.native` and
`Call.listing` only, so every native call goes through the core's checked, pooled client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

from aiohttp import ClientPayloadError, StreamReader

from nhn_proxy.answers import RawJson
from nhn_proxy.context import NhnContext
from nhn_proxy.errors import BadRequest, PayloadTooLarge, ProxyError, UpstreamError
from nhn_proxy.paging import PageFetcher, collect_listing, collect_pages
from nhn_proxy.upstream import NativeAnswer, NativeStream, Upstream

T = TypeVar("T")
EMPTY: Mapping[str, Any] = MappingProxyType({})


class CallLogger(logging.LoggerAdapter):
    """A plugin's logger bound to one request: every line carries its request id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = kwargs.get("extra") or {}
        kwargs["extra"] = {**extra, "fields": {**self.extra, **extra.get("fields", {})}}
        return msg, kwargs


@dataclass(frozen=True, slots=True)
class RouteEnvironment:
    """What the core hands every route's calls: one per app, built at start-up."""

    upstream: Upstream
    allowed_regions: tuple[str, ...]
    max_pages: int
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class Upload:
    """A request body read as it arrives (`Route(upload=True)`): pass `chunks(limit)` to
    `call.native(..., data=...)` and it flows to NHN without ever being held whole.
    `length` is the client's `Content-Length` (None for a chunked upload)."""

    CHUNK = 65536

    def __init__(self, content: StreamReader, length: int | None) -> None:
        self._content = content
        self.length = length
        self.failure: ProxyError | None = None  # why the body stopped early, if it did
        self.received = 0

    async def chunks(self, limit: int | None = None) -> AsyncIterator[bytes]:
        """The body, piece by piece; past `limit` bytes, or if the client stops sending
        before its announced length, the transfer is aborted (the native call fails too,
        so NHN never keeps a short object) and `failure` says why."""
        try:
            async for chunk in self._content.iter_chunked(self.CHUNK):
                self.received += len(chunk)
                if limit is not None and self.received > limit:
                    raise PayloadTooLarge(f"the body is larger than {limit} bytes")
                yield chunk
        except ProxyError as exc:
            self.failure = exc
            raise
        except (OSError, ValueError, ClientPayloadError) as exc:  # the client went away
            self.failure = BadRequest(f"the body ended early ({type(exc).__name__})")
            raise self.failure from None
        if self.length is not None and self.received != self.length:
            self.failure = BadRequest(
                f"the body ended after {self.received} of {self.length} bytes"
            )
            raise self.failure


class Call:
    """Everything a plugin handler may use for one request, already checked: the path
    `params`, `query` and `body` as their schemas loaded them, the caller's `ctx`, the
    `headers` the route declared, the plugin's own `settings` section and a `log` bound to
    the request; NHN is reached through `native` and `listing` only."""

    __slots__ = ("_env", "_log", "_plugin", "body", "ctx", "headers", "params", "query", "upload")

    def __init__(
        self,
        env: RouteEnvironment,
        ctx: NhnContext,
        *,
        params: Mapping[str, str] = EMPTY,
        query: Mapping[str, Any] = EMPTY,
        body: Mapping[str, Any] = EMPTY,
        headers: Mapping[str, str] = EMPTY,
        plugin: str = "",
        upload: Upload | None = None,
    ) -> None:
        self._env = env
        self.upload = upload
        self.ctx = ctx
        self.params = params
        self.query = query
        self.body = body
        self.headers = headers
        self._plugin = plugin
        self._log: CallLogger | None = None

    @property
    def settings(self) -> Mapping[str, Any]:
        """The plugin's own settings section (`[<plugin name>]`), as its schema loaded it."""
        return self._env.sections.get(self._plugin, EMPTY)

    @property
    def log(self) -> logging.LoggerAdapter:
        if self._log is None:
            name = f"nhn_proxy.plugins.{self._plugin or 'unknown'}"
            self._log = CallLogger(logging.getLogger(name), {"request_id": self.ctx.request_id})
        return self._log

    async def native(
        self,
        service: str,
        method: str,
        template: str,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> NativeAnswer:
        """Call NHN's `service` at `template` (e.g. `/v2/{tenant}/servers/{server_id}`) in
        the caller's region with the caller's token, and return its 2xx answer; anything
        else raises an `UpstreamError`.

        Each `{name}` of the template is filled from `path`, every value encoded as exactly
        one path segment; `{tenant}` and `{account}` default to the checked
        `X-NHN-Tenant-ID` and `X-NHN-Storage-Account`. `json` is sent as a JSON body;
        `data` as raw bytes (or an async iterable of bytes, streamed).
        """
        try:
            return await self._env.upstream.request(
                service,
                method,
                template,
                ctx=self.ctx,
                path=self._path(path),
                query=query,
                json_body=json,
                headers=headers,
                data=data,
            )
        except UpstreamError:
            self._raise_upload_failure()
            raise

    async def native_stream(
        self,
        service: str,
        method: str,
        template: str,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> NativeStream:
        """Like `native`, but NHN's answer is returned unread (a 2xx, or a 304 to a
        conditional request): hand `stream.chunks()` and `close=stream.close` to a
        `Stream` answer, or `await stream.close()`. For bodies too large to hold."""
        try:
            return await self._env.upstream.open(
                service,
                method,
                template,
                ctx=self.ctx,
                path=self._path(path),
                query=query,
                headers=headers,
                data=data,
            )
        except UpstreamError:
            self._raise_upload_failure()
            raise

    def _path(self, path: Mapping[str, str] | None) -> dict[str, str]:
        values: dict[str, str] = {}
        if self.ctx.tenant_id is not None:
            values["tenant"] = self.ctx.tenant_id
        if self.ctx.storage_account is not None:
            values["account"] = self.ctx.storage_account
        if path:
            values.update(path)
        return values

    def _raise_upload_failure(self) -> None:
        """A native call that failed because the upload stopped fails for that reason (the
        client's: 413, 400), not as NHN's fault."""
        if self.upload is not None and self.upload.failure is not None:
            raise self.upload.failure from None

    @overload
    async def listing(
        self, fetch: PageFetcher[T], *, service: str, key: None = None
    ) -> list[T]: ...

    @overload
    async def listing(self, fetch: PageFetcher[T], *, service: str, key: str) -> RawJson: ...

    async def listing(
        self, fetch: PageFetcher[T], *, service: str, key: str | None = None
    ) -> list[T] | RawJson:
        """Every page of a paginated native listing, within the proxy's bounds
        (`upstream.max_pages`, `upstream.listing_concurrency`).

        `fetch(marker)` reads one page and returns its items and the next page's marker
        (None on the last). With `key`, the answer `{key: [...]}` is written page by page
        as it arrives and returned ready to send; without, the items are returned.
        """
        slot = self._env.upstream.listing_slot()
        if key is not None:
            written = await collect_listing(
                key, fetch, self._env.max_pages, service=service, slot=slot
            )
            return RawJson(written)
        async with slot:
            return await collect_pages(fetch, self._env.max_pages, service=service)

"""`Upstream`: the one pooled HTTP client through which every plugin reaches NHN Cloud.

Plugins name a service, a native path *template* and the values for its placeholders; this
module fills in the endpoint of the validated region and percent-encodes every value as a
single path segment. So no client value can change the host, climb out of the intended
resource collection (`..`, `%2F`, `?`, `#`, `@`) or smuggle a query.

Every failure comes out as one of the `UpstreamError` classes of `proxy.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from nhn_proxy import jsonio
from nhn_proxy.context import NhnContext
from nhn_proxy.errors import (
    BadRequest,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
    native_error_message,
)
from nhn_proxy.logs import body_for_log, redact_headers, scrub, upstream_logger
from nhn_proxy.resilience import ByteBudget, CircuitBreaker, backoff_delay
from nhn_proxy.settings import UpstreamSettings

USER_AGENT = "nhn-cloud-proxy/0.1"
_SECRET_QUERY_KEYS = frozenset({"token", "password", "temp_url_sig", "signature", "x-auth-token"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_SEGMENT_BYTES = 1024  # Swift's object-name limit; nothing NHN names is longer
SMALL_BODY = 65536  # answers below this size are read at once, outside the read budget
UNSIZED_BODY = 1 << 20  # what an answer of unknown final size reserves of the budget


@functools.lru_cache(maxsize=4096)  # tenant ids and accounts repeat on every call
def quote_segment(value: str) -> str:
    """Percent-encode a value as exactly one path segment, refusing `.`/`..`/empty."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise BadRequest("a path parameter is empty or a relative path segment")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise BadRequest("a path parameter is too long")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise BadRequest("a path parameter contains control characters")
    try:
        return quote(value, safe="", encoding="utf-8", errors="strict")
    except UnicodeEncodeError:
        raise BadRequest("a path parameter is not valid text") from None


class MultiSegment(str):
    """A path value that may span segments (a Swift object name such as `docs/a b.txt`):
    each `/`-separated part is encoded on its own and the slashes are kept. Dot segments
    are encoded (`%2E`), so no client can walk up the native path."""

    __slots__ = ()


def quote_segments(value: str) -> str:
    """`docs/../a b` → `docs/%2E%2E/a%20b`: every part one encoded segment."""
    if not value:
        raise BadRequest("a path parameter is empty")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise BadRequest("a path parameter is too long")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise BadRequest("a path parameter contains control characters")
    parts = []
    for part in value.split("/"):
        try:
            quoted = quote(part, safe="", encoding="utf-8", errors="strict")
        except UnicodeEncodeError:
            raise BadRequest("a path parameter is not valid text") from None
        parts.append(quoted.replace(".", "%2E") if part in (".", "..") else quoted)
    return "/".join(parts)


def native_path(template: str, **values: str) -> str:
    """`/v2/{tenant}/servers/{server_id}` with each value encoded as one segment (or, for a
    `MultiSegment`, as its segments)."""
    return template.format_map(
        {
            name: quote_segments(value) if isinstance(value, MultiSegment) else quote_segment(value)
            for name, value in values.items()
        }
    )


@dataclass(slots=True)
class NativeAnswer:
    """A buffered answer from NHN with a 2xx status."""

    service: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def json(self) -> Any:
        """The body as JSON; anything else from NHN is an unusable answer (502)."""
        if "json" not in self.content_type.lower():
            raise UpstreamBadResponse(
                f"{self.service} answered with content type "
                f"{self.content_type or 'none'} instead of JSON"
            )
        try:
            return jsonio.loads(self.body)
        except (ValueError, RecursionError):
            raise UpstreamBadResponse(f"{self.service} answered with malformed JSON") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise UpstreamBadResponse(f"{self.service} answered with an unexpected JSON shape")
        return body

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class NativeStream:
    """An NHN answer whose body is read as it arrives, never held whole (an object
    download). `chunks()` yields it and closes the answer at the end; `close()` gives the
    connection back at once (whoever holds the stream must call one or the other)."""

    def __init__(self, service: str, response: aiohttp.ClientResponse) -> None:
        self.service = service
        self.status = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self._response = response
        self._finished = False

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/octet-stream")

    @property
    def content_length(self) -> int | None:
        return self._response.content_length

    async def chunks(self, size: int = 65536) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk
            self._finished = True
        except aiohttp.ClientPayloadError:
            raise UpstreamBadResponse(f"{self.service} sent a broken or truncated body") from None
        finally:
            await self.close()

    async def close(self) -> None:
        """Done with it: a connection read to the end goes back to the pool, any other is
        closed (its unread rest must never reach the next caller)."""
        if self._finished:
            self._response.release()
        else:
            self._response.close()


class Upstream:
    """Shared client session plus the endpoint table, built once per app."""

    def __init__(
        self,
        settings: UpstreamSettings,
        regions: tuple[str, ...],
        observer: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        # told (service, outcome) after every exchange, e.g. for Prometheus counters
        self.observer = observer
        self.regions = regions
        # (service, region) → base URL; region None for global endpoints (identity)
        self._bases: dict[tuple[str, str | None], str] = {}
        for service, template in settings.endpoints.items():
            if "{region}" in template:
                for region in regions:
                    self._bases[service, region] = template.replace("{region}", region)
                self._bases[service, None] = template.replace("{region}", regions[0])
            else:
                self._bases[service, None] = template
                for region in regions:
                    self._bases[service, region] = template
        self._session: aiohttp.ClientSession | None = None
        self._breakers: dict[tuple[str, str | None], CircuitBreaker] = {}
        self._read_budget = ByteBudget(settings.read_budget)
        self._listings = asyncio.Semaphore(settings.listing_concurrency)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.settings.pool_size,
            limit_per_host=self.settings.pool_size_per_host,
            keepalive_timeout=30,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self.settings.timeout,
                connect=self.settings.connect_timeout,
                sock_connect=self.settings.connect_timeout,
            ),
            headers={"User-Agent": USER_AGENT},
            auto_decompress=True,
            trust_env=False,  # never route NHN calls through a proxy the environment names
            # one session serves every caller: a cookie NHN sets for one must never be sent
            # on behalf of another (and not keeping a jar saves work on every call)
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """`cleanup_ctx` hook: open the pool with the app, close it with the app."""
        await self.start()
        yield
        await self.close()

    @contextlib.asynccontextmanager
    async def listing_slot(self) -> AsyncIterator[None]:
        """One of `upstream.listing_concurrency` places for collecting a paginated listing.

        A listing holds its pages, already written, until the last one arrives (megabytes
        for 10,000 objects); bounding how many are collected at once bounds that memory.
        The CPU is the limit on large listings anyway, so throughput does not suffer; a
        caller that waits longer than `upstream.timeout` gets a 503.
        """
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self._listings.acquire()
        except TimeoutError:
            raise UpstreamUnavailable(
                "too many large listings are being collected; try again shortly"
            ) from None
        try:
            yield
        finally:
            self._listings.release()

    @property
    def ready(self) -> bool:
        return self._session is not None and not self._session.closed

    def base_url(self, service: str, region: str | None) -> str:
        try:
            return self._bases[service, region]
        except KeyError:
            raise BadRequest(f"no {service} endpoint is configured for this region") from None

    def url(
        self, service: str, region: str | None, template: str, path_values: Mapping[str, str]
    ) -> URL:
        path = native_path(template, **path_values)
        return URL(self.base_url(service, region).rstrip("/") + path, encoded=True)

    async def request(
        self,
        service: str,
        method: str,
        template: str,
        *,
        ctx: NhnContext,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> NativeAnswer:
        """Call NHN and return its 2xx answer; raise an `UpstreamError` for anything else.

        `data` may be bytes or an async iterable, so a later upload route can stream a
        body through without holding it in memory.
        """
        if self._session is None:
            raise UpstreamUnreachable("the upstream client is not running")
        url = self.url(service, ctx.region, template, path or {})
        if query:
            url = url.update_query({key: str(value) for key, value in query.items()})
        send_headers = {"Accept": "application/json", "X-Request-ID": ctx.request_id}
        if ctx.token:
            send_headers["X-Auth-Token"] = ctx.token
        if headers:
            send_headers.update(headers)
        body: Any = data
        if json_body is not None:
            body = jsonio.dumps(json_body)
            send_headers["Content-Type"] = "application/json"
        # only calls that change nothing, and whose body can be sent again, are retried
        idempotent = method in IDEMPOTENT_METHODS and (data is None or isinstance(data, bytes))
        breaker = self._breaker(service, ctx.region)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout
        attempt = 0
        while True:
            attempt += 1
            if breaker is not None and not breaker.allow():
                raise UpstreamUnavailable(
                    f"{service} is failing; calls are paused for "
                    f"{breaker.retry_after():.0f} s more (circuit open)"
                )
            # the first attempt has the whole budget: the session's own timeout, no new one
            remaining = None if attempt == 1 else deadline - loop.time()
            try:
                answer = await self._attempt(
                    service, method, url, send_headers, body, json_body, remaining
                )
            except (UpstreamUnreachable, UpstreamTimeout, UpstreamBadResponse) as exc:
                failure: UpstreamError = exc
            else:
                if answer.status not in RETRY_STATUSES:
                    if breaker is not None:
                        (breaker.failure if answer.status >= 500 else breaker.success)()
                    return self._finish(service, ctx, answer)
                failure = self._http_error(answer)
            if breaker is not None:
                breaker.failure()
            retryable = idempotent and not isinstance(
                failure, UpstreamTimeout | UpstreamBadResponse
            )
            pause = backoff_delay(
                attempt, self.settings.retry_backoff, self.settings.retry_backoff_max
            )
            if (
                not retryable
                or attempt > self.settings.retries
                or (loop.time() + pause >= deadline)
            ):
                raise failure
            upstream_logger.info(
                "upstream retry",
                extra={
                    "fields": {
                        "request_id": ctx.request_id,
                        "service": service,
                        "attempt": attempt + 1,
                        "after": failure.message,
                    }
                },
            )
            await asyncio.sleep(pause)

    async def open(
        self,
        service: str,
        method: str,
        template: str,
        *,
        ctx: NhnContext,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> NativeStream:
        """Call NHN and return its answer unread, as a `NativeStream` (2xx, or 304 to a
        conditional request); anything else raises an `UpstreamError` like `request`.

        For bodies too large to hold: `data` may be an async iterable sent as it is read,
        and the answer is read by the caller. `upstream.timeout` bounds each wait for bytes
        (not the whole transfer, which may take minutes); nothing is retried, as a streamed
        body cannot be sent twice.
        """
        if self._session is None:
            raise UpstreamUnreachable("the upstream client is not running")
        url = self.url(service, ctx.region, template, path or {})
        if query:
            url = url.update_query({key: str(value) for key, value in query.items()})
        send_headers = {"Accept": "*/*", "X-Request-ID": ctx.request_id}
        if ctx.token:
            send_headers["X-Auth-Token"] = ctx.token
        if headers:
            send_headers.update(headers)
        breaker = self._breaker(service, ctx.region)
        if breaker is not None and not breaker.allow():
            raise UpstreamUnavailable(
                f"{service} is failing; calls are paused for "
                f"{breaker.retry_after():.0f} s more (circuit open)"
            )
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.settings.connect_timeout,
            sock_connect=self.settings.connect_timeout,
            sock_read=self.settings.timeout,
        )
        started = time.perf_counter()
        status: int | str = "error"
        reported = False
        try:
            try:
                response = await self._session.request(
                    method,
                    url,
                    headers=send_headers,
                    data=data,
                    allow_redirects=False,
                    timeout=timeout,
                    # the bytes as NHN stored them: a gzip object stays gzip, and its
                    # Content-Length stays true
                    auto_decompress=False,
                )
            except TimeoutError:
                status = "timeout"
                raise UpstreamTimeout(f"{service} did not answer in time") from None
            except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError, OSError) as exc:
                status = "unreachable"
                raise UpstreamUnreachable(
                    f"{service} could not be reached ({type(exc).__name__})"
                ) from None
            status = response.status
            if breaker is not None:
                (breaker.failure if status >= 500 else breaker.success)()
                reported = True
            if status >= 300 and status != 304:
                async with response:
                    body = await response.content.read(SMALL_BODY)
                answer = NativeAnswer(service, status, response.headers, body)
                if status >= 400:
                    raise self._http_error(answer)
                raise UpstreamBadResponse(f"{service} answered with an unexpected redirect")
            return NativeStream(service, response)
        except UpstreamError:
            if breaker is not None and not reported:
                breaker.failure()
                reported = True
            raise
        finally:
            if breaker is not None and not reported:
                breaker.release()  # cancelled before NHN said anything: free the probe
            self._log(service, method, url, status, started, send_headers, None)
            if self.observer is not None:
                self.observer(service, f"{status // 100}xx" if isinstance(status, int) else status)

    def _breaker(self, service: str, region: str | None) -> CircuitBreaker | None:
        """One breaker per endpoint: an outage of one region's service pauses only it."""
        if self.settings.breaker_failures <= 0:
            return None
        key = (service, region)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(
                self.settings.breaker_failures, self.settings.breaker_open_seconds
            )
        return breaker

    async def _attempt(
        self,
        service: str,
        method: str,
        url: URL,
        send_headers: Mapping[str, str],
        body: Any,
        json_body: Any,
        remaining: float | None,
    ) -> NativeAnswer:
        """One HTTP exchange; transport failures come out as `UpstreamError`s."""
        assert self._session is not None
        started = time.perf_counter()
        status: int | str = "error"
        timeout = (
            self._session.timeout
            if remaining is None
            else aiohttp.ClientTimeout(
                total=max(remaining, 0.001),
                connect=self.settings.connect_timeout,
                sock_connect=self.settings.connect_timeout,
            )
        )
        try:
            async with self._session.request(
                method,
                url,
                headers=send_headers,
                data=body,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                status = response.status
                payload = await self._read(service, response)
                return NativeAnswer(service, response.status, response.headers, payload)
        except TimeoutError:
            status = "timeout"
            raise UpstreamTimeout(f"{service} did not answer in time") from None
        except aiohttp.ClientPayloadError:
            status = "truncated"
            raise UpstreamBadResponse(f"{service} sent a broken or truncated answer") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError, OSError) as exc:
            status = "unreachable"
            raise UpstreamUnreachable(
                f"{service} could not be reached ({type(exc).__name__})"
            ) from None
        finally:
            self._log(service, method, url, status, started, send_headers, json_body)
            if self.observer is not None:
                self.observer(service, f"{status // 100}xx" if isinstance(status, int) else status)

    def _finish(self, service: str, ctx: NhnContext, answer: NativeAnswer) -> NativeAnswer:
        if upstream_logger.isEnabledFor(logging.DEBUG):
            upstream_logger.debug(
                "upstream answer",
                extra={
                    "fields": {
                        "request_id": ctx.request_id,
                        "service": service,
                        "status": answer.status,
                        "body": body_for_log(answer.body),
                    }
                },
            )
        if answer.status >= 400:
            raise self._http_error(answer)
        if answer.status >= 300:
            raise UpstreamBadResponse(f"{service} answered with an unexpected redirect")
        return answer

    @staticmethod
    def _http_error(answer: NativeAnswer) -> UpstreamHTTPError:
        # NHN's message goes to the client (and into tasks): mask whatever secret it echoes
        message = native_error_message(answer.body, answer.content_type, _reason(answer.status))
        return UpstreamHTTPError(answer.status, scrub(message))

    async def _read(self, service: str, response: aiohttp.ClientResponse) -> bytes:
        """Read the whole body, refusing (not buffering) one larger than the limit."""
        limit = self.settings.max_body_size
        length = response.content_length
        if length is not None and length > limit:
            raise UpstreamBadResponse(f"{service} answered with a body larger than allowed")
        # only an uncompressed body's Content-Length is the size that will be buffered
        exact = length is not None and not response.headers.get("Content-Encoding")
        if exact and length < SMALL_BODY:
            return await response.read()
        # a large, compressed or unsized answer waits for its share of the read budget
        async with self._read_budget.reserve(length if exact else UNSIZED_BODY):
            if exact:
                return await response.read()  # one read, no list of chunks to join
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise UpstreamBadResponse(f"{service} answered with a body larger than allowed")
                chunks.append(chunk)
            return b"".join(chunks)

    def _log(
        self,
        service: str,
        method: str,
        url: URL,
        status: int | str,
        started: float,
        headers: Mapping[str, str],
        json_body: Any,
    ) -> None:
        if not upstream_logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "request_id": headers.get("X-Request-ID"),
            "service": service,
            "method": method,
            "url": _loggable_url(url),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if upstream_logger.isEnabledFor(logging.DEBUG):
            fields["headers"] = redact_headers(headers.items())
            if json_body is not None:
                fields["body"] = body_for_log(json.dumps(json_body))
        upstream_logger.info("upstream call", extra={"fields": fields})


def _loggable_url(url: URL) -> str:
    if not url.query:
        return str(url)
    query = [
        (key, "***" if key.lower() in _SECRET_QUERY_KEYS else value)
        for key, value in url.query.items()
    ]
    return str(url.with_query(query))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "upstream error"

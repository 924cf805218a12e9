"""Following NHN's marker-based pagination, bounded so a misbehaving upstream cannot loop us."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from nhn_proxy import jsonio
from nhn_proxy.errors import UpstreamBadResponse

T = TypeVar("T")
# fetch(marker) → (items of that page, marker of the next page or None when it was the last)
PageFetcher = Callable[[str | None], Awaitable[tuple[list[T], str | None]]]


async def collect_pages(fetch: PageFetcher[T], max_pages: int, *, service: str) -> list[T]:
    """All items of a paginated native listing, in order.

    Stops when a page says it is the last, when the next marker does not move forward,
    and fails (502) rather than loop past `max_pages` (`upstream.max_pages`).
    """
    items: list[T] = []
    async for page in _pages(fetch, max_pages, service=service):
        items.extend(page)
    return items


async def collect_listing(
    key: str,
    fetch: PageFetcher[T],
    max_pages: int,
    *,
    service: str,
    slot: AbstractAsyncContextManager[Any] | None = None,
) -> bytes:
    """The JSON document `{key: [every item of every page]}`, written page by page.

    Each page is written out as soon as it is translated, so while the next page is awaited
    it is held as one compact bytes object — not as thousands of small Python objects,
    which would also pin the memory of the whole parsed native page they were cut from.
    The document is then assembled in one allocation. `slot` (`Upstream.listing_slot()`)
    is held the whole time, so only so many listings are collected at once.
    """
    pages: list[bytes] = []
    async with slot or contextlib.nullcontext():
        async for page in _pages(fetch, max_pages, service=service):
            if page:
                pages.append(jsonio.dumps(page))
            del page  # not kept alive while the next page is awaited
    pieces: list[bytes | memoryview] = [b"{", jsonio.dumps(key), b":["]
    for index, written in enumerate(pages):
        if index:
            pieces.append(b",")
        pieces.append(memoryview(written)[1:-1])  # the items, without the brackets
    pieces.append(b"]}")
    return b"".join(pieces)


async def _pages(fetch: PageFetcher[T], max_pages: int, *, service: str) -> AsyncIterator[list[T]]:
    marker: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page, next_marker = await fetch(marker)
        yield page
        del page  # not kept alive while the next page is awaited
        if not next_marker or next_marker in seen:
            return
        seen.add(next_marker)
        marker = next_marker
    raise UpstreamBadResponse(f"{service} listing has more than {max_pages} pages")

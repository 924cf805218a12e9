"""Following NHN's marker-based pagination, bounded so a misbehaving upstream cannot loop us."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from proxy import jsonio
from proxy.errors import UpstreamBadResponse

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


async def collect_pages_as_json(fetch: PageFetcher[T], max_pages: int, *, service: str) -> bytes:
    """The same items as `collect_pages`, as the bytes of one JSON array.

    Each page is written out as soon as it is translated, so while the next page is awaited
    it is held as one compact bytes object — not as thousands of small Python objects,
    which would also pin the memory of the whole parsed native page they were cut from.
    With many large listings in flight this is what keeps the proxy's memory flat.
    """
    parts: list[bytes] = []
    async for page in _pages(fetch, max_pages, service=service):
        if page:
            parts.append(jsonio.dumps(page)[1:-1])  # the items, without the brackets
        del page  # not kept alive while the next page is awaited
    return b"[" + b",".join(parts) + b"]"


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

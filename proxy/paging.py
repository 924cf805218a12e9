"""Following NHN's marker-based pagination, bounded so a misbehaving upstream cannot loop us."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

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
    marker: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        page, next_marker = await fetch(marker)
        items.extend(page)
        if not next_marker or next_marker in seen:
            return items
        seen.add(next_marker)
        marker = next_marker
    raise UpstreamBadResponse(f"{service} listing has more than {max_pages} pages")

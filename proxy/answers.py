"""What a plugin's handler returns: a JSON-able payload as it is, or one of these when the
answer needs more — its own status or headers (`Reply`), JSON already written (`RawJson`),
or a body written piece by piece (`Stream`). The core renders them (`routing.render`)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RawJson:
    """A JSON document already written (e.g. by `Call.listing`): sent as it is."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """A payload with a status or headers of its own; a bare payload gets the route's
    status. `payload` None means no body (e.g. 204)."""

    payload: Any = None
    status: int | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """A body written piece by piece as `chunks` yields it, never held whole (an object
    download, server-sent events). `length`, when known, becomes `Content-Length`."""

    chunks: AsyncIterable[bytes]
    content_type: str
    status: int = 200
    headers: Mapping[str, str] | None = None
    length: int | None = None
    # called once the answer is over, however it ended (e.g. `NativeStream.close`): a
    # generator that never started cannot release what it holds itself
    close: Callable[[], Awaitable[None]] | None = None

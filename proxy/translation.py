"""Helpers for plugins' pure translation functions (`to_native` / `from_native`), written
once: reading NHN's fields strictly, and the pagination markers of Nova, Glance and Swift.

A `from_native` function decorated with `native_answer` turns any KeyError, TypeError or
ValueError these helpers raise into a 502 "unexpected body": NHN's answer was unusable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, urlsplit

from marshmallow import fields

from nhn_proxy.errors import UpstreamBadResponse

P = ParamSpec("P")
R = TypeVar("R")
MAX_MARKER_LENGTH = 255  # markers are UUIDs or object names; anything far longer is not one


def native_answer(service: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a `from_native` function: if NHN's body lacks what it reads, that is NHN's
    answer being unusable (502), not a bug of the proxy (500)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                raise UpstreamBadResponse(
                    f"{service} answered with an unexpected body ({type(exc).__name__}: {exc})"
                ) from None

        return wrapper

    return decorate


class StrictBoolean(fields.Boolean):
    """A JSON `true`/`false` only: marshmallow's Boolean also takes 1, 0, "yes"… and, since
    `1 == True` in Python, even `truthy={True}` lets the number 1 through."""

    default_error_messages = {"invalid": "Not a valid boolean (true or false)."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def pick(source: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The listed keys of a native object (KeyError if one is missing)."""
    return {key: source[key] for key in keys}


def list_of(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """`body[key]` when it is a list of objects, else a TypeError (→ 502)."""
    items = body[key]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise TypeError(f"{key} is not a list of objects")
    return items


def object_of(body: dict[str, Any], key: str) -> dict[str, Any]:
    """`body[key]` when it is an object, else a TypeError (→ 502)."""
    value = body[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def text(value: Any, what: str = "value") -> str:
    """A field the public answer relies on: a string, else a TypeError (→ 502)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} is not a string")
    return value


def optional_text(value: Any, what: str = "value") -> str | None:
    """A string or null; anything else is a TypeError (→ 502)."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} is not a string")
    return value


def extra_text(value: Any) -> str | None:
    """An extra (non-spec) field: a string or null; anything odd is dropped, not a 502."""
    return value if isinstance(value, str) else None


def marker_of(link: Any) -> str:
    """The `marker` query value of a pagination link, and nothing else of it: the path and
    host NHN names are never called. A link without exactly one usable marker is an
    unusable answer (ValueError → 502), not a silently shortened list."""
    if not isinstance(link, str):
        raise TypeError("next link is not a string")
    markers = parse_qs(urlsplit(link).query, keep_blank_values=True).get("marker", [])
    if len(markers) != 1 or not markers[0] or len(markers[0]) > MAX_MARKER_LENGTH:
        raise ValueError("next link does not carry exactly one usable marker")
    return markers[0]


def glance_next_marker(native: dict[str, Any]) -> str | None:
    """Glance (image API v2): `"next": "/v2/images?marker=<id>"` while more pages exist."""
    link = native.get("next")
    return marker_of(link) if link else None


def nova_next_marker(native: dict[str, Any], collection: str) -> str | None:
    """Nova: `"<collection>_links": [{"rel": "next", "href": "...?marker=<id>"}]` while more
    pages exist (e.g. `servers_links`)."""
    links = native.get(f"{collection}_links") or []
    if not isinstance(links, list):
        raise TypeError(f"{collection}_links is not a list")
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next":
            return marker_of(link.get("href"))
    return None


def swift_next_marker(names: list[str], limit: int) -> str | None:
    """Swift gives no "more" flag: a full page (`limit` names) continues after its last
    name; a shorter one was the last."""
    return names[-1] if names and len(names) >= limit else None

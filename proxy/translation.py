"""Helpers for plugins' pure translation functions (`to_native` / `from_native`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from marshmallow import fields
from nhn_proxy.errors import UpstreamBadResponse

P = ParamSpec("P")
R = TypeVar("R")


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

"""JSON in and out of the proxy's hot path: orjson, with the stdlib where orjson is not exact.

NHN's listings are large (1,000 servers ≈ 1.6 MB, 10,000 objects ≈ 1.8 MB) and parsing and
writing them was most of the proxy's CPU time with the stdlib `json` (benchmarks/PROFILE.md);
orjson does both several times faster and writes UTF-8 bytes directly, without the list of
string pieces the stdlib joins at the end.

Client request bodies are small and keep the stdlib parser (`proxy.routing.read_body`): it
keeps integers beyond 64 bits exact, where orjson would turn them into floats.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError


def loads(data: bytes | str) -> Any:
    """Parse an upstream answer. Raises `ValueError` for anything that is not JSON (including
    NaN, lone surrogates and nesting deeper than 1,024 levels)."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON. Integers beyond 64 bits and non-string keys, which orjson refuses, are
    written by the stdlib instead (ASCII-escaped, so even a lone surrogate stays valid)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()

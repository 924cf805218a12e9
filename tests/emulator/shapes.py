"""Compare an emulator answer with a documented example: same keys, same JSON types."""

from __future__ import annotations

from typing import Any


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def assert_conforms(
    actual: Any, documented: Any, path: str = "$", opaque: tuple[str, ...] = ()
) -> None:
    """Every documented key exists in ``actual`` with the same JSON type, recursively.

    ``null`` in the documentation accepts any value; ``opaque`` names keys whose content is
    free-form (e.g. objects keyed by generated names) and is only type-checked.
    """
    if documented is None or actual is None:
        return
    assert _kind(actual) == _kind(documented), (
        f"{path}: expected {_kind(documented)}, got {_kind(actual)} ({actual!r:.80})"
    )
    if isinstance(documented, dict):
        missing = sorted(set(documented) - set(actual))
        assert not missing, f"{path}: missing keys {missing}"
        for key, value in documented.items():
            if key in opaque:
                continue
            assert_conforms(actual[key], value, f"{path}.{key}", opaque)
    elif isinstance(documented, list) and documented and actual:
        for item in actual:
            assert_conforms(item, documented[0], f"{path}[]", opaque)

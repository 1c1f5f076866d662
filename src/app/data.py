"""Turning page data (dataclasses, tuples, enums) into JSON.

Keys become camelCase, as a JavaScript client expects; a dataclass with a `kind`
class variable (the content blocks) gets a leading "type" key. Output is compact
UTF-8 with keys in field order, so the same data always gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        kind = getattr(type(value), "kind", None)
        if isinstance(kind, str):
            out["type"] = kind
        for field in dataclasses.fields(value):
            out[camel(field.name)] = to_jsonable(getattr(value, field.name))
        return out
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps(document: Any) -> bytes:
    """Compact, UTF-8, deterministic JSON bytes (no NaN: it is not JSON)."""
    text = json.dumps(
        to_jsonable(document), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    # A lone surrogate (only possible in an echoed, malformed route) must not raise.
    return text.encode("utf-8", "replace")

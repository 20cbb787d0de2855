"""Reading fields of a dataset's JSON records that may hold anything: a value of the wrong type is named, not crashed
on, and a number must be finite (a "loud" or NaN gain is never read as 0 dB)."""

from __future__ import annotations

import math
from typing import Any

from evalkit.errors import EvalkitInputError


def finite_number(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def typed_field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """``obj[key]`` if it is a ``kind`` (absent or null: an empty one); anything else names the field."""
    value = obj.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind) or isinstance(value, bool):
        raise EvalkitInputError(f"{where}: {key} is a {type(value).__name__}, expected a{'n' if kind is dict else ''} "
                                f"{'object' if kind is dict else 'list'}; fix that field")
    return value


__all__ = ["finite_number", "typed_field"]

"""Step outputs and inputs as JSON bytes: JSON values and pydantic models (DESIGN §2)."""

from __future__ import annotations

from typing import Any

import pydantic_core

from orchestrator.errors import SerializationError


def dumps(value: Any, *, indent: int | None = None) -> bytes:
    """Serialize a JSON value or pydantic model (also dataclasses, datetimes, UUIDs) to JSON.

    NaN and infinities become ``null``, as JavaScript's ``JSON.stringify`` does, so that every
    checkpoint and event is JSON that browsers and Excel plugins can parse.

    Args:
        value: What to serialize.
        indent: Pretty-print with this indentation (compact when ``None``).

    Raises:
        SerializationError: The value has a type JSON cannot carry.
    """
    try:
        return pydantic_core.to_json(value, indent=indent, inf_nan_mode="null")
    except pydantic_core.PydanticSerializationError as exc:
        raise SerializationError(
            f"output of type {type(value).__name__} is not JSON-serializable: {exc}",
            details={"type": type(value).__name__},
        ) from exc


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes into plain Python values."""
    return pydantic_core.from_json(data)


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types (models dumped in JSON mode)."""
    return pydantic_core.to_jsonable_python(value)


__all__ = ["dumps", "loads", "to_jsonable"]

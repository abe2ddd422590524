"""Parsing shared by the settings sections (:mod:`orchestrator.config` and its parts)."""

from __future__ import annotations

from typing import Any


def split_csv(value: Any) -> Any:
    """``"a, b,c"`` → ``["a", "b", "c"]`` (a comma-separated environment variable); other
    values unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


__all__ = ["split_csv"]

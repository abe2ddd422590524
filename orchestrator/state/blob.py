"""Large values in Redis: stored zlib-compressed behind a marker no JSON text can start with."""

from __future__ import annotations

import zlib

MARKER = b"\x00zlib\x00"
"""Prefix of a compressed value; JSON never begins with a NUL byte, so plain values are unambiguous."""

COMPRESS_LEVEL = 1
"""Fastest zlib level: step outputs are mostly text, which compresses well even at level 1."""


def pack(payload: bytes, threshold_bytes: int) -> bytes:
    """Compress ``payload`` when it is larger than ``threshold_bytes`` and compression pays."""
    if len(payload) <= threshold_bytes:
        return payload
    packed = MARKER + zlib.compress(payload, COMPRESS_LEVEL)
    return packed if len(packed) < len(payload) else payload


def unpack(raw: bytes) -> bytes:
    """Undo :func:`pack`."""
    if raw.startswith(MARKER):
        return zlib.decompress(raw[len(MARKER) :])
    return raw


__all__ = ["MARKER", "pack", "unpack"]

"""redis-py asyncio connections that pack commands in C with hiredis.

redis-py's synchronous client packs a command with ``hiredis.pack_command`` when hiredis is
installed (``redis.connection.HiredisRespSerializer``); its asyncio client (5.x) always packs
in Python, argument by argument (``AbstractConnection.pack_command``). That packing was the
largest single cost of a batch submit's Redis calls (8,000 arguments per 1,000 jobs: 5.5 ms in
Python, 0.8 ms in hiredis); for the few arguments of a worker's or a single submit's calls
the saving is within the benchmarks' noise. :func:`hiredis_packing` gives a connection class
the sync client's packer, ``HiredisRespSerializer`` itself: the bytes on the wire are the same
(RESP2 arrays of bulk strings; ints and floats as ``repr``, str as UTF-8), and an argument of
another type is refused with redis-py's ``DataError`` as before.

Source: Redis serialization protocol (RESP) specification; redis-py 5.x
``redis/connection.py`` (``HiredisRespSerializer``).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.connection import HiredisRespSerializer

_SERIALIZER = HiredisRespSerializer()


class HiredisPacking:
    """Mixin for a ``redis.asyncio`` connection class: ``pack_command`` by hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        """Pack one command (its name, then its arguments) into RESP.

        Returns:
            One ``bytes`` chunk, in a list (the shape redis-py's connections send).

        Raises:
            DataError: An argument is not ``str``, ``bytes``, ``memoryview``, ``int`` or
                ``float`` (``bool`` and ``None`` included, as redis-py refuses them).
        """
        packed: list[bytes] = _SERIALIZER.pack(*args)  # the sync client's packer, as it is
        return packed


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def hiredis_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """Return ``cls`` (``Connection``, ``SSLConnection``, ``UnixDomainSocketConnection``, or a
    subclass) with :class:`HiredisPacking`'s ``pack_command``; one class per ``cls``."""
    if issubclass(cls, HiredisPacking):
        return cls
    packed = _PACKED.get(cls)
    if packed is None:
        name = f"Hiredis{cls.__name__}"
        packed = _PACKED[cls] = type(name, (HiredisPacking, cls), {"__module__": __name__})
    return packed


__all__ = ["HiredisPacking", "hiredis_packing"]

"""Rate limits (the ``limits`` library on Redis) and the cap on concurrent streams per key.

Submits and stream connections are counted per principal (API key or JWT subject) and per
tenant in moving windows (``limits``' ``MovingWindowRateLimiter``, one Redis sorted set per
window, so bursts at a window edge cannot double the rate). The concurrent-stream cap is a sorted
set of open streams per principal with heartbeat deadlines (:mod:`orchestrator.auth.streams`),
so a slot that was never given back stops counting within ``STREAM_SLOT_TTL_SECONDS``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis

from orchestrator.auth.principal import Principal
from orchestrator.auth.streams import STREAM_SLOT_TTL_SECONDS, StreamSlot, StreamSlots
from orchestrator.config import AuthSettings
from orchestrator.errors import RateLimitedError, StateError
from orchestrator.keys import Keys

Kind = Literal["submit", "stream"]


def limits_uri(redis_url: str) -> str:
    """The ``limits`` storage URI of a redis-py URL (``redis://`` → ``async+redis://``)."""
    return f"async+{redis_url}" if redis_url.startswith(("redis://", "rediss://")) else redis_url


def retry_after(reset_time: float) -> int:
    """Whole seconds until ``reset_time`` (epoch seconds), at least 1."""
    return max(1, math.ceil(reset_time - time.time()))


@dataclass(frozen=True, slots=True)
class _Pair:
    per_key: RateLimitItem
    per_tenant: RateLimitItem


class RateLimits:
    """The gateway's rate limits and stream cap.

    Args:
        settings: The auth section (rates in ``limits`` notation, e.g. ``60/minute``).
        redis_url: Where the windows and counters live; ``memory://`` keeps them in-process.
        redis: The process's redis-py client (for the stream counters).
        keys: The key builder (its prefix isolates deployments and tests).
    """

    def __init__(self, settings: AuthSettings, redis_url: str, redis: Redis, keys: Keys) -> None:
        storage = (
            MemoryStorage() if redis_url.startswith("memory://")
            # On the process's pool: no second set of connections, closed with the services.
            else RedisStorage(limits_uri(redis_url), implementation="redispy",
                              key_prefix=keys.rate_limits(), wrap_exceptions=True,
                              connection_pool=redis.connection_pool)  # type: ignore[arg-type]  # typed as scalar options
        )  # fmt: skip
        self._limiter = MovingWindowRateLimiter(storage)
        self._pairs: dict[Kind, _Pair] = {
            "submit": _Pair(parse(settings.submit_rate_per_key),
                            parse(settings.submit_rate_per_tenant)),
            "stream": _Pair(parse(settings.stream_rate_per_key),
                            parse(settings.stream_rate_per_tenant)),
        }
        self._max_streams = settings.max_streams_per_key
        self._keys = keys
        self.streams = StreamSlots(redis)

    async def hit(self, kind: Kind, principal: Principal, *, cost: int = 1) -> None:
        """Count ``cost`` (default one) ``kind`` actions of ``principal`` against its key's and
        its tenant's limits (a batch submit of n jobs counts n).

        Raises:
            RateLimitedError: A limit is reached (``retry_after_seconds`` says when to retry).
            StateError: Redis failed.
        """
        pair = self._pairs[kind]
        checks = [(pair.per_key, "key", principal.subject)]
        if principal.tenant_id is not None:
            checks.append((pair.per_tenant, "tenant", principal.tenant_id))
        try:
            for item, scope, ident in checks:
                if not await self._limiter.hit(item, kind, scope, ident, cost=cost):
                    stats = await self._limiter.get_window_stats(item, kind, scope, ident)
                    raise RateLimitedError(
                        f"{kind} rate limit of the {scope} reached ({item})",
                        retry_after_seconds=retry_after(stats.reset_time),
                        details={"limit": str(item), "scope": scope, "kind": kind},
                    )
        except StorageError as exc:
            raise StateError("rate limit storage failed",
                             details={"error": type(exc.storage_error).__name__}) from exc

    async def open_stream(self, principal: Principal) -> StreamSlot:
        """Take one of the principal's concurrent-stream slots (release it when the stream ends).

        Raises:
            RateLimitedError: All ``max_streams_per_key`` slots are taken.
            StateError: Redis failed.
        """
        slot = await self.streams.take(self._keys.streams(principal.subject), self._max_streams)
        if slot is None:
            raise RateLimitedError(
                f"at most {self._max_streams} concurrent streams per key",
                retry_after_seconds=5,
                details={"limit": self._max_streams, "scope": "key", "kind": "concurrent_streams"},
            )
        return slot

    async def close(self) -> None:
        """Finish pending stream-slot releases and stop their heartbeat."""
        await self.streams.close()


__all__ = ["STREAM_SLOT_TTL_SECONDS", "RateLimits", "StreamSlot", "limits_uri", "retry_after"]

"""The cap on concurrent streams per principal: a Redis sorted set of open streams.

Each open SSE or WebSocket stream is a member (a random stream id) of the principal's sorted set
``<prefix>:streamslots:<subject>``, scored by its heartbeat deadline (Redis server time, ms).
Taking a slot first drops the members whose deadline has passed, then counts. The process that
serves a stream renews the deadlines of all its open streams every third of the TTL, in one
round trip, and removes a stream's member when it ends, however it ends: the removal is
shielded from the cancellation that a client abort or a server shutdown delivers to the stream's
task. A slot whose gateway died, or whose release failed, stops counting when its deadline passes
(``STREAM_SLOT_TTL_SECONDS``), not an hour later as with a counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.errors import StateError

log = structlog.get_logger("auth.streams")

STREAM_SLOT_TTL_SECONDS = 30.0
"""A stream's slot lapses this long after its last heartbeat (renewed every third of it)."""

RELEASE_TIMEOUT_SECONDS = 5.0
"""Longest a shielded release may take before the deadline is left to free the slot."""

# KEYS: the principal's set. ARGV: max, ttl_ms, member.
# Drops lapsed members, then takes a slot when fewer than max are open. Returns 1 or 0.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: one set per stream. ARGV: ttl_ms, then one member per key.
# Pushes each still-present member's deadline out (XX: a released one is not re-added).
_RENEW = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', deadline, ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return #KEYS
"""


class StreamSlots:
    """Takes, renews and releases stream slots of one gateway process.

    Args:
        redis: The process's redis-py client.
        ttl_seconds: How long a slot outlives its last heartbeat.
    """

    def __init__(self, redis: Redis, *, ttl_seconds: float = STREAM_SLOT_TTL_SECONDS) -> None:
        self._redis = redis
        self.ttl_seconds = ttl_seconds
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._open: dict[str, StreamSlot] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_seconds * 1000))

    async def take(self, key: str, limit: int) -> StreamSlot | None:
        """Take a slot in the sorted set ``key`` if fewer than ``limit`` live ones are taken.

        Returns:
            The slot (renewed until released), or ``None`` when all are taken.

        Raises:
            StateError: Redis failed.
        """
        member = uuid.uuid4().hex
        try:
            took = await self._acquire(keys=[key], args=[limit, self._ttl_ms, member])
        except RedisError as exc:
            raise StateError("stream slots failed", details={"error": type(exc).__name__}) from exc
        if not took:
            return None
        slot = StreamSlot(self, key, member)
        self._open[member] = slot
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(
                self._renew_forever(), name="stream-slot-heartbeat"
            )
        return slot

    async def renew_once(self) -> None:
        """Push out the deadlines of every slot this process holds (one round trip).

        Raises:
            RedisError: Redis failed (the loop logs it and tries again).
        """
        slots = list(self._open.values())
        if slots:
            await self._renew(
                keys=[s.key for s in slots], args=[self._ttl_ms, *(s.member for s in slots)]
            )

    async def _renew_forever(self) -> None:
        while self._open:
            await asyncio.sleep(self.ttl_seconds / 3)
            try:
                await self.renew_once()
            except RedisError as exc:
                log.warning("stream slot heartbeat failed", error=str(exc))

    def _release(self, slot: StreamSlot) -> asyncio.Task[None]:
        self._open.pop(slot.member, None)
        task = asyncio.get_running_loop().create_task(self._remove(slot))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
        return task

    async def _remove(self, slot: StreamSlot) -> None:
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS):
                await self._redis.zrem(slot.key, slot.member)
        except (RedisError, TimeoutError) as exc:
            log.warning("stream slot release failed; it lapses by itself", error=str(exc))

    async def close(self) -> None:
        """Finish pending releases and stop the heartbeat (the process's streams are over)."""
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer


class StreamSlot:
    """One taken stream slot; :meth:`release` is idempotent and survives cancellation."""

    def __init__(self, owner: StreamSlots, key: str, member: str) -> None:
        self._owner = owner
        self.key = key
        self.member = member
        self._released = False

    async def release(self) -> None:
        """Give the slot back (once).

        The removal runs in its own task, shielded: a stream ends by cancellation when its
        client aborts or the server shuts down, and a cancelled removal would leak the slot
        until its deadline.
        """
        if self._released:
            return
        self._released = True
        await asyncio.shield(self._owner._release(self))

    def release_soon(self) -> None:
        """Give the slot back without waiting for Redis: the removal runs in its own task
        (finished by :meth:`StreamSlots.close` at shutdown). For a stream's last step, so
        that its response ends without one more round trip; idempotent with :meth:`release`.
        """
        if self._released:
            return
        self._released = True
        self._owner._release(self)


__all__ = ["RELEASE_TIMEOUT_SECONDS", "STREAM_SLOT_TTL_SECONDS", "StreamSlot", "StreamSlots"]

"""Several moving-window rate limits checked and counted in one Redis round trip.

A submit is counted against its key's and its tenant's window; with ``limits``'
``MovingWindowRateLimiter`` that is one Lua call per window, two round trips on every submit.
:data:`HIT_ALL` does the same check and the same writes for all windows at once, on the very
lists ``limits`` keeps (``<prefix>:<item.key_for(...)>``, newest timestamp first, trimmed to the
limit, expiring after the window), so ``limits``' ``get_window_stats`` still reads them (the
``Retry-After`` of a refusal). It is also all-or-nothing: a refused call counts in no window,
where the call-per-window order counted it in the windows checked before the refusing one.

Source of the per-window algorithm: ``limits`` 5.x, ``resources/redis/lua_scripts/
acquire_moving_window.lua`` (the entry ``limit - amount`` from the head must be older than the
window, then ``amount`` timestamps are pushed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from limits import RateLimitItem
from redis.asyncio import Redis

# KEYS: the windows' lists. ARGV: 1 now (epoch s), 2 amount, then per key: limit, expiry (s).
# Returns 0 when counted in every window, else the (1-based) index of the first full window.
HIT_ALL = """
local now = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
for i = 1, #KEYS do
  local limit = tonumber(ARGV[1 + 2 * i])
  local expiry = tonumber(ARGV[2 + 2 * i])
  if amount > limit then return i end
  local entry = redis.call('LINDEX', KEYS[i], limit - amount)
  if entry and tonumber(entry) >= now - expiry then return i end
end
local entries = {}
for j = 1, amount do entries[j] = now end
for i = 1, #KEYS do
  local limit = tonumber(ARGV[1 + 2 * i])
  for j = 1, #entries, 5000 do
    redis.call('LPUSH', KEYS[i], unpack(entries, j, math.min(j + 4999, #entries)))
  end
  redis.call('LTRIM', KEYS[i], 0, limit - 1)
  redis.call('EXPIRE', KEYS[i], ARGV[2 + 2 * i])
end
return 0
"""


class MovingWindows:
    """Counts a call against several ``limits`` moving windows in one Lua call.

    Args:
        redis: The process's redis-py client.
        key_prefix: The ``limits`` storage's ``key_prefix`` (its lists are ``<prefix>:<key>``).
    """

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._script = redis.register_script(HIT_ALL)
        self._prefix = key_prefix

    async def hit(
        self, windows: Sequence[tuple[RateLimitItem, Sequence[str]]], cost: int = 1
    ) -> int:
        """Count ``cost`` in every window, or in none if one of them is full.

        Args:
            windows: ``(item, identifiers)`` of each window, as given to
                ``MovingWindowRateLimiter.hit(item, *identifiers)``.
            cost: Entries to count (a batch of n jobs counts n).

        Returns:
            ``-1`` when counted; else the index in ``windows`` of the first full one.

        Raises:
            redis.RedisError: Redis failed.
        """
        keys = [f"{self._prefix}:{item.key_for(*ids)}" for item, ids in windows]
        args: list[float | int] = [time.time(), cost]
        for item, _ in windows:
            args += [item.amount, item.get_expiry()]
        refused = int(await self._script(keys=keys, args=args))
        return refused - 1


__all__ = ["HIT_ALL", "MovingWindows"]

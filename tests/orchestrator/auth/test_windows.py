"""Several moving windows in one Lua call, on the lists ``limits`` itself reads (real Redis)."""

from __future__ import annotations

import uuid

from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from orchestrator.auth.ratelimit import limits_uri
from orchestrator.auth.windows import MovingWindows


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:ratelimit"


async def test_a_call_counts_in_every_window_until_one_is_full(
    redis: Redis, redis_url: str
) -> None:
    key_prefix = prefix()
    windows = MovingWindows(redis, key_prefix)
    per_key, per_tenant = parse("3/minute"), parse("2/minute")
    both = [(per_key, ("submit", "key", "k1")), (per_tenant, ("submit", "tenant", "t1"))]
    assert await windows.hit(both) == -1
    assert await windows.hit(both) == -1
    assert await windows.hit(both) == 1  # the tenant's window is full: counted in neither
    # limits reads the same lists: 2 entries in each window, the key's has room for one more
    limiter = MovingWindowRateLimiter(
        RedisStorage(
            limits_uri(redis_url),
            implementation="redispy",
            key_prefix=key_prefix,
            connection_pool=redis.connection_pool,
        )
    )  # type: ignore[arg-type]
    key_stats = await limiter.get_window_stats(per_key, "submit", "key", "k1")
    tenant_stats = await limiter.get_window_stats(per_tenant, "submit", "tenant", "t1")
    assert (key_stats.remaining, tenant_stats.remaining) == (1, 0)
    assert await windows.hit([both[0]]) == -1  # the key alone still has its third entry
    assert await windows.hit([both[0]]) == 0
    await redis.delete(*[k async for k in redis.scan_iter(match=f"{key_prefix}:*")])


async def test_a_cost_counts_that_many_entries_and_a_cost_over_the_limit_is_refused(
    redis: Redis,
) -> None:
    key_prefix = prefix()
    windows = MovingWindows(redis, key_prefix)
    item = parse("5/minute")
    window = [(item, ("submit", "key", "k2"))]
    assert await windows.hit(window, cost=6) == 0
    assert await windows.hit(window, cost=4) == -1
    assert await windows.hit(window, cost=2) == 0
    assert await windows.hit(window, cost=1) == -1
    key = f"{key_prefix}:{item.key_for('submit', 'key', 'k2')}"
    assert await redis.llen(key) == 5
    assert 0 < await redis.ttl(key) <= 60
    await redis.delete(key)

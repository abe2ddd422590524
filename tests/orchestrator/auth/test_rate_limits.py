"""Rate limits on the real Redis: concurrent hits of one principal are counted as a group and
each call still gets the outcome of the same hits made one after another."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.auth.principal import Principal
from orchestrator.auth.ratelimit import RateLimits
from orchestrator.auth.roles import Role
from orchestrator.config import AuthSettings
from orchestrator.errors import RateLimitedError
from orchestrator.keys import Keys


@pytest_asyncio.fixture
async def make_limits(redis_url: str) -> AsyncIterator[object]:
    made: list[RateLimits] = []
    client = Redis.from_url(redis_url)

    def make(**rates: str) -> RateLimits:
        limits = RateLimits(AuthSettings(**rates), redis_url, client,
                            Keys(f"rl{uuid.uuid4().hex[:10]}"))  # fmt: skip
        made.append(limits)
        return limits

    yield make
    for limits in made:
        await limits.close()
    await client.aclose()


def who(tenant: str | None = "acme") -> Principal:
    return Principal(f"key:{uuid.uuid4().hex[:8]}", tenant, Role.SUBMITTER, "api_key")


async def outcomes(limits: RateLimits, principal: Principal, n: int) -> list[str]:
    results = await asyncio.gather(*(limits.hit("submit", principal) for _ in range(n)),
                                   return_exceptions=True)
    out = []
    for r in results:
        if isinstance(r, RateLimitedError):
            out.append(f"refused:{r.details['scope']}")
        else:
            assert r is None, r
            out.append("ok")
    return out


async def test_concurrent_hits_over_the_key_rate_let_exactly_the_limit_through(
    make_limits: object,
) -> None:
    limits = make_limits(submit_rate_per_key="5/minute")  # type: ignore[operator]
    principal = who()
    got = await outcomes(limits, principal, 8)
    assert sorted(got) == ["ok"] * 5 + ["refused:key"] * 3
    assert await outcomes(limits, principal, 1) == ["refused:key"]
    assert await outcomes(limits, who(), 3) == ["ok"] * 3  # another key has its own window


async def test_a_group_refused_by_the_tenant_only_is_counted_once_on_the_key(
    make_limits: object,
) -> None:
    limits = make_limits(submit_rate_per_key="7/minute",  # type: ignore[operator]
                         submit_rate_per_tenant="3/minute")
    principal = who()
    got = await outcomes(limits, principal, 5)
    assert sorted(got) == ["ok"] * 3 + ["refused:tenant"] * 2
    # The key's window counted the 5 hits once (as 5 hits one after another would): 2 left.
    assert await outcomes(limits, who(tenant="other"), 1) == ["ok"]
    stats = await limits._limiter.get_window_stats(
        limits._pairs["submit"].per_key, "submit", "key", principal.subject)
    assert stats.remaining == 2


async def test_hits_within_the_limits_all_pass_in_one_group(make_limits: object) -> None:
    limits = make_limits(submit_rate_per_key="100/minute",  # type: ignore[operator]
                         submit_rate_per_tenant="100/minute")
    principal = who()
    assert await outcomes(limits, principal, 16) == ["ok"] * 16
    stats = await limits._limiter.get_window_stats(
        limits._pairs["submit"].per_tenant, "submit", "tenant", "acme")
    assert stats.remaining == 84
    assert limits._groups == {}  # nothing left behind

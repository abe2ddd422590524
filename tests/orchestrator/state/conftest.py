"""Fixtures of the Redis state-store tests: a real Redis and a key prefix of its own per test.

Redis comes from ``ORCH_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/9``). Each test gets
``Keys(prefix="test<hex>")``, so tests never see each other's keys, and every key under that
prefix is deleted when the test ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.state.redis import RedisStateStore

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/9"
TTL_SECONDS = 3600
EVENTS_MAXLEN = 1000


@pytest_asyncio.fixture(loop_scope="session")
async def redis() -> AsyncIterator[Redis]:
    """A client of the test Redis (bytes replies, as the store expects)."""
    client = Redis.from_url(os.environ.get("ORCH_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL))
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def keys(redis: Redis) -> AsyncIterator[Keys]:
    """A key builder with a prefix unique to the test; its keys are deleted afterwards."""
    keys = Keys(prefix=f"test{uuid.uuid4().hex}")
    try:
        yield keys
    finally:
        found = [k async for k in redis.scan_iter(match=f"{keys.prefix}:*", count=1000)]
        if found:
            await redis.delete(*found)


@pytest_asyncio.fixture(loop_scope="session")
async def store(redis: Redis, keys: Keys) -> RedisStateStore:
    """The store under test."""
    return RedisStateStore(redis, keys=keys, ttl_seconds=TTL_SECONDS, events_maxlen=EVENTS_MAXLEN)

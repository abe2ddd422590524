"""Fixtures of the state-store contract suite: a real Redis and a key prefix of its own per test.

Redis comes from ``ORCH_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/9``). Each test gets
``Keys(prefix="test<hex>")``, so tests never see each other's keys, and every key under that
prefix is deleted when the test ends.

The suite is the contract of the :class:`~orchestrator.state.base.StateStore` Protocol (STYLE
rules 2 and 15): every test that uses only the ``store`` runs against the Redis store and the
in-memory one (``store_kind``); a test that also inspects raw Redis keys (the ``redis``
fixture: TTLs, the lease index) is about the Redis store alone and runs against it only.
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.state.memory import MemoryStateStore
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each contract test against both stores, Redis-only tests against Redis."""
    if "store" in metafunc.fixturenames:
        redis_only = "redis" in inspect.signature(metafunc.function).parameters
        metafunc.parametrize("store_kind", ["redis"] if redis_only else ["redis", "memory"])


@pytest_asyncio.fixture(loop_scope="session")
async def store(store_kind: str, redis: Redis, keys: Keys) -> Any:
    """The store under test: the Redis store or the in-memory one."""
    if store_kind == "memory":
        return MemoryStateStore(ttl_seconds=TTL_SECONDS, events_maxlen=EVENTS_MAXLEN)
    return RedisStateStore(redis, keys=keys, ttl_seconds=TTL_SECONDS, events_maxlen=EVENTS_MAXLEN)

"""Script calls made in one event-loop turn share one pipeline (``state/turn_batch.py``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from redis.asyncio import ConnectionPool, Redis

from orchestrator.errors import LeaseLostError
from orchestrator.keys import Keys
from orchestrator.state.base import NewEvent
from orchestrator.state.redis import RedisStateStore


class CountingPool(ConnectionPool):
    """A pool that counts connections handed out: one per pipeline or single command."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.taken = 0

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        self.taken += 1
        return await super().get_connection(*args, **options)


@pytest_asyncio.fixture(loop_scope="session")
async def counted(redis_url: str) -> AsyncIterator[tuple[RedisStateStore, CountingPool]]:
    pool = CountingPool.from_url(redis_url)
    assert isinstance(pool, CountingPool)
    client = Redis(connection_pool=pool)
    store = RedisStateStore(
        client, keys=Keys(f"test{uuid.uuid4().hex}"), ttl_seconds=600, events_maxlen=1000
    )
    try:
        yield store, pool
    finally:
        found = [k async for k in client.scan_iter(match=f"{store.keys.prefix}:*")]
        if found:
            await client.delete(*found)
        await client.aclose()


async def _create(store: RedisStateStore, job_id: str) -> None:
    await store.create_job(job_id, workflow="w", version="", inputs={}, created_at=time.time(),
                           arq_job_id=job_id)  # fmt: skip


async def test_calls_of_one_turn_leave_in_one_pipeline_in_call_order(
    counted: tuple[RedisStateStore, CountingPool],
) -> None:
    store, pool = counted
    job_ids = [str(uuid.uuid4()) for _ in range(5)]
    await asyncio.gather(*(_create(store, j) for j in job_ids))
    pool.taken = 0
    updates = [
        store.update(job_ids[i % 5], {"n": i}, NewEvent("step.chunk", "s", 1, i)) for i in range(20)
    ]
    ids = await asyncio.gather(*updates)
    assert pool.taken == 1
    for j in job_ids:  # each job's events in the order the calls were made
        events = await store.read_events(j)
        assert [e.data for e in events[1:]] == [i for i in range(20) if job_ids[i % 5] == j]
    assert all(ids)


async def test_a_refused_call_fails_alone_in_a_shared_pipeline(
    counted: tuple[RedisStateStore, CountingPool],
) -> None:
    store, _ = counted
    held, other = str(uuid.uuid4()), str(uuid.uuid4())
    await asyncio.gather(_create(store, held), _create(store, other))
    assert await store.acquire_lease(held, "w1", 30) == "OK"
    results = await asyncio.gather(
        store.update(held, {"x": 1}, worker_id="w2"),  # fenced out: not the lease holder
        store.update(other, {"x": 1}, NewEvent("step.chunk", "s", 1, "ok")),
        return_exceptions=True,
    )
    assert isinstance(results[0], LeaseLostError)
    assert isinstance(results[1], str)
    assert [e.data for e in (await store.read_events(other))[1:]] == ["ok"]


async def test_a_flushed_script_is_loaded_again_and_only_the_refused_calls_rerun(
    counted: tuple[RedisStateStore, CountingPool],
) -> None:
    store, _ = counted
    job_id = str(uuid.uuid4())
    await _create(store, job_id)
    await store.redis.script_flush()
    await asyncio.gather(
        store.update(job_id, {}, NewEvent("step.chunk", "s", 1, "a")),
        store.renew_lease(job_id, "w1", 30),
        store.update(job_id, {}, NewEvent("step.chunk", "s", 1, "b")),
    )
    assert [e.data for e in (await store.read_events(job_id))[1:]] == ["a", "b"]

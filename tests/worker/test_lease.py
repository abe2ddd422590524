"""One lease keeper per worker renews all the leases it holds (``worker/lease.py``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.state.redis import RedisStateStore
from tests.conftest import wait_until
from worker.lease import LeaseKeeper

TTL_SECONDS = 0.6


@pytest_asyncio.fixture(loop_scope="session")
async def store(redis_url: str) -> AsyncIterator[RedisStateStore]:
    client = Redis.from_url(redis_url)
    store = RedisStateStore(
        client, keys=Keys(f"test{uuid.uuid4().hex}"), ttl_seconds=600, events_maxlen=1000
    )
    try:
        yield store
    finally:
        found = [k async for k in client.scan_iter(match=f"{store.keys.prefix}:*")]
        if found:
            await client.delete(*found)
        await client.aclose()


async def _picked_up(store: RedisStateStore, worker_id: str, n: int) -> list[str]:
    job_ids = [str(uuid.uuid4()) for _ in range(n)]
    for job_id in job_ids:
        await store.create_job(job_id, workflow="w", version="", inputs={},
                               created_at=time.time(), arq_job_id=job_id)  # fmt: skip
        assert await store.acquire_lease(job_id, worker_id, TTL_SECONDS) == "OK"
    return job_ids


async def _deadlines(store: RedisStateStore, job_ids: list[str]) -> list[float]:
    return [float(await store.redis.zscore(store.keys.leases(), j) or 0) for j in job_ids]


async def test_one_keeper_keeps_many_leases_alive_past_their_ttl(store: RedisStateStore) -> None:
    keeper = LeaseKeeper(store, "w1", TTL_SECONDS)
    job_ids = await _picked_up(store, "w1", 5)
    first = await _deadlines(store, job_ids)
    for job_id in job_ids:
        keeper.hold(job_id, on_lost=lambda: None, on_cancel=lambda: None)
    try:
        horizon = max(first) + 2 * TTL_SECONDS * 1000  # two lifetimes past the first deadline

        async def renewed_past_horizon() -> bool:
            return min(await _deadlines(store, job_ids)) > horizon

        await wait_until(renewed_past_horizon, what="the leases to be renewed past their TTL")
        owners = [await store.redis.get(store.keys.lease(j)) for j in job_ids]
        assert owners == [b"w1"] * 5
    finally:
        await keeper.close()


async def test_a_lost_lease_and_a_cancel_are_told_to_their_runs_only(
    store: RedisStateStore,
) -> None:
    keeper = LeaseKeeper(store, "w1", TTL_SECONDS)
    lost_job, cancelled_job, quiet_job = await _picked_up(store, "w1", 3)
    told: list[str] = []
    lost, cancelled = asyncio.Event(), asyncio.Event()

    def on(event: asyncio.Event, what: str) -> None:
        told.append(what)
        event.set()

    keeper.hold(lost_job, on_lost=lambda: on(lost, "lost"), on_cancel=lambda: on(lost, "?"))
    keeper.hold(cancelled_job, on_lost=lambda: on(cancelled, "?"),
                on_cancel=lambda: on(cancelled, "cancel"))  # fmt: skip
    keeper.hold(quiet_job, on_lost=lambda: told.append("quiet lost"),
                on_cancel=lambda: told.append("quiet cancel"))  # fmt: skip
    try:
        await store.redis.set(store.keys.lease(lost_job), b"w2")  # another worker took it
        await store.request_cancel(cancelled_job, {})
        async with asyncio.timeout(10):
            await lost.wait()
            await cancelled.wait()
        assert sorted(told) == ["cancel", "lost"]
        assert len(keeper) == 2  # the lost lease is no longer renewed
    finally:
        await keeper.close()


async def test_a_dropped_lease_is_not_renewed_and_an_idle_keeper_has_no_task(
    store: RedisStateStore,
) -> None:
    keeper = LeaseKeeper(store, "w1", TTL_SECONDS)
    (job_id,) = await _picked_up(store, "w1", 1)
    keeper.hold(job_id, on_lost=lambda: None, on_cancel=lambda: None)
    keeper.drop(job_id)
    assert len(keeper) == 0

    async def no_keeper_task() -> bool:
        return not [t for t in asyncio.all_tasks() if t.get_name() == "leases" and not t.done()]

    await wait_until(no_keeper_task, what="the idle keeper's task to end")

    async def lapsed() -> bool:
        return not await store.redis.exists(store.keys.lease(job_id))

    await wait_until(lapsed, what="the dropped lease to lapse")

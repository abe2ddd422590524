"""ArqQueue.enqueue writes what arq's own enqueue_job writes, in one Lua call, on real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from arq.connections import ArqRedis
from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import deserialize_job

from orchestrator.queue.arq import (
    PRIORITY_STEP_SECONDS,
    RUN_JOB,
    WAKE_TOKEN_TTL_MS,
    ArqQueue,
    connect_redis,
)

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/9"
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest_asyncio.fixture(loop_scope="session")
async def queue() -> AsyncIterator[ArqQueue]:
    """A queue of its own name on the test Redis; its keys and its jobs' keys are deleted after."""
    redis = connect_redis(os.environ.get("ORCH_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL),
                          max_connections=8)
    q = ArqQueue(redis, queue_name=f"tq{uuid.uuid4().hex[:10]}:queue")
    try:
        yield q
    finally:
        ids = [m.decode() for m in await redis.zrange(q.queue_name, 0, -1)]
        await redis.delete(q.queue_name, q.wake_key, *(job_key_prefix + i for i in ids),
                           *(result_key_prefix + i for i in ids))  # fmt: skip
        await redis.aclose(close_connection_pool=True)


async def score_of(queue: ArqQueue, arq_id: str) -> float:
    score = await queue.redis.zscore(queue.queue_name, arq_id)
    assert score is not None
    return float(score)


async def test_the_stored_job_deserializes_with_arq_to_run_job_of_the_job_id_and_its_trace(
    queue: ArqQueue,
) -> None:
    job_id = str(uuid.uuid4())
    assert await queue.enqueue(job_id, trace=TRACE) == job_id

    raw = await queue.redis.get(job_key_prefix + job_id)
    assert raw is not None
    job = deserialize_job(raw)
    assert (job.function, job.args, job.kwargs, job.job_try) == (
        RUN_JOB, (job_id,), {"trace": TRACE}, None)  # fmt: skip
    # Due now, with arq's expiry: the job key outlives its due time by expires_extra_ms.
    assert abs(await score_of(queue, job_id) - job.enqueue_time.timestamp() * 1000) < 2
    ttl = await queue.redis.pttl(job_key_prefix + job_id)
    assert expires_extra_ms - 60_000 < ttl <= expires_extra_ms


async def test_an_enqueue_matches_arq_enqueue_job_key_for_key(queue: ArqQueue) -> None:
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    redis: ArqRedis = queue.redis
    assert await queue.enqueue(ours, trace=TRACE) == ours
    arq_job = await redis.enqueue_job(RUN_JOB, theirs, trace=TRACE, _job_id=theirs,
                                      _queue_name=queue.queue_name)
    assert arq_job is not None

    mine = deserialize_job(await redis.get(job_key_prefix + ours) or b"")
    arqs = deserialize_job(await redis.get(job_key_prefix + theirs) or b"")
    assert (mine.function, mine.args, mine.kwargs, mine.job_try) == (
        arqs.function, (ours,), arqs.kwargs, arqs.job_try)  # fmt: skip
    assert arqs.args == (theirs,)
    assert abs(await score_of(queue, ours) - await score_of(queue, theirs)) < 1000
    assert abs(await redis.pttl(job_key_prefix + ours)
               - await redis.pttl(job_key_prefix + theirs)) < 1000  # fmt: skip


async def test_a_duplicate_arq_job_id_or_an_existing_result_is_refused(queue: ArqQueue) -> None:
    job_id = str(uuid.uuid4())
    assert await queue.enqueue(job_id) == job_id
    assert await queue.enqueue(job_id) is None
    assert await queue.redis.zcard(queue.queue_name) == 1

    finished = f"{job_id}:done"
    await queue.redis.set(result_key_prefix + finished, b"r", px=60_000)
    assert await queue.enqueue(job_id, arq_job_id=finished) is None
    assert await queue.redis.exists(job_key_prefix + finished) == 0


async def test_a_higher_priority_is_an_earlier_score_and_a_shorter_expiry(queue: ArqQueue) -> None:
    plain, urgent = str(uuid.uuid4()), str(uuid.uuid4())
    await queue.enqueue(plain)
    await queue.enqueue(urgent, priority=3)
    step_ms = 3 * PRIORITY_STEP_SECONDS * 1000
    gap = await score_of(queue, plain) - await score_of(queue, urgent)
    assert step_ms - 1000 < gap < step_ms + 1000
    # arq's expiry counts from the score: score - enqueue time + expires_extra_ms.
    ttl = await queue.redis.pttl(job_key_prefix + urgent)
    assert expires_extra_ms - step_ms - 60_000 < ttl <= expires_extra_ms - step_ms


async def test_a_deferred_job_is_scored_later_lives_longer_and_wakes_no_worker(
    queue: ArqQueue,
) -> None:
    now_id, later_id = str(uuid.uuid4()), str(uuid.uuid4())
    await queue.enqueue(now_id)
    # The token names the job, so the woken worker starts it without reading the queue first.
    assert await queue.redis.lrange(queue.wake_key, 0, -1) == [now_id.encode()]
    assert 0 < await queue.redis.pttl(queue.wake_key) <= WAKE_TOKEN_TTL_MS

    await queue.enqueue(later_id, defer_seconds=600, priority=5)  # defer wins over priority
    gap = await score_of(queue, later_id) - await score_of(queue, now_id)
    assert 600_000 - 1000 < gap < 600_000 + 1000
    ttl = await queue.redis.pttl(job_key_prefix + later_id)
    assert expires_extra_ms + 600_000 - 60_000 < ttl <= expires_extra_ms + 600_000
    assert await queue.redis.llen(queue.wake_key) == 1


async def test_enqueue_many_writes_what_enqueue_writes_for_each_job_in_one_call(
    queue: ArqQueue,
) -> None:
    first, taken, urgent = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    assert await queue.enqueue(taken) == taken
    done = await queue.enqueue_many([(first, TRACE, 0), (taken, None, 0), (urgent, None, 3)])
    assert done == [True, False, True]
    job = deserialize_job(await queue.redis.get(job_key_prefix + first) or b"")
    assert (job.function, job.args, job.kwargs) == (RUN_JOB, (first,), {"trace": TRACE})
    step_ms = 3 * PRIORITY_STEP_SECONDS * 1000
    gap = await score_of(queue, first) - await score_of(queue, urgent)
    assert step_ms - 1000 < gap < step_ms + 1000
    ttl = await queue.redis.pttl(job_key_prefix + urgent)
    assert expires_extra_ms - step_ms - 60_000 < ttl <= expires_extra_ms - step_ms
    # one wake token per enqueued job (newest first), as enqueue pushes them
    tokens = await queue.redis.lrange(queue.wake_key, 0, -1)
    assert tokens == [urgent.encode(), first.encode(), taken.encode()]
    assert 0 < await queue.redis.pttl(queue.wake_key) <= WAKE_TOKEN_TTL_MS

"""A new job's state and queue entry in one round trip, in order, never a queued job without a
state; concurrent launches in shared round trips (real Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest_asyncio
from arq.constants import job_key_prefix
from redis.exceptions import ResponseError

from orchestrator.errors import StateError
from orchestrator.jobs.launch import Launch, LaunchGroupCommit, create_and_enqueue
from orchestrator.keys import Keys
from orchestrator.queue import scripts as queue_scripts
from orchestrator.queue.arq import ArqQueue, connect_redis
from orchestrator.state import scripts as state_scripts
from orchestrator.state.redis import RedisStateStore


@pytest_asyncio.fixture(loop_scope="session")
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisStateStore, ArqQueue]]:
    """A state store and a queue on one client, with names of their own; deleted after."""
    redis = connect_redis(redis_url, max_connections=4)
    prefix = f"tl{uuid.uuid4().hex[:10]}"
    state = RedisStateStore(redis, keys=Keys(prefix), ttl_seconds=600, events_maxlen=1000)
    queue = ArqQueue(redis, queue_name=f"{prefix}:queue")
    try:
        yield state, queue
    finally:
        ids = [m.decode() for m in await redis.zrange(queue.queue_name, 0, -1)]
        await redis.delete(queue.queue_name, queue.wake_key, *(job_key_prefix + i for i in ids),
                           *[k async for k in redis.scan_iter(match=f"{prefix}:*")])  # fmt: skip
        await redis.aclose(close_connection_pool=True)


async def launch(state: RedisStateStore, queue: ArqQueue, job_id: str) -> None:
    await create_and_enqueue(state, queue, job_id, workflow="w", version="1", inputs={"x": 1},
                             created_at=time.time(), trace=None, priority=0,
                             extra={"tenant": "t"})  # fmt: skip


async def test_the_state_and_the_queue_entry_are_written_with_a_wake_token(
    pair: tuple[RedisStateStore, ArqQueue],
) -> None:
    state, queue = pair
    job_id = str(uuid.uuid4())
    await launch(state, queue, job_id)
    job = await state.get_job(job_id)
    assert job is not None and job.status.value == "queued" and job.workflow == "w"
    assert [e.type for e in await state.read_events(job_id)] == ["job.queued"]
    assert await queue.redis.zscore(queue.queue_name, job_id) is not None
    assert await queue.redis.lrange(queue.wake_key, 0, -1) == [job_id.encode()]


async def test_scripts_redis_lost_are_loaded_and_each_call_runs_once(
    pair: tuple[RedisStateStore, ArqQueue],
) -> None:
    state, queue = pair
    # Scripts Redis has never seen (a comment makes their digests new): both calls get NOSCRIPT.
    tag = f"\n-- {uuid.uuid4().hex}"
    state._apply = state.redis.register_script(state_scripts.APPLY + tag)
    queue._enqueue = queue.redis.register_script(queue_scripts.ENQUEUE + tag)
    job_id = str(uuid.uuid4())
    await launch(state, queue, job_id)
    assert [e.type for e in await state.read_events(job_id)] == ["job.queued"]  # created once
    assert await queue.redis.zscore(queue.queue_name, job_id) is not None


async def test_a_failed_creation_enqueues_nothing(
    pair: tuple[RedisStateStore, ArqQueue],
) -> None:
    state, queue = pair
    state._apply = state.redis.register_script("return redis.error_reply('boom')")
    job_id = str(uuid.uuid4())
    try:
        await launch(state, queue, job_id)
    except StateError as exc:
        assert isinstance(exc.__cause__, ResponseError)
    else:
        raise AssertionError("the creation's error was not raised")
    assert await queue.redis.zscore(queue.queue_name, job_id) is None
    assert await queue.redis.exists(job_key_prefix + job_id) == 0
    assert await queue.redis.llen(queue.wake_key) == 0


async def test_the_enqueue_script_refuses_a_job_whose_required_key_is_missing(
    pair: tuple[RedisStateStore, ArqQueue],
) -> None:
    _, queue = pair
    job_id = str(uuid.uuid4())
    script, keys, args = queue.enqueue_script(job_id, requires_key=f"{queue.queue_name}:nothing")
    assert await script(keys=keys, args=args) == -1
    assert await queue.redis.zscore(queue.queue_name, job_id) is None


class _CountingState(RedisStateStore):
    """The real store, counting the group creations it is asked for."""

    groups: list[int]

    async def create_jobs(self, jobs: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self.groups.append(len(jobs))
        await super().create_jobs(jobs)


def _launch_of(job_id: str) -> Launch:
    return Launch(job_id=job_id, workflow="w", version="1", inputs={"x": 1},
                  created_at=time.time(), trace=None, priority=0, extra={"tenant": "t"})


async def test_concurrent_launches_share_round_trips_and_each_job_is_launched_once(
    pair: tuple[RedisStateStore, ArqQueue],
) -> None:
    state, queue = pair
    counting = _CountingState(state.redis, keys=state.keys, ttl_seconds=600, events_maxlen=1000)
    counting.groups = []
    launches = LaunchGroupCommit(counting, queue)
    ids = [str(uuid.uuid4()) for _ in range(20)]
    await asyncio.gather(*(launches.launch(_launch_of(i)) for i in ids))
    # the first is launched by its caller at once (nothing in flight), the 19 that arrived
    # meanwhile as one group: two round trips
    assert counting.groups == [19]
    for job_id in ids:
        assert [e.type for e in await state.read_events(job_id)] == ["job.queued"]
        assert await queue.redis.zscore(queue.queue_name, job_id) is not None
    assert sorted(m.decode() for m in await queue.redis.lrange(queue.wake_key, 0, -1)) == sorted(ids)


async def test_a_failed_group_creation_fails_each_submit_and_enqueues_nothing(
    pair: tuple[RedisStateStore, ArqQueue],
) -> None:
    state, queue = pair
    state._create_many = state.redis.register_script("return redis.error_reply('boom')")
    launches = LaunchGroupCommit(state, queue)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    first, *group = await asyncio.gather(*(launches.launch(_launch_of(i)) for i in ids),
                                         return_exceptions=True)
    assert first is None  # alone: the APPLY script, which works
    assert len(group) == 4 and all(isinstance(e, StateError) for e in group), group
    for job_id in ids[1:]:
        assert await queue.redis.zscore(queue.queue_name, job_id) is None
        assert await state.get_job(job_id) is None

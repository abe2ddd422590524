"""Pipelined writes survive a Redis that lost its scripts (restarted, or SCRIPT FLUSH)."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.state.base import NewEvent
from orchestrator.state.redis import RedisStateStore


async def test_a_batch_of_writes_reloads_its_script_after_a_script_flush(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    store = RedisStateStore(
        client, keys=Keys(f"test{uuid.uuid4().hex}"), ttl_seconds=600, events_maxlen=1000
    )
    job_id = str(uuid.uuid4())
    try:
        await store.create_job(job_id, workflow="w", version="", inputs={},
                               created_at=time.time(), arq_job_id=job_id)
        await client.script_flush()
        ids = await store.apply_many(
            job_id, [({}, NewEvent("step.chunk", "s", 1, "a")), ({}, NewEvent("step.chunk", "s", 1, "b"))]
        )
        events = await store.read_events(job_id)
        assert [e.data for e in events[1:]] == ["a", "b"]
        assert ids == [e.id for e in events[1:]]
    finally:
        await client.delete(*[k async for k in client.scan_iter(match=f"{store.keys.prefix}:*")])
        await client.aclose()

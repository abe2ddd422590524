"""``/v1/system/queue-depth``, the number KEDA scales on, against real Redis and a real arq worker.

It must count due and running jobs (arq keeps a running job in its sorted set until it ends, so
with the ScaledJob's ``default`` strategy a running job's pod is subtracted, not doubled) and
must not count deferred ones (they would start pods that idle until the job is due). ZCARD,
which KEDA's ``redis`` trigger reads, is shown beside it for contrast.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from arq import Worker
from arq.worker import func

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.queue.arq import connect_redis
from tests.conftest import wait_until
from tests.support.stack import in_process_stack

SettingsFactory = Callable[..., Settings]


async def test_the_depth_counts_due_and_running_jobs_but_not_deferred_ones(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings()
    queue = settings.queue.name
    ids = {n: f"{uuid.uuid4().hex}-{n}" for n in ("a", "b", "c")}  # arq job ids are global
    started: dict[str, asyncio.Event] = {n: asyncio.Event() for n in ("a", "b")}
    release: dict[str, asyncio.Event] = {n: asyncio.Event() for n in ("a", "b")}

    async def hold(ctx: dict[str, Any], name: str) -> str:
        started[name].set()
        await asyncio.wait_for(release[name].wait(), 30)
        return name

    assert settings.redis.url is not None
    worker = Worker(functions=[func(hold, name="hold")], queue_name=queue, max_jobs=1,
                    redis_pool=connect_redis(settings.redis.url, max_connections=4),
                    poll_delay=0.02, handle_signals=False, keep_result=0)
    async with in_process_stack(settings, WorkflowRegistry([]), with_worker=False) as stack:
        redis = stack.services.redis

        async def depth() -> int:
            response = await stack.client.get("/v1/system/queue-depth")
            assert response.status_code == 200
            return int(response.json()["depth"])

        async def depth_is(n: int) -> bool:
            return await depth() == n

        run = asyncio.ensure_future(worker.async_run())
        try:
            await redis.enqueue_job("hold", "a", _job_id=ids["a"], _queue_name=queue)
            await asyncio.wait_for(started["a"].wait(), 10)
            await redis.enqueue_job("hold", "b", _job_id=ids["b"], _queue_name=queue)
            await redis.enqueue_job("hold", "c", _job_id=ids["c"], _queue_name=queue,
                                    _defer_by=600)

            # a runs, b is due (the worker takes one job at a time), c is deferred.
            assert await depth() == 2
            assert await redis.zcard(queue) == 3

            release["a"].set()
            await asyncio.wait_for(started["b"].wait(), 10)
            await wait_until(lambda: depth_is(1), what="a to leave the queue")  # b runs

            release["b"].set()
            await wait_until(lambda: depth_is(0), what="b to leave the queue")
            assert await redis.zcard(queue) == 1  # only the deferred job is left
            metrics = await stack.client.get("/v1/system/metrics")
            assert metrics.json()["queue_depth"] == 0
        finally:
            for event in release.values():
                event.set()
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            await worker.close()
            await redis.delete(queue, f"arq:job:{ids['c']}")

"""An arq worker that an enqueue wakes at once, instead of finding the job at its next poll.

arq polls its queue every ``poll_delay`` seconds, so a job waits half that on average before a
worker sees it (DESIGN §7). Here the queue also pushes a token to a short list
(``ArqQueue.wake_key``) when it enqueues a due job, and an idle worker blocks on that list
(``BLPOP`` with the poll delay as timeout) instead of sleeping: a token wakes it within a round
trip, and without tokens it polls exactly as arq does. Tokens are capped and expire, so a queue
without workers (KEDA at zero) does not accumulate them.

:meth:`WakeableWorker.main` follows ``arq.worker.Worker.main`` of arq 0.26-0.28 (pinned in
pyproject.toml) with only the wait between polls replaced.
"""

from __future__ import annotations

import asyncio

from arq import Worker
from arq.connections import create_pool, log_redis_info
from arq.worker import logger as arq_logger
from redis.exceptions import RedisError


class WakeableWorker(Worker):
    """``arq.Worker`` whose idle wait ends when a job is enqueued.

    Args:
        wake_key: The list the queue pushes a token to for every due job it enqueues.
        **kwargs: ``arq.Worker``'s.
    """

    def __init__(self, *args: object, wake_key: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wake_key = wake_key

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        arq_logger.info(
            "Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions)
        )
        await log_redis_info(self.pool, arq_logger.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)

        while True:
            await self._poll_iteration()
            if self.burst:
                if 0 <= self.max_burst_jobs <= self._jobs_started():
                    await asyncio.gather(*self.tasks.values())
                    return None
                queued_jobs = await self.pool.zcard(self.queue_name)
                if queued_jobs == 0:
                    await asyncio.gather(*self.tasks.values())
                    return None
            await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        """Wait for an enqueue's token, at most ``poll_delay``; a full worker just sleeps."""
        if not self.allow_pick_jobs or self.job_counter >= self.max_jobs:
            await asyncio.sleep(self.poll_delay_s)
            return
        try:
            # Redis >= 6 takes a fractional timeout; redis-py types it as int.
            await self.pool.blpop([self.wake_key], timeout=self.poll_delay_s)  # type: ignore[arg-type,misc]
        except RedisError:
            await asyncio.sleep(self.poll_delay_s)  # arq's own poll will report the outage


__all__ = ["WakeableWorker"]

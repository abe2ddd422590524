"""The job queue on arq: enqueue ``run_job(job_id)``, report depth, drop a dead run's arq job.

arq's keys and behaviour are described in ``shared/notes/keda-arq-k8s.md`` §3: a job stays in
the ``arq:queue`` sorted set (score = due time in ms) until it finishes. An enqueue writes
exactly what ``ArqRedis.enqueue_job`` writes, in one Lua call (:mod:`orchestrator.queue.scripts`)
that also wakes an idle worker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from arq.connections import ArqRedis
from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_ms
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError

from orchestrator.errors import QueueError
from orchestrator.queue import scripts
from orchestrator.queue.packing import hiredis_packing
from orchestrator.types import JobId

PRIORITY_STEP_SECONDS = 60.0
"""How far one priority level moves a job's arq score back in time."""

WAKE_TOKENS_MAX = 64
"""At most this many wake-up tokens wait in the list (each wakes one idle worker's poll)."""

WAKE_TOKEN_TTL_MS = 10_000
"""Tokens nobody took within 10 s are dropped: arq's own poll has found their jobs by then."""


def wake_key(queue_name: str) -> str:
    """The list a worker of ``queue_name`` blocks on between polls (next to arq's own keys)."""
    return f"{queue_name}:wake"


RUN_JOB = "run_job"
"""The name of the one arq function: ``run_job(ctx, job_id, trace=None)``."""


def connect_redis(url: str, *, max_connections: int) -> ArqRedis:
    """Create an ``ArqRedis`` client (a ``redis.asyncio.Redis``) for queue and state alike.

    A blocking pool waits for a free connection (up to 10 s) instead of failing when all are
    in use, e.g. by many blocked XREADs of stream clients. Its connections pack commands with
    hiredis (:mod:`orchestrator.queue.packing`).

    Args:
        url: ``redis://[[user]:password@]host:port/db`` or ``unix:///path.sock``.
        max_connections: Pool size.
    """
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
    pool.connection_class = hiredis_packing(pool.connection_class)
    return ArqRedis(connection_pool=pool)


ENQUEUE_CHUNK = 1000
"""Jobs per ``ENQUEUE_MANY`` call (a batch's most)."""


class ArqQueue:
    """Enqueues job runs on arq.

    Args:
        redis: The ``ArqRedis`` client.
        queue_name: arq queue (sorted set) name.
    """

    def __init__(self, redis: ArqRedis, *, queue_name: str) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.wake_key = wake_key(queue_name)
        self._enqueue = redis.register_script(scripts.ENQUEUE)
        self._enqueue_many = redis.register_script(scripts.ENQUEUE_MANY)

    async def enqueue(
        self,
        job_id: JobId,
        *,
        arq_job_id: str | None = None,
        trace: Mapping[str, str] | None = None,
        defer_seconds: float | None = None,
        priority: int = 0,
    ) -> str | None:
        """Enqueue ``run_job(job_id)``.

        Args:
            job_id: Our job id.
            arq_job_id: arq's job id (defaults to ``job_id``); arq refuses a duplicate id.
            trace: W3C trace context (``traceparent``/``tracestate``) carried to the worker.
            defer_seconds: Run no sooner than this many seconds from now.
            priority: 0 (default) to 9; each level moves the job ahead of jobs enqueued up to
                :data:`PRIORITY_STEP_SECONDS` later. arq serves due jobs in score order, so a
                higher priority is an earlier score; a job still ages past newer ones, so none
                starves.

        Returns:
            The arq job id, or ``None`` when arq already had a job (or a result) of that id.

        Raises:
            QueueError: Redis is unreachable.
        """
        keys, args = self._enqueue_call(job_id, arq_job_id, trace, defer_seconds, priority)
        try:
            done = await self._enqueue(keys=keys, args=args)
        except RedisError as exc:
            raise QueueError(f"cannot enqueue job {job_id}: {exc}") from exc
        return keys[0][len(job_key_prefix):] if done else None

    async def enqueue_many(
        self, jobs: Sequence[tuple[JobId, Mapping[str, str] | None, int]]
    ) -> list[bool]:
        """:meth:`enqueue` many jobs (arq id = job id, due now) in one round trip: one
        ``ENQUEUE_MANY`` call per :data:`ENQUEUE_CHUNK` jobs (per job two keys and four
        arguments to pack, instead of a script call of eleven).

        Args:
            jobs: ``(job_id, trace, priority)`` of each job.

        Returns:
            Per job, whether it was enqueued (``False``: arq already had that id).

        Raises:
            QueueError: Redis is unreachable (some jobs may have been enqueued).
        """
        done: list[bool] = []
        try:
            for at in range(0, len(jobs), ENQUEUE_CHUNK):
                keys: list[str] = [self.queue_name, self.wake_key]
                args: list[Any] = [WAKE_TOKENS_MAX, WAKE_TOKEN_TTL_MS]
                for job_id, trace, priority in jobs[at : at + ENQUEUE_CHUNK]:
                    one_keys, one_args = self._enqueue_call(job_id, None, trace, None, priority)
                    keys += one_keys[:2]
                    args += one_args[:4]
                done += [bool(d) for d in await self._enqueue_many(keys=keys, args=args)]
        except RedisError as exc:
            raise QueueError(f"cannot enqueue {len(jobs)} jobs: {exc}") from exc
        return done

    def enqueue_script(
        self,
        job_id: JobId,
        *,
        trace: Mapping[str, str] | None = None,
        priority: int = 0,
        requires_key: str | None = None,
    ) -> tuple[Any, list[str], list[Any]]:
        """The ``ENQUEUE`` call of :meth:`enqueue` (arq id = job id, due now), to be sent with
        other calls in one pipeline (``orchestrator/jobs/launch.py``).

        Args:
            job_id: Our job id (also arq's).
            trace: W3C trace context carried to the worker.
            priority: As in :meth:`enqueue`.
            requires_key: Enqueue only if this key exists (the script returns -1 otherwise).

        Returns:
            ``(registered script, keys, args)``; the script's reply is 1 (enqueued), 0 (arq
            already had that id) or -1 (``requires_key`` missing).
        """
        keys, args = self._enqueue_call(job_id, None, trace, None, priority)
        if requires_key is not None:
            keys.append(requires_key)
        return self._enqueue, keys, args

    def _enqueue_call(
        self,
        job_id: JobId,
        arq_job_id: str | None,
        trace: Mapping[str, str] | None,
        defer_seconds: float | None,
        priority: int,
    ) -> tuple[list[str], list[Any]]:
        """The ``ENQUEUE`` script's keys and arguments."""
        arq_id = arq_job_id or job_id
        # Score, expiry and payload as ArqRedis.enqueue_job computes them (arq 0.26-0.28):
        # score = due time (ms); the job key outlives it by arq's expires_extra_ms (1 day).
        enqueue_ms = timestamp_ms()
        defer_ms = to_ms(defer_seconds)
        if priority and not defer_seconds:
            score = enqueue_ms - round(priority * PRIORITY_STEP_SECONDS * 1000)
        elif defer_ms:
            score = enqueue_ms + defer_ms
        else:
            score = enqueue_ms
        expires_ms = score - enqueue_ms + self.redis.expires_extra_ms
        job = serialize_job(
            RUN_JOB, (job_id,), {"trace": dict(trace or {})}, None, enqueue_ms,
            serializer=self.redis.job_serializer,
        )  # fmt: skip
        keys = [job_key_prefix + arq_id, result_key_prefix + arq_id, self.queue_name,
                self.wake_key]  # fmt: skip
        args = [arq_id, score, expires_ms, job, 0 if defer_seconds else 1,
                WAKE_TOKENS_MAX, WAKE_TOKEN_TTL_MS]  # fmt: skip
        return keys, args

    async def depth(self) -> int:
        """Due-or-running arq jobs: ``ZCOUNT queue -inf now`` (deferred jobs are not counted).

        Raises:
            QueueError: Redis is unreachable.
        """
        try:
            return int(await self.redis.zcount(self.queue_name, "-inf", int(time.time() * 1000)))
        except RedisError as exc:
            raise QueueError(f"cannot read queue depth: {exc}") from exc

    async def drop(self, arq_job_id: str) -> None:
        """Remove an arq job whose worker died, so arq does not run it again after its timeout.

        Raises:
            QueueError: Redis is unreachable.
        """
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self.queue_name, arq_job_id)
                pipe.delete(
                    job_key_prefix + arq_job_id,
                    in_progress_key_prefix + arq_job_id,
                    retry_key_prefix + arq_job_id,
                )
                await pipe.execute()
        except RedisError as exc:
            raise QueueError(f"cannot drop arq job {arq_job_id}: {exc}") from exc


__all__ = ["RUN_JOB", "ArqQueue", "connect_redis", "wake_key"]

"""arq's ``run_job`` without its own round trips, for arq 0.26-0.28 (pinned in pyproject.toml).

arq's ``Worker.run_job`` makes two round trips of its own per job: a MULTI that reads the job
and counts the try (``GET`` job, ``INCR``/``EXPIRE`` retry key) and, at the end, a MULTI that
removes the job (``finish_job``). Here the read comes back with the start check of
``worker/wakeable.py`` (:data:`START_AND_READ`, one pipelined call for a batch of free slots),
and the removal is one script call that leaves in the same pipeline as the other calls of its
event-loop turn (:data:`FINISH_ARQ`, through a :class:`~orchestrator.state.turn_batch.
TurnBatcher`); several jobs ending together share one trip.

:func:`run_started` follows ``arq.worker.Worker.run_job`` of arq 0.26-0.28 for what this project
uses (plain functions, no cron jobs, no aborts, no kept results); :func:`supported` says when
that holds, and otherwise the worker runs arq's own ``run_job``.

The start check can also take our job up (:data:`START_READ_PICKUP`): the job's state and lease
come back with arq's read, so the run starts with no round trip of its own (it was one more
round trip, in sequence, on every job's path from the queue to ``job.started``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from arq import __version__ as arq_version
from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import SerializationError, deserialize_job_raw
from arq.utils import ms_to_datetime, timestamp_ms
from arq.worker import Retry, RetryJob
from arq.worker import logger as arq_logger

from orchestrator.state.scripts import PICKUP

if TYPE_CHECKING:
    from arq import Worker

    from orchestrator.state.turn_batch import TurnBatcher

SUPPORTED_VERSIONS = ((0, 26), (0, 28))
"""The arq minor versions (first and last) whose ``run_job`` :func:`run_started` follows."""

RETRY_KEY_TTL_SECONDS = 88400
"""arq's lifetime of a job's try counter (``arq.worker``: ``expire(retry_key, 88400)``)."""

# KEYS: in-progress key, queue, job key, retry key
# ARGV: arq job id, now (ms), in-progress timeout (ms), retry key TTL (s)
# arq's start check (not running anywhere, still queued and due), then marked in progress, and
# arq's first MULTI of run_job (the job's bytes, its try counted). Returns {score, try, job}
# (job absent when it expired), -1 when a worker runs it, or false when it is gone or deferred.
START_AND_READ = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
local try = redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[4])
return {score, try, redis.call('GET', KEYS[3])}
"""

# KEYS: START_AND_READ's 4, then PICKUP's 3 for our job of the same id (lease, lease index,
#       job hash: orchestrator/state/leases.py ``pickup_call``)
# ARGV: START_AND_READ's 4, then PICKUP's 4 (worker id, lease TTL ms, lease deadline ms, job id)
# START_AND_READ, and when it started the job and read its bytes, the worker's pickup of our job
# whose id is the arq id (the job's state and its lease, orchestrator/state/scripts.py PICKUP) in
# the same call: {score, try, job, pickup answer, job hash}. A job started under another arq id
# (a reaper's or a drain's re-enqueue) finds no hash under that id: answer MISSING, nothing taken.
START_READ_PICKUP = f"""
local function start(KEYS, ARGV)
{START_AND_READ}
end
local function pickup(KEYS, ARGV)
{PICKUP}
end
local started = start({{KEYS[1], KEYS[2], KEYS[3], KEYS[4]}}, {{ARGV[1], ARGV[2], ARGV[3], ARGV[4]}})
if type(started) ~= 'table' or not started[3] then return started end
local picked = pickup({{KEYS[5], KEYS[6], KEYS[7]}}, {{ARGV[5], ARGV[6], ARGV[7], ARGV[8]}})
started[4] = picked[1]
started[5] = picked[2]
return started
"""

# KEYS: in-progress key, queue, job key, retry key, abort set
# ARGV: arq job id, mode ('finish' | 'retry' | 'again'), score increment (ms, for 'retry')
# arq's finish_job MULTI (no kept result): an ended job leaves the queue with its keys; a
# retried one stays queued, later by the increment; either way it is no longer in progress.
FINISH_ARQ = """
if ARGV[2] == 'finish' then
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[1])
  if ARGV[2] == 'retry' then redis.call('ZINCRBY', KEYS[2], ARGV[3], ARGV[1]) end
end
return 1
"""


def supported(worker: Worker, version: str = arq_version) -> bool:
    """Whether :func:`run_started` can stand in for ``worker``'s own ``run_job``.

    Args:
        worker: The arq worker.
        version: arq's version (default: the installed one).

    Returns:
        ``True`` for arq 0.26-0.28 with no cron jobs, no aborts and no kept results; any other
        version or set-up runs arq's own ``run_job``.
    """
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    low, high = SUPPORTED_VERSIONS
    return (
        low <= (major, minor) <= high
        and not worker.allow_abort_jobs
        and not worker.keep_result_forever
        and not worker.keep_result_s
        and not any(hasattr(f, "next_run") for f in worker.functions.values())
    )


def start_keys(worker: Worker, job_id: str) -> list[str]:
    """The keys of :data:`START_AND_READ` for ``job_id`` (an arq job id)."""
    return [in_progress_key_prefix + job_id, worker.queue_name, job_key_prefix + job_id,
            retry_key_prefix + job_id]  # fmt: skip


async def run_started(
    worker: Worker,
    batcher: TurnBatcher,
    finish_script: Any,
    job_id: str,
    score: int,
    job_try: int,
    raw: bytes | None,
) -> None:
    """Run an arq job that :data:`START_AND_READ` marked in progress, as arq's ``run_job``.

    Args:
        worker: The arq worker (its functions, context, hooks, counters).
        batcher: Sends :data:`FINISH_ARQ` with the event-loop turn's other calls.
        finish_script: :data:`FINISH_ARQ` registered on the worker's pool.
        job_id: arq's job id.
        score: The job's queue score (ms).
        job_try: This try's number, as counted by :data:`START_AND_READ`.
        raw: The job's serialized bytes; ``None`` when it expired.

    Raises:
        redis.exceptions.RedisError: Redis failed under the job's bookkeeping (the caller
            records it; the job's lease lapses and a reaper resumes it).
    """
    start_ms = timestamp_ms()

    async def finish(mode: str, incr_ms: int | None = None) -> None:
        keys = [in_progress_key_prefix + job_id, worker.queue_name, job_key_prefix + job_id,
                retry_key_prefix + job_id, abort_jobs_ss]  # fmt: skip
        call = batcher.call(finish_script, [len(keys), *keys, job_id, mode, incr_ms or 0])
        result = await asyncio.shield(call)
        if isinstance(result, Exception):
            raise result

    if not raw:
        arq_logger.warning("job %s expired", job_id)
        worker.jobs_failed += 1
        return await finish("finish")
    try:
        function_name, args, kwargs, enqueue_job_try, enqueue_time_ms = deserialize_job_raw(
            raw, deserializer=worker.job_deserializer
        )
    except SerializationError:
        arq_logger.exception("deserializing job %s failed", job_id)
        worker.jobs_failed += 1
        return await finish("finish")
    function = worker.functions.get(function_name)
    if function is None:
        arq_logger.warning("job %s, function %r not found", job_id, function_name)
        worker.jobs_failed += 1
        return await finish("finish")
    ref = f"{job_id}:{function_name}"
    if enqueue_job_try and enqueue_job_try > job_try:
        job_try = enqueue_job_try
        await worker.pool.setex(retry_key_prefix + job_id, RETRY_KEY_TTL_SECONDS, str(job_try))
    max_tries = worker.max_tries if function.max_tries is None else function.max_tries
    if job_try > max_tries:
        t = (timestamp_ms() - enqueue_time_ms) / 1000
        arq_logger.warning("%6.2fs ! %s max retries %d exceeded", t, ref, max_tries)
        worker.jobs_failed += 1
        return await finish("finish")
    ctx = {**worker.ctx, "job_id": job_id, "job_try": job_try,
           "enqueue_time": ms_to_datetime(enqueue_time_ms), "score": score}  # fmt: skip
    if worker.on_job_start:
        await worker.on_job_start(ctx)
    timeout_s = worker.job_timeout_s if function.timeout_s is None else function.timeout_s
    mode, incr_ms = "finish", None
    start_ms = timestamp_ms()
    worker.job_tasks[job_id] = task = worker.loop.create_task(
        function.coroutine(ctx, *args, **kwargs)
    )
    try:
        await asyncio.wait_for(task, timeout_s)
    except (Exception, asyncio.CancelledError) as e:
        t = (timestamp_ms() - start_ms) / 1000
        if worker.retry_jobs and isinstance(e, Retry):
            mode, incr_ms = "retry", e.defer_score
            if e.defer_score:
                incr_ms = e.defer_score + (timestamp_ms() - score)
            arq_logger.info(
                "%6.2fs ↻ %s retrying job in %0.2fs", t, ref, (e.defer_score or 0) / 1000
            )
            worker.jobs_retried += 1
        elif worker.retry_jobs and isinstance(e, (asyncio.CancelledError, RetryJob)):
            mode = "again"
            arq_logger.info("%6.2fs ↻ %s cancelled, will be run again", t, ref)
            worker.jobs_retried += 1
        else:
            arq_logger.exception("%6.2fs ! %s failed, %s: %s", t, ref, e.__class__.__name__, e)
            worker.jobs_failed += 1
    else:
        worker.jobs_complete += 1
    finally:
        del worker.job_tasks[job_id]
    if worker.on_job_end:
        await worker.on_job_end(ctx)
    await finish(mode, incr_ms)
    if worker.after_job_end:
        await worker.after_job_end(ctx)
    return None


__all__ = ["FINISH_ARQ", "START_AND_READ", "START_READ_PICKUP", "run_started", "start_keys",
           "supported"]

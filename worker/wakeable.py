"""An arq worker that an enqueue wakes at once and that starts a job in one round trip.

arq polls its queue every ``poll_delay`` seconds, so a job waits half that on average before a
worker sees it (DESIGN §7). Here the queue also pushes a token, the job's arq id, to a short list
(``ArqQueue.wake_key``) when it enqueues a due job, and an idle worker blocks on that list
(``BLPOP`` with the poll delay as timeout) instead of sleeping: a token wakes it within a round
trip and the worker starts that job at once (the queue read of the poll comes after), and
without tokens it polls exactly as arq does. Tokens are capped and expire, so a queue
without workers (KEDA at zero) does not accumulate them.

Starting a job is arq's check-and-mark of its ``in-progress`` key, done by arq as WATCH, EXISTS,
ZSCORE and MULTI/PSETEX/EXEC (four round trips per id read from the queue head, which holds the
running jobs too, since arq removes a job from the queue only when it ends). Here it is one Lua
script with the same keys and outcome, and ids this worker is running are skipped without asking
Redis: with a deep queue, those checks were most of the workers' round trips (issue 7 (b)).

:meth:`WakeableWorker.main` and :meth:`WakeableWorker.start_jobs` follow ``arq.worker.Worker``
of arq 0.26-0.28 (pinned in pyproject.toml) with only the wait between polls and the
check-and-mark replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from arq import Worker
from arq.connections import create_pool, log_redis_info
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import logger as arq_logger

from orchestrator.errors import StateError
from orchestrator.state.turn_batch import TurnBatcher
from worker import arq_run
from worker.redis_health import REDIS_OUTAGE_ERRORS, RedisHealth

if TYPE_CHECKING:
    from worker.executor import JobExecutor

# KEYS: in-progress key, queue; ARGV: arq job id, now (ms), in-progress timeout (ms).
# arq's start check: not running anywhere, still queued and due; then marked in progress.
# Returns the job's score, -1 when a worker runs it, or false when it is gone or deferred.
_START = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""

SLOT_GATHER_S = 0.002
"""A full worker whose slot freed waits this much longer before it reads the queue again."""

ELSEWHERE_SKIP_S = 1.0
"""An id another worker was running is not checked again for this long (it is still running,
or it ended and left the queue; a dead worker's job comes back under a new id, reaper.py). A
deferred job is not skipped: it may come due at any moment."""


class WakeableWorker(Worker):
    """``arq.Worker`` whose idle wait ends when a job is enqueued.

    It also rides out a Redis outage (issue 11): a long-lived worker backs off and polls again
    (``health`` logs the outage once), a one-job worker raises :class:`StateError`.

    Args:
        wake_key: The list the queue pushes a token to for every due job it enqueues.
        health: This process's Redis health (shared with the reaper and control channel).
        pickup: The executor whose runs the start check also takes up (the job's state and
            lease in the same call, ``arq_run.START_READ_PICKUP``), when its state store is the
            Redis one on the queue's Redis server; ``None``: each run takes its job up itself.
        **kwargs: ``arq.Worker``'s.
    """

    def __init__(
        self,
        *args: object,
        wake_key: str,
        health: RedisHealth | None = None,
        pickup: JobExecutor | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wake_key = wake_key
        self.pickup = pickup if pickup is not None and pickup.redis_pickup else None
        self._elsewhere: dict[str, float] = {}
        self._slot_freed = asyncio.Event()
        self.health = health if health is not None else RedisHealth()
        self._started_up = False
        self._orphans: set[str] = set()
        # arq 0.26-0.28 as set up here: the start check also reads the job, and a job's end is
        # one batched script call (worker/arq_run.py); otherwise arq's own run_job.
        self.own_run = arq_run.supported(self)
        self._batcher: TurnBatcher | None = None
        self._start_script: Any = None
        self._finish_script: Any = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start due jobs among ``job_ids`` in the free slots: arq's check-and-mark, one
        pipelined script call per job and one round trip per batch of free slots."""
        now = time.monotonic()
        self._elsewhere = {j: t for j, t in self._elsewhere.items() if now - t < ELSEWHERE_SKIP_S}
        candidates = [
            job_id
            for job_id in (b.decode() for b in job_ids)
            if job_id not in self.tasks and job_id not in self._elsewhere
        ]
        while candidates:
            free = self.max_jobs - self.job_counter
            if free <= 0:
                return None
            batch, candidates = candidates[:free], candidates[free:]
            for _ in batch:  # never blocks: the semaphore holds max_jobs + 1
                await self.sem.acquire()
                self.job_counter = self.job_counter + 1
            try:
                scores = await self._mark_started(batch)
            except BaseException:
                for _ in batch:  # give the reserved slots back (arq's loop reports the error)
                    self.job_counter = self.job_counter - 1
                    self.sem.release()
                raise
            for job_id, score in zip(batch, scores, strict=True):
                if score is None or score == -1:  # gone, deferred, or running elsewhere
                    if score == -1:
                        self._elsewhere[job_id] = now
                    self.job_counter = self.job_counter - 1
                    self.sem.release()
                    continue
                if self.own_run:  # [score, try, job bytes (absent: expired), [pickup reply]]
                    raw = score[2] if len(score) > 2 else None
                    if len(score) > 4 and self.pickup is not None:
                        self.pickup.picked_up(job_id, score[3], score[4])
                    run = self._run_started(job_id, int(float(score[0])), int(score[1]), raw)
                else:
                    run = self.run_job(job_id, int(float(score)))
                task = self.loop.create_task(run)
                task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
                self.tasks[job_id] = task
        return None

    async def _mark_started(self, job_ids: list[str]) -> list[Any]:
        """Run :data:`_START` (with :attr:`own_run`, ``arq_run.START_AND_READ``) for each id, in
        the pipeline of the loop turn's script calls (loaded again after a ``NOSCRIPT``)."""
        batcher, start, _ = self._scripts()
        timeout_ms = str(int(self.in_progress_timeout_s * 1000))
        now_ms = str(timestamp_ms())
        if self.own_run:
            ttl = str(arq_run.RETRY_KEY_TTL_SECONDS)
            calls = []
            for j in job_ids:
                keys, args = arq_run.start_keys(self, j), [j, now_ms, timeout_ms, ttl]
                if self.pickup is not None:  # START_READ_PICKUP: the pickup's keys and args after
                    pickup_keys, pickup_args = self.pickup.pickup_call(j)
                    keys, args = [*keys, *pickup_keys], [*args, *pickup_args]
                calls.append([len(keys), *keys, *args])
        else:
            calls = [[2, in_progress_key_prefix + j, self.queue_name, j, now_ms, timeout_ms]
                     for j in job_ids]  # fmt: skip
        results = await asyncio.gather(*(batcher.call(start, call) for call in calls))
        for r in results:
            if isinstance(r, Exception):
                raise r
        return list(results)

    def _scripts(self) -> tuple[TurnBatcher, Any, Any]:
        """The worker's turn batcher on its pool, its start script and ``arq_run.FINISH_ARQ``
        (registered on first use: the pool exists once :meth:`main` ran)."""
        if self._batcher is None:
            self._batcher = TurnBatcher(self.pool)
            start = (_START if not self.own_run
                     else arq_run.START_READ_PICKUP if self.pickup is not None
                     else arq_run.START_AND_READ)  # fmt: skip
            self._start_script = self.pool.register_script(start)
            self._finish_script = self.pool.register_script(arq_run.FINISH_ARQ)
        return self._batcher, self._start_script, self._finish_script

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
        self.ctx["redis"] = self.pool
        await self._until_redis_answers(self._start_up)

        while True:
            try:
                if not self.health.up:
                    # Another component saw the outage: back off, then ask (a poll may make no
                    # Redis call at all when every slot is busy) before saying it is back.
                    await asyncio.sleep(self.health.delay_seconds())
                    await self.pool.ping()
                    self.health.ok()
                if self._orphans:
                    await self._adopt_orphans()
                await self._poll_iteration()
                if self.burst:
                    if 0 <= self.max_burst_jobs <= self._jobs_started():
                        await asyncio.gather(*self.tasks.values())
                        return self._end_burst()
                    queued_jobs = await self.pool.zcard(self.queue_name)
                    if queued_jobs == 0:
                        await asyncio.gather(*self.tasks.values())
                        return self._end_burst()
            except REDIS_OUTAGE_ERRORS as exc:
                await self._outage(exc)
                continue
            await self._wait_for_work()

    async def _start_up(self) -> None:
        await log_redis_info(self.pool, arq_logger.info)
        if self.on_startup and not self._started_up:
            await self.on_startup(self.ctx)
            self._started_up = True

    async def _until_redis_answers(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` until it gets through to Redis (long-lived), or fail (one job)."""
        while True:
            try:
                await step()
            except REDIS_OUTAGE_ERRORS as exc:
                await self._outage(exc)
                continue
            self.health.ok()
            return

    async def _outage(self, exc: BaseException) -> None:
        """Redis failed: a one-job worker gives up (exit non-zero: KEDA starts another pod and
        the job, still queued, waits for it); a long-lived one waits and tries again."""
        self.health.failed(exc, source="poll")
        if self.burst:
            raise StateError(f"Redis is unavailable: {exc}", details={"error": type(exc).__name__})
        await asyncio.sleep(self.health.delay_seconds())

    def _end_burst(self) -> None:
        """A one-job worker whose job met a Redis failure did not finish it: say so (non-zero
        exit), rather than exit as if it had."""
        if not self.health.up:
            raise StateError("Redis became unavailable while the job ran; another worker resumes "
                             "it from its checkpoints", details={"source": "job"})  # fmt: skip

    async def run_job(self, job_id: str, score: int) -> None:
        """arq's ``run_job``, whose bookkeeping (result, retry, queue removal) may meet a Redis
        outage: the job's lease then lapses and a reaper resumes it, so the outage is recorded,
        not raised into the poll loop (arq re-raises a finished task's error there)."""
        try:
            await super().run_job(job_id, score)
        except REDIS_OUTAGE_ERRORS as exc:
            self.health.failed(exc, source="job")
            self._orphans.add(job_id)

    async def _run_started(self, job_id: str, score: int, job_try: int, raw: bytes | None) -> None:
        """:func:`worker.arq_run.run_started` for a job the start check read, with the outage
        handling of :meth:`run_job`."""
        batcher, _, finish = self._scripts()
        try:
            await arq_run.run_started(self, batcher, finish, job_id, score, job_try, raw)
        except REDIS_OUTAGE_ERRORS as exc:
            self.health.failed(exc, source="job")
            self._orphans.add(job_id)
        finally:
            if self.pickup is not None:  # a pickup that no run used (arq refused the job)
                # Redis failed: the lease it took lapses within its TTL, and a reaper resumes.
                with contextlib.suppress(StateError, *REDIS_OUTAGE_ERRORS):
                    await self.pickup.forget(job_id)

    async def _adopt_orphans(self) -> None:
        """Make the arq jobs whose bookkeeping an outage interrupted runnable again at once.

        Their ``in-progress`` marks would otherwise hide them from every worker for
        ``job_timeout + 10`` seconds; still queued, they are picked up again: a job that ended
        is then only removed, one that did not resumes from its checkpoints.
        """
        orphans = set(self._orphans)
        await self.pool.delete(*(in_progress_key_prefix + job_id for job_id in orphans))
        self._orphans -= orphans  # only once Redis took it: an outage keeps them for later

    async def close(self) -> None:
        """arq's ``close``, tolerating an unreachable Redis (its health key is then left to
        expire)."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(*REDIS_OUTAGE_ERRORS):
            await self.pool.delete(self.health_check_key)
        if self.on_shutdown and self._started_up:
            await self.on_shutdown(self.ctx)
        with contextlib.suppress(*REDIS_OUTAGE_ERRORS):
            await self.pool.close(close_connection_pool=True)
        self._pool = None

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._slot_freed.set()

    async def _wait_for_work(self) -> None:
        """Wait for an enqueue's token or, when every slot is busy, for a slot to free up;
        at most ``poll_delay`` either way (arq sleeps the whole delay, so a full worker idled
        up to 50 ms after each job ended while the queue was deep)."""
        if not self.allow_pick_jobs:
            await asyncio.sleep(self.poll_delay_s)
            return
        if self.job_counter >= self.max_jobs:
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), self.poll_delay_s)
                # Let a few more slots free up, so that one queue read fills several.
                await asyncio.sleep(min(SLOT_GATHER_S, self.poll_delay_s))
            return
        try:
            # Redis >= 6 takes a fractional timeout; redis-py types it as int.
            woken = await self.pool.blpop([self.wake_key], timeout=self.poll_delay_s)  # type: ignore[arg-type,misc]
        except REDIS_OUTAGE_ERRORS:
            await asyncio.sleep(self.poll_delay_s)  # arq's own poll will report the outage
            return
        if woken:  # the token is the enqueued job's arq id: start it before the next poll
            try:
                await self.start_jobs([woken[1]])
            except REDIS_OUTAGE_ERRORS:
                return  # the poll that follows reads the queue (and reports an outage)


__all__ = ["WakeableWorker"]

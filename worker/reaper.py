"""Resumes jobs whose worker died: finds lapsed leases and re-enqueues the job (DESIGN §7).

arq alone notices a dead worker only after ``job_timeout + 10 s``. Every worker runs this loop;
a job whose lease lapsed while it ran is claimed by exactly one of them (a Lua script pushes
its deadline out), its dead arq job is dropped, and a new arq job resumes it. The executor then
runs only the steps without a checkpoint. A worker started under a stable id (``worker.id``)
reclaims its previous process's jobs at once rather than after the lease TTL, as DBOS recovers
an executor's workflows by its ``executor_id``. A job that ended but whose worker died before
freeing the lease (its trace row may be unwritten) gets its end, and the step runs its buffer
held, recorded from Redis instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import structlog

from orchestrator.errors import OrchestratorError, QueueError, StateError
from orchestrator.jobs.reconcile import reconcile_step_runs
from orchestrator.services import Services
from orchestrator.trace.deferred import ready
from orchestrator.trace.records import JobFinish
from worker.redis_health import RedisHealth

log = structlog.get_logger("worker.reaper")


async def reap_once(services: Services, *, own_worker_id: str | None = None) -> list[str]:
    """Claim and re-enqueue every job whose lease has lapsed; record ended ones.

    Args:
        services: Connections.
        own_worker_id: This worker's stable id (``worker.id``): jobs whose lease that id still
            holds belonged to this worker's previous process, which is dead since this one
            runs under its name, so they are claimed now instead of after the lease TTL.

    Returns:
        The ids of the jobs re-enqueued.

    Raises:
        StateError, QueueError, TraceError: Redis or the trace store failed.
    """
    lease = services.settings.lease
    claimed = await services.state.claim_lapsed(
        now_ms=int(time.time() * 1000),
        claim_seconds=lease.ttl_seconds * 2,
        own_worker_id=own_worker_id,
    )
    resumed: list[str] = []
    for lapsed in claimed:
        if lapsed.ended:
            await _record_end(services, lapsed.job_id)
            continue
        job_id = lapsed.job_id
        if lapsed.arq_job_id:
            await services.queue.drop(lapsed.arq_job_id)
        new_arq_id = f"{job_id}:resume:{uuid.uuid4().hex[:8]}"
        await services.state.update(job_id, {"arq_job_id": new_arq_id})
        state = await services.state.get_job(job_id)
        await services.queue.enqueue(
            job_id, arq_job_id=new_arq_id, trace=state.trace if state else None
        )
        log.info("resuming job after lapsed lease", job_id=job_id, arq_job_id=new_arq_id)
        resumed.append(job_id)
    return resumed


async def _record_end(services: Services, job_id: str) -> None:
    """Write the end of a job whose worker died between its terminal event and its trace row."""
    state = await services.state.get_job(job_id)
    if state is not None and state.status.is_terminal:
        # Its last step runs may have died in the worker's buffer: rows first, then the end.
        trace = await ready(services.trace)  # a deferred store is built off the loop
        await reconcile_step_runs(services.state, trace, job_id)
        at = datetime.fromtimestamp(state.finished_at or time.time(), UTC)
        await trace.write_batch(
            [], finished=JobFinish(job_id, state.status, at, result=state.result, error=state.error)
        )
        log.info("recorded the end of a job whose worker died", job_id=job_id)
    await services.state.release_lease(job_id, "")


async def reap_forever(services: Services, *, health: RedisHealth | None = None) -> None:
    """Run :func:`reap_once` now and every ``lease.check_interval_seconds`` until cancelled.

    Args:
        services: Connections.
        health: This process's Redis health: a Redis failure is reported there (logged once
            per outage, with a backoff) instead of logged on every check; the poll loop says
            when Redis is back.
    """
    interval = services.settings.lease.check_interval_seconds
    while True:
        delay = interval
        try:
            await reap_once(services)
        except (StateError, QueueError) as exc:
            if health is None:
                log.warning("lease check failed", error=str(exc))
            else:
                health.failed(exc, source="reaper")
                delay = max(interval, health.delay_seconds())
        except OrchestratorError as exc:
            log.warning("lease check failed", error=str(exc))
        await asyncio.sleep(delay)


async def reclaim_own(services: Services, worker_id: str) -> list[str]:
    """Resume the jobs a previous process of this stable ``worker_id`` held when it died.

    Must run before this process takes any job: afterwards, leases under the id are its own.
    Failures are logged, not raised: those leases then lapse after the TTL as usual.

    Returns:
        The ids of the jobs re-enqueued.
    """
    try:
        resumed = await reap_once(services, own_worker_id=worker_id)
    except OrchestratorError as exc:
        log.warning("reclaiming the previous process's jobs failed", error=str(exc))
        return []
    if resumed:
        log.info("reclaimed jobs of this worker id's previous process", jobs=resumed)
    return resumed


__all__ = ["reap_forever", "reap_once", "reclaim_own"]

"""Resumes jobs whose worker died: finds lapsed leases and re-enqueues the job (DESIGN §7).

arq alone notices a dead worker only after ``job_timeout + 10 s``. Every worker runs this loop;
a job whose lease lapsed while it ran is claimed by exactly one of them (a Lua script pushes
its deadline out), its dead arq job is dropped, and a new arq job resumes it. The executor then
runs only the steps without a checkpoint.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import structlog

from orchestrator.errors import OrchestratorError
from orchestrator.services import Services

log = structlog.get_logger("worker.reaper")


async def reap_once(services: Services) -> list[str]:
    """Claim and re-enqueue every job whose lease has lapsed.

    Returns:
        The ids of the jobs re-enqueued.

    Raises:
        StateError, QueueError: Redis failed.
    """
    lease = services.settings.lease
    claimed = await services.state.claim_lapsed(
        now_ms=int(time.time() * 1000), claim_seconds=lease.ttl_seconds * 2
    )
    resumed: list[str] = []
    for job_id, old_arq_id in claimed:
        if old_arq_id:
            await services.queue.drop(old_arq_id)
        new_arq_id = f"{job_id}:resume:{uuid.uuid4().hex[:8]}"
        await services.state.update(job_id, {"arq_job_id": new_arq_id})
        state = await services.state.get_job(job_id)
        await services.queue.enqueue(
            job_id, arq_job_id=new_arq_id, trace=state.trace if state else None
        )
        log.info("resuming job after lapsed lease", job_id=job_id, arq_job_id=new_arq_id)
        resumed.append(job_id)
    return resumed


async def reap_forever(services: Services) -> None:
    """Run :func:`reap_once` every ``lease.check_interval_seconds`` until cancelled."""
    interval = services.settings.lease.check_interval_seconds
    while True:
        try:
            await reap_once(services)
        except OrchestratorError as exc:
            log.warning("lease check failed", error=str(exc))
        await asyncio.sleep(interval)


__all__ = ["reap_forever", "reap_once"]

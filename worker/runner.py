"""Worker modes: long-lived (``orchestrator worker``) and one job (``--one-job``, KEDA pods).

``--one-job`` follows the pattern verified in ``shared/notes/keda-arq-k8s.md`` §3.1: an arq
burst worker with ``max_jobs=1`` whose ``on_job_start`` sets ``max_burst_jobs = 1`` (so it exits
after that job without head-of-line blocking behind another pod's job), plus an idle timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Any

import structlog
from arq import Worker
from arq.worker import func

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.queue.arq import RUN_JOB, connect_redis
from orchestrator.services import Services
from worker.executor import JobExecutor
from worker.hooks import ExecutionHook, HookChain
from worker.reaper import reap_forever
from worker.recorder import TraceRecorder
from worker.tasks import run_job

log = structlog.get_logger("worker")


def new_worker_id() -> str:
    """``<host>:<pid>:<random>``: unique per process, readable in traces."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_worker(
    services: Services,
    *,
    one_job: bool = False,
    extra_hooks: list[ExecutionHook] | None = None,
    handle_signals: bool = True,
) -> Worker:
    """Create the arq worker running ``run_job`` with this process's executor.

    Args:
        services: Open connections; the arq worker gets its own Redis pool.
        one_job: Take exactly one job, then exit.
        extra_hooks: Execution hooks beside the trace recorder.
        handle_signals: Let arq install SIGINT/SIGTERM handlers.
    """
    settings = services.settings
    recorder = TraceRecorder(
        services.trace, flush_interval_seconds=settings.worker.trace_flush_interval_seconds
    )
    executor = JobExecutor(
        services, new_worker_id(), HookChain([recorder, *(extra_hooks or [])])
    )
    background: list[asyncio.Task[Any]] = []

    async def on_startup(ctx: dict[str, Any]) -> None:
        recorder.start()
        background.append(asyncio.get_running_loop().create_task(reap_forever(services)))
        log.info("worker started", worker_id=executor.worker_id, one_job=one_job)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await recorder.stop()

    worker: Worker

    job_started = asyncio.Event()

    async def on_job_start(ctx: dict[str, Any]) -> None:
        job_started.set()
        if one_job:
            worker.max_burst_jobs = 1

    assert settings.redis.url is not None
    worker = Worker(
        functions=[func(run_job, name=RUN_JOB)],
        queue_name=settings.queue.name,
        redis_pool=connect_redis(settings.redis.url, max_connections=16),
        burst=one_job,
        max_jobs=1 if one_job else settings.worker.max_jobs,
        poll_delay=settings.worker.poll_delay_seconds,
        job_timeout=settings.worker.job_timeout_seconds,
        keep_result=60,
        max_tries=5,
        ctx={"executor": executor, "job_started": job_started},
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        on_job_start=on_job_start,
        handle_signals=handle_signals,
        job_completion_wait=int(settings.worker.shutdown_grace_seconds),
        log_results=False,
    )
    return worker


async def run_worker(
    settings: Settings, *, one_job: bool = False, registry: WorkflowRegistry | None = None
) -> int:
    """Run a worker until stopped (or, with ``one_job``, until one job ran or none came).

    Returns:
        The number of jobs this worker ran.
    """
    services = await Services.open(settings, registry)
    worker = build_worker(services, one_job=one_job)
    try:
        if one_job:
            if not await _run_one(worker, settings.worker.idle_timeout_seconds):
                log.info("no job within the idle timeout; exiting",
                         idle_timeout_seconds=settings.worker.idle_timeout_seconds)
                return 0
        else:
            await worker.async_run()
        return worker.jobs_complete + worker.jobs_failed
    finally:
        await worker.close()
        await services.close()


async def _run_one(worker: Worker, idle_timeout_seconds: float) -> bool:
    """Run the burst worker; give up if no job has started within the idle timeout.

    Returns:
        Whether a job ran.
    """
    main = asyncio.ensure_future(worker.async_run())
    started = asyncio.ensure_future(worker.ctx["job_started"].wait())
    try:
        await asyncio.wait([main, started], timeout=idle_timeout_seconds,
                           return_when=asyncio.FIRST_COMPLETED)
        if not started.done() and not main.done():
            main.cancel()
            await asyncio.gather(main, return_exceptions=True)
            return False
        await main
        return bool(started.done())
    finally:
        started.cancel()


__all__ = ["build_worker", "new_worker_id", "run_worker"]

"""The arq function: ``run_job(ctx, job_id, trace=None)``."""

from __future__ import annotations

from typing import Any

import structlog
from arq import Retry

from orchestrator.errors import StateError
from worker.executor import JobExecutor
from worker.redis_health import RedisHealth

log = structlog.get_logger("worker.tasks")

RETRY_AFTER_REDIS_FAILURE_SECONDS = 1.0
"""The least delay before a run that Redis failed is tried again."""


async def run_job(
    ctx: dict[str, Any], job_id: str, trace: dict[str, str] | None = None
) -> str | None:
    """Run (or resume) one job; arq calls this with the ``ctx`` built at worker start-up.

    Args:
        ctx: arq's context; ``ctx["executor"]`` is this process's :class:`JobExecutor`.
        job_id: Our job id.
        trace: W3C trace context from the submit (used by telemetry hooks).

    Returns:
        The job's final status, or ``None`` when another worker runs it.

    Raises:
        arq.Retry: Redis failed under the run; arq runs it again after a backoff (from its
            checkpoints), unless a reaper resumes it first.
    """
    executor: JobExecutor = ctx["executor"]
    try:
        status = await executor.run(job_id)
    except StateError as exc:
        # Redis failed under the run. The arq job stays queued (a retry after a backoff, not
        # a failure with a traceback): the next run resumes from the checkpoints, or a reaper
        # does first once the lease lapses. Told to the worker's Redis health: a one-job pod
        # then exits non-zero.
        health: RedisHealth | None = ctx.get("health")
        delay = RETRY_AFTER_REDIS_FAILURE_SECONDS
        if health is not None:
            health.failed(exc, source="job")
            delay = max(delay, health.delay_seconds())
        log.warning("run interrupted by a redis failure; the job resumes from its checkpoints",
                    job_id=job_id, error=exc.message)  # fmt: skip
        raise Retry(defer=delay) from None
    return None if status is None else status.value


__all__ = ["run_job"]

"""The arq function: ``run_job(ctx, job_id, trace=None)``."""

from __future__ import annotations

from typing import Any

from worker.executor import JobExecutor


async def run_job(ctx: dict[str, Any], job_id: str, trace: dict[str, str] | None = None) -> str | None:
    """Run (or resume) one job; arq calls this with the ``ctx`` built at worker start-up.

    Args:
        ctx: arq's context; ``ctx["executor"]`` is this process's :class:`JobExecutor`.
        job_id: Our job id.
        trace: W3C trace context from the submit (used by telemetry hooks).

    Returns:
        The job's final status, or ``None`` when another worker runs it.
    """
    executor: JobExecutor = ctx["executor"]
    status = await executor.run(job_id)
    return None if status is None else status.value


__all__ = ["run_job"]

"""``GET /v1/jobs/{id}/trace``: the job's step-level waterfall from the trace store (DESIGN §5).

Support's one place for "what happened to job X": every step attempt with its times, worker,
status and error, and the trace id that opens the same job in the APM (``trace_url`` when
``ORCH_TELEMETRY__TRACE_URL_TEMPLATE`` is set). Step runs reach PostgreSQL in batches, so a
running job's last fraction of a second may be missing here while ``GET /v1/jobs/{id}`` has it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from gateway.auth import require
from gateway.deps import get_jobs
from orchestrator.auth import Permission
from orchestrator.jobs import Actor, JobService

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class AttemptTrace(BaseModel):
    """One step attempt of the waterfall."""

    step: str
    attempt: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    offset_ms: float | None = Field(description="Start, in ms after the job was submitted.")
    duration_ms: float | None
    worker_id: str | None
    error: dict[str, Any] | None
    output_bytes: int | None
    cache_hit: bool | None = None
    llm: dict[str, Any] | None = Field(
        default=None, description="This attempt's LLM calls: tokens, cost, fallbacks (DESIGN §16)."
    )


class JobTrace(BaseModel):
    """A job's step-level trace."""

    job_id: str
    workflow: str
    status: str
    trace_id: str | None = Field(description="W3C trace id of the submit: the job in the APM.")
    trace_url: str | None = Field(description="Link to the trace in the APM UI, if configured.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_wait_ms: float | None = Field(description="From submit to the first worker start.")
    duration_ms: float | None = Field(description="From submit to the end, if it ended.")
    steps: list[AttemptTrace] = Field(description="Every step attempt, by start time.")
    usage: dict[str, Any] | None = Field(
        default=None, description="The job's LLM calls in total and per step (DESIGN §16)."
    )


def _ms(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds() * 1000, 3)


@router.get(
    "/{job_id}/trace",
    response_model=JobTrace,
    responses={404: {"description": "Unknown job"}, 503: {"description": "A backing store is down"}},
)
async def job_trace(
    job_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> JobTrace:
    """The job's waterfall: each step attempt's start, end, attempt, worker, status and error."""
    row = await jobs.exists(job_id, actor)
    services = jobs.services
    runs = await services.trace.list_step_runs(row.id)
    live = await services.state.get_job(row.id)
    template = services.settings.telemetry.trace_url_template
    usage = await services.trace.job_usage(row.id)
    per_attempt = usage.pop("attempts")
    return JobTrace(
        job_id=row.id,
        workflow=row.workflow,
        status=live.status.value if live is not None else row.status.value,
        trace_id=row.trace_id,
        trace_url=template.format(trace_id=row.trace_id) if template and row.trace_id else None,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        queue_wait_ms=_ms(row.started_at, row.created_at),
        duration_ms=_ms(row.finished_at, row.created_at),
        steps=[
            AttemptTrace(
                step=r.step,
                attempt=r.attempt,
                status=r.status.value,
                started_at=r.started_at,
                finished_at=r.finished_at,
                offset_ms=_ms(r.started_at, row.created_at),
                duration_ms=r.duration_ms,
                worker_id=r.worker_id,
                error=r.error,
                output_bytes=r.output_bytes,
                cache_hit=getattr(r, "cache_hit", None),
                llm=per_attempt.get((r.step, r.attempt)),
            )
            for r in runs
        ],
        usage=usage,
    )


__all__ = ["router"]

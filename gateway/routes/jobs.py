"""``/v1/jobs``: submit, list, read, cancel, step output (DESIGN §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from gateway.deps import get_actor, get_jobs
from gateway.metrics import JOBS_SUBMITTED
from gateway.schemas import (
    CancelAccepted,
    JobAccepted,
    JobOut,
    JobPage,
    JobSummary,
    StepOutput,
    StepView,
    SubmitJob,
)
from orchestrator.jobs import Actor, JobService
from orchestrator.types import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown job"}, 503: {"description": "A backing store is down"}}


@router.post("", status_code=202, response_model=JobAccepted,
             responses={404: {"description": "Unknown workflow"}, 422: {"description": "Bad inputs"}})
async def submit_job(
    body: SubmitJob,
    response: Response,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(get_actor)],
) -> JobAccepted:
    """Validate the workflow and inputs, record the job, enqueue it; 202 with its id."""
    record = await jobs.submit(
        body.workflow, body.inputs, actor=actor, idempotency_key=body.idempotency_key
    )
    JOBS_SUBMITTED.labels(workflow=record.workflow).inc()
    response.headers["Location"] = f"/v1/jobs/{record.id}"
    return JobAccepted(
        job_id=record.id,
        status=record.status.value,
        workflow=record.workflow,
        created_at=record.created_at,
    )


@router.get("", response_model=JobPage)
async def list_jobs(
    jobs: Annotated[JobService, Depends(get_jobs)],
    status: JobStatus | None = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobPage:
    """Jobs, newest first, filtered by status, workflow and creation time."""
    rows, total = await jobs.services.trace.list_jobs(
        status=status.value if status else None,
        workflow=workflow,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        offset=offset,
    )
    items = [
        JobSummary(
            job_id=r.id,
            workflow=r.workflow,
            status=r.status.value,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
        )
        for r in rows
    ]
    return JobPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut, responses=_ERRORS)
async def get_job(job_id: str, jobs: Annotated[JobService, Depends(get_jobs)]) -> JobOut:
    """The job, its steps (status, attempts, timings, error) and its result."""
    view = await jobs.get(job_id)
    return JobOut(
        job_id=view.job_id,
        workflow=view.workflow,
        status=view.status,
        inputs=view.inputs,
        created_at=view.created_at,
        started_at=view.started_at,
        finished_at=view.finished_at,
        result=view.result,
        error=view.error,
        steps=[StepView(**s) for s in view.steps],
    )


@router.post("/{job_id}/cancel", status_code=202, response_model=CancelAccepted,
             responses={**_ERRORS, 409: {"description": "The job already finished"}})
async def cancel_job(
    job_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(get_actor)],
) -> CancelAccepted:
    """Cancel the job: at once if queued, cooperatively if running; 409 if it finished."""
    status = await jobs.cancel(job_id, actor=actor)
    return CancelAccepted(job_id=job_id, status=status)


@router.get("/{job_id}/steps/{step}/output", response_model=StepOutput, responses=_ERRORS)
async def step_output(
    job_id: str, step: str, jobs: Annotated[JobService, Depends(get_jobs)]
) -> StepOutput:
    """A step's checkpointed output."""
    return StepOutput(job_id=job_id, step=step, output=await jobs.output(job_id, step))


__all__ = ["router"]

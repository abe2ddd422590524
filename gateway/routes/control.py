"""``/v1/jobs/{id}/retry`` and ``/v1/jobs/{id}/input``: run control beyond submit and cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gateway.auth import require
from gateway.deps import get_jobs
from gateway.schemas import AnswerBody, InputAccepted, RetryAccepted
from orchestrator.auth import Permission
from orchestrator.jobs import Actor, JobService

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=RetryAccepted,
    responses={404: {"description": "Unknown job"},
               409: {"description": "The job is neither failed nor cancelled"}},
)
async def retry_job(
    job_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_RETRY))],
) -> RetryAccepted:
    """Queue a failed or cancelled job again; finished steps keep their checkpoints."""
    steps = await jobs.retry(job_id, actor=actor)
    return RetryAccepted(job_id=job_id, steps=steps)


@router.post(
    "/{job_id}/input",
    status_code=202,
    response_model=InputAccepted,
    responses={404: {"description": "Unknown job"},
               409: {"description": "The job is not waiting for that answer"},
               422: {"description": "The answer does not match the question's schema"}},
)
async def answer_job(
    job_id: str,
    body: AnswerBody,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_INPUT))],
) -> InputAccepted:
    """Answer a waiting job's question; the job is queued again and resumes."""
    step = await jobs.answer(job_id, body.answer, actor=actor, step=body.step)
    return InputAccepted(job_id=job_id, step=step)


__all__ = ["router"]

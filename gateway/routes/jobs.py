"""``/v1/jobs``: submit, list, read, cancel, step output (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from opentelemetry.trace import SpanKind
from pydantic import AwareDatetime

from gateway.auth import require
from gateway.budgets import check_budget
from gateway.cluster import delete_job_pod, get_cluster
from gateway.deps import get_jobs
from gateway.metrics import JOBS_SUBMITTED
from gateway.routes.flows import resolve_flow
from gateway.schemas import (
    NAME_PATTERN,
    CancelAccepted,
    JobAccepted,
    JobOut,
    JobPage,
    JobSummary,
    StepOutput,
    StepView,
    SubmitJob,
)
from gateway.security import STEP_PATTERN, check_inputs
from gateway.streaming.sse import event_stream
from orchestrator.auth import Permission
from orchestrator.jobs import Actor, JobService
from orchestrator.k8s import Cluster
from orchestrator.telemetry import attributes as attr
from orchestrator.telemetry import current as current_telemetry
from orchestrator.types import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown job"}, 503: {"description": "A backing store is down"}}


@router.post("", status_code=202, response_model=JobAccepted,
             responses={200: {"description": "With `Accept: text/event-stream`: the job's "
                                             "events (SSE), as GET /v1/jobs/{id}/events",
                              "content": {"text/event-stream": {}}},
                        404: {"description": "Unknown workflow"}, 422: {"description": "Bad inputs"}})
async def submit_job(
    body: SubmitJob,
    request: Request,
    response: Response,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT, rate="submit"))],
) -> Any:
    """Validate the workflow and inputs, record the job, enqueue it; 202 with its id.

    A repeated ``idempotency_key`` returns the first job, with ``Idempotent-Replayed: true``.
    With ``Accept: text/event-stream`` the answer is instead the job's event stream (200, SSE,
    ``Location`` naming the job; every event carries ``job_id``): one request from submit to
    result, with no second authentication and no race to subscribe. It takes a stream slot of
    the caller; a client that loses it resumes with ``GET /v1/jobs/{id}/events`` and
    ``Last-Event-ID``.

    The enqueue is a PRODUCER span (a child of the request's span); its W3C context travels
    with the job, so the worker's job span continues this trace (DESIGN §9).
    """
    check_inputs(body.inputs, jobs.services.settings.auth)
    await check_budget(jobs.services, actor)  # 429 budget_exceeded (DESIGN §16)
    flow = None
    if body.flow is not None:  # a flow tag or an inline flow, checked before anything runs
        flow = await resolve_flow(request, jobs.services, actor, body.flow)
    workflow = flow.name if flow is not None else str(body.workflow)
    telemetry = current_telemetry()
    with telemetry.tracer.start_as_current_span(
        f"enqueue {workflow}",
        kind=SpanKind.PRODUCER,
        attributes={
            attr.WORKFLOW: workflow,
            attr.MESSAGING_SYSTEM: "arq",
            attr.MESSAGING_OPERATION: "send",
            attr.MESSAGING_DESTINATION: jobs.services.settings.queue.name,
            attr.REQUEST_ID: actor.request_id or "",
        },
    ) as span:
        record, replayed = await jobs.submit_once(
            workflow, body.inputs, actor=actor, idempotency_key=body.idempotency_key,
            trace=telemetry.inject(span), priority=body.priority, version=body.version,
            flow=flow,
        )
        span.set_attribute(attr.JOB_ID, record.id)
        span.set_attribute(attr.MESSAGING_MESSAGE_ID, record.id)
    if replayed:  # a repeated idempotency key: the first job, not a new one
        response.headers["Idempotent-Replayed"] = "true"
    else:
        JOBS_SUBMITTED.labels(workflow=record.workflow).inc()
    response.headers["Location"] = f"/v1/jobs/{record.id}"
    if "text/event-stream" in request.headers.get("accept", ""):
        named = {k: v for k, v in response.headers.items()
                 if k.lower() in ("location", "idempotent-replayed")}
        return await event_stream(request, jobs.services, record.id, headers=named,
                                  new_job=not replayed)
    return JobAccepted(
        job_id=record.id,
        status=record.status.value,
        workflow=record.workflow,
        created_at=record.created_at,
    )


@router.get("", response_model=JobPage)
async def list_jobs(
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
    status: JobStatus | None = None,
    workflow: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobPage:
    """The caller's tenant's jobs (a submitter's own), newest first, filtered by status,
    workflow and creation time."""
    rows, total = await jobs.services.trace.list_jobs(
        tenant_id=None if actor.all_tenants else actor.tenant_id,
        user_id=actor.id if actor.own_jobs_only else None,
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
async def get_job(
    job_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> JobOut:
    """The job, its steps (status, attempts, timings, error) and its result."""
    view = await jobs.get(job_id, actor)
    usage = await jobs.services.trace.job_usage(view.job_id)
    usage.pop("attempts")
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
        questions=view.questions,
        blocked=view.blocked,
        version=view.version,
        usage=usage,
    )


@router.post("/{job_id}/cancel", status_code=202, response_model=CancelAccepted,
             responses={**_ERRORS, 409: {"description": "The job already finished"}})
async def cancel_job(
    job_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_CANCEL))],
    cluster: Annotated[Cluster, Depends(get_cluster)],
    hard: Annotated[bool, Query(description="Also delete the worker pod running the job "
                                "(in Kubernetes); the cooperative cancel is recorded first.")] = False,
) -> CancelAccepted:
    """Cancel the job: at once if queued, cooperatively if running; 409 if it finished.

    With ``hard=true`` and a running job, the worker pod running it is then deleted too.
    """
    status = await jobs.cancel(job_id, actor=actor)
    if hard and status == "cancelling":
        await delete_job_pod(jobs.services, cluster, job_id)
    return CancelAccepted(job_id=job_id, status=status)


@router.get("/{job_id}/steps/{step}/output", response_model=StepOutput, responses=_ERRORS)
async def step_output(
    job_id: str,
    step: Annotated[str, Path(pattern=STEP_PATTERN)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> StepOutput:
    """A step's checkpointed output."""
    return StepOutput(job_id=job_id, step=step, output=await jobs.output(job_id, step, actor))


__all__ = ["router"]

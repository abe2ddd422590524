"""``POST /v1/jobs/batch``: up to 1,000 jobs in one request, each answered on its own (issue 19).

Every item has the shape of ``POST /v1/jobs``'s body and gets its own answer, in order: its
job (``status_code`` 202, or 200 with ``replayed`` for a repeated idempotency key) or its error
(the status and the error envelope a single submit would have got). The request as a whole is
refused only for what concerns all items: authentication, permission, the submit rate limit
(counted once per item), a budget spent, more than 1,000 items (413 ``payload_too_large``), a
body that is not ``{"jobs": [...]}`` (422 ``request_invalid``), or a store that is down (503).

Audit: one ``job.submit`` row per created job (``details.batch = true``), written in the same
transaction as the jobs' rows, so the audit log reads the same whichever route made a job.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.auth import auth_of, principal_of, require
from gateway.budgets import check_budget
from gateway.deps import get_jobs
from gateway.errors import error_body, status_for
from gateway.metrics import JOBS_SUBMITTED
from gateway.schemas import API_VERSION, SubmitJob
from gateway.security import check_inputs
from orchestrator.auth import Permission
from orchestrator.errors import InputValidationError, OrchestratorError, PayloadTooLargeError
from orchestrator.jobs import Actor, JobService
from orchestrator.jobs.batch import MAX_BATCH_JOBS, BatchItem
from orchestrator.telemetry import attributes as attr
from orchestrator.telemetry import current as current_telemetry

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class ItemInvalidError(InputValidationError):
    """An item that is not a job's body (422 ``request_invalid``, as a single submit's)."""

    code = "request_invalid"


class SubmitBatch(BaseModel):
    """``POST /v1/jobs/batch``."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[dict[str, Any]] = Field(
        min_length=1,
        description=f"Up to {MAX_BATCH_JOBS} jobs, each the body of POST /v1/jobs.",
    )


class BatchItemOut(BaseModel):
    """The answer for one item."""

    index: int = Field(description="The item's position in the request, from 0.")
    status_code: int = Field(description="202 created, 200 replayed, or the error's status.")
    job_id: str | None = None
    status: str | None = None
    workflow: str | None = None
    created_at: Any = None
    replayed: bool = False
    error: dict[str, Any] | None = Field(default=None, description='{"code", "message", "details"}')


class BatchAccepted(BaseModel):
    """The answer to a batch: one item per job, in order."""

    jobs: list[BatchItemOut]
    accepted: int = Field(description="Items answered with a job (created or replayed).")
    refused: int = Field(description="Items answered with an error.")
    api_version: str = API_VERSION


@router.post("/batch", status_code=200, response_model=BatchAccepted,
             responses={413: {"description": f"More than {MAX_BATCH_JOBS} jobs"},
                        422: {"description": "Not a list of jobs"}})  # fmt: skip
async def submit_batch(
    body: SubmitBatch,
    request: Request,
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT))],
) -> BatchAccepted:
    """Validate each job, record and enqueue the valid ones together; answer each item."""
    if len(body.jobs) > MAX_BATCH_JOBS:
        raise PayloadTooLargeError(
            f"a batch carries at most {MAX_BATCH_JOBS} jobs; this one has {len(body.jobs)}",
            details={"max_jobs": MAX_BATCH_JOBS, "jobs": len(body.jobs)},
        )
    principal = await principal_of(request)
    if principal.method != "none":
        await auth_of(request).limits.hit("submit", principal, cost=len(body.jobs))
    await check_budget(jobs.services, actor)  # 429 budget_exceeded (DESIGN §16)
    settings = jobs.services.settings.auth
    items: list[BatchItem | OrchestratorError] = []
    for raw in body.jobs:
        try:
            one = SubmitJob.model_validate(raw)
            check_inputs(one.inputs, settings)
        except ValidationError as exc:
            items.append(ItemInvalidError("the job is invalid", details={"errors": [
                {"location": [str(p) for p in e["loc"]], "type": e["type"], "message": e["msg"]}
                for e in exc.errors()]}))  # fmt: skip
            continue
        except OrchestratorError as exc:
            items.append(exc)
            continue
        if one.workflow is None:  # a flow (issue 17) is submitted one at a time
            items.append(ItemInvalidError(
                "a batch takes workflows only; submit a flow with POST /v1/jobs",
                details={"field": "flow"},
            ))  # fmt: skip
            continue
        items.append(BatchItem(one.workflow, one.inputs, one.idempotency_key, one.priority,
                               one.version))  # fmt: skip
    telemetry = current_telemetry()
    with telemetry.tracer.start_as_current_span(
        "enqueue batch",
        kind=SpanKind.PRODUCER,
        attributes={
            attr.MESSAGING_SYSTEM: "arq",
            attr.MESSAGING_OPERATION: "send",
            attr.MESSAGING_DESTINATION: jobs.services.settings.queue.name,
            attr.REQUEST_ID: actor.request_id or "",
        },
    ) as span:
        results = await jobs.submit_batch(items, actor=actor, trace=telemetry.inject(span))
    out: list[BatchItemOut] = []
    submitted: Counter[str] = Counter()  # one metric update per workflow, not per job
    for i, r in enumerate(results):
        if r.record is not None:
            if not r.replayed:
                submitted[r.record.workflow] += 1
            out.append(BatchItemOut(
                index=i, status_code=200 if r.replayed else 202, job_id=r.record.id,
                status=r.record.status.value, workflow=r.record.workflow,
                created_at=r.record.created_at, replayed=r.replayed,
            ))  # fmt: skip
        else:
            assert r.error is not None
            err = r.error
            out.append(
                BatchItemOut(
                    index=i,
                    status_code=status_for(err),
                    error=error_body(err.code, err.message, err.details)["error"],
                )
            )
    for workflow, count in submitted.items():
        JOBS_SUBMITTED.labels(workflow=workflow).inc(count)
    accepted = sum(1 for o in out if o.error is None)
    return BatchAccepted(jobs=out, accepted=accepted, refused=len(out) - accepted)


__all__ = ["router"]

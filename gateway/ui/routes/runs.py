"""``/ui/runs``: the runs list (filtered, paginated, live) and a run's page and actions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from gateway.cluster import delete_job_pod, get_cluster
from gateway.deps import get_jobs
from gateway.schemas import NAME_PATTERN, STEP_PATTERN
from gateway.ui.deps import Acting, User, error_page, need
from gateway.ui.forms import fields_for, read_form
from gateway.ui.render import render
from gateway.ui.runview import build, text_of
from gateway.ui.session import UiUser
from orchestrator.auth import Permission
from orchestrator.errors import AnswerValidationError, OrchestratorError
from orchestrator.jobs import JobService
from orchestrator.k8s import Cluster
from orchestrator.types import JobStatus

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
BLOCKED_SCAN_MAX = 1000
"""With a blocked-reason filter, at most this many queued jobs are scanned (the reason lives in
Redis, not in the ``jobs`` table)."""
CHUNK_PAGE = 500

Jobs = Annotated[JobService, Depends(get_jobs)]


def _instant(value: str | None) -> datetime | None:
    """A ``datetime-local`` field (taken as UTC) or an ISO instant; ``None`` when blank/bad."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _page(jobs: JobService, user: UiUser, params: dict[str, Any]) -> dict[str, Any]:
    """The runs table's rows (with blocked reasons from Redis), total and filters."""
    actor = user.actor
    services = jobs.services
    status = params["status"] or None
    blocked = (params["blocked"] or "").strip()
    query: dict[str, Any] = dict(
        tenant_id=None if actor.all_tenants else actor.tenant_id,
        user_id=actor.id if actor.own_jobs_only else None,
        workflow=params["workflow"] or None,
        created_after=_instant(params["since"]), created_before=_instant(params["until"]),
    )  # fmt: skip
    offset = params["offset"]
    if blocked:
        rows, _ = await services.trace.list_jobs(status="queued", limit=BLOCKED_SCAN_MAX, **query)
        states = await asyncio.gather(*(services.state.get_job(r.id) for r in rows))
        matching = [
            (r, s)
            for r, s in zip(rows, states, strict=True)
            if s is not None and s.blocked and (blocked == "*" or blocked in s.blocked)
        ]
        total = len(matching)
        page = matching[offset : offset + PAGE_SIZE]
        items = [(r, s.blocked if s else None) for r, s in page]
    else:
        rows, total = await services.trace.list_jobs(
            status=status, limit=PAGE_SIZE, offset=offset, **query
        )
        queued = [r for r in rows if r.status is JobStatus.QUEUED]
        states = await asyncio.gather(*(services.state.get_job(r.id) for r in queued))
        reasons = {r.id: s.blocked for r, s in zip(queued, states, strict=True) if s is not None}
        items = [(r, reasons.get(r.id)) for r in rows]
    return {
        "items": items,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "filters": params,
        "workflows": [wf.name for wf in services.registry],
        "statuses": [s.value for s in JobStatus],
    }


def _params(
    status: str | None,
    workflow: str | None,
    since: str | None,
    until: str | None,
    blocked: str | None,
    offset: int,
) -> dict[str, Any]:
    return {
        "status": status if status in {s.value for s in JobStatus} else "",
        "workflow": workflow or "",
        "since": since or "",
        "until": until or "",
        "blocked": blocked or "",
        "offset": offset,
    }


Filter = Annotated[str | None, Query(max_length=200)]


@router.get("/ui/runs")
async def runs_page(
    request: Request,
    jobs: Jobs,
    user: User,
    status: Filter = None,
    workflow: Annotated[str | None, Query(max_length=200, pattern=f"{NAME_PATTERN}|^$")] = None,
    since: Filter = None,
    until: Filter = None,
    blocked: Filter = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The runs list; its table refreshes itself every 2 s (htmx polling of the fragment)."""
    need(user, Permission.JOB_READ)
    ctx = await _page(jobs, user, _params(status, workflow, since, until, blocked, offset))
    return render(request, "runs.html", user, **ctx)


@router.get("/ui/runs/table")
async def runs_table(
    request: Request,
    jobs: Jobs,
    user: User,
    status: Filter = None,
    workflow: Annotated[str | None, Query(max_length=200, pattern=f"{NAME_PATTERN}|^$")] = None,
    since: Filter = None,
    until: Filter = None,
    blocked: Filter = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The runs table alone (what the list page polls)."""
    need(user, Permission.JOB_READ)
    ctx = await _page(jobs, user, _params(status, workflow, since, until, blocked, offset))
    return render(request, "_runs_table.html", user, **ctx)


JobId = Annotated[str, Path(max_length=64)]
Step = Annotated[str, Path(pattern=STEP_PATTERN)]


@router.get("/ui/runs/{job_id}")
async def run_page(request: Request, job_id: JobId, jobs: Jobs, user: User) -> Response:
    """A run: DAG, waterfall, outputs, questions, actions; live while it runs."""
    need(user, Permission.JOB_READ)
    rv = await build(jobs, job_id, user.actor)
    return render(request, "run.html", user, rv=rv)


@router.get("/ui/runs/{job_id}/steps/{step}/output")
async def step_output(job_id: JobId, step: Step, jobs: Jobs, user: User) -> Response:
    """A step's full checkpointed output (JSON ``{"job_id", "step", "output"}``)."""
    need(user, Permission.JOB_READ)
    output = await jobs.output(job_id, step, user.actor)
    return JSONResponse({"job_id": job_id, "step": step, "output": output})


@router.get("/ui/runs/{job_id}/steps/{step}/chunks")
async def step_chunks(
    request: Request,
    job_id: JobId,
    step: Step,
    jobs: Jobs,
    user: User,
    after: Annotated[str | None, Query(max_length=40, pattern=r"^\d+-\d+$")] = None,
) -> Response:
    """A step's streamed chunks, :data:`CHUNK_PAGE` at a time (a run with 100,000 chunks is
    paged, never sent whole)."""
    need(user, Permission.JOB_READ)
    row = await jobs.exists(job_id, user.actor)
    chunks: list[tuple[str, str]] = []
    cursor = after
    while len(chunks) < CHUNK_PAGE:
        events = await jobs.services.state.read_events(row.id, after=cursor, count=1000)
        if not events:
            cursor = None
            break
        for e in events:
            cursor = e.id
            if e.type == "step.chunk" and e.step == step:
                chunks.append((e.id, text_of(e.data)))
                if len(chunks) >= CHUNK_PAGE:
                    break
    return render(
        request,
        "chunks.html",
        user,
        job_id=row.id,
        step=step,
        chunks=chunks,
        next_after=cursor if len(chunks) >= CHUNK_PAGE else None,
        after=after,
    )


async def _act(request: Request, job_id: str, work: Any) -> Response:
    """Run an action; back to the run page (303), or the run page with the error (4xx)."""
    try:
        await work
    except OrchestratorError as exc:
        user = getattr(request.state, "ui_user", None)
        return await error_page(request, user, exc, f"/ui/runs/{job_id}")
    return RedirectResponse(f"/ui/runs/{job_id}", status_code=303)


@router.post("/ui/runs/{job_id}/cancel")
async def cancel(
    request: Request,
    job_id: JobId,
    jobs: Jobs,
    user: Acting,
    cluster: Annotated[Cluster, Depends(get_cluster)],
) -> Response:
    """Cancel (form field ``hard=1``: also delete the worker pod, as the API's ``hard=true``)."""
    need(user, Permission.JOB_CANCEL)
    hard = (await request.form()).get("hard") == "1"
    request.state.ui_user = user

    async def work() -> None:
        status = await jobs.cancel(job_id, actor=user.actor)
        if hard and status == "cancelling":
            await delete_job_pod(jobs.services, cluster, job_id)

    return await _act(request, job_id, work())


@router.post("/ui/runs/{job_id}/retry")
async def retry(request: Request, job_id: JobId, jobs: Jobs, user: Acting) -> Response:
    """Retry a failed or cancelled run."""
    need(user, Permission.JOB_RETRY)
    request.state.ui_user = user
    return await _act(request, job_id, jobs.retry(job_id, actor=user.actor))


@router.post("/ui/runs/{job_id}/answer")
async def answer(request: Request, job_id: JobId, jobs: Jobs, user: Acting) -> Response:
    """Answer an open question from its generated form (field ``step`` names the question)."""
    need(user, Permission.JOB_INPUT)
    request.state.ui_user = user
    form = await request.form()
    step = form.get("step")
    view = await jobs.get(job_id, user.actor)
    question = next((q for q in view.questions if q.get("step") == step), None)
    schema = (question or {}).get("schema") or {}
    value, errors = read_form(fields_for(schema), form)
    if errors:
        exc = AnswerValidationError("the form has invalid fields", details={"errors": errors})
        return await _act(request, job_id, _raise(exc))
    return await _act(
        request,
        job_id,
        jobs.answer(job_id, value, actor=user.actor, step=step if isinstance(step, str) else None),
    )


async def _raise(exc: Exception) -> None:
    raise exc


__all__ = ["router"]

"""``/v1/tasks``: agent tasks with their routing decision, result, error and cost (DESIGN §17).

A task's status is its job's (``queued``, ``running``, ``waiting``, ``succeeded``, ``failed``,
``cancelled``) and its ``result`` the ``AgentOutput``. Tenant-scoped like the job routes; a
submitter sees only its own tasks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from starlette.responses import Response

from gateway.auth import require
from gateway.deps import get_jobs
from gateway.routes.agent import agent_store
from gateway.schemas import API_VERSION
from gateway.streaming.sse import event_stream
from orchestrator.agents.errors import TaskNotFoundError
from orchestrator.agents.store import AgentStore, TaskRow
from orchestrator.auth import Permission
from orchestrator.errors import OutputNotFoundError
from orchestrator.jobs import Actor, JobService
from orchestrator.types import JobStatus

router = APIRouter(prefix="/v1/tasks", tags=["agents"])


class Routing(BaseModel):
    """The router's decision."""

    agent_name: str | None = Field(description="The agent the router named.")
    accepted: bool | None = Field(description="Whether it passed ORCH_AGENTS__MIN_CONFIDENCE.")
    confidence: float | None
    reasoning: str | None
    routed_at: datetime | None


class TaskOut(BaseModel):
    """``GET /v1/tasks/{id}``."""

    task_id: str
    session_id: str | None
    task: str
    status: str
    selected_agent: str | None = Field(description="The agent that runs (ran) the task.")
    agent_type: str | None = Field(description="Same as selected_agent (seed 001's name).")
    routing: Routing
    result: Any = Field(default=None, description="The AgentOutput once the agent replied.")
    error: Any = Field(default=None, description="{code, message, details} of a failed task.")
    usage: dict[str, Any] | None = Field(default=None, description="LLM tokens and cost (USD).")
    cost_usd: float | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    api_version: str = API_VERSION


class TaskSummary(BaseModel):
    """A task in a list."""

    task_id: str
    session_id: str | None
    status: str
    selected_agent: str | None
    agent_type: str | None
    confidence: float | None
    created_at: datetime


class TaskPage(BaseModel):
    """``GET /v1/tasks``."""

    items: list[TaskSummary]
    total: int
    limit: int
    offset: int


async def _own_row(store: AgentStore, task_id: str, actor: Actor) -> TaskRow:
    row = await store.get(task_id, tenant_id=None if actor.all_tenants else actor.tenant_id)
    if row is None or (actor.own_jobs_only and not actor.all_tenants and row.user_id != actor.id):
        raise TaskNotFoundError(f"no task {task_id!r}", details={"task_id": task_id})
    return row


@router.get("/{task_id}", response_model=TaskOut, responses={404: {"description": "Unknown task"}})
async def get_task(
    task_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    store: Annotated[AgentStore, Depends(agent_store)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> TaskOut:
    """The task: status, routing decision, result (``AgentOutput``), error, usage and cost."""
    row = await _own_row(store, task_id, actor)
    view = await jobs.get(row.task_id, actor)
    result = row.result
    if result is None and view.status == JobStatus.SUCCEEDED.value:
        try:
            result = await jobs.output(row.task_id, "run_agent", actor)
        except OutputNotFoundError:
            result = None
    usage = await jobs.services.trace.job_usage(row.task_id)
    usage.pop("attempts", None)
    return TaskOut(
        task_id=row.task_id, session_id=row.session_id, task=row.task, status=view.status,
        selected_agent=_selected(row), agent_type=_selected(row),
        routing=Routing(agent_name=row.selected_agent, accepted=row.accepted,
                        confidence=row.confidence,
                        reasoning=row.reasoning, routed_at=row.routed_at),
        result=result, error=_step_error(view.error), usage=usage,
        cost_usd=usage.get("cost_usd"), created_at=row.created_at, started_at=view.started_at,
        finished_at=view.finished_at,
    )  # fmt: skip


@router.get("", response_model=TaskPage)
async def list_tasks(
    store: Annotated[AgentStore, Depends(agent_store)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
    status: JobStatus | None = None,
    agent_type: Annotated[str | None, Query(max_length=200)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TaskPage:
    """The caller's tenant's tasks (a submitter's own), newest first, filtered by status,
    agent and creation time (``since`` inclusive, ``until`` exclusive)."""
    rows, total = await store.list_tasks(
        tenant_id=None if actor.all_tenants else actor.tenant_id,
        user_id=actor.id if actor.own_jobs_only and not actor.all_tenants else None,
        status=status.value if status else None, agent_type=agent_type, since=since,
        until=until, limit=limit, offset=offset,
    )  # fmt: skip
    items = [TaskSummary(task_id=r.task_id, session_id=r.session_id, status=r.status,
                         selected_agent=_selected(r), agent_type=_selected(r),
                         confidence=r.confidence, created_at=r.created_at) for r in rows]  # fmt: skip
    return TaskPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{task_id}/events", response_class=Response,
            responses={200: {"content": {"text/event-stream": {}}}, 404: {"description": "Unknown task"}})  # fmt: skip
async def task_events(
    request: Request,
    task_id: str,
    jobs: Annotated[JobService, Depends(get_jobs)],
    store: Annotated[AgentStore, Depends(agent_store)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ, rate="stream", query_token=True))],
) -> Response:
    """The task's job's events (SSE) from the start: ``agent.*`` progress, the reply's
    ``step.chunk``s, the end. Resuming with ``Last-Event-ID``: ``/v1/jobs/{id}/events``."""
    row = await _own_row(store, task_id, actor)
    await jobs.exists(row.task_id, actor)
    return await event_stream(request, jobs.services, row.task_id, None, query_token=True)


def _selected(row: TaskRow) -> str | None:
    """The agent that runs the task: the router's choice when it passed the threshold."""
    return row.selected_agent if row.accepted else None


def _step_error(error: Any) -> Any:
    """The failing step's error (``unknown_task_type``, ``envelope_invalid``, ...) when the
    job's error wraps one, else the job's error."""
    if isinstance(error, dict):
        inner = (error.get("details") or {}).get("error")
        if isinstance(inner, dict) and "code" in inner:
            return inner
    return error


__all__ = ["router"]

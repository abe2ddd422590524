"""``POST /v1/agent/execute`` and ``GET /v1/agents`` (DESIGN §17, seed ``001`` shapes).

A task is a job of the built-in ``agent`` workflow (``task_id = job_id``): roles, audit, budgets,
events and cancel are the job's. The task's events are the job's (``/v1/jobs/{id}/events``, its
WebSocket, or ``/v1/tasks/{id}/events``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from gateway.auth import require
from gateway.budgets import check_budget
from gateway.deps import get_jobs
from gateway.metrics import JOBS_SUBMITTED
from gateway.routes.sessions import Sessions
from gateway.schemas import API_VERSION
from orchestrator.agents.errors import TaskEmptyError, TaskTooLongError
from orchestrator.agents.registry import AgentRegistry
from orchestrator.agents.store import AgentStore
from orchestrator.agents.workflow import AGENT_WORKFLOW
from orchestrator.auth import Permission
from orchestrator.jobs import Actor, JobService
from orchestrator.telemetry import current as current_telemetry

router = APIRouter(tags=["agents"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown session (session_not_found) or agent (agent_not_found)"},
    422: {"description": "Empty task (task_empty) or too long (task_too_long)"},
    429: {"description": "Over budget (budget_exceeded)"},
}


class ExecuteTask(BaseModel):
    """``POST /v1/agent/execute``."""

    task: str = Field(description="What the user wants, in natural language.")
    session_id: str | None = Field(default=None, max_length=200,
                                   description="The session the task belongs to.")  # fmt: skip
    agent: str | None = Field(default=None, max_length=200,
                              description="Skip the router: run this registered agent.")  # fmt: skip


class TaskAccepted(BaseModel):
    """202 answer to ``POST /v1/agent/execute``."""

    task_id: str | None = Field(
        description="The task's id (its job's); null when the session queued the message behind "
        "its running task (on_busy=enqueue): it starts when that task ends."
    )
    session_id: str | None
    status: str
    queued_at: datetime
    message: str
    api_version: str = API_VERSION


class AgentInfo(BaseModel):
    """A registered agent."""

    name: str
    description: str
    model: str | None
    intent: str | None
    tools: list[str]


def agent_registry(conn: HTTPConnection) -> AgentRegistry:
    """The gateway's agent registry (loaded once, like the worker's)."""
    registry: AgentRegistry | None = getattr(conn.app.state, "agents", None)
    if registry is None:
        registry = AgentRegistry.load(conn.app.state.services.settings.agents.modules)
        conn.app.state.agents = registry
    return registry


def agent_store(conn: HTTPConnection) -> AgentStore:
    """``agent_runs``/``messages`` on the trace store's engine."""
    return AgentStore(conn.app.state.services.trace.engine)


@router.post("/v1/agent/execute", status_code=202, response_model=TaskAccepted, responses=_ERRORS)
async def execute(
    body: ExecuteTask,
    jobs: Annotated[JobService, Depends(get_jobs)],
    agents: Annotated[AgentRegistry, Depends(agent_registry)],
    store: Annotated[AgentStore, Depends(agent_store)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT, rate="submit"))],
    sessions: Sessions,
) -> TaskAccepted:
    """Queue a task: the router picks an agent, the agent runs as a job; 202 with its id.

    With ``session_id`` the task is a message of that session (DESIGN §18): it runs the
    session's workflow with the session's history, its events join the session's stream, and a
    session that is busy follows its ``on_busy`` policy (``agent`` is then left to the router).

    Errors: ``task_empty``/``task_too_long`` (422), ``session_not_found`` (404),
    ``session_busy`` (409, ``on_busy=reject``), ``agent_not_found`` (404),
    ``budget_exceeded`` (429).
    """
    services = jobs.services
    limit = services.settings.agents.max_task_chars
    if not body.task.strip():
        raise TaskEmptyError("the task is empty", details={"field": "task"})
    if len(body.task) > limit:
        raise TaskTooLongError(f"the task is longer than {limit} characters",
                               details={"field": "task", "max_chars": limit,
                                        "chars": len(body.task)})  # fmt: skip
    if body.session_id is not None:
        await check_budget(services, actor)
        outcome = await sessions.message(actor, body.session_id, body.task)
        task_id = outcome.get("task_id")
        return TaskAccepted(
            task_id=task_id, session_id=body.session_id,
            status="queued" if task_id is not None else "enqueued",
            queued_at=datetime.now(UTC),
            message=f"Session {body.session_id}: {outcome['action']}; follow it at "
                    f"/v1/sessions/{body.session_id}/events.",
        )  # fmt: skip
    if body.agent is not None:
        agents.get(body.agent)  # agent_not_found
    await check_budget(services, actor)
    inputs: dict[str, Any] = {"task": body.task}
    if body.session_id is not None:
        inputs["session_id"] = body.session_id
    if body.agent is not None:
        inputs["agent"] = body.agent
    telemetry = current_telemetry()
    with telemetry.tracer.start_as_current_span(f"enqueue {AGENT_WORKFLOW}") as span:
        record = await jobs.submit(
            AGENT_WORKFLOW, inputs, actor=actor, trace=telemetry.inject(span)
        )
    JOBS_SUBMITTED.labels(workflow=AGENT_WORKFLOW).inc()
    await store.create(record.id, task=body.task, tenant_id=actor.tenant_id, user_id=actor.id,
                       session_id=body.session_id)  # fmt: skip
    return TaskAccepted(
        task_id=record.id, session_id=body.session_id, status=record.status.value,
        queued_at=record.created_at,
        message=f"Task queued; follow it at /v1/tasks/{record.id} (events: "
                f"/v1/tasks/{record.id}/events).",
    )  # fmt: skip


@router.get("/v1/agents", response_model=list[AgentInfo])
async def list_agents(
    agents: Annotated[AgentRegistry, Depends(agent_registry)],
    actor: Annotated[Actor, Depends(require(Permission.WORKFLOW_READ))],
) -> list[AgentInfo]:
    """The registered agents (what the router chooses from)."""
    return [AgentInfo(name=a.name, description=a.description, model=a.model, intent=a.intent,
                      tools=list(a.tools)) for a in agents]  # fmt: skip


__all__ = ["agent_registry", "agent_store", "router"]

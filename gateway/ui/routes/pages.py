"""``/ui/workflows`` (DAG and run form), ``/ui/system`` and ``/ui/audit`` (admins)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from gateway.cluster import cluster_metrics, get_cluster
from gateway.deps import get_jobs
from gateway.schemas import NAME_PATTERN
from gateway.security import check_inputs
from gateway.ui.deps import Acting, User, error_page, need
from gateway.ui.forms import fields_for, read_form
from gateway.ui.layout import layout
from gateway.ui.render import render
from orchestrator.auth import Permission
from orchestrator.errors import InputValidationError, OrchestratorError
from orchestrator.jobs import JobService
from orchestrator.k8s import Cluster

router = APIRouter(include_in_schema=False)

Jobs = Annotated[JobService, Depends(get_jobs)]
Name = Annotated[str, Path(pattern=NAME_PATTERN)]
AUDIT_PAGE = 50


@router.get("/ui/workflows")
async def workflows_page(request: Request, jobs: Jobs, user: User) -> Response:
    """Every registered workflow."""
    need(user, Permission.WORKFLOW_READ)
    items = [wf.describe() for wf in jobs.services.registry]
    return render(request, "workflows.html", user, items=items)


@router.get("/ui/workflows/{name}")
async def workflow_page(request: Request, name: Name, jobs: Jobs, user: User) -> Response:
    """A workflow's DAG and a run form generated from its inputs schema."""
    need(user, Permission.WORKFLOW_READ)
    wf = jobs.services.registry.get(name).describe()
    return render(
        request, "workflow.html", user, wf=wf, graph=layout(wf), fields=fields_for(wf["inputs"])
    )


@router.post("/ui/workflows/{name}/run")
async def run_workflow(request: Request, name: Name, jobs: Jobs, user: Acting) -> Response:
    """Submit the workflow with the form's inputs (audited as ``job.submit``, rate-limited as
    the API's submits); 303 to the new run's page."""
    need(user, Permission.JOB_SUBMIT)
    wf = jobs.services.registry.get(name).describe()
    inputs, errors = read_form(fields_for(wf["inputs"]), await request.form())
    try:
        if errors:
            raise InputValidationError("the form has invalid fields", details={"errors": errors})
        if not isinstance(inputs, dict):
            raise InputValidationError("inputs must be an object", details={})
        check_inputs(inputs, jobs.services.settings.auth)
        principal = user.session.principal
        if principal.method != "none":
            await request.app.state.auth.limits.hit("submit", principal)
        record = await jobs.submit(name, inputs, actor=user.actor)
    except OrchestratorError as exc:
        return await error_page(request, user, exc, f"/ui/workflows/{name}")
    return RedirectResponse(f"/ui/runs/{record.id}", status_code=303)


@router.get("/ui/system")
async def system_page(
    request: Request,
    jobs: Jobs,
    user: User,
    cluster: Annotated[Cluster, Depends(get_cluster)],
) -> Response:
    """Queue depth, jobs by status, step latency percentiles (``/v1/system/metrics``'s data)."""
    need(user, Permission.SYSTEM_READ)
    services = jobs.services
    depth, by_status, latency, k8s = await asyncio.gather(
        services.queue.depth(), services.trace.count_jobs_by_status(),
        services.trace.step_latency_summary(), cluster_metrics(cluster),
    )  # fmt: skip
    return render(
        request, "system.html", user, depth=depth, by_status=by_status, latency=latency, k8s=k8s
    )


@router.get("/ui/audit")
async def audit_page(
    request: Request,
    jobs: Jobs,
    user: User,
    action: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The tenant's audit log, newest first (admins)."""
    need(user, Permission.AUDIT_READ)
    actor = user.actor
    rows, total = await jobs.services.trace.list_audit(
        tenant_id=None if actor.all_tenants else actor.tenant_id, action=action or None,
        job_id=None, actor=None, since=None, until=None, limit=AUDIT_PAGE, offset=offset,
    )  # fmt: skip
    ctx: dict[str, Any] = {"rows": rows, "total": total, "offset": offset, "action": action or "",
                           "page_size": AUDIT_PAGE}  # fmt: skip
    return render(request, "audit.html", user, **ctx)


__all__ = ["router"]

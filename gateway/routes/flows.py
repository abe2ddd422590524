"""``/v1/flows``: the flow tags the caller may run, and checking a flow without running it.

Running one is ``POST /v1/jobs {"flow": "<tag>" | {...definition...}, "inputs": {...}}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from gateway.auth import require
from gateway.deps import get_services
from orchestrator.auth import Permission
from orchestrator.flows import FlowWorkflow, flow_json_schema
from orchestrator.flows.validate import flow_of_tag, runnable_flows, validate_flow_for
from orchestrator.jobs import Actor
from orchestrator.services import Services

router = APIRouter(prefix="/v1/flows", tags=["flows"])


def _tools(request: Request) -> Any:
    """The gateway's MCP plane, when it has servers (else tools are not checked for existence)."""
    manager = getattr(request.app.state, "tools", None)
    return manager if getattr(manager, "servers", None) else None


async def resolve_flow(
    request: Request, services: Services, actor: Actor, flow: str | dict[str, Any]
) -> FlowWorkflow:
    """The compiled flow a submit names: a flow tag's current version, or an inline definition;
    validated for ``actor`` (tool policy, tools known to the MCP plane) before anything runs.

    Raises:
        TagNotFoundError: 404, no flow tag of that name the actor may run.
        DagError: 422 naming the step and field. ToolForbiddenError: 403 naming the step.
    """
    if isinstance(flow, str):
        wf, _ = await flow_of_tag(services, actor, flow, tools=_tools(request))
        return wf
    return await validate_flow_for(actor, flow, services=services, tools=_tools(request))


class FlowOut(BaseModel):
    """A flow tag the caller may run."""

    name: str = Field(description='The tag\'s name (`POST /v1/jobs {"flow": name}`).')
    title: str
    description: str
    version: int = Field(description="The tag's current version.")
    inputs: dict[str, Any] = Field(description="JSON Schema of the flow's inputs.")
    tools: list[str] = Field(description="The tools its steps call.")


def _describe(tag: Any, wf: FlowWorkflow | None) -> FlowOut:
    meta = tag.tag.payload.meta
    return FlowOut(
        name=tag.name, title=meta.title, description=meta.description, version=tag.version,
        inputs=wf.input_schema if wf is not None else {},
        tools=sorted(set(wf.tools.values())) if wf is not None else [],
    )  # fmt: skip


@router.get("", response_model=dict[str, list[FlowOut]])
async def list_flows(
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT))],
) -> dict[str, list[FlowOut]]:
    """The flow tags assigned to the caller (user or role) in its tenant."""
    from orchestrator.errors import DagError
    from orchestrator.flows import compile_flow

    out = []
    for tag in await runnable_flows(services, actor):
        try:
            wf: FlowWorkflow | None = compile_flow(tag.tag.payload.content, name=f"flow:{tag.name}")
        except DagError:  # stored before validation existed; listed, not runnable
            wf = None
        out.append(_describe(tag, wf))
    return {"flows": out}


@router.get("/schema")
async def flow_schema(
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> dict[str, Any]:
    """The JSON Schema of the flow definition format (for editors and LLM prompts)."""
    return flow_json_schema()


@router.post("/validate")
async def validate_flow(
    body: dict[str, Any],
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT))],
) -> dict[str, Any]:
    """Check a flow definition for the caller as a submit would, without running it: 200 with
    the compiled DAG, 422 ``dag_invalid`` naming the step and field, 403 ``tool_forbidden``."""
    wf = await validate_flow_for(actor, body, services=services, tools=_tools(request))
    return wf.describe()


@router.get("/{name}", response_model=FlowOut)
async def get_flow(
    name: str,
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT))],
) -> FlowOut:
    """One flow tag the caller may run (404 ``tag_not_found`` otherwise)."""
    wf, tag = await flow_of_tag(services, actor, name)
    return _describe(tag, wf)


__all__ = ["resolve_flow", "router"]

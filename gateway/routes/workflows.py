"""``/v1/workflows``: registered workflows with their DAG."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from gateway.auth import require
from gateway.deps import get_services
from gateway.security import NAME_PATTERN
from orchestrator.auth import Permission
from orchestrator.services import Services

router = APIRouter(
    prefix="/v1/workflows", tags=["workflows"],
    dependencies=[Depends(require(Permission.WORKFLOW_READ))],
)


@router.get("")
async def list_workflows(services: Annotated[Services, Depends(get_services)]) -> dict[str, Any]:
    """Every registered workflow: nodes with their options, edges, sinks, inputs schema."""
    return {"items": [wf.describe() for wf in services.registry]}


@router.get("/{name}", responses={404: {"description": "Unknown workflow"}})
async def get_workflow(
    name: Annotated[str, Path(pattern=NAME_PATTERN)],
    services: Annotated[Services, Depends(get_services)],
) -> dict[str, Any]:
    """One workflow's DAG."""
    return services.registry.get(name).describe()


__all__ = ["router"]

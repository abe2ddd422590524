"""``GET /v1/usage``: LLM tokens and cost summed by model, workflow, tenant, user or day (DESIGN §16).

Tenant-scoped like the job routes: a caller sees its tenant's calls, a submitter only its own;
the permission is ``job.read`` (every role that sees jobs sees what they cost).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from gateway.auth import require
from gateway.deps import get_services
from orchestrator.auth import Permission
from orchestrator.jobs import Actor
from orchestrator.services import Services

router = APIRouter(prefix="/v1/usage", tags=["usage"])


class UsageGroup(BaseModel):
    """The sums of one group."""

    key: str | None = Field(
        description="The model (provider:model), workflow, tenant, user or UTC day (YYYY-MM-DD)."
    )
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    cost_usd: float = Field(description="Sum of the priced calls, USD (genai-prices).")
    unpriced_calls: int = Field(description="Calls of models without a known price (cost null).")


class UsageReport(BaseModel):
    """``GET /v1/usage``."""

    group_by: str
    since: AwareDatetime | None
    until: AwareDatetime | None
    groups: list[UsageGroup]
    total: dict[str, Any] = Field(description="The groups added up.")


@router.get("", response_model=UsageReport)
async def usage(
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
    group_by: Literal["model", "workflow", "tenant", "user", "day"] = "model",
    since: Annotated[AwareDatetime | None, Query(description="At or after (ISO 8601).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Strictly before (ISO 8601).")] = None,
) -> UsageReport:
    """LLM calls of the caller's tenant (a submitter's own), summed per group."""
    groups = await services.trace.usage_report(
        group_by=group_by,
        tenant_id=None if actor.all_tenants else actor.tenant_id,
        user_id=actor.id if actor.own_jobs_only else None,
        since=since,
        until=until,
    )
    total: dict[str, Any] = {"calls": 0, "input_tokens": 0, "output_tokens": 0,
                             "cache_read_tokens": 0, "cache_write_tokens": 0, "total_tokens": 0,
                             "cost_usd": 0.0, "unpriced_calls": 0}  # fmt: skip
    for group in groups:
        for name in total:
            total[name] += group[name]
    total["cost_usd"] = round(total["cost_usd"], 9)
    return UsageReport(group_by=group_by, since=since, until=until,
                       groups=[UsageGroup(**g) for g in groups], total=total)  # fmt: skip


__all__ = ["router"]

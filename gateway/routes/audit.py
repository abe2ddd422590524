"""``GET /v1/audit``: the audit log of the caller's tenant, for admins, filtered and paginated.

Every mutating call and every refused one writes a row (docs/security.md). An admin sees its own
tenant's rows only; the whole log (every tenant, and refusals with no tenant, such as bad
credentials) is read in the database, by the platform's operators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from gateway.auth import require
from gateway.deps import get_services
from orchestrator.auth import Permission
from orchestrator.jobs import Actor
from orchestrator.services import Services

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""No control characters: PostgreSQL refuses NUL in text, which must be a 422, not a 503."""

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEntry(BaseModel):
    """One audit row."""

    id: int | None
    at: datetime
    actor: str = Field(description="`key:<id>`, `user:<sub>`, `cli`, or `unauthenticated`.")
    tenant_id: str | None
    action: str = Field(description="`job.submit`, `job.cancel`, `job.read`, `key.create`, ...")
    job_id: str | None
    details: dict[str, Any] | None = Field(
        description="Context; refusals carry `outcome` (`denied`/`rejected`), `status`, `code`."
    )
    request_id: str | None
    client_ip: str | None


class AuditPage(BaseModel):
    """``GET /v1/audit``."""

    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


@router.get("", response_model=AuditPage)
async def list_audit(
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.AUDIT_READ))],
    action: Annotated[str | None, Query(max_length=100, pattern=PRINTABLE)] = None,
    job_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    by: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="Only this actor.")
    ] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """The tenant's audit rows, newest first, by action, job, actor and time range."""
    rows, total = await services.trace.list_audit(
        tenant_id=None if actor.all_tenants else actor.tenant_id,
        action=action, job_id=job_id, actor=by, since=since, until=until,
        limit=limit, offset=offset,
    )  # fmt: skip
    items = [
        AuditEntry(id=r.id, at=r.at, actor=r.actor, tenant_id=r.tenant_id, action=r.action,
                   job_id=r.job_id, details=r.details, request_id=r.request_id,
                   client_ip=r.client_ip)
        for r in rows
    ]  # fmt: skip
    return AuditPage(items=items, total=total, limit=limit, offset=offset)


__all__ = ["router"]

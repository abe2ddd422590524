"""``GET /v1/policy/effective``: what a principal of the caller's tenant may do with tools, and
the system prompt it gets (for support; admins only).

The principal is ``user`` (default: the caller) with ``role`` (default: the caller's role when
``user`` is the caller, else none: only user assignments and company tags count) in the caller's
tenant, for ``intent``. With ``tool`` (repeatable: names of known tools, ``server/tool``), the answer
also says which of them the principal sees, and which tag hides each of the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from gateway.auth import require
from gateway.deps import get_services
from orchestrator.auth import Permission
from orchestrator.flows.validate import runnable_flows
from orchestrator.jobs import Actor
from orchestrator.services import Services

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (PostgreSQL refuses NUL in text: a 422, not a 503)."""

router = APIRouter(prefix="/v1/policy", tags=["policy"])


class HiddenTool(BaseModel):
    """A tool the principal does not see, and why."""

    tool: str
    tag: str = Field(description="The deciding tag, or `default`.")
    reason: str


class EffectivePolicyOut(BaseModel):
    """A principal's effective tag policy for an intent."""

    tenant_id: str
    user_id: str | None
    role: str | None
    intent: str | None
    default_policy: str = Field(description="`allow` or `deny`: for tools no tag decides.")
    tags: list[dict[str, Any]] = Field(description="Tags that applied, in resolution order.")
    allowed: list[dict[str, Any]] = Field(description="`{pattern, tag}` grants.")
    denied: list[dict[str, Any]] = Field(description="`{pattern, tag}` denials (they win).")
    scopes: list[dict[str, Any]] = Field(description="`{pattern, tag, schema}` argument scopes.")
    prompt: str = Field(description="The assembled system prompt (company, role, function, flow).")
    generation: int
    visible: list[str] | None = Field(default=None, description="Of the `tool`s given: visible.")
    hidden: list[HiddenTool] | None = Field(default=None, description="Of them: hidden, and why.")
    flows: list[str] = Field(default_factory=list,
                             description="The flow tags the principal may run (GET /v1/flows).")


@router.get("/effective", response_model=EffectivePolicyOut)
async def effective_policy(
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.POLICY_READ))],
    user: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=PRINTABLE,
            description="A user id (default: the caller).",
        ),
    ] = None,
    role: Annotated[str | None, Query(min_length=1, max_length=50, pattern=PRINTABLE)] = None,
    intent: Annotated[str | None, Query(min_length=1, max_length=200, pattern=PRINTABLE)] = None,
    tool: Annotated[
        list[str] | None, Query(max_length=500, description="Known tool names.")
    ] = None,
) -> EffectivePolicyOut:
    """Resolve the principal's policy (through the cache, as a tool call would)."""
    subject = user or actor.id
    if role is None and subject == actor.id:
        role = actor.role
    principal = Actor(id=subject, tenant_id=actor.tenant_id, role=role)
    policy = await services.tags.policy.effective(principal, intent=intent)
    out = EffectivePolicyOut(**policy.to_json())
    out.flows = [t.name for t in await runnable_flows(services, principal)]
    if tool is not None:
        decisions = [(t[:300], policy.decide(t[:300])) for t in tool]
        out.visible = [t for t, d in decisions if d.allowed]
        out.hidden = [HiddenTool(tool=t, tag=d.tag, reason=d.reason)
                      for t, d in decisions if not d.allowed]  # fmt: skip
    return out


__all__ = ["router"]

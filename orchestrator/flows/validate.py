"""Validate a flow for an actor before any step runs; the flow tags an actor may run.

One decision per tool step, the same one the worker makes for each call (the actor's tag
policy, ``decide(actor, tool, None, intent=<the job's workflow name>)``): a flow calling a tool outside the actor's tags is
refused here (``tool_forbidden``, audited as ``tool.refused`` naming the step), not half-way
through its run. An inline flow (proposed by an LLM, or posted by a client) and a flow tag go
through the same check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.errors import DagError, TagNotFoundError, ToolError, ToolNotFoundError
from orchestrator.flows.compiler import FLOW_PREFIX, FlowWorkflow, compile_flow
from orchestrator.jobs.actor import Actor

if TYPE_CHECKING:
    from orchestrator.mcp.base import ToolPlane
    from orchestrator.services import Services
    from orchestrator.tags.base import StoredTag

log = structlog.get_logger("orchestrator.flows")


async def validate_flow_for(
    actor: Actor,
    definition: Any,
    *,
    services: Services,
    tools: ToolPlane | None = None,
    name: str = f"{FLOW_PREFIX}inline",
    audit: bool = True,
    job_id: str | None = None,
) -> FlowWorkflow:
    """Compile ``definition`` and check that ``actor`` may run every tool it calls.

    Args:
        actor: Who will run it (the job's submitter).
        definition: The flow (DESIGN §20's format), untrusted JSON.
        services: For the tag policy and the audit log.
        tools: The MCP tool plane; when given, every tool step's tool must exist in it.
        name: The workflow name its job will carry (``flow:<tag>`` or ``flow:inline``).
        audit: Write a ``tool.refused`` row for a refusal (not when merely listing flows).
        job_id: The job asking (an agent's, whose plan names the flow), for the audit row.

    Returns:
        The compiled flow, ready for :meth:`JobSubmission.submit_once` (``flow=``).

    Raises:
        DagError: 422 ``dag_invalid`` naming ``details["step"]`` and ``details["field"]``
            (also for an unknown tool: field ``tool``).
        ToolForbiddenError: 403 ``tool_forbidden``: a tool step's tool is outside the actor's
            tags (``details``: ``step``, ``tool``, the deciding ``tag``).
    """
    from orchestrator.tags.policy import forbidden, refusal_audit

    wf = compile_flow(definition, name=name)
    for step, tool in wf.tools.items():
        # the decision a worker makes for the call: the job's workflow name is the intent
        decision = await services.tags.policy.decide(actor, tool, None, intent=name)
        if not decision.allowed and not audit:
            raise forbidden(tool, decision)
        if not decision.allowed:
            try:
                record = refusal_audit(actor, tool, decision, intent=name, step=step,
                                       job_id=job_id)  # fmt: skip
                await services.trace.add_audit(record)
            except Exception as exc:  # the refusal stands without its audit row
                log.warning("tool.refused audit row not written", error=str(exc))
            error = forbidden(tool, decision)
            error.details.update({"step": step, "field": "tool", "workflow": name})
            raise error
        if tools is not None:
            try:
                await tools.tool(tool)
            except ToolNotFoundError:
                raise DagError(
                    f"step {step!r}: tool: no MCP server offers {tool!r}",
                    details={"step": step, "field": "tool", "parameter": "tool", "tool": tool},
                ) from None
            except ToolError as exc:  # a server down now says nothing about the flow
                log.info("tool not checked", tool=tool, code=exc.code)
    return wf


async def runnable_flows(services: Services, actor: Actor) -> list[StoredTag]:
    """The flow tags ``actor`` may run: ``kind: flow`` tags that apply to the actor (assigned
    to the user or the role, scoped to the tenant), whose content is a flow definition."""
    from orchestrator.tags.model import TagKind
    from orchestrator.tags.policy import principal_of
    from orchestrator.tags.resolver import applies_to_principal

    principal = principal_of(actor)
    candidates = await services.tags.store.applicable(principal.tenant_id)
    return [
        s for s in candidates
        if s.tag.kind is TagKind.FLOW and isinstance(s.tag.payload.content, dict)
        and applies_to_principal(s, principal)
    ]  # fmt: skip


async def flow_of_tag(
    services: Services, actor: Actor, tag: str, *, tools: ToolPlane | None = None
) -> tuple[FlowWorkflow, StoredTag]:
    """The current version of flow tag ``tag``, validated for ``actor``.

    Raises:
        TagNotFoundError: No flow tag of that name that the actor may run (404: the same for
            a tag that exists but is not assigned to the actor).
        DagError, ToolForbiddenError: As :func:`validate_flow_for`.
    """
    found = next((s for s in await runnable_flows(services, actor) if s.name == tag), None)
    if found is None:
        raise TagNotFoundError(f"no flow tag {tag!r} that you may run", details={"tag": tag})
    wf = await validate_flow_for(
        actor, found.tag.payload.content, services=services, tools=tools,
        name=f"{FLOW_PREFIX}{tag}",
    )  # fmt: skip
    return wf, found


__all__ = ["flow_of_tag", "runnable_flows", "validate_flow_for"]

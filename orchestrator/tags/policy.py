"""Enforcement: :class:`TagPolicy` implements the MCP plane's
:class:`~orchestrator.mcp.policy.ToolPolicy` with tags (DESIGN §15).

One decision is used twice: :meth:`TagPolicy.visible` filters the tool list a user (or an LLM)
sees, and :meth:`TagPolicy.decide` checks every call (tool and arguments) before it is sent. On a
refusal the caller raises :func:`forbidden` (``tool_forbidden``: 403 on the API, a non-retryable
step error in a job) and writes :func:`refusal_audit` (action ``tool.refused``).

Admins are not exempt: a principal's role only matters through ``assigned_roles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import ToolForbiddenError
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.policy import ToolDecision
from orchestrator.tags.effective import EffectivePolicy, PolicyPrincipal
from orchestrator.tags.resolver import TagResolver
from orchestrator.trace.records import AuditRecord

DEFAULT_TENANT = "default"
"""The tenant of a principal without one (auth disabled: ``orchestrator dev``)."""


def principal_of(actor: Actor) -> PolicyPrincipal:
    """The policy principal of an actor: its tenant (``default`` if none), id and role."""
    return PolicyPrincipal(actor.tenant_id or DEFAULT_TENANT, actor.id, actor.role)


actor_of_principal = Actor.of_principal
"""The :class:`Actor` of a job's submitter, from ``ctx.principal`` (:meth:`Actor.of_principal`)."""


class TagPolicy:
    """The tag-driven :class:`~orchestrator.mcp.policy.ToolPolicy`.

    Args:
        resolver: Resolves (and caches) effective policies; see
            :class:`~orchestrator.tags.resolver.TagResolver`.
    """

    def __init__(self, resolver: TagResolver) -> None:
        self.resolver = resolver

    async def effective(self, actor: Actor, *, intent: str | None = None) -> EffectivePolicy:
        """The actor's effective policy for ``intent``.

        Raises:
            StateError: Redis failed. TraceError: the database failed.
        """
        return await self.resolver.resolve(principal_of(actor), intent)

    async def decide(
        self,
        actor: Actor,
        tool: str,
        arguments: Mapping[str, Any] | None,
        *,
        intent: str | None = None,
    ) -> ToolDecision:
        """Decide one tool use (see :meth:`ToolPolicy.decide <orchestrator.mcp.policy.ToolPolicy.decide>`).

        Args:
            actor: Who asks; in a worker, :func:`actor_of_principal` of ``ctx.principal``.
            tool: ``server/tool``.
            arguments: The call's arguments, or ``None`` to ask whether the tool is visible.
            intent: The job's or session's intent, when known.

        Returns:
            The decision, naming the deciding tag (or ``default``) and, for a scope
            violation, the argument and constraint.

        Raises:
            StateError: Redis failed. TraceError: the database failed (cold resolution only).
        """
        policy = await self.effective(actor, intent=intent)
        return policy.decide(tool, arguments)

    async def visible(
        self, actor: Actor, tools: Iterable[str], *, intent: str | None = None
    ) -> list[str]:
        """The tools of ``tools`` the actor may see, in their order (one resolution for all)."""
        policy = await self.effective(actor, intent=intent)
        return policy.visible(tools)


def forbidden(tool: str, decision: ToolDecision) -> ToolForbiddenError:
    """The ``tool_forbidden`` error for a refusal (raise it; 403 on the API).

    Its ``details``: ``tool``, ``tag`` (the deciding tag or ``default``), and for a scope
    violation ``argument`` and ``constraint``.
    """
    return ToolForbiddenError(
        f"tool {tool!r} is not allowed: {decision.reason}", details=_details(tool, decision)
    )


def refusal_audit(
    actor: Actor,
    tool: str,
    decision: ToolDecision,
    *,
    intent: str | None = None,
    job_id: str | None = None,
    step: str | None = None,
) -> AuditRecord:
    """The ``tool.refused`` audit row of a refusal (DESIGN §20).

    Args:
        actor: Who was refused (the job's submitter in a worker).
        tool: ``server/tool``.
        decision: The refusing decision.
        intent: The intent decided for, if any.
        job_id: The job whose step asked, if any (a UUID).
        step: The step that asked, if any.

    Returns:
        The record for ``TraceStore.add_audit``: details ``tool``, ``tag``, ``reason``, and for a
        scope violation ``argument`` and ``constraint``; ``intent`` and ``step`` when given.
    """
    details = _details(tool, decision)
    details["reason"] = decision.reason
    if intent is not None:
        details["intent"] = intent
    if step is not None:
        details["step"] = step
    return AuditRecord(
        at=datetime.now(UTC), actor=actor.id, action="tool.refused", tenant_id=actor.tenant_id,
        job_id=job_id, details=details, request_id=actor.request_id, client_ip=actor.client_ip,
    )  # fmt: skip


def _details(tool: str, decision: ToolDecision) -> dict[str, Any]:
    details: dict[str, Any] = {"tool": tool, "tag": decision.tag}
    if decision.argument is not None:
        details["argument"] = decision.argument
        details["constraint"] = decision.constraint
    return details


__all__ = [
    "DEFAULT_TENANT",
    "TagPolicy",
    "actor_of_principal",
    "forbidden",
    "principal_of",
    "refusal_audit",
]

"""The tool policy hook: every tool call and every tool listing asks it first (DESIGN §14, §15).

The tags layer (``orchestrator/tags``) implements :class:`ToolPolicy`; until it plugs in,
:class:`AllowAll` decides. A refusal is ``tool_forbidden`` (403) with an audit row
``tool.refused`` naming the deciding tag, and, for a scope violation, the argument and the JSON
Schema constraint it failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.jobs.actor import Actor


@dataclass(frozen=True, slots=True)
class ToolDecision:
    """A policy's answer for one actor and tool.

    Attributes:
        allowed: Whether the call (or the listing) may go ahead.
        tag: The deciding tag, or ``"default"`` when no tag decided.
        reason: Why, for the audit row and the error message.
        argument: For a scope violation: the argument's name (a JSON pointer is fine).
        constraint: And the JSON Schema constraint it failed.
    """

    allowed: bool
    tag: str = "default"  # the deciding tag, or "default"
    reason: str = ""
    argument: str | None = None  # for a scope violation: the argument's name (JSON pointer ok)
    constraint: Any = None  # and the JSON Schema constraint it failed


class ToolPolicy(Protocol):
    """Decides whether an actor may use a tool."""

    async def decide(
        self,
        actor: Actor,
        tool: str,
        arguments: Mapping[str, Any] | None,
        *,
        intent: str | None = None,
    ) -> ToolDecision:
        """Decide one call, or (``arguments=None``) whether the actor may see/use the tool at all.

        Args:
            actor: Who calls; in a worker, built from the job's submitter (``ctx.principal``).
            tool: The namespaced tool name, ``server/tool``.
            arguments: The call's arguments, or ``None`` for tool-list filtering.
            intent: What the call is for, when the caller says (an agent's task), else ``None``.
        """
        ...


class AllowAll:
    """The default policy: every actor may see and call every configured tool."""

    async def decide(
        self,
        actor: Actor,
        tool: str,
        arguments: Mapping[str, Any] | None,
        *,
        intent: str | None = None,
    ) -> ToolDecision:
        """Allow, always (``tag="default"``)."""
        return ToolDecision(allowed=True)


__all__ = ["AllowAll", "ToolDecision", "ToolPolicy"]

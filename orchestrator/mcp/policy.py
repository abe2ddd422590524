"""The tool-policy hook of the MCP tool plane (DESIGN §14, §15).

The MCP manager asks a :class:`ToolPolicy` before every tool call and to filter the tool lists it
shows; tags (``orchestrator/tags``) implement it. :class:`AllowAll` is the default until they plug
in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.jobs.actor import Actor


@dataclass(frozen=True, slots=True)
class ToolDecision:
    """The outcome of one policy decision.

    Attributes:
        allowed: Whether the actor may see (``arguments=None``) or call the tool.
        tag: The deciding tag's name, or ``"default"`` when the default policy decided.
        reason: A short human-readable reason (not part of the API).
        argument: For a scope violation, the argument's name (a JSON pointer for nested ones).
        constraint: For a scope violation, the JSON Schema constraint it failed.
    """

    allowed: bool
    tag: str = "default"  # the deciding tag, or "default"
    reason: str = ""
    argument: str | None = None  # for a scope violation: the argument's name (JSON pointer ok)
    constraint: Any = None  # and the JSON Schema constraint it failed


class ToolPolicy(Protocol):
    """Decides whether an actor may use a tool, with these arguments."""

    async def decide(
        self,
        actor: Actor,
        tool: str,
        arguments: Mapping[str, Any] | None,
        *,
        intent: str | None = None,
    ) -> ToolDecision:
        """Decide one tool use.

        Args:
            actor: Who asks (in a worker: the job's submitter, from ``ctx.principal``).
            tool: The namespaced tool name, ``server/tool``.
            arguments: The call's arguments; ``None`` asks whether the actor may see and use the
                tool at all (tool-list filtering).
            intent: What the actor is doing (a workflow or agent intent), if known.

        Returns:
            The decision.
        """
        ...


class AllowAll:
    """The policy that allows everything: the default until tags plug in."""

    async def decide(
        self,
        actor: Actor,
        tool: str,
        arguments: Mapping[str, Any] | None,
        *,
        intent: str | None = None,
    ) -> ToolDecision:
        """Allow ``tool`` for ``actor`` whatever the arguments (see :meth:`ToolPolicy.decide`).

        Returns:
            ``ToolDecision(allowed=True)``, decided by ``"default"``.
        """
        return ToolDecision(allowed=True, reason="no tool policy configured")


__all__ = ["AllowAll", "ToolDecision", "ToolPolicy"]

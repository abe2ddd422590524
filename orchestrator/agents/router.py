"""The router, PeerAgent (DESIGN §17, seed ``001``): which registered agent takes a task.

One LLM call offers the model one tool, ``classify_task``, forced with ``tool_choice``; its
input is ``{agent_name, confidence, reasoning}`` (DESIGN §20). Below the configured confidence,
or naming no registered agent, the task fails ``unknown_task_type``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from orchestrator.agents.base import Agent
from orchestrator.agents.errors import UnknownTaskTypeError
from orchestrator.agents.registry import AgentRegistry

CLASSIFY_TOOL = "classify_task"

ROUTER_SYSTEM = """You are PeerAgent, a router. Pick the one agent best suited to the user's task \
from the list below, and call classify_task with its exact name, your confidence (0 to 1) and a \
one-sentence reasoning. If no agent fits, give a low confidence.

Agents:
{agents}"""


class RoutingDecision(BaseModel):
    """The router's answer, stored on the task (``agent_runs`` and the ``route`` step's output)."""

    agent_name: str = Field(max_length=200)
    confidence: float = Field(ge=0, le=1)
    reasoning: str = Field(default="", max_length=4000)


def classify_tool(agents: Sequence[Agent]) -> dict[str, Any]:
    """The ``classify_task`` tool; ``agent_name`` is an enum of the registered names."""
    return {
        "name": CLASSIFY_TOOL,
        "description": "Name the agent that should handle the task.",
        "input_schema": {
            "type": "object",
            "properties": {
                "agent_name": {"type": "string", "enum": [a.name for a in agents]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "reasoning": {"type": "string"},
            },
            "required": ["agent_name", "confidence", "reasoning"],
        },
    }


async def classify_task(
    llm: Any,
    registry: AgentRegistry,
    task: str,
    *,
    history: Sequence[Mapping[str, Any]] = (),
    model: str | None = None,
    max_tokens: int = 512,
) -> RoutingDecision:
    """Ask the model which agent takes ``task`` (one call through ``ctx.llm``, durable).

    Args:
        llm: ``ctx.llm`` (:class:`~orchestrator.llm.step.StepLLM`).
        registry: The agents to choose from (their names and descriptions are shown).
        task: The user's task.
        history: Earlier messages of the session (``{"role", "content"}``), for context.
        model: Model reference; ``None``: ``ORCH_LLM__DEFAULT_MODEL``.
        max_tokens: Upper bound of the call's output.

    Returns:
        The decision; a malformed answer is a decision of confidence 0 (fails the threshold).

    Raises:
        LLMError: The call failed (see :meth:`StepLLM.complete`).
    """
    agents = list(registry)
    listing = "\n".join(f"- {a.name}: {a.description}" for a in agents)
    messages = [*history_messages(history), {"role": "user", "content": task}]
    result = await llm.complete(
        messages, model=model, system=ROUTER_SYSTEM.format(agents=listing),
        tools=[classify_tool(agents)], tool_choice={"type": "tool", "name": CLASSIFY_TOOL},
        max_tokens=max_tokens,
    )  # fmt: skip
    for use in result.tool_uses:
        if use.name == CLASSIFY_TOOL:
            try:
                return RoutingDecision.model_validate(use.input)
            except ValidationError as exc:
                return RoutingDecision(agent_name=str(use.input.get("agent_name", ""))[:200],
                                       confidence=0.0, reasoning=f"malformed answer: {exc}"[:4000])  # fmt: skip
    return RoutingDecision(agent_name="", confidence=0.0, reasoning="the model named no agent")


def route_to_agent(
    decision: RoutingDecision, registry: AgentRegistry, *, min_confidence: float
) -> Agent:
    """The agent of ``decision``.

    Raises:
        UnknownTaskTypeError: The confidence is below ``min_confidence`` or the name is unknown.
    """
    if decision.agent_name not in registry or decision.confidence < min_confidence:
        raise UnknownTaskTypeError(
            f"no agent takes this task (router said {decision.agent_name!r} with confidence "
            f"{decision.confidence}, threshold {min_confidence})",
            details={**decision.model_dump(), "min_confidence": min_confidence,
                     "known": registry.names()},
        )  # fmt: skip
    return registry.get(decision.agent_name)


def history_messages(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Session history as alternating user/assistant text messages, starting with a user one
    and ending with an assistant one (so the task can follow); other messages are dropped."""
    out: list[dict[str, Any]] = []
    for message in history:
        role, content = message.get("role"), message.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content:
            if out and out[-1]["role"] == role:
                out[-1] = {"role": role, "content": f"{out[-1]['content']}\n\n{content}"}
            else:
                out.append({"role": role, "content": content})
    if out and out[0]["role"] == "assistant":  # the API wants a user message first
        out.insert(0, {"role": "user", "content": "(earlier in this conversation)"})
    if out and out[-1]["role"] == "user":
        out.append({"role": "assistant", "content": "(noted)"})
    return out


__all__ = [
    "CLASSIFY_TOOL",
    "ROUTER_SYSTEM",
    "RoutingDecision",
    "classify_task",
    "classify_tool",
    "history_messages",
    "route_to_agent",
]

"""A plain, configurable agent: for tests, plugins and agents declared in settings."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.agents.envelope import AgentOutput, ReplyEnvelope


@dataclass(frozen=True, slots=True)
class SimpleAgent:
    """An :class:`~orchestrator.agents.base.Agent` made of its attributes (see there)."""

    name: str
    description: str
    instructions: str = "You are a helpful assistant."
    model: str | None = None
    intent: str | None = None
    tools: tuple[str, ...] = ()

    def output(self, reply: ReplyEnvelope) -> AgentOutput:
        """The reply's content, citations and code language, under this agent's name."""
        return AgentOutput(agent_name=self.name, content=reply.content,
                           code_language=reply.code_language, citations=reply.citations)  # fmt: skip


__all__ = ["SimpleAgent"]

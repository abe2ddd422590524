"""The built-in agents: ContentAgent and CodeAgent (DESIGN §17, seed ``001``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.agents.envelope import AgentOutput, Citation, ReplyEnvelope

CONTENT_INSTRUCTIONS = """You are ContentAgent: you write long-form content (articles, reports, \
summaries, explanations for people) grounded in sources. Use the search or fetch tools you are \
offered to gather facts first; cite every source you used in the reply's citations (source = the \
tool name or the URL, a title, a short snippet). Never invent a source."""

CODE_INSTRUCTIONS = """You are CodeAgent: you generate, explain and refactor code. Read code with \
the tools you are offered (e.g. git tools) when the task is about a repository. You never execute \
code and never ask a tool to run it. Put the code or the explanation in the reply's content and \
set code_language (python, typescript, ...) when the content is code."""


@dataclass(frozen=True, slots=True)
class ContentAgent:
    """Long-form content with a search tool through MCP; citations from the tool results.

    Args:
        tools: Patterns of the tools it is offered (default: any tool whose name says search or
            fetch); the user's tags still decide each call.
        cite_tools: When the model's reply names no citations, the engine cites the successful
            tool calls of the run (their first URL, else the tool's name, with a snippet).
    """

    name: str = "content"
    description: str = (
        "Writes long-form content for people: articles, blog posts, reports, summaries and "
        "research answers with cited sources. Not for writing or explaining program code."
    )
    model: str | None = None
    intent: str | None = "content"
    tools: tuple[str, ...] = ("*search*", "*fetch*")
    instructions: str = CONTENT_INSTRUCTIONS
    cite_tools: bool = True  # a reply without citations cites the tool results it read

    def output(self, reply: ReplyEnvelope) -> AgentOutput:
        """The reply with its citations (de-duplicated by source, in order)."""
        from orchestrator.agents.envelope import AgentOutput  # a step's import, not the start's

        seen: set[str] = set()
        citations: list[Citation] = []
        for c in reply.citations:
            if c.source not in seen:
                seen.add(c.source)
                citations.append(c)
        return AgentOutput(agent_name=self.name, content=reply.content, citations=citations)


@dataclass(frozen=True, slots=True)
class CodeAgent:
    """Generates, explains and refactors code; reads repositories through tools; never runs code.

    Args:
        tools: Patterns of the tools it is offered (default: the ``git`` server's tools).
    """

    name: str = "code"
    description: str = (
        "Generates, explains, reviews and refactors program code, and answers questions about "
        "a code repository (reading it with git tools). Never executes code."
    )
    model: str | None = None
    intent: str | None = "code"
    tools: tuple[str, ...] = ("git/*",)
    instructions: str = CODE_INSTRUCTIONS

    def output(self, reply: ReplyEnvelope) -> AgentOutput:
        """The reply with its ``code_language``."""
        from orchestrator.agents.envelope import AgentOutput

        return AgentOutput(agent_name=self.name, content=reply.content,
                           code_language=reply.code_language, citations=reply.citations)  # fmt: skip


__all__ = ["CODE_INSTRUCTIONS", "CONTENT_INSTRUCTIONS", "CodeAgent", "ContentAgent"]

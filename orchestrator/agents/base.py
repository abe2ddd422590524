"""The agent seam (DESIGN §17): what an agent is, for the router and the engine.

An agent is data plus two small hooks: a name and description (what the router shows the
model), a default model, a tag intent (the system prompt and policy it gets from tags), tool
patterns (which of the user's tools it may use), its own instructions, and how a ``reply``
envelope becomes its :class:`~orchestrator.agents.envelope.AgentOutput`. Implementations:
:mod:`orchestrator.agents.builtin` (ContentAgent, CodeAgent); :mod:`orchestrator.agents.memory`
(a configurable one for tests and plugins).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: a worker loads its agents at start, the envelopes later
    from orchestrator.agents.envelope import AgentOutput, ReplyEnvelope


@runtime_checkable
class Agent(Protocol):
    """A sub-agent the router may pick.

    Attributes:
        name: Unique name (``content``, ``code``); a task's ``agent_type``.
        description: One paragraph for the router: what tasks it takes.
        model: Its default model reference (``anthropic:claude-sonnet-4-5``); ``None``:
            ``ORCH_LLM__DEFAULT_MODEL``.
        intent: The tag intent its system prompt and policy are resolved for (DESIGN §15).
        tools: ``server/tool`` patterns (fnmatch) of the tools it is offered; the user's tag
            policy still decides every call. Empty: no tools.
        instructions: Its own system prompt (tags' content is put before it).
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    @property
    def intent(self) -> str | None: ...

    @property
    def tools(self) -> tuple[str, ...]: ...

    @property
    def instructions(self) -> str: ...

    def output(self, reply: ReplyEnvelope) -> AgentOutput:
        """Turn the final ``reply`` envelope into the run's output."""
        ...


def offers(agent: Agent, tool: str) -> bool:
    """Whether ``tool`` (``server/tool``) matches one of the agent's patterns."""
    return any(fnmatchcase(tool, pattern) for pattern in agent.tools)


__all__ = ["Agent", "offers"]

"""What the agent workflow's steps need from their process: ``ctx.agents``.

The worker's agents hook attaches one :class:`AgentRuntime` per process to every step attempt
(``ctx.agents``): the agent registry, the ``ORCH_AGENTS__*`` settings, the task store and the flows of
``plan`` envelopes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.agents.registry import AgentRegistry
from orchestrator.config import AgentsSettings

if TYPE_CHECKING:  # SQLAlchemy is loaded on the store's first use, not at a worker's start
    from orchestrator.agents.flows import AgentFlows
    from orchestrator.agents.store import AgentStore


class AgentRuntime:
    """The agent layer of one process.

    Args:
        registry: Agents by name.
        settings: ``ORCH_AGENTS__*``.
        store: The ``agent_runs``/``messages`` store, or a function building it on first use;
            ``None``: nothing is recorded (unit tests).
        flows: Lists, validates and runs the flows of ``plan`` envelopes; ``None``: a plan
            naming a flow is answered ``flows_unavailable``.
    """

    def __init__(
        self, registry: AgentRegistry, settings: AgentsSettings,
        store: AgentStore | Callable[[], AgentStore] | None = None,
        flows: AgentFlows | None = None,
    ) -> None:  # fmt: skip
        self.registry = registry
        self.settings = settings
        self._store = store
        self.flows = flows

    @property
    def store(self) -> AgentStore | None:
        """The task store (built on first use)."""
        if callable(self._store):
            self._store = self._store()
        return self._store


__all__ = ["AgentRuntime"]

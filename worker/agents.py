"""The agents execution hook: ``ctx.agents`` for each step attempt (DESIGN §17).

The agent registry is loaded when the worker is built (built-ins, the ``orchestrator.agents``
entry points, ``ORCH_AGENTS__MODULES``), so a bad agent module stops the worker at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.agents.flows import AgentFlows
from orchestrator.agents.registry import AgentRegistry
from orchestrator.agents.runtime import AgentRuntime
from orchestrator.dag.context import StepContext
from orchestrator.services import Services
from worker.hooks import ExecutionHook, JobRun

if TYPE_CHECKING:
    from orchestrator.agents.store import AgentStore


class AgentsHook(ExecutionHook):
    """Attaches the process's :class:`~orchestrator.agents.runtime.AgentRuntime` as ``ctx.agents``.

    Args:
        services: The worker's services (settings, the trace store for ``agent_runs``).

    Raises:
        ConfigError: An agent module or entry point cannot be loaded.
    """

    def __init__(self, services: Services) -> None:
        def store() -> AgentStore:
            from orchestrator.agents.store import AgentStore  # SQLAlchemy, on first use

            return AgentStore(lambda: services.trace.engine)

        settings = services.settings.agents
        self.runtime = AgentRuntime(AgentRegistry.load(settings.modules), settings, store,
                                    flows=AgentFlows(services))  # fmt: skip

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        ctx.agents = self.runtime


__all__ = ["AgentsHook"]

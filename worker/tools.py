"""The execution hook that gives each step attempt ``ctx.tools`` (DESIGN §14).

The worker's :class:`~orchestrator.mcp.manager.McpManager` is one per process: its server
configuration is validated when the worker is built (a bad config stops the worker at start,
naming the server and field), the manager itself is built on the first tool use (its MCP SDK
import is warmed in a thread at start-up when a server is configured), and it is closed at
shutdown, terminating stdio servers.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from orchestrator.dag.context import StepContext
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.factory import build_manager, configured_servers
from orchestrator.mcp.policy import ToolPolicy
from orchestrator.mcp.step import StepTools
from orchestrator.mcp.tokens_base import TokenSource
from orchestrator.services import Services
from worker.hooks import ExecutionHook, JobRun

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from orchestrator.mcp.manager import McpManager


class ToolsHook(ExecutionHook):
    """Attaches ``ctx.tools`` (:class:`~orchestrator.mcp.step.StepTools`), acting as the job's
    submitter and durable through ``ctx.calls``.

    Args:
        services: The worker's services.
        policy: The tool policy (default: allow all).
        tokens: The OAuth token source (default: none).
        manager: A manager to use instead of building one (tests).
        tracer: The worker's tracer, so tool spans join the step spans' pipeline.

    Raises:
        ConfigError: The MCP configuration is invalid.
    """

    def __init__(
        self,
        services: Services,
        *,
        policy: ToolPolicy | None = None,
        tokens: TokenSource | None = None,
        manager: McpManager | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        # validated now: a bad configuration stops the worker at start
        self._servers = configured_servers(services.settings)
        self._services = services
        self._policy = policy
        self._tokens = tokens
        self._manager = manager
        self._tracer = tracer

    def manager(self) -> McpManager:
        """The process's manager, built on first use."""
        if self._manager is None:
            self._manager = build_manager(
                self._services, policy=self._policy, tokens=self._tokens, tracer=self._tracer
            )
        return self._manager

    async def warm(self) -> None:
        """Import the MCP SDK in a thread (a second or so), before the first tool call needs it;
        not when no server is configured (no tool call can reach one, and the SDK is ~30 MB of
        an idle worker's memory)."""
        if self._servers:  # a manager given to the hook was imported with its module already
            await asyncio.to_thread(importlib.import_module, "orchestrator.mcp.manager")

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        """Set ``ctx.tools`` for this attempt: the job's submitter, for the job's intent (its
        workflow's name, as ``ctx.policy`` decides in worker/tags.py)."""
        actor = Actor(id=run.user_id or "anonymous", tenant_id=run.tenant_id, role=run.role)
        ctx.tools = StepTools(self.manager, actor, journal=ctx.calls, job_id=run.job_id,
                              intent=run.workflow)  # fmt: skip

    async def close(self) -> None:
        """Close the manager, if it was built (stdio servers are terminated)."""
        if self._manager is not None:
            await self._manager.close()
            self._manager = None


__all__ = ["ToolsHook"]

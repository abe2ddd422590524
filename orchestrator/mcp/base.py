"""The tool-plane seam: what gateways, workers and agents call (DESIGN §14).

:class:`~orchestrator.mcp.manager.McpManager` is the implementation (the official ``mcp`` SDK);
``ctx.tools`` (:class:`~orchestrator.mcp.step.StepTools`) and the gateway's ``/v1/tools`` use
it through this protocol, so an agent engine or a test may hand in another (e.g. a manager whose
servers are in-process SDK servers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from orchestrator.errors import ToolError
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.tools import ToolInfo, ToolResult
from orchestrator.types import JobId


class ToolPlane(Protocol):
    """Lists and calls ``server/tool`` tools as an actor."""

    async def list_tools(
        self,
        actor: Actor | None = None,
        *,
        server: str | None = None,
        refresh: bool = False,
        intent: str | None = None,
    ) -> list[ToolInfo]:
        """The tools ``actor`` may use (all when ``None``)."""
        ...

    async def tool(self, name: str) -> ToolInfo:
        """One listed tool. Raises ``ToolNotFoundError``."""
        ...

    async def call(
        self,
        actor: Actor,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        job_id: JobId | None = None,
        intent: str | None = None,
    ) -> ToolResult:
        """One call (policy, validation, audit, span, metrics). Raises ``ToolError``s."""
        ...

    async def call_many(
        self,
        actor: Actor,
        calls: Sequence[tuple[str, Mapping[str, Any] | None]],
        *,
        job_id: JobId | None = None,
        intent: str | None = None,
        return_exceptions: bool = False,
    ) -> list[ToolResult | ToolError]:
        """Concurrent calls, results in order."""
        ...

    async def close(self) -> None:
        """Release connections and flush audit rows."""
        ...


__all__ = ["ToolPlane"]

"""Settings of the MCP token manager: part of the ``mcp`` section (``ORCH_MCP__*``), defined in
:mod:`orchestrator.config` with the rest of the settings tree."""

from __future__ import annotations

from orchestrator.config import McpTokenSettings

__all__ = ["McpTokenSettings"]

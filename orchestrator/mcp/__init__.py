"""The MCP tool plane (DESIGN §14): the orchestrator as the only MCP client.

=====================  ==========================================================================
module                 concept
=====================  ==========================================================================
``config``             server configuration (``ORCH_MCP__CONFIG``/``ORCH_MCP__SERVERS``), secrets
``base``               the ``ToolPlane`` protocol
``manager``            ``McpManager``: the implementation on the official ``mcp`` SDK
``connection``         one pooled client connection per server and process, reconnects
``discovery``          tool lists cached in Redis, refreshed on ``tools/list_changed``
``validation``         arguments against input schemas (jsonschema)
``auth``               bearer and OAuth 2 headers, one refresh-and-retry on a 401
``tokens_base``        the ``TokenSource`` seam (the OAuth token manager implements it)
``tokens_static``      fixed tokens for tests and local use
``policy``             the tool policy hook (``AllowAll`` until tags plug in)
``audit``, ``metrics`` ``tool.call``/``tool.refused`` rows; Prometheus metrics
``step``               ``ctx.tools`` (durable calls, as the job's submitter)
``factory``            where processes build their manager
``oauth``              the OAuth token manager (authlib, Fernet at rest, Redis lock)
``login``              ``orchestrator mcp login``: store a refresh token
=====================  ==========================================================================

This package's ``__init__`` imports no MCP SDK code (a worker imports it at start); import
``orchestrator.mcp.manager`` for the manager.
"""

from orchestrator.mcp.config import ServerConfig, load_servers
from orchestrator.mcp.policy import AllowAll, ToolDecision, ToolPolicy
from orchestrator.mcp.tokens_base import TokenSource
from orchestrator.mcp.tools import ToolInfo, ToolResult

__all__ = [
    "AllowAll",
    "ServerConfig",
    "TokenSource",
    "ToolDecision",
    "ToolInfo",
    "ToolPolicy",
    "ToolResult",
    "load_servers",
]

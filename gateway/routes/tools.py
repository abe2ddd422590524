"""``/v1/tools``: the MCP tool plane for plugins and clients (DESIGN §14, §20).

Plugins never reach an MCP server themselves: they list what their caller may use and make one
call at a time as that caller, through the gateway's :class:`~orchestrator.mcp.manager.McpManager`
(policy, audit, span, metrics). Calls count against the submit rate limit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from starlette.requests import HTTPConnection

from gateway.auth import require
from orchestrator.auth import Permission
from orchestrator.jobs import Actor
from orchestrator.mcp.manager import McpManager

router = APIRouter(prefix="/v1/tools", tags=["tools"])

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
"""A server's or a tool's name in a path."""


def get_tools(conn: HTTPConnection) -> McpManager:
    """The gateway's :class:`McpManager` (built in the lifespan)."""
    manager: McpManager = conn.app.state.tools
    return manager


@router.get("")
async def list_tools(
    actor: Annotated[Actor, Depends(require(Permission.TOOL_READ))],
    manager: Annotated[McpManager, Depends(get_tools)],
) -> dict[str, Any]:
    """The tools the caller may use: ``{"tools": [{"name", "server", "description",
    "input_schema"}]}``, ``name`` being ``server/tool``; a server that cannot be reached is
    left out."""
    return {"tools": [t.to_dict() for t in await manager.list_tools(actor)]}


@router.post(
    "/{server}/{tool}:call",
    responses={
        404: {"description": "tool_not_found"},
        403: {"description": "tool_forbidden (the tool policy)"},
        422: {"description": "tool_arguments_invalid: the field is in details.field"},
        502: {"description": "mcp_unavailable, mcp_auth_required, tool_failed"},
        504: {"description": "tool_timeout"},
    },
)
async def call_tool(
    server: Annotated[str, Path(pattern=NAME)],
    tool: Annotated[str, Path(pattern=NAME)],
    actor: Annotated[Actor, Depends(require(Permission.TOOL_CALL, rate="submit"))],
    manager: Annotated[McpManager, Depends(get_tools)],
    arguments: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    """Call ``server/tool`` as the caller with the body as its arguments (a JSON object).

    Returns ``{"tool", "content", "structured_content", "is_error", "duration_ms"}``; a tool
    that reports its own failure is a 200 with ``is_error: true``.
    """
    result = await manager.call(actor, f"{server}/{tool}", arguments or {})
    return result.to_dict()


__all__ = ["get_tools", "router"]

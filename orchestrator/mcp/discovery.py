"""Tool lists of the servers: cached in this process and in Redis (``orch:mcp:tools:{server}``).

A list is fetched from the server (``tools/list``, every page) on a miss, shared through Redis
with every gateway and worker for ``mcp.tools_cache_ttl_seconds``, and kept in this process for
at most :data:`LOCAL_TTL_SECONDS` so that a call does not pay a Redis round trip to find its
tool. A ``tools/list_changed`` notification drops both copies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orchestrator.keys import Keys
from orchestrator.mcp.tools import ToolInfo

log = structlog.get_logger("orchestrator.mcp")

LOCAL_TTL_SECONDS = 30.0
"""In-process copy's lifetime: how stale another process's ``list_changed`` can leave us."""

MAX_PAGES = 100
"""``tools/list`` pages read at most (a server whose cursor never ends cannot hang a listing)."""

Fetch = Callable[[str], Awaitable[list[ToolInfo]]]


class ToolCatalog:
    """The tools of every server, cached.

    Args:
        fetch: Lists one server's tools from the server itself.
        redis: The shared Redis (``None``: in-process cache only).
        keys: The key builder.
        ttl_seconds: Redis TTL of a list.
    """

    def __init__(self, fetch: Fetch, *, redis: Redis | None, keys: Keys, ttl_seconds: int) -> None:
        self._fetch = fetch
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds
        self._local: dict[str, tuple[float, dict[str, ToolInfo]]] = {}

    async def tools(self, server: str, *, refresh: bool = False) -> dict[str, ToolInfo]:
        """The server's tools by their own names.

        Raises:
            McpUnavailableError, McpAuthRequiredError: The server had to be asked and failed.
        """
        now = time.monotonic()
        hit = self._local.get(server)
        if hit is not None and hit[0] > now and not refresh:
            return hit[1]
        listed = None if refresh else await self._from_redis(server)
        if listed is None:
            listed = await self._fetch(server)
            await self._to_redis(server, listed)
        tools = {t.tool: t for t in listed}
        self._local[server] = (now + min(LOCAL_TTL_SECONDS, self._ttl), tools)
        return tools

    async def invalidate(self, server: str) -> None:
        """Forget the server's list here and in Redis (on ``tools/list_changed``)."""
        self._local.pop(server, None)
        if self._redis is not None:
            try:
                await self._redis.delete(self._keys.mcp_tools(server))
            except RedisError as exc:
                log.warning("tool list cache not cleared", server=server, error=str(exc))

    async def _from_redis(self, server: str) -> list[ToolInfo] | None:
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._keys.mcp_tools(server))
        except RedisError as exc:  # the cache is an optimisation: ask the server
            log.warning("tool list cache unreadable", server=server, error=str(exc))
            return None
        if raw is None:
            return None
        try:
            return [ToolInfo(**item) for item in json.loads(raw)]
        except (ValueError, TypeError):
            return None

    async def _to_redis(self, server: str, tools: list[ToolInfo]) -> None:
        if self._redis is None:
            return
        payload: list[dict[str, Any]] = [
            {"name": t.name, "server": t.server, "tool": t.tool, "description": t.description,
             "input_schema": t.input_schema}
            for t in tools
        ]  # fmt: skip
        try:
            await self._redis.set(self._keys.mcp_tools(server), json.dumps(payload), ex=self._ttl)
        except RedisError as exc:
            log.warning("tool list cache not written", server=server, error=str(exc))


__all__ = ["LOCAL_TTL_SECONDS", "MAX_PAGES", "ToolCatalog"]

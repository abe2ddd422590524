"""Calling the protected MCP server with the official ``mcp`` client and a TokenSource.

:class:`BearerFromSource` is an httpx ``Auth``: it puts the token manager's access token on each
request and, on a 401, asks for one refresh (``refresh_after_rejection``) and retries the request
once. It stands in for the MCP manager's own loop, which is built in the tool plane's branch.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from orchestrator.errors import McpAuthRequiredError
from orchestrator.mcp.oauth import TokenManager


class BearerFromSource(httpx2.Auth):
    """httpx Auth: bearer token from a TokenSource, one refresh-and-retry on 401."""

    def __init__(self, source: TokenManager, server: str, user: str | None) -> None:
        self.source = source
        self.server = server
        self.user = user

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.source.token(self.server, self.user)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.source.refresh_after_rejection(self.server, self.user, token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


async def call_ping(url: str, source: TokenManager, server: str, user: str | None = None) -> Any:
    """Open a session to the MCP server at ``url`` and call its ``ping`` tool once."""
    auth = BearerFromSource(source, server, user)
    try:
        async with httpx2.AsyncClient(auth=auth, timeout=10.0) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool("ping", {})
    except BaseExceptionGroup as group:  # the SDK's task groups wrap the Auth's error
        raise _leaf(group) from None
    assert not result.is_error, result
    return result.content[0].text  # type: ignore[union-attr]


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    found = group.subgroup(McpAuthRequiredError)
    while found is not None and isinstance(found, BaseExceptionGroup):
        inner = found.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        found = inner
    return group

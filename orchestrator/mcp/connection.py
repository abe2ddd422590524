"""One live MCP client connection per server and process, opened lazily, reopened after failure.

A connection is the official SDK's :class:`mcp.Client` over ``stdio`` (a child process) or
streamable HTTP. The SDK's client lives in anyio task groups that must be entered and left by
the same task, so each connection has an *owner task* that opens it, signals that it is ready,
and waits to be told to close; calls from any task share the connection (the SDK multiplexes
requests by id). When a call finds the connection dead (the child process exited, the HTTP
server went away) the pool drops it and the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import ServerNotification, ToolListChangedNotification
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from orchestrator.errors import McpAuthRequiredError, McpUnavailableError, OrchestratorError
from orchestrator.mcp.auth import CALL_AUTH, CallAuth, ServerAuth
from orchestrator.mcp.config import NoAuth, ServerConfig
from orchestrator.mcp.tokens_base import TokenSource

log = structlog.get_logger("orchestrator.mcp")

CLOSE_TIMEOUT_SECONDS = 5.0
"""How long closing a connection may take (a stdio child is terminated by the SDK's exit)."""

ToolsChanged = Callable[[str], Awaitable[None]]


class Connection:
    """An open (or opening) client connection to one server.

    Args:
        server: The server's configuration.
        tokens: The token source of ``oauth2`` servers.
        on_tools_changed: Awaited with the server's name on ``notifications/tools/list_changed``
            (handshake-era servers) or a ``tools_list_changed`` event of ``subscriptions/listen``
            (2026-07-28 servers that advertise ``tools.listChanged``).
    """

    def __init__(
        self,
        server: ServerConfig,
        *,
        tokens: TokenSource | None = None,
        on_tools_changed: ToolsChanged | None = None,
    ) -> None:
        self.server = server
        self._tokens = tokens
        self._on_tools_changed = on_tools_changed
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self.client: Client | None = None
        self.broken = False

    @property
    def alive(self) -> bool:
        """Open, and not known to be broken."""
        return (self.client is not None and not self.broken and self._task is not None
                and not self._task.done())  # fmt: skip

    async def open(self) -> None:
        """Start the owner task and wait until the connection is ready.

        Raises:
            McpUnavailableError: It could not be opened within the server's ``timeout_seconds``.
            McpAuthRequiredError: The server refused our credentials while connecting.
        """
        call = CALL_AUTH.get() or CallAuth()
        token = CALL_AUTH.set(call)
        try:
            self._task = asyncio.get_running_loop().create_task(
                self._own(), name=f"mcp:{self.server.name}"
            )
        finally:
            CALL_AUTH.reset(token)
        try:
            async with asyncio.timeout(self.server.timeout_seconds):
                await self._ready.wait()
        except TimeoutError:
            await self.close()
            raise McpUnavailableError(
                f"MCP server {self.server.name!r} did not connect within "
                f"{self.server.timeout_seconds} s",
                details={"server": self.server.name},
            ) from None
        if self._error is not None or self.client is None:
            if call.failure is not None:
                raise call.failure
            raise McpUnavailableError(
                f"MCP server {self.server.name!r} cannot be reached: {_describe(self._error)}",
                details={"server": self.server.name},
            )

    async def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        server = self.server
        if server.transport == "stdio":
            assert server.command is not None  # ServerConfig checked it
            return stdio_client(StdioServerParameters(
                command=server.command, args=list(server.args), env=dict(server.env) or None,
            ))  # fmt: skip
        assert server.url is not None
        auth = None if isinstance(server.auth, NoAuth) else ServerAuth(server, self._tokens)
        # the transport does not close a client it is given: the owner's exit stack does
        http = await stack.enter_async_context(create_mcp_http_client(auth=auth))
        return streamable_http_client(server.url, http_client=http)

    async def _own(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = Client(await self._transport(stack), cache=None, mode="auto",
                                message_handler=self._on_message)  # fmt: skip
                await stack.enter_async_context(client)
                if self._listens(client):
                    stack.push_async_callback(_cancel, asyncio.create_task(self._listen(client)))
                self.client = client
                self._ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # an ExceptionGroup from the SDK's task groups
            self._error = exc
            if self.client is not None:
                log.warning("MCP connection ended", server=self.server.name,
                            error=_describe(exc))  # fmt: skip
        finally:
            self.broken = True
            self._ready.set()

    def _listens(self, client: Client) -> bool:
        # Asked of every 2026-07-28 server: some announce changes without advertising
        # tools.listChanged, and one that does not serve `subscriptions/listen` says so once.
        return (self._on_tools_changed is not None
                and client.protocol_version in MODERN_PROTOCOL_VERSIONS)  # fmt: skip

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(tools_list_changed=True) as events:
                async for _event in events:
                    await self._tools_changed()
        except Exception as exc:  # the server may not honour listen: the TTL still bounds staleness
            log.debug("tools/list_changed not followed", server=self.server.name,
                     error=_describe(exc))  # fmt: skip

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification) or (
            isinstance(message, ServerNotification)
            and isinstance(getattr(message, "root", None), ToolListChangedNotification)
        ):
            await self._tools_changed()

    async def _tools_changed(self) -> None:
        if self._on_tools_changed is not None:
            await self._on_tools_changed(self.server.name)

    async def close(self) -> None:
        """Close the connection (terminating a stdio child); bounded by a few seconds."""
        self.broken = True
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _describe(exc: BaseException | None) -> str:
    """A one-line description of what ended a connection (the first leaf of an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "unknown error"
    if isinstance(exc, OrchestratorError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"[:300]


class ConnectionPool:
    """Connections of one process, one per server, opened on first use.

    Args:
        servers: The configured servers by name.
        tokens: The token source of ``oauth2`` servers.
        on_tools_changed: See :class:`Connection`.
    """

    def __init__(
        self,
        servers: dict[str, ServerConfig],
        *,
        tokens: TokenSource | None = None,
        on_tools_changed: ToolsChanged | None = None,
    ) -> None:
        self._servers = servers
        self._tokens = tokens
        self._on_tools_changed = on_tools_changed
        self._open: dict[str, Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    async def get(self, server: str) -> Connection:
        """The server's live connection, opened (or reopened) now if needed.

        Raises:
            McpUnavailableError: It cannot be opened. McpAuthRequiredError: Credentials refused.
        """
        conn = self._open.get(server)
        if conn is not None and conn.alive:
            return conn
        lock = self._locks.setdefault(server, asyncio.Lock())
        async with lock:
            conn = self._open.get(server)
            if conn is not None and conn.alive:
                return conn
            if conn is not None:
                await conn.close()
            if self._closed:
                raise McpUnavailableError("the MCP manager is closed", details={"server": server})
            conn = Connection(self._servers[server], tokens=self._tokens,
                              on_tools_changed=self._on_tools_changed)  # fmt: skip
            try:
                await conn.open()
            except (McpUnavailableError, McpAuthRequiredError):
                await conn.close()
                raise
            self._open[server] = conn
            return conn

    async def discard(self, conn: Connection) -> None:
        """Drop a connection found dead; the next :meth:`get` opens a new one."""
        if self._open.get(conn.server.name) is conn:
            del self._open[conn.server.name]
        await conn.close()

    async def close(self) -> None:
        """Close every connection (stdio children are terminated)."""
        self._closed = True
        conns = list(self._open.values())
        self._open.clear()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


__all__ = ["Connection", "ConnectionPool"]

"""The MCP manager: the server as the only MCP client (DESIGN §14).

One :class:`McpManager` per process (gateway, worker) holds a pool of client connections (one
per server, opened on first use, reopened after failure), the servers' tool lists (cached in
Redis), and makes every tool call the same way:

1. the tool is resolved (``server/tool``; unknown: ``tool_not_found``);
2. the policy hook decides (refused: ``tool_forbidden`` and an audit row ``tool.refused``);
3. the arguments are validated against the tool's input schema (``tool_arguments_invalid``,
   nothing sent);
4. the call is sent under the server's ``max_concurrency`` semaphore and ``timeout_seconds``
   (``tool_timeout``), with the server's credentials (``mcp_auth_required`` when none work);
   a dead connection is ``mcp_unavailable`` (retryable) and the next call reconnects;
5. an audit row ``tool.call`` (actor, tenant, tool, argument digest, outcome, duration), a span
   (``gen_ai.operation.name=execute_tool``, ``gen_ai.tool.name``, ``mcp.server``) and metrics.

Inside a step, :class:`~orchestrator.mcp.step.StepTools` (``ctx.tools``) adds the durable-call
record of DESIGN §13 around each call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, CallToolResult
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from redis.asyncio import Redis

from orchestrator.errors import (
    McpAuthRequiredError,
    McpUnavailableError,
    OrchestratorError,
    ToolError,
    ToolForbiddenError,
    ToolNotFoundError,
    ToolTimeoutError,
)
from orchestrator.jobs.actor import Actor
from orchestrator.keys import Keys
from orchestrator.mcp.audit import AuditWriter, digest_of, tool_record
from orchestrator.mcp.auth import CALL_AUTH, CallAuth
from orchestrator.mcp.config import OAuth2Auth, ServerConfig
from orchestrator.mcp.connection import ConnectionPool
from orchestrator.mcp.discovery import MAX_PAGES, ToolCatalog
from orchestrator.mcp.metrics import TOOL_CALLS, TOOL_ERRORS, TOOL_LATENCY
from orchestrator.mcp.policy import AllowAll, ToolPolicy
from orchestrator.mcp.tokens_base import TokenSource
from orchestrator.mcp.tools import ToolInfo, ToolResult, split_name
from orchestrator.mcp.validation import SchemaCache
from orchestrator.trace.records import AuditRecord
from orchestrator.types import JobId

log = structlog.get_logger("orchestrator.mcp")

AuditWrite = Callable[[AuditRecord], Awaitable[None]]
ToolCall = tuple[str, Mapping[str, Any] | None]
"""One call of :meth:`McpManager.call_many`: ``(name, arguments)``."""

SYSTEM_ACTOR = Actor(id="system", all_tenants=True, role="admin")
"""Who lists tools when nobody asks (CLI diagnostics); never used for calls from a request."""


class McpManager:
    """Every configured MCP server's tools, for every caller of this process.

    Args:
        servers: The configured servers (``orchestrator.mcp.config.load_servers``).
        redis: Where tool lists are cached across processes (``None``: in-process only).
        keys: The key builder (its prefix).
        tools_cache_ttl_seconds: Redis TTL of a tool list.
        policy: The tool policy hook (default :class:`~orchestrator.mcp.policy.AllowAll`).
        tokens: The token source of ``oauth2`` servers (the OAuth token manager, or
            :class:`~orchestrator.mcp.tokens_static.StaticTokenSource`); ``None``: an oauth2
            server's calls are ``mcp_auth_required``.
        audit: The trace store's ``add_audit``; ``None``: no audit rows (unit tests).
        tracer: The OpenTelemetry tracer (default: this process's pipeline's).

    Use as ``async with McpManager(...) as manager`` or call :meth:`close`; connections open
    on first use.
    """

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        redis: Redis | None = None,
        keys: Keys | None = None,
        tools_cache_ttl_seconds: int = 300,
        policy: ToolPolicy | None = None,
        tokens: TokenSource | None = None,
        audit: AuditWrite | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.servers: dict[str, ServerConfig] = {s.name: s for s in servers}
        self.policy: ToolPolicy = policy if policy is not None else AllowAll()
        self.tokens = tokens
        self.owns_tokens = False  # set by the factory when it built the token source
        self._pool = ConnectionPool(self.servers, tokens=tokens,
                                    on_tools_changed=self._tools_changed)  # fmt: skip
        self._catalog = ToolCatalog(self._fetch_tools, redis=redis, keys=keys or Keys(),
                                    ttl_seconds=tools_cache_ttl_seconds)  # fmt: skip
        self._limits = {name: asyncio.Semaphore(s.max_concurrency)
                        for name, s in self.servers.items()}  # fmt: skip
        self._schemas = SchemaCache()
        self._audit = AuditWriter(audit)
        self._tracer = tracer

    async def __aenter__(self) -> McpManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def tracer(self) -> Tracer:
        """The tracer of tool-call spans."""
        if self._tracer is None:
            from orchestrator.telemetry import current

            self._tracer = current().tracer
        return self._tracer

    def server(self, name: str) -> ServerConfig:
        """The configuration of server ``name``.

        Raises:
            ToolNotFoundError: No server of that name is configured.
        """
        server = self.servers.get(name)
        if server is None:
            raise ToolNotFoundError(f"no MCP server named {name!r} is configured",
                                    details={"server": name})  # fmt: skip
        return server

    # -- discovery -------------------------------------------------------------------------

    async def _fetch_tools(self, server: str) -> list[ToolInfo]:
        config = self.servers[server]
        # The caller's (list_tools, call) user, for per-user tokens; a fresh record of failure.
        outer = CALL_AUTH.get()
        call = CallAuth(user=outer.user if outer is not None else None)
        token = CALL_AUTH.set(call)
        try:
            conn = await self._pool.get(server)
            assert conn.client is not None
            tools: list[ToolInfo] = []
            cursor: str | None = None
            try:
                async with asyncio.timeout(config.timeout_seconds):
                    for _ in range(MAX_PAGES):
                        page = await conn.client.list_tools(cursor=cursor)
                        tools += [ToolInfo(name=f"{server}/{t.name}", server=server, tool=t.name,
                                           description=t.description or "",
                                           input_schema=dict(t.input_schema))
                                  for t in page.tools]  # fmt: skip
                        cursor = page.next_cursor
                        if cursor is None:
                            break
            except TimeoutError:
                raise ToolTimeoutError(
                    f"MCP server {server!r} did not list its tools within "
                    f"{config.timeout_seconds} s",
                    details={"server": server, "timeout_seconds": config.timeout_seconds},
                ) from None
            except OrchestratorError:
                raise
            except Exception as exc:  # MCPError, anyio stream errors, httpx2 transport errors
                await self._pool.discard(conn)
                raise call.failure or McpUnavailableError(
                    f"MCP server {server!r} failed to list its tools: {exc}",
                    details={"server": server},
                ) from None
            return tools
        finally:
            CALL_AUTH.reset(token)

    async def _tools_changed(self, server: str) -> None:
        log.info("tools changed", server=server)
        await self._catalog.invalidate(server)

    async def list_tools(
        self,
        actor: Actor | None = None,
        *,
        server: str | None = None,
        refresh: bool = False,
        intent: str | None = None,
    ) -> list[ToolInfo]:
        """The tools ``actor`` may use (every tool when ``actor`` is ``None``), by server.

        Args:
            actor: Whose view: each tool is kept when the policy allows it
                (``decide(actor, tool, None)``).
            server: Only this server's tools (its failure is raised); otherwise every server's,
                a server that cannot be reached being left out with a warning.
            refresh: Ask the servers again instead of the caches.
            intent: Passed to the policy (in a worker: the job's workflow name).

        Raises:
            ToolNotFoundError: ``server`` is not configured.
            McpUnavailableError, McpAuthRequiredError, ToolTimeoutError: ``server`` failed.
        """
        names = [self.server(server).name] if server is not None else list(self.servers)
        found: list[ToolInfo] = []
        token = CALL_AUTH.set(CallAuth(user=actor.id if actor is not None else None))
        try:
            for name in names:
                try:
                    found += (await self._catalog.tools(name, refresh=refresh)).values()
                except ToolError as exc:
                    if server is not None:
                        raise
                    log.warning("tools of an MCP server left out", server=name, code=exc.code,
                                error=exc.message)  # fmt: skip
        finally:
            CALL_AUTH.reset(token)
        if actor is None:
            return found
        decisions = await asyncio.gather(
            *(self.policy.decide(actor, t.name, None, intent=intent) for t in found)
        )
        return [t for t, d in zip(found, decisions, strict=True) if d.allowed]

    async def tool(self, name: str) -> ToolInfo:
        """The listed tool ``name`` (``server/tool``); the server's list is fetched once more
        before a tool is declared missing.

        Raises:
            ToolNotFoundError: Unknown server or tool.
        """
        server, tool = split_name(name)
        self.server(server)
        info = (await self._catalog.tools(server)).get(tool)
        if info is None:
            info = (await self._catalog.tools(server, refresh=True)).get(tool)
        if info is None:
            raise ToolNotFoundError(f"MCP server {server!r} has no tool {tool!r}",
                                    details={"server": server, "tool": name})  # fmt: skip
        return info

    # -- calls -----------------------------------------------------------------------------

    async def call(
        self,
        actor: Actor,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        job_id: JobId | None = None,
        intent: str | None = None,
    ) -> ToolResult:
        """Call tool ``name`` as ``actor`` (module docstring: the five stages).

        Args:
            actor: Who calls (the HTTP caller, or a job's submitter).
            name: ``server/tool``.
            arguments: The tool's arguments (a JSON object).
            job_id: The job the call belongs to, for the audit row.
            intent: Passed to the policy.

        Returns:
            The result; ``is_error`` when the tool itself reported a failure.

        Raises:
            ToolNotFoundError (404), ToolForbiddenError (403), ToolArgumentsError (422),
            ToolTimeoutError, McpUnavailableError (retryable), McpAuthRequiredError, ToolError.
        """
        args = dict(arguments or {})
        token = CALL_AUTH.set(CallAuth(user=actor.id))  # a per-user server lists as the caller
        try:
            info = await self.tool(name)
        finally:
            CALL_AUTH.reset(token)
        decision = await self.policy.decide(actor, info.name, args, intent=intent)
        if not decision.allowed:
            details: dict[str, Any] = {"tool": info.name, "tag": decision.tag,
                                       "reason": decision.reason}  # fmt: skip
            if decision.argument is not None:
                details.update(argument=decision.argument, constraint=decision.constraint)
            self._audit.submit(tool_record(actor, "tool.refused", details, job_id=job_id))
            TOOL_CALLS.labels(info.server, info.tool, ToolForbiddenError.code).inc()
            raise ToolForbiddenError(
                f"{actor.id} may not call {info.name}"
                + (f": {decision.reason}" if decision.reason else ""),
                details=details,
            )
        server = self.servers[info.server]
        outcome = "ok"
        t0 = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"execute_tool {info.name}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": info.name,
                "mcp.server": info.server,
            },
        ) as span:
            try:
                self._schemas.validate(info.name, info.input_schema, args)
                async with self._limits[info.server]:
                    sent = time.perf_counter()
                    raw = await self._send(server, info.tool, args, actor)
                    TOOL_LATENCY.labels(info.server, info.tool).observe(time.perf_counter() - sent)
                duration_ms = (time.perf_counter() - t0) * 1000
                result = _result(info.name, raw, duration_ms)
                if result.is_error:
                    outcome = "is_error"
                    span.set_status(Status(StatusCode.ERROR, "tool reported an error"))
                return result
            except OrchestratorError as exc:
                outcome = exc.code
                TOOL_ERRORS.labels(info.server, info.tool, exc.code).inc()
                span.set_status(Status(StatusCode.ERROR, exc.code))
                span.set_attribute("error.type", exc.code)
                raise
            finally:
                duration_ms = (time.perf_counter() - t0) * 1000
                TOOL_CALLS.labels(info.server, info.tool, outcome).inc()
                self._audit.submit(tool_record(actor, "tool.call", {
                    "tool": info.name, "tag": decision.tag, "arguments_sha256": digest_of(args),
                    "outcome": outcome, "duration_ms": round(duration_ms, 3),
                }, job_id=job_id))  # fmt: skip

    async def _send(
        self, server: ServerConfig, tool: str, args: dict[str, Any], actor: Actor
    ) -> CallToolResult:
        per_user = isinstance(server.auth, OAuth2Auth) and server.auth.per_user
        call = CallAuth(user=actor.id if per_user else None)
        token = CALL_AUTH.set(call)
        try:
            if isinstance(server.auth, OAuth2Auth):
                if self.tokens is None:
                    raise McpAuthRequiredError(
                        f"MCP server {server.name!r} uses oauth2 but no token source is set",
                        details={"server": server.name},
                    )
                await self.tokens.token(server.name, call.user)  # McpAuthRequiredError early
            conn = await self._pool.get(server.name)
            assert conn.client is not None
            try:
                async with asyncio.timeout(server.timeout_seconds):
                    return await conn.client.call_tool(tool, args)
            except TimeoutError:
                raise ToolTimeoutError(
                    f"{server.name}/{tool} did not answer within {server.timeout_seconds} s",
                    details={
                        "tool": f"{server.name}/{tool}",
                        "timeout_seconds": server.timeout_seconds,
                    },
                ) from None
            except MCPError as exc:
                if call.failure is not None:
                    raise call.failure from None
                if exc.code in (CONNECTION_CLOSED, INTERNAL_ERROR):
                    await self._pool.discard(conn)
                    raise McpUnavailableError(
                        f"MCP server {server.name!r} failed during {tool}: {exc.message}; "
                        "the next call reconnects",
                        details={"server": server.name, "tool": f"{server.name}/{tool}"},
                    ) from None
                raise ToolError(f"{server.name}/{tool}: {exc.message}",
                                details={"tool": f"{server.name}/{tool}",
                                         "mcp_code": exc.code}) from None  # fmt: skip
            except OrchestratorError:
                raise
            except Exception as exc:  # anyio stream errors, httpx2 transport errors, OSError
                if call.failure is not None:
                    raise call.failure from None
                await self._pool.discard(conn)
                raise McpUnavailableError(
                    f"MCP server {server.name!r} failed during {tool} "
                    f"({type(exc).__name__}); the next call reconnects",
                    details={"server": server.name, "tool": f"{server.name}/{tool}"},
                ) from None
        finally:
            CALL_AUTH.reset(token)

    async def call_many(
        self,
        actor: Actor,
        calls: Sequence[ToolCall],
        *,
        job_id: JobId | None = None,
        intent: str | None = None,
        return_exceptions: bool = False,
    ) -> list[ToolResult | ToolError]:
        """Make several calls concurrently (each server's ``max_concurrency`` still applies).

        Args:
            actor: Who calls.
            calls: ``(name, arguments)`` pairs.
            job_id, intent: As for :meth:`call`.
            return_exceptions: Put a failed call's :class:`ToolError` in its place instead of
                raising the first failure (by position) once every call has ended.

        Returns:
            The results in the order of ``calls``.
        """
        outcomes = await asyncio.gather(
            *(self.call(actor, name, args, job_id=job_id, intent=intent) for name, args in calls),
            return_exceptions=True,
        )
        results: list[ToolResult | ToolError] = []
        for outcome in outcomes:
            if isinstance(outcome, ToolResult | ToolError):
                if isinstance(outcome, ToolError) and not return_exceptions:
                    raise outcome
                results.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        return results

    async def flush_audit(self, timeout_seconds: float = 10.0) -> None:
        """Wait (bounded) until the queued audit rows are written."""
        await self._audit.flush(timeout_seconds)

    async def close(self) -> None:
        """Close every connection (terminating stdio servers) and write pending audit rows."""
        await self._pool.close()
        await self._audit.close()
        close_tokens = getattr(self.tokens, "close", None)
        if self.owns_tokens and close_tokens is not None:
            await close_tokens()


def _result(name: str, raw: CallToolResult, duration_ms: float) -> ToolResult:
    return ToolResult(
        tool=name,
        content=[b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in raw.content],
        structured_content=raw.structured_content,
        is_error=bool(raw.is_error),
        duration_ms=round(duration_ms, 3),
    )


__all__ = ["SYSTEM_ACTOR", "McpManager", "ToolCall"]

"""The MCP manager against real servers: mcp-server-git and mcp-server-time over stdio, and a
server of our own on the official SDK's server side (tests/support/mcp_test_server.py) over
streamable HTTP and stdio. Nothing of MCP is mocked."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import (
    McpAuthRequiredError,
    McpUnavailableError,
    ToolArgumentsError,
    ToolForbiddenError,
    ToolNotFoundError,
    ToolTimeoutError,
)
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.config import parse_servers
from orchestrator.mcp.manager import McpManager
from orchestrator.mcp.policy import ToolDecision
from orchestrator.mcp.tokens_static import StaticTokenSource
from orchestrator.telemetry.memory import in_memory_pipeline
from orchestrator.trace.records import AuditRecord
from tests.conftest import wait_until
from tests.support.mcp_servers import (
    HttpServer,
    children_running,
    git_config,
    http_config,
    http_test_server,
    make_git_repo,
    read_state,
    stdio_test_server_config,
    time_config,
)

ALICE = Actor(id="user:alice", tenant_id="acme", role="submitter")


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    with http_test_server() as server:
        yield server


@pytest.fixture
def fresh_http_server() -> Iterator[HttpServer]:
    with http_test_server() as server:
        yield server


def manager_of(*configs: dict[str, Any], **kwargs: Any) -> McpManager:
    return McpManager(parse_servers(list(configs), source="test"), **kwargs)


@pytest.fixture
async def manager(http_server: HttpServer) -> AsyncIterator[McpManager]:
    http_server.reset()
    async with manager_of(git_config(), time_config(), http_config("t", http_server.url)) as m:
        yield m


async def test_tools_of_stdio_and_http_servers_are_listed_namespaced(manager: McpManager) -> None:
    names = {t.name for t in await manager.list_tools(ALICE)}

    assert {"git/git_log", "git/git_status", "time/get_current_time", "t/echo",
            "t/count"} <= names  # fmt: skip
    echo = await manager.tool("t/echo")
    assert echo.server == "t" and echo.input_schema["required"] == ["text"]


async def test_calls_reach_git_time_and_http_servers(manager: McpManager, tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path / "repo", commits=2)

    log = await manager.call(ALICE, "git/git_log", {"repo_path": str(repo), "max_count": 5})
    now = await manager.call(ALICE, "time/get_current_time", {"timezone": "UTC"})
    echoed = await manager.call(ALICE, "t/echo", {"text": "hello"})

    assert "commit number 1" in log.text and not log.is_error
    assert isinstance(now.structured_content, dict)
    assert now.structured_content["timezone"] == "UTC"
    assert echoed.text == "hello" and echoed.duration_ms > 0


async def test_call_many_runs_concurrently_and_keeps_the_order(
    manager: McpManager, http_server: HttpServer
) -> None:
    calls = [("t/sleep", {"ms": 200 + i}) for i in range(5)]

    results = await manager.call_many(ALICE, calls)

    assert [r.text for r in results if not isinstance(r, Exception)] == [
        f"slept {200 + i}" for i in range(5)
    ]
    assert http_server.stats()["max_in_flight"] == 5  # all five at the server at once


async def test_a_servers_max_concurrency_is_respected_at_the_server(
    fresh_http_server: HttpServer,
) -> None:
    async with manager_of(http_config("t", fresh_http_server.url, max_concurrency=2)) as m:
        await m.call_many(ALICE, [("t/sleep", {"ms": 100})] * 6)

    stats = fresh_http_server.stats()
    assert stats["calls"]["sleep"] == 6
    assert stats["max_in_flight"] == 2


async def test_an_unknown_server_or_tool_is_tool_not_found(manager: McpManager) -> None:
    for name in ("nosuch/echo", "t/nosuch", "no-slash"):
        with pytest.raises(ToolNotFoundError) as caught:
            await manager.call(ALICE, name, {})
        assert caught.value.code == "tool_not_found"


async def test_arguments_failing_the_schema_name_the_field_and_nothing_is_sent(
    manager: McpManager, http_server: HttpServer
) -> None:
    for arguments, field in (({"text": 3}, "/text"), ({}, "/text"), ({"ms": "x"}, "/ms")):
        tool = "t/sleep" if "ms" in arguments else "t/echo"
        with pytest.raises(ToolArgumentsError) as caught:
            await manager.call(ALICE, tool, arguments)
        assert caught.value.code == "tool_arguments_invalid"
        assert caught.value.details["field"] == field

    assert http_server.stats()["calls"] == {}


async def test_a_hanging_server_is_tool_timeout_and_the_connection_stays_usable(
    http_server: HttpServer,
) -> None:
    async with manager_of(http_config("t", http_server.url, timeout_seconds=0.5)) as m:
        with pytest.raises(ToolTimeoutError) as caught:
            await m.call(ALICE, "t/hang", {})
        assert caught.value.code == "tool_timeout" and caught.value.retryable
        assert (await m.call(ALICE, "t/echo", {"text": "after"})).text == "after"


async def test_a_server_process_killed_mid_call_is_retryable_and_the_next_call_reconnects(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    async with manager_of(stdio_test_server_config("s", state)) as m:
        assert (await m.call(ALICE, "s/echo", {"text": "first"})).text == "first"
        [pid] = children_running(str(state))
        call = asyncio.ensure_future(m.call(ALICE, "s/sleep", {"ms": 20000}))

        async def in_flight() -> bool:
            return read_state(state).get("in_flight") == 1

        await wait_until(in_flight, what="the sleep call to reach the server")
        os.kill(pid, signal.SIGKILL)

        with pytest.raises(McpUnavailableError) as caught:
            await asyncio.wait_for(call, 10)
        assert caught.value.code == "mcp_unavailable" and caught.value.retryable

        assert (await m.call(ALICE, "s/echo", {"text": "again"})).text == "again"
        assert children_running(str(state)) not in ([], [pid])  # a new server process


class DenyCount:
    """A policy that hides and refuses ``t/count`` (a stand-in for the tags layer)."""

    async def decide(
        self, actor: Actor, tool: str, arguments: Mapping[str, Any] | None, *,
        intent: str | None = None,
    ) -> ToolDecision:  # fmt: skip
        if tool == "t/count":
            return ToolDecision(False, tag="no-counting", reason="counting is off",
                                argument="/n", constraint={"maximum": 0})  # fmt: skip
        return ToolDecision(True)


async def test_the_policy_filters_the_list_and_refuses_calls_with_an_audit_row(
    http_server: HttpServer,
) -> None:
    rows: list[AuditRecord] = []

    async def audit(record: AuditRecord) -> None:
        rows.append(record)

    async with manager_of(http_config("t", http_server.url), policy=DenyCount(),
                          audit=audit) as m:  # fmt: skip
        names = {t.name for t in await m.list_tools(ALICE)}
        before = http_server.stats()["calls"].get("count", 0)
        with pytest.raises(ToolForbiddenError) as caught:
            await m.call(ALICE, "t/count", {})
        await m.call(ALICE, "t/echo", {"text": "secret"})
        await m.flush_audit()

    assert "t/count" not in names and "t/echo" in names
    assert caught.value.code == "tool_forbidden" and not caught.value.retryable
    assert http_server.stats()["calls"].get("count", 0) == before
    refused = [r for r in rows if r.action == "tool.refused"]
    assert refused[0].actor == "user:alice" and refused[0].tenant_id == "acme"
    assert refused[0].details == {"tool": "t/count", "tag": "no-counting",
                                  "reason": "counting is off", "argument": "/n",
                                  "constraint": {"maximum": 0}}  # fmt: skip
    [called] = [r for r in rows if r.action == "tool.call"]
    assert called.details is not None
    assert called.details["tool"] == "t/echo" and called.details["outcome"] == "ok"
    assert len(called.details["arguments_sha256"]) == 64
    assert "secret" not in repr(called.details)


async def test_each_call_is_an_execute_tool_span(http_server: HttpServer) -> None:
    pipeline, exporter = in_memory_pipeline()
    async with manager_of(http_config("t", http_server.url), tracer=pipeline.tracer) as m:
        await m.call(ALICE, "t/echo", {"text": "x"})

    [span] = [s for s in exporter.get_finished_spans() if s.name == "execute_tool t/echo"]
    assert span.attributes is not None
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == "t/echo"
    assert span.attributes["mcp.server"] == "t"


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("good-2\n")
    return path


@pytest.fixture
def guarded_server(tokens_file: Path) -> Iterator[HttpServer]:
    with http_test_server(tokens_file) as server:
        yield server


def oauth_config(url: str) -> dict[str, Any]:
    return http_config("g", url, auth={"type": "oauth2", "token_url": "http://127.0.0.1:1/token",
                                       "client_id": "orchestrator"})  # fmt: skip


async def test_an_oauth2_401_gets_one_refresh_and_a_retry(
    guarded_server: HttpServer, tokens_file: Path
) -> None:
    """The static token source stands in for the token manager (tests/e2e/test_tools_oauth.py
    drives the real one): the manager's side of the contract is one refresh-and-retry per
    rejection."""
    tokens = StaticTokenSource({"g": ["stale-1", "good-2"]})
    async with manager_of(oauth_config(guarded_server.url), tokens=tokens) as m:
        assert (await m.call(ALICE, "g/echo", {"text": "in"})).text == "in"
        assert tokens.refreshes == {"g": 1}

        await asyncio.to_thread(tokens_file.write_text, "")  # the server revokes every token
        with pytest.raises(McpAuthRequiredError) as caught:
            await m.call(ALICE, "g/echo", {"text": "out"})

    assert caught.value.code == "mcp_auth_required" and not caught.value.retryable
    assert tokens.refreshes == {"g": 2}
    assert guarded_server.stats()["calls"].get("echo") == 1


async def test_a_rejected_bearer_token_is_mcp_auth_required(guarded_server: HttpServer) -> None:
    bearer = {"type": "bearer", "token": {"env": "I13_TEST_TOKEN"}}
    os.environ["I13_TEST_TOKEN"] = "good-2"
    try:
        async with manager_of(http_config("b", guarded_server.url, auth=bearer)) as m:
            assert (await m.call(ALICE, "b/echo", {"text": "ok"})).text == "ok"
            os.environ["I13_TEST_TOKEN"] = "wrong"
            with pytest.raises(McpAuthRequiredError):
                await m.call(ALICE, "b/echo", {"text": "no"})
    finally:
        os.environ.pop("I13_TEST_TOKEN", None)


async def test_tool_lists_are_cached_in_redis_under_the_servers_key(
    http_server: HttpServer, redis: Any
) -> None:
    from orchestrator.keys import Keys

    keys = Keys(f"t{os.getpid()}")
    async with manager_of(http_config("t", http_server.url), redis=redis, keys=keys,
                          tools_cache_ttl_seconds=60) as m:  # fmt: skip
        await m.list_tools()

    raw = await redis.get(keys.mcp_tools("t"))
    assert raw is not None and b'"t/echo"' in raw
    assert 0 < await redis.ttl(keys.mcp_tools("t")) <= 60
    async with manager_of(http_config("t", "http://127.0.0.1:1/mcp"), redis=redis,
                          keys=keys) as cached:  # fmt: skip
        assert "t/echo" in {t.name for t in await cached.list_tools()}  # no server needed
    await redis.delete(keys.mcp_tools("t"))


async def test_closing_the_manager_terminates_stdio_servers(tmp_path: Path) -> None:
    marker = str(tmp_path / "closing.json")
    m = manager_of(stdio_test_server_config("s", Path(marker)))
    await m.call(ALICE, "s/echo", {"text": "x"})
    assert children_running(marker)

    await m.close()

    async def gone() -> bool:
        return not children_running(marker)

    await wait_until(gone, timeout_seconds=10, what="the stdio server to exit")


async def test_a_tools_list_changed_event_drops_the_cached_list(
    fresh_http_server: HttpServer, redis: Any
) -> None:
    from orchestrator.keys import Keys

    keys = Keys(f"lc{os.getpid()}")
    async with manager_of(http_config("t", fresh_http_server.url), redis=redis, keys=keys) as m:
        assert "t/fresh" not in {t.name for t in await m.list_tools()}
        assert await redis.exists(keys.mcp_tools("t"))

        await m.call(ALICE, "t/add_tool", {"name": "fresh"})

        async def dropped() -> bool:
            return not await redis.exists(keys.mcp_tools("t"))

        await wait_until(dropped, what="the tools/list_changed event to drop the cache")
        assert "t/fresh" in {t.name for t in await m.list_tools()}
    await redis.delete(keys.mcp_tools("t"))


async def test_an_http_server_killed_mid_call_is_a_retryable_mcp_unavailable() -> None:
    with http_test_server() as first:
        async with manager_of(http_config("t", first.url, timeout_seconds=10)) as m:
            call = asyncio.ensure_future(m.call(ALICE, "t/sleep", {"ms": 20000}))

            async def in_flight() -> bool:
                return first.stats()["calls"].get("sleep") == 1

            await wait_until(in_flight, what="the sleep call to reach the server")
            first.process.kill()

            with pytest.raises(McpUnavailableError) as caught:
                await asyncio.wait_for(call, 10)
            assert caught.value.retryable


async def test_a_per_user_oauth2_server_gets_each_callers_own_token(
    guarded_server: HttpServer,
) -> None:
    """The token source is asked for the calling user's token (``per_user: true``)."""
    config = http_config("g", guarded_server.url, auth={
        "type": "oauth2", "token_url": "http://127.0.0.1:1/token", "client_id": "orchestrator",
        "per_user": True,
    })  # fmt: skip
    bob = Actor(id="user:bob", tenant_id="acme")
    tokens = StaticTokenSource({"g:user:alice": ["good-2"]})
    async with manager_of(config, tokens=tokens) as m:
        assert (await m.call(ALICE, "g/echo", {"text": "mine"})).text == "mine"
        with pytest.raises(McpAuthRequiredError):
            await m.call(bob, "g/echo", {"text": "not mine"})

    assert guarded_server.stats()["calls"] == {"echo": 1}

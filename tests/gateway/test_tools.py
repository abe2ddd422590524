"""``/v1/tools``: listing and calling MCP tools through the gateway, as the caller, on real
servers (mcp-server-time over stdio, the SDK-built test server over streamable HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from tests.conftest import wait_until
from tests.gateway import flows
from tests.support.mcp_servers import HttpServer, http_config, http_test_server, time_config
from tests.support.stack import InProcessStack, in_process_stack


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_test_server() as s:
        yield s


@pytest.fixture
async def stack(
    isolated_settings: Callable[..., Settings], server: HttpServer
) -> AsyncIterator[InProcessStack]:
    server.reset()
    settings = isolated_settings(
        mcp={"servers": [time_config(), http_config("t", server.url, timeout_seconds=1)]}
    )
    async with in_process_stack(settings, flows.registry(), with_worker=False) as s:
        yield s


async def key_of(stack: InProcessStack, role: str) -> dict[str, str]:
    _, key = await ApiKeyStore(stack.services.trace.engine).create(stack.tenant, role, role)
    return {"Authorization": f"Bearer {key}"}


async def test_the_tool_list_is_namespaced_with_input_schemas(stack: InProcessStack) -> None:
    response = await stack.client.get("/v1/tools")

    assert response.status_code == 200
    tools = {t["name"]: t for t in response.json()["tools"]}
    assert {"time/get_current_time", "t/echo", "t/sleep"} <= set(tools)
    assert tools["t/echo"]["server"] == "t"
    assert tools["t/echo"]["input_schema"]["properties"]["text"]["type"] == "string"
    assert set(tools["t/echo"]) == {"name", "server", "description", "input_schema"}


async def test_a_call_returns_the_result_and_is_audited_as_the_caller(
    stack: InProcessStack,
) -> None:
    response = await stack.client.post("/v1/tools/time/get_current_time:call",
                                       json={"timezone": "UTC"})  # fmt: skip
    echoed = await stack.client.post("/v1/tools/t/echo:call", json={"text": "hi"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tool", "content", "structured_content", "is_error", "duration_ms"}
    assert body["tool"] == "time/get_current_time" and body["is_error"] is False
    assert body["structured_content"]["timezone"] == "UTC"
    assert echoed.json()["content"] == [{"type": "text", "text": "hi"}]

    async def audited() -> bool:
        rows, _ = await stack.services.trace.list_audit(tenant_id=stack.tenant, action="tool.call")
        return len(rows) == 2

    await wait_until(audited, what="two tool.call audit rows")
    rows, _ = await stack.services.trace.list_audit(tenant_id=stack.tenant, action="tool.call")
    assert {r.details["tool"] for r in rows if r.details} == {"time/get_current_time", "t/echo"}
    assert all(r.actor.startswith("key:") and r.request_id for r in rows)


async def test_unknown_servers_and_tools_are_404_tool_not_found(stack: InProcessStack) -> None:
    for path in ("/v1/tools/nosuch/echo:call", "/v1/tools/t/nosuch:call"):
        response = await stack.client.post(path, json={})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tool_not_found"


async def test_bad_arguments_are_422_naming_the_field_and_nothing_reaches_the_server(
    stack: InProcessStack, server: HttpServer
) -> None:
    response = await stack.client.post("/v1/tools/t/sleep:call", json={"ms": "soon"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "tool_arguments_invalid" and error["details"]["field"] == "/ms"
    assert server.stats()["calls"] == {}


async def test_a_hanging_tool_is_504_tool_timeout(stack: InProcessStack) -> None:
    response = await stack.client.post("/v1/tools/t/hang:call", json={})

    assert response.status_code == 504
    assert response.json()["error"]["code"] == "tool_timeout"


async def test_a_viewer_may_list_but_not_call(stack: InProcessStack) -> None:
    viewer = await key_of(stack, "viewer")
    submitter = await key_of(stack, "submitter")

    listed = await stack.client.get("/v1/tools", headers=viewer)
    refused = await stack.client.post("/v1/tools/t/echo:call", json={"text": "x"}, headers=viewer)
    called = await stack.client.post("/v1/tools/t/echo:call", json={"text": "x"},
                                     headers=submitter)  # fmt: skip

    assert listed.status_code == 200 and listed.json()["tools"]
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert called.status_code == 200


async def test_calls_count_against_the_submit_rate_limit(
    isolated_settings: Callable[..., Settings], server: HttpServer
) -> None:
    settings = isolated_settings(
        mcp={"servers": [http_config("t", server.url)]},
        auth={"submit_rate_per_key": "2/minute"},
    )
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        statuses: list[Any] = []
        for _ in range(3):
            r = await stack.client.post("/v1/tools/t/echo:call", json={"text": "x"})
            statuses.append(r.status_code)

    assert statuses == [200, 200, 429]

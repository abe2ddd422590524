"""End to end: the official ``mcp`` client lists and calls workflows through the gateway's
``/mcp`` (streamable HTTP), gateway and worker as separate processes (issue 17).

The workflow called is the agent-shaped stand-in (tests/support/session_agent); flows are tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.e2e.conftest import Stack, start_stack
from tests.support.session_agent import WORKFLOW

pytestmark = pytest.mark.e2e


@pytest.fixture
def mcp_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    with start_stack(redis_url, pg_url, tmp_path,
                     workflows="tests.support.session_agent") as s:  # fmt: skip
        yield s


def flow_tag(tool: str) -> dict[str, Any]:
    return {"kind": "flow", "payload": {
        "meta": {"description": f"Calls {tool}"}, "config": {"assigned_roles": ["admin"]},
        "content": {"description": f"Calls {tool}", "inputs": {"x": {"type": "string"}},
                    "steps": [{"name": "call", "tool": tool}]}}}  # fmt: skip


async def test_the_mcp_client_lists_and_calls_a_workflow_with_an_api_key(mcp_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=mcp_stack.url, headers=mcp_stack.headers) as http:
        # the admin's tags: git is denied; one flow uses time (listed), one uses git (not listed)
        await http.put("/v1/tags/no_git", json={"kind": "role", "payload": {
            "config": {"assigned_roles": ["admin"], "denied_tools": ["git/*"]}}})  # fmt: skip
        assert (await http.put("/v1/tags/clock", json=flow_tag("time/get_current_time"))).is_success
        assert (await http.put("/v1/tags/history", json=flow_tag("git/git_log"))).is_success
        refused = await http.post("/mcp", headers={"Authorization": ""},
                                  json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})  # fmt: skip

    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with create_mcp_http_client(headers=mcp_stack.headers) as client_http:
        transport = streamable_http_client(f"{mcp_stack.url}/mcp", http_client=client_http)
        async with Client(transport, mode="auto") as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            result = await client.call_tool(
                WORKFLOW,
                {"task": "hello there", "session_id": "s1", "history": []},
                progress_callback=on_progress,
            )

    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    assert WORKFLOW in listed and "flow.clock" in listed
    assert "flow.history" not in listed  # it calls a tool outside the caller's tags
    assert listed[WORKFLOW].input_schema["required"] == ["task", "session_id", "history"]
    assert listed["flow.clock"].input_schema["properties"] == {"x": {"type": "string"}}
    assert result.is_error is not True, result
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"reply": "echo(0): hello there "}
    assert [p[0] for p in progress] == [1.0, 2.0] and progress[-1][1] == 2.0


async def test_the_mcp_client_without_an_api_key_is_refused(mcp_stack: Stack) -> None:
    statuses: list[int] = []

    async def record(response: Any) -> None:
        statuses.append(response.status_code)

    async with create_mcp_http_client() as client_http:
        client_http.event_hooks["response"].append(record)
        transport = streamable_http_client(f"{mcp_stack.url}/mcp", http_client=client_http)
        with pytest.raises(Exception):  # noqa: B017 (the SDK wraps the 401 in its task groups)
            async with Client(transport, mode="auto") as client:
                await client.list_tools()
    assert statuses and set(statuses) == {401}


async def test_a_job_question_is_an_input_request_the_mcp_client_answers_in_place(
    mcp_stack: Stack,
) -> None:
    """MCP 2026-07-28 multi-round-trip requests: the official client's elicitation callback
    answers the flow's questions (a string, then an object form), and the call returns the
    job's result; a declined question leaves the job waiting, named in the error."""
    flow = {"kind": "flow", "payload": {"config": {"assigned_roles": ["admin"]}, "content": {
        "description": "Asks twice.",
        "steps": [
            {"name": "zone", "ask": {"prompt": "Which zone?", "schema": {"type": "string"}}},
            {"name": "size", "depends_on": ["zone"], "ask": {
                "prompt": "Zone {{ steps.zone.output }}: how many?",
                "schema": {"type": "object", "properties": {"n": {"type": "integer"}},
                           "required": ["n"]}}},
        ],
        "output": "size"}}}  # fmt: skip
    async with httpx.AsyncClient(base_url=mcp_stack.url, headers=mcp_stack.headers) as http:
        assert (await http.put("/v1/tags/asker", json=flow)).is_success

    asked: list[tuple[str, dict[str, Any]]] = []

    async def answer(context: Any, params: Any) -> Any:
        from mcp_types import ElicitResult

        asked.append((params.message, params.requested_schema))
        if "decline" in [a[0] for a in asked]:
            return ElicitResult(action="decline")
        if params.message == "Which zone?":
            return ElicitResult(action="accept", content={"answer": "Europe/Paris"})
        return ElicitResult(action="accept", content={"n": 3})

    async with create_mcp_http_client(headers=mcp_stack.headers) as client_http:
        transport = streamable_http_client(f"{mcp_stack.url}/mcp", http_client=client_http)
        async with Client(transport, mode="auto", elicitation_callback=answer) as client:
            result = await client.call_tool("flow.asker", {})
            asked.append(("decline", {}))
            declined = await client.call_tool("flow.asker", {})

    assert result.is_error is not True, result
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"size": {"n": 3}}
    (zone_prompt, zone_form), (size_prompt, size_form) = asked[:2]
    assert zone_prompt == "Which zone?"
    assert zone_form["properties"]["answer"]["type"] == "string"  # a string question, wrapped
    assert size_prompt == "Zone Europe/Paris: how many?"
    assert size_form["properties"] == {"n": {"type": "integer"}}  # an object form, as it is
    assert declined.is_error is True and declined.structured_content is not None
    waiting_id = declined.structured_content["job_id"]
    assert declined.structured_content["code"] == "answer_declined"
    async with httpx.AsyncClient(base_url=mcp_stack.url, headers=mcp_stack.headers) as http:
        job = (await http.get(f"/v1/jobs/{waiting_id}")).json()
    assert job["status"] == "waiting" and job["questions"][0]["step"] == "zone"

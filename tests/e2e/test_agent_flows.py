"""End to end: a ``plan`` envelope runs a flow (DESIGN §17, §18) — a flow tag, or a flow the
model proposes, validated for the user before anything runs and approved by the user when the
agent's settings require it — with the gateway and two workers as separate processes.

What stands in for the Anthropic API: tests/support/llm_server.py, a local process speaking the
Messages API's SSE wire format, driven by the worker's real ``anthropic`` SDK (nothing is
monkeypatched). Tools are the SDK-built test MCP server over streamable HTTP (``t/*``, with
call statistics). The flows exist only as data: no Python workflow module holds them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, start_stack
from tests.e2e.test_agents import (
    SONNET,
    client_of,
    envelope,
    envelope_requests,
    execute,
    last_results,
    script,
    status_is,
    stream,
    task_ended,
)
from tests.support.llm import LLMServer
from tests.support.mcp_servers import HttpServer, http_config, http_test_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[HttpServer]:
    with http_test_server() as s:
        yield s


@pytest.fixture(scope="module")
def flows_stack(
    redis_url: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory,
    llm_server_process: LLMServer, mcp_server: HttpServer,
) -> Iterator[Stack]:  # fmt: skip
    """Gateway + two workers of one job slot each: the agent's job waits in one while its flow's
    job runs in the other."""
    env = {
        "ORCH_LLM__DEFAULT_MODEL": SONNET,
        "ORCH_LLM__ANTHROPIC_API_KEY": "test-key",
        "ORCH_LLM__ANTHROPIC_BASE_URL": llm_server_process.anthropic_url,
        "ORCH_LLM__MAX_RETRIES": "0",
        "ORCH_MCP__SERVERS": json.dumps([http_config("t", mcp_server.url)]),
        "ORCH_AGENTS__MODULES": "tests.e2e.agent_plugins",
        "ORCH_WORKER__MAX_JOBS": "1",
    }
    with start_stack(redis_url, pg_url, tmp_path_factory.mktemp("agent-flows"), extra_env=env,
                     workers=2) as s:  # fmt: skip
        yield s


@pytest.fixture
def llm(llm_server: LLMServer) -> LLMServer:
    return llm_server


def echo_flow(prefix: str) -> dict[str, Any]:
    """echo the input, then echo each word of it (a fan-out)."""
    return {
        "description": "Echoes a text, then each of its words.",
        "inputs": {"text": {"type": "string"}, "words": {"type": "array"}},
        "steps": [
            {"name": "whole", "tool": "t/echo", "arguments": {"text": prefix + "{{ inputs.text }}"}},
            {"name": "words", "tool": "t/echo", "parallel": True, "depends_on": ["whole"],
             "map_over": "{{ inputs.words }}", "arguments": {"text": "{{ item }}"}},
        ],
        "output": "words",
    }  # fmt: skip


async def put_flow(client: httpx.AsyncClient, name: str, content: dict[str, Any]) -> None:
    r = await client.put(f"/v1/tags/{name}", json={"kind": "flow", "payload": {
        "meta": {"title": name, "description": "Echo a text and its words."},
        "config": {"assigned_roles": ["*"]}, "content": content}})  # fmt: skip
    assert r.status_code in (200, 201), r.text


def agent_events(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events
            if e.get("type") == "step.progress" and (e.get("data") or {}).get("event") == name]  # fmt: skip


async def test_a_plan_runs_a_flow_tag_as_its_own_job_and_the_model_gets_its_result(
    flows_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"echo through the flow {tag}"
    flow = f"echo_words_{tag}"
    script(llm, task, "ops", [
        envelope(type="plan", flow=flow, flow_inputs={"text": "red green",
                                                      "words": ["red", "green"]}),
        envelope(type="reply", content="done"),
    ])  # fmt: skip
    mcp_server.reset()
    async with client_of(flows_stack) as client:
        await put_flow(client, flow, echo_flow("all: "))
        task_id = await execute(client, task)
        body = await task_ended(client, task_id)
        events = await stream(client, task_id)
        [started] = agent_events(events, "agent.flow_started")
        child = (await client.get(f"/v1/jobs/{started['job_id']}")).json()
    assert body["result"]["content"] == "done"
    # the model was shown the flow it may run, with its inputs' schema
    first, second = envelope_requests(llm, task)
    assert f"- {flow}: Echo a text and its words." in first["system"]
    _, told = last_results(second)
    outcome = told["flow"]
    assert (outcome["ok"], outcome["status"], outcome["job_id"]) == (True, "succeeded", child["job_id"])
    assert outcome["result"] == child["result"] and "green" in json.dumps(child["result"])
    # the flow ran as a job of its own, by the runtime, pinned to the tag's definition
    assert child["workflow"] == f"flow:{flow}" and child["status"] == "succeeded"
    assert {"whole", "words[0]", "words[1]"} <= {s["name"] for s in child["steps"]}
    assert mcp_server.stats()["calls"]["echo"] == 3
    assert [e["status"] for e in agent_events(events, "agent.flow_finished")] == ["succeeded"]
    assert agent_events(events, "agent.flow_event"), "the flow's progress is forwarded"
    # the reply as the model wrote it (the anthropic SDK's input_json_delta pieces), then chunks
    assert "".join(e["text"] for e in agent_events(events, "agent.reply_delta")) == "done"
    assert "".join(e["data"] for e in events if e.get("type") == "step.chunk") == "done"


async def test_a_proposed_flow_calling_a_tool_outside_the_users_tags_is_refused_before_any_step(
    flows_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"count with a flow {tag}"
    proposed = {"steps": [
        {"name": "first", "tool": "t/echo", "arguments": {"text": "hi"}},
        {"name": "tally", "tool": "t/count", "depends_on": ["first"]},
    ]}  # fmt: skip
    script(llm, task, "ops", [
        envelope(type="plan", flow_definition=proposed),
        envelope(type="reply", content="not allowed"),
    ])  # fmt: skip
    mcp_server.reset()
    async with client_of(flows_stack) as client:
        r = await client.put(f"/v1/tags/no-count-{tag}", json={"kind": "role", "payload": {
            "config": {"assigned_roles": ["admin"], "denied_tools": ["t/count"]}}})  # fmt: skip
        assert r.status_code == 201, r.text
        try:
            task_id = await execute(client, task)
            body = await task_ended(client, task_id)
            refused = (await client.get("/v1/audit", params={"action": "tool.refused",
                                                             "job_id": task_id})).json()  # fmt: skip
            events = await stream(client, task_id)
        finally:
            await client.delete(f"/v1/tags/no-count-{tag}")
    assert body["result"]["content"] == "not allowed"
    _, second = envelope_requests(llm, task)
    _, told = last_results(second)
    error = told["flow"]["error"]
    assert (error["code"], error["details"]["step"], error["details"]["tool"]) == (
        "tool_forbidden", "tally", "t/count")  # fmt: skip
    assert mcp_server.stats()["calls"] == {}, "no step ran: not even the allowed first one"
    assert agent_events(events, "agent.flow_started") == [], "no flow job was started"
    [refusal] = agent_events(events, "agent.flow_refused")
    assert refusal["error"] == "tool_forbidden"
    [row] = refused["items"]
    assert (row["details"]["tool"], row["details"]["tag"]) == ("t/count", f"no-count-{tag}")


async def test_a_proposed_flow_waits_for_the_users_approval_and_a_refusal_is_told_to_the_model(
    flows_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    yes, no = f"approve it {tag}", f"decline it {tag}"
    proposed = {"inputs": {"text": {"type": "string"}},
                "steps": [{"name": "say", "tool": "t/echo",
                           "arguments": {"text": "said {{ inputs.text }}"}}]}  # fmt: skip
    for task in (yes, no):
        script(llm, task, "ops", [
            envelope(type="plan", flow_definition=proposed, flow_inputs={"text": task}),
            envelope(type="reply", content="finished"),
        ])  # fmt: skip
    mcp_server.reset()
    async with client_of(flows_stack) as client:
        yes_id, no_id = await execute(client, yes), await execute(client, no)
        for task_id, approved in ((yes_id, True), (no_id, False)):
            await status_is(client, task_id, "waiting")
            job = (await client.get(f"/v1/jobs/{task_id}")).json()
            [question] = job["questions"]
            assert "a new flow it wrote" in question["prompt"]
            assert "- say: calls t/echo" in question["prompt"]
            assert question["schema"]["required"] == ["approved"]
            r = await client.post(f"/v1/jobs/{task_id}/input",
                                  json={"answer": {"approved": approved, "comment": "why"}})  # fmt: skip
            assert r.status_code == 202, r.text
        await task_ended(client, yes_id)
        await task_ended(client, no_id)
    assert mcp_server.stats()["calls"] == {"echo": 1}, "only the approved flow ran"
    _, approved_told = last_results(envelope_requests(llm, yes)[-1])
    assert approved_told["flow"]["ok"] is True
    assert f"said {yes}" in json.dumps(approved_told["flow"]["result"])
    _, declined_told = last_results(envelope_requests(llm, no)[-1])
    assert declined_told["flow"]["error"]["code"] == "flow_declined"
    assert declined_told["flow"]["error"]["comment"] == "why"

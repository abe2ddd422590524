"""End to end: agent tasks (DESIGN §17) with the gateway and the worker as separate processes.

What stands in for the Anthropic API: tests/support/llm_server.py, a local process speaking the
Messages API's SSE wire format; the worker's real ``anthropic`` SDK talks to it over HTTP
(``ORCH_LLM__ANTHROPIC_BASE_URL``). Nothing is monkeypatched. The server's rules script the
model: the router's ``classify_task`` answers and the engine's ``envelope`` answers, keyed by
the task's text (its first user message). Tools are real MCP servers: the SDK-built test server
over streamable HTTP (``t/*``: echo, sleep, count, with call statistics) and mcp-server-git over
stdio. Requests are counted at both servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack
from tests.support.llm import LLMServer
from tests.support.mcp_servers import HttpServer, git_config, http_config, http_test_server

pytestmark = pytest.mark.e2e

SONNET = "anthropic:claude-sonnet-4-5"


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[HttpServer]:
    with http_test_server() as s:
        yield s


@pytest.fixture(scope="module")
def agent_stack(
    redis_url: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory,
    llm_server_process: LLMServer, mcp_server: HttpServer,
) -> Iterator[Stack]:  # fmt: skip
    """Gateway + one worker running one job at a time (so a freed worker is observable)."""
    env = {
        "ORCH_LLM__DEFAULT_MODEL": SONNET,
        "ORCH_LLM__ANTHROPIC_API_KEY": "test-key",
        "ORCH_LLM__ANTHROPIC_BASE_URL": llm_server_process.anthropic_url,
        "ORCH_LLM__MAX_RETRIES": "0",
        "ORCH_MCP__SERVERS": json.dumps([http_config("t", mcp_server.url), git_config()]),
        "ORCH_AGENTS__MODULES": "tests.e2e.agent_plugins",
        "ORCH_AGENTS__MAX_TASK_CHARS": "500",
        "ORCH_AGENTS__MAX_ENVELOPE_RETRIES": "2",
        "ORCH_WORKER__MAX_JOBS": "1",
    }
    with start_stack(redis_url, pg_url, tmp_path_factory.mktemp("agents"), extra_env=env) as s:
        yield s


@pytest.fixture
def llm(llm_server: LLMServer) -> LLMServer:
    return llm_server


def client_of(stack: Stack, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url, timeout=httpx.Timeout(30, read=60),
                             headers=headers or stack.headers)  # fmt: skip


def classify(agent: str, confidence: float) -> dict[str, Any]:
    return {"tool_uses": [{"name": "classify_task", "input": {
        "agent_name": agent, "confidence": confidence, "reasoning": f"looks like {agent}"}}]}  # fmt: skip


def envelope(**fields: Any) -> dict[str, Any]:
    return {"tool_uses": [{"name": "envelope", "input": {"confidence": 0.9, "reasoning": "r",
                                                          **fields}}]}  # fmt: skip


def script(llm: LLMServer, task: str, agent: str, turns: list[dict[str, Any]],
           confidence: float = 0.9) -> None:  # fmt: skip
    llm.rule([classify(agent, confidence)], first=task, tool="classify_task")
    if turns:
        llm.rule(turns, first=task, tool="envelope")


async def execute(client: httpx.AsyncClient, task: str, **extra: Any) -> str:
    r = await client.post("/v1/agent/execute", json={"task": task, **extra})
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"task_id", "session_id", "status", "queued_at", "message", "api_version"}
    return str(body["task_id"])


async def task_ended(client: httpx.AsyncClient, task_id: str, status: str = "succeeded"
                     ) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal body
        body = (await client.get(f"/v1/tasks/{task_id}")).json()
        return body["status"] in ("succeeded", "failed", "cancelled")

    await wait_until(done, timeout_seconds=60, interval_seconds=0.05, what=f"task {task_id}")
    assert body["status"] == status, body
    return body


async def status_is(client: httpx.AsyncClient, task_id: str, status: str) -> None:
    async def reached() -> bool:
        return bool((await client.get(f"/v1/tasks/{task_id}")).json()["status"] == status)

    await wait_until(reached, timeout_seconds=60, interval_seconds=0.05, what=f"task {status}")


def envelope_requests(llm: LLMServer, task: str) -> list[dict[str, Any]]:
    return [e for e in llm.log(first=task) if "envelope" in e["tools"]]


def last_results(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The last message of a request: how many blocks, and its one tool_result's JSON."""
    message = request["messages"][-1]
    assert message["role"] == "user"
    [block] = message["content"]
    assert block["type"] == "tool_result"
    return len(message["content"]), {**json.loads(block["content"]),
                                     "_is_error": block.get("is_error", False)}  # fmt: skip


async def test_tasks_are_routed_to_content_code_or_fail_below_the_threshold(
    agent_stack: Stack, llm: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    content, code, vague = f"write an article {tag}", f"refactor this {tag}", f"hmm {tag}"
    script(llm, content, "content", [envelope(
        type="reply", content="A long article.",
        citations=[{"source": "search/web", "title": "A source"}])])  # fmt: skip
    script(llm, code, "code", [envelope(type="reply", content="def f():\n    return 1\n",
                                        code_language="python")])  # fmt: skip
    script(llm, vague, "content", [], confidence=0.2)
    async with client_of(agent_stack) as client:
        ids = {k: await execute(client, t) for k, t in
               (("content", content), ("code", code), ("vague", vague))}  # fmt: skip
        got_content = await task_ended(client, ids["content"])
        got_code = await task_ended(client, ids["code"])
        got_vague = await task_ended(client, ids["vague"], "failed")

        async def metered() -> bool:  # llm_calls rows are written off the job's path
            nonlocal got_code
            got_code = (await client.get(f"/v1/tasks/{ids['code']}")).json()
            return bool(got_code["usage"]["calls"] >= 1)

        await wait_until(metered, timeout_seconds=30, interval_seconds=0.1, what="usage rows")
        by_agent = (await client.get("/v1/tasks", params={"agent_type": "code"})).json()
        failed = (await client.get("/v1/tasks", params={"status": "failed"})).json()
        metrics = (await client.get("/v1/system/metrics")).json()
        job = (await client.get(f"/v1/jobs/{ids['code']}")).json()

    assert (got_content["selected_agent"], got_content["agent_type"]) == ("content", "content")
    assert got_content["routing"]["confidence"] == 0.9
    assert got_content["routing"]["reasoning"] == "looks like content"
    assert got_content["result"] == {
        "agent_name": "content", "content": "A long article.", "code_language": None,
        "citations": [{"source": "search/web", "title": "A source", "snippet": None}]}  # fmt: skip
    assert got_code["result"]["agent_name"] == "code"
    assert got_code["result"]["code_language"] == "python"
    assert got_code["usage"]["calls"] >= 1 and got_code["cost_usd"] > 0
    assert job["result"] == {"reply": "def f():\n    return 1\n"}  # the streamed reply
    assert got_vague["error"]["code"] == "unknown_task_type"
    assert got_vague["selected_agent"] is None
    assert got_vague["routing"] == {**got_vague["routing"], "agent_name": "content",
                                    "accepted": False, "confidence": 0.2}  # fmt: skip
    assert [i["task_id"] for i in by_agent["items"]] == [ids["code"]]
    assert ids["vague"] in [i["task_id"] for i in failed["items"]]
    counted = {(r["agent"], r["status"]): r["count"] for r in metrics["tasks_by_agent"]}
    assert counted[("code", "succeeded")] >= 1 and counted[("unrouted", "failed")] >= 1
    # The router saw the registered agents, the plugin's among them, and was forced to classify.
    [routed] = [e for e in llm.log(first=code) if "classify_task" in e["tools"]]
    assert routed["tool_choice"] == {"type": "tool", "name": "classify_task"}
    assert "- ops: Operates the test server" in routed["system"]


async def test_content_agent_searches_through_mcp_and_cites_the_results_it_read(
    agent_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"write a report on durable agents {tag}"
    script(llm, task, "content", [
        envelope(type="tool", name="t/search", arguments={"query": "durable agents"}),
        envelope(type="reply", content="Durable agents resume where they stopped."),
    ])  # fmt: skip
    mcp_server.reset()
    async with client_of(agent_stack) as client:
        body = await task_ended(client, await execute(client, task))
    first, second = envelope_requests(llm, task)
    assert "t/search" in first["system"] and "t/count" not in first["system"]  # *search*, *fetch*
    _, results = last_results(second)
    assert results["results"][0]["content"]["results"][0]["url"] == "https://example.org/1"
    citation = body["result"]["citations"][0]
    assert citation["source"] == "https://example.org/1"
    assert "What source 1 says about durable agents." in citation["snippet"]
    assert mcp_server.stats()["calls"] == {"search": 1}


async def test_a_tools_envelope_runs_three_calls_concurrently_and_answers_in_one_message(
    agent_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"sleep three times {tag}"
    calls = [{"name": "t/sleep", "arguments": {"ms": 400 + n}} for n in range(3)]
    script(llm, task, "ops", [envelope(type="tools", calls=calls),
                              envelope(type="reply", content="slept")])  # fmt: skip
    mcp_server.reset()
    async with client_of(agent_stack) as client:
        task_id = await execute(client, task)
        body = await task_ended(client, task_id)
        events = await stream(client, task_id)
    assert body["result"]["content"] == "slept"
    assert mcp_server.stats()["max_in_flight"] == 3  # all three at once
    first, second = envelope_requests(llm, task)
    assert first["tool_choice"] == {"type": "tool", "name": "envelope"}
    assert "t/sleep" in first["system"] and "git/" not in first["system"]  # the agent's tools
    blocks, results = last_results(second)
    assert blocks == 1  # ONE message, one tool_result answering the envelope
    assert [(r["tool"], r["ok"], r["content"]) for r in results["results"]] == [
        ("t/sleep", True, {"result": f"slept {400 + n}"}) for n in range(3)]  # fmt: skip
    progress = [e["data"] for e in events if e["type"] == "step.progress"]
    kinds = [p["event"] for p in progress]
    assert kinds.count("agent.tool_call") == 3 and kinds.count("agent.tool_result") == 3
    assert [p["type"] for p in progress if p["event"] == "agent.envelope"] == ["tools", "reply"]
    chunks = [e["data"] for e in events if e["type"] == "step.chunk"]
    assert "".join(chunks) == "slept"


async def stream(client: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    """The task's events (SSE) up to its end."""
    response = await client.get(f"/v1/tasks/{task_id}/events")
    return [json.loads(line[5:]) for line in response.text.splitlines()
            if line.startswith("data:")]  # fmt: skip


async def test_a_tool_outside_the_users_tags_is_refused_before_it_is_sent_and_the_model_is_told(
    agent_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"count something {tag}"
    script(llm, task, "ops", [
        envelope(type="tool", name="t/count", arguments={}),
        envelope(type="reply", content="I may not count."),
    ])  # fmt: skip
    mcp_server.reset()
    async with client_of(agent_stack) as client:
        put = await client.put(f"/v1/tags/no-count-{tag}", json={"kind": "role", "payload": {
            "config": {"assigned_roles": ["admin"], "denied_tools": ["t/count"]}}})  # fmt: skip
        assert put.status_code == 201, put.text
        try:
            task_id = await execute(client, task)
            body = await task_ended(client, task_id)
            refused = (await client.get("/v1/audit", params={"action": "tool.refused",
                                                             "job_id": task_id})).json()  # fmt: skip
        finally:
            await client.delete(f"/v1/tags/no-count-{tag}")
    assert body["result"]["content"] == "I may not count."
    assert mcp_server.stats()["calls"].get("count", 0) == 0  # never sent
    first, second = envelope_requests(llm, task)
    assert "t/count" not in first["system"] and "t/echo" in first["system"]  # filtered list
    _, results = last_results(second)
    [result] = results["results"]
    assert (result["tool"], result["ok"], result["error"]["code"]) == (
        "t/count",
        False,
        "tool_forbidden",
    )
    [row] = refused["items"]
    assert (row["details"]["tool"], row["details"]["tag"]) == ("t/count", f"no-count-{tag}")


async def test_an_invalid_envelope_is_re_asked_with_its_error_and_fails_cleanly_after_n(
    agent_stack: Stack, llm: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    fixed, broken = f"fixable {tag}", f"hopeless {tag}"
    script(llm, fixed, "code", [envelope(type="tool"),  # a tool envelope without a name
                                envelope(type="reply", content="ok")])  # fmt: skip
    script(llm, broken, "code", [envelope(type="nonsense")])
    async with client_of(agent_stack) as client:
        fixed_id = await execute(client, fixed)
        broken_id = await execute(client, broken)
        await task_ended(client, fixed_id)
        failed = await task_ended(client, broken_id, "failed")
    _, second = envelope_requests(llm, fixed)
    _, told = last_results(second)
    assert told["_is_error"] is True and told["error"] == "envelope_invalid"
    assert any(e["field"].startswith("tool.name") or e["field"] == "tool/name"
               for e in told["errors"]), told  # fmt: skip
    assert failed["error"]["code"] == "envelope_invalid"
    assert len(envelope_requests(llm, broken)) == 3  # the first answer and N=2 re-asks


async def test_a_killed_worker_resumes_the_agent_at_its_next_turn_without_repeating_requests(
    agent_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"count three times {tag}"
    count = envelope(type="tool", name="t/count", arguments={})
    script(llm, task, "ops", [
        count, count, {**count, "hold": f"h-{tag}"},  # turn 3 is held at the server
        count, envelope(type="reply", content="counted"),
    ])  # fmt: skip
    mcp_server.reset()
    async with client_of(agent_stack) as client:
        task_id = await execute(client, task)

        async def turn_three_sent() -> bool:
            return len(await asyncio.to_thread(envelope_requests, llm, task)) == 3

        await wait_until(turn_three_sent, timeout_seconds=30, what="turn 3 to reach the server")
        victim = agent_stack.workers[0]
        os.kill(victim.pid, signal.SIGKILL)  # turns 1 and 2 finished; turn 3 in flight
        victim.wait(10)
        llm.open_gate(f"h-{tag}")  # the dead worker's request ends on the server side
        agent_stack.workers.remove(victim)
        agent_stack.start_worker()
        body = await task_ended(client, task_id)
    assert body["result"]["content"] == "counted"
    turns = [len(r["messages"]) for r in envelope_requests(llm, task)]
    # Turn n sends 2n-1 messages: turns 1 and 2 once, turn 3 twice (the lost one), turn 4 once.
    assert turns == [1, 3, 5, 5, 7]
    assert mcp_server.stats()["calls"]["count"] == 3  # one per turn, none repeated
    assert len([e for e in llm.log(first=task) if "classify_task" in e["tools"]]) == 1


async def test_cancel_mid_turn_ends_the_run_while_the_model_is_still_answering(
    agent_stack: Stack, llm: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task = f"take forever {tag}"
    script(llm, task, "code", [{**envelope(type="reply", content="late"), "hold": f"c-{tag}"}])
    async with client_of(agent_stack) as client:
        task_id = await execute(client, task)

        async def turn_sent() -> bool:
            return len(await asyncio.to_thread(envelope_requests, llm, task)) == 1

        await wait_until(turn_sent, timeout_seconds=30, what="the turn to reach the server")
        t0 = time.monotonic()
        r = await client.post(f"/v1/jobs/{task_id}/cancel")
        assert r.status_code == 202, r.text
        body = await task_ended(client, task_id, "cancelled")
        print(f"cancelled mid-turn after {time.monotonic() - t0:.3f} s")
        llm.open_gate(f"c-{tag}")  # only now: the run ended while the call was in flight
    assert body["result"] is None


async def test_a_clarification_frees_the_worker_and_the_answer_resumes_the_loop(
    agent_stack: Stack, llm: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    task, other = f"write code {tag}", f"other task {tag}"
    script(llm, task, "code", [envelope(type="reply", ask="Which language?"),
                               envelope(type="reply", content="print(1)",
                                        code_language="python")])  # fmt: skip
    script(llm, other, "code", [envelope(type="reply", content="done")])
    async with client_of(agent_stack) as client:
        task_id = await execute(client, task)
        await status_is(client, task_id, "waiting")
        job = (await client.get(f"/v1/jobs/{task_id}")).json()
        # The one worker (ORCH_WORKER__MAX_JOBS=1) is free: another task runs to its end.
        await task_ended(client, await execute(client, other))
        answered = await client.post(f"/v1/jobs/{task_id}/input", json={"answer": "Python"})
        assert answered.status_code == 202, answered.text
        body = await task_ended(client, task_id)
    assert [q["prompt"] for q in job["questions"]] == ["Which language?"]
    assert body["result"]["content"] == "print(1)"
    requests = envelope_requests(llm, task)
    assert len(requests) == 2  # turn 1 replayed from its record, not sent again
    second = requests[1]
    _, told = last_results(second)
    assert told == {"answer": "Python", "_is_error": False}


async def test_bad_input_is_a_4xx_with_a_code_and_tasks_stay_in_their_tenant(
    agent_stack: Stack, llm: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    script(llm, f"mine {tag}", "code", [envelope(type="reply", content="x")])
    async with client_of(agent_stack) as client:
        cases = [
            ({"task": "   "}, 422, "task_empty"),
            ({"task": "x" * 501}, 422, "task_too_long"),
            ({"task": "hi", "session_id": "nope"}, 404, "session_not_found"),
            ({"task": "hi", "agent": "nope"}, 404, "agent_not_found"),
            ({}, 422, "request_invalid"),
        ]
        for body, status, code in cases:
            r = await client.post("/v1/agent/execute", json=body)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), body
        missing = await client.get(f"/v1/tasks/{uuid.uuid4()}")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "task_not_found")
        task_id = await execute(client, f"mine {tag}")
        await task_ended(client, task_id)
    other = create_key(agent_stack, f"other-{tag}")
    async with client_of(agent_stack, {"Authorization": f"Bearer {other}"}) as client:
        hidden = await client.get(f"/v1/tasks/{task_id}")
        listed = (await client.get("/v1/tasks")).json()
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "task_not_found")
    assert listed["items"] == [] and listed["total"] == 0


def create_key(stack: Stack, tenant: str) -> str:
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT

    created = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "keys", "create", "--tenant", tenant,
         "--role", "admin", "--name", "agents"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.fixture(autouse=True)
def _quiet(agent_stack: Stack) -> Iterator[None]:
    yield
    assert all(w.poll() is None for w in agent_stack.workers), "a worker died"


async def test_the_cli_runs_a_task_on_the_stack_and_streams_it(
    agent_stack: Stack, llm: LLMServer, mcp_server: HttpServer
) -> None:
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT

    tag = uuid.uuid4().hex[:8]
    task = f"echo through the cli {tag}"
    script(llm, task, "ops", [
        envelope(type="tool", name="t/echo", arguments={"text": "hello"}),
        envelope(type="reply", content="The server said hello."),
    ])  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "orchestrator.cli", "agent", task, "--url", agent_stack.url,
         "--stream"],
        cwd=ROOT, env=agent_stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "routed to ops (confidence 0.9)" in done.stdout
    assert "t/echo: ok" in done.stdout
    assert "The server said hello." in done.stdout
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "orchestrator.cli", "agent", " ", "--url", agent_stack.url],
        cwd=ROOT, env=agent_stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.startswith("error [task_empty]")

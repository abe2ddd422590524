"""End to end: a flow tag (tool → prompt → ask → tool fanned out) runs through gateway and worker
processes with no Python workflow module deployed (DESIGN §18, §20).

Real parts: mcp-server-git and mcp-server-time over stdio; the LLM is tests/support/llm_server.py,
a local process speaking the Anthropic Messages wire format, driven by the worker's official
``anthropic`` SDK (nothing is monkeypatched). The workers import no flow code: ``ORCH_WORKFLOWS``
names a module without the flow, and the flow exists only as a tag's content.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack
from tests.e2e.test_llm import llm_env
from tests.support.llm import LLMServer
from tests.support.mcp_servers import git_config, make_git_repo, time_config

pytestmark = pytest.mark.e2e


def checkout_flow(prompt: str) -> dict[str, Any]:
    """tool → prompt → ask → tool (fanned out over the answer)."""
    return {
        "description": "Summarise a repository's history, then tell the time in chosen zones.",
        "inputs": {"repo": {"type": "string"}, "count": {"type": "integer", "default": 2}},
        "steps": [
            {
                "name": "history",
                "tool": "git/git_log",
                "arguments": {"repo_path": "{{ inputs.repo }}", "max_count": "{{ inputs.count }}"},
            },
            {"name": "summary", "prompt": prompt + "\n{{ steps.history.output }}", "retries": 1,
             "intent": "support"},  # the tags' prompt content for this intent is the system
            {
                "name": "zones",
                "ask": {
                    "prompt": "Summary: {{ steps.summary.output }}. Which time zones?",
                    "schema": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            },
            {
                "name": "clock",
                "tool": "time/get_current_time",
                "parallel": True,
                "map_over": "{{ steps.zones.output }}",
                "arguments": {"timezone": "{{ item }}"},
            },
        ],
        "output": "clock",
    }


@pytest.fixture
def flow_stack(
    redis_url: str, pg_url: str, tmp_path: Path, llm_server: LLMServer
) -> Iterator[Stack]:
    env = {**llm_env(llm_server), "ORCH_MCP__SERVERS": json.dumps([git_config(), time_config()])}
    # tests.e2e.flows holds Python workflows only: the flow itself is deployed as data
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.flows",
                     extra_env=env) as s:  # fmt: skip
        yield s


def client_of(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url, headers=stack.headers,
                             timeout=httpx.Timeout(30, read=60))  # fmt: skip


async def put_flow(client: httpx.AsyncClient, name: str, content: dict[str, Any]) -> int:
    r = await client.put(f"/v1/tags/{name}", json={
        "kind": "flow",
        "payload": {"meta": {"title": "Checkout"}, "config": {"assigned_roles": ["*"]},
                    "content": content},
    })  # fmt: skip
    assert r.status_code in (200, 201), r.text
    return int(r.json()["version"])


async def job_of(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
    return body


async def until_status(client: httpx.AsyncClient, job_id: str, *statuses: str) -> dict[str, Any]:
    async def reached() -> bool:
        return (await job_of(client, job_id))["status"] in statuses

    await wait_until(reached, timeout_seconds=60, interval_seconds=0.05, what=f"{statuses}")
    return await job_of(client, job_id)


async def test_a_flow_tag_runs_pinned_and_resumes_after_a_worker_is_killed(
    flow_stack: Stack, llm_server: LLMServer, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path / "repo", commits=3)
    llm_server.rule([{"text": "Three small commits.", "hold": "summary"}], match="Summarise v1")
    async with client_of(flow_stack) as client:
        listed = (await client.get("/v1/flows")).json()["flows"]
        assert listed == []
        r = await client.put("/v1/tags/terse", json={"kind": "role", "payload": {
            "config": {"assigned_roles": ["admin"]}, "content": "You answer in one line."}})
        assert r.is_success, r.text
        assert await put_flow(client, "flow_checkout", checkout_flow("Summarise v1:")) == 1
        listed = (await client.get("/v1/flows")).json()["flows"]
        assert [f["name"] for f in listed] == ["flow_checkout"]
        assert listed[0]["tools"] == ["git/git_log", "time/get_current_time"]
        assert listed[0]["inputs"]["required"] == ["repo"]

        r = await client.post("/v1/jobs", json={"flow": "flow_checkout",
                                                "inputs": {"repo": str(repo)}})  # fmt: skip
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert r.json()["workflow"] == "flow:flow_checkout"

        # The prompt step is held at the LLM server: its request is in flight.
        async def asked() -> bool:
            return bool(llm_server.log("Summarise v1"))

        await wait_until(asked, timeout_seconds=60, what="the summary request")
        # The tag changes during the run: the running job keeps the version it was given.
        assert await put_flow(client, "flow_checkout", checkout_flow("Summarise v2:")) == 2

        # kill -9 the worker mid-flow; a new worker resumes the job from its checkpoints.
        os.kill(flow_stack.workers[0].pid, signal.SIGKILL)
        flow_stack.workers[0].wait(10)
        flow_stack.start_worker()
        llm_server.open_gate("summary")
        job = await until_status(client, job_id, "waiting", "failed")
        assert job["status"] == "waiting", job
        question = job["questions"][0]
        assert question["step"] == "zones"
        assert "Three small commits." in question["prompt"]

        r = await client.post(f"/v1/jobs/{job_id}/input",
                              json={"answer": ["Europe/Paris", "Asia/Tokyo"]})  # fmt: skip
        assert r.status_code == 202, r.text
        job = await until_status(client, job_id, "succeeded", "failed")
        assert job["status"] == "succeeded", job

    clock = job["result"]["clock"]
    assert [c["timezone"] for c in clock] == ["Europe/Paris", "Asia/Tokyo"]
    # pinned: every summary request of this job used v1's prompt, none v2's
    assert llm_server.log("Summarise v1") and not llm_server.log("Summarise v2")
    history_calls = [e for e in llm_server.log("Summarise v1")]
    assert "commit number 2" in history_calls[-1]["user"]
    assert "You answer in one line." in json.dumps(history_calls[-1]["system"])
    # the fan-out ran as runtime instances, and the run was resumed by a second worker
    steps = {s["name"]: s for s in job["steps"]}
    assert {"clock[0]", "clock[1]"} <= set(steps)
    assert steps["history"]["attempts"] == 1  # a finished step never runs again


async def test_an_inline_flow_runs_and_a_bad_flow_is_refused_naming_step_and_field(
    flow_stack: Stack, tmp_path: Path
) -> None:
    async with client_of(flow_stack) as client:
        inline = {"steps": [{"name": "now", "tool": "time/get_current_time",
                             "arguments": {"timezone": "UTC"}}]}  # fmt: skip
        r = await client.post("/v1/jobs", json={"flow": inline})
        assert r.status_code == 202, r.text
        job = await until_status(client, r.json()["job_id"], "succeeded", "failed")
        assert job["status"] == "succeeded", job
        assert job["result"]["now"]["timezone"] == "UTC"

        r = await client.post("/v1/jobs", json={"flow": {"steps": [
            {"name": "a", "tool": "time/no_such_tool"}]}})  # fmt: skip
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "dag_invalid"
        assert r.json()["error"]["details"]["step"] == "a"
        assert r.json()["error"]["details"]["field"] == "tool"

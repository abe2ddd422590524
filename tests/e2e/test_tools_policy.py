"""The MCP tool plane under the tag policy, through real processes (issues 14 and 15).

Gateway and worker are separate processes (``orchestrator gateway``, ``orchestrator worker``) on
the real Redis and PostgreSQL; the tools are the real ``mcp-server-time`` and ``mcp-server-git``
(stdio, started by each process's manager). What stands in for the Anthropic API is
tests/support/llm_server.py, a local process speaking the Messages API's wire format, driven by
the worker's real ``anthropic`` SDK (nothing is monkeypatched); it logs each request's tool names.

The submitter (a ``submitter`` API key of the stack's tenant) has, under
``ORCH_TAGS__DEFAULT_POLICY=deny``: a role tag allowing ``time/*`` for every intent, and a
function tag named like the ``e2e_git_history`` workflow allowing ``git/git_log`` with the scope
``max_count <= 5`` for that workflow's jobs only (a job's intent is its workflow's name, for
``ctx.tools`` as for ``ctx.policy``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from orchestrator.auth import ApiKeyStore
from orchestrator.trace.store import TraceStore
from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack
from tests.support.llm import LLMServer
from tests.support.mcp_servers import git_config, make_git_repo, time_config

pytestmark = pytest.mark.e2e

TIME_TOOLS = ["time/convert_time", "time/get_current_time"]
SCOPE = {"properties": {"max_count": {"maximum": 5}}}


@pytest.fixture
def policy_stack(
    redis_url: str, pg_url: str, tmp_path: Path, llm_server: LLMServer
) -> Iterator[Stack]:
    env = {
        "ORCH_MCP__SERVERS": json.dumps([git_config(), time_config()]),
        "ORCH_TAGS__DEFAULT_POLICY": "deny",
        "ORCH_LLM__DEFAULT_MODEL": "anthropic:claude-sonnet-4-5",
        "ORCH_LLM__ANTHROPIC_API_KEY": "test-key",
        "ORCH_LLM__ANTHROPIC_BASE_URL": llm_server.anthropic_url,
    }
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.seams_flows",
                     extra_env=env) as s:  # fmt: skip
        yield s


@pytest_asyncio.fixture
async def admin(policy_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's admin, after writing the submitter's tags."""
    async with httpx.AsyncClient(base_url=policy_stack.url, headers=policy_stack.headers,
                                 timeout=30) as client:  # fmt: skip
        tags = {
            "time-only": {"kind": "role", "payload": {"config": {
                "assigned_roles": ["submitter"], "allowed_tools": ["time/*"]}}},
            "e2e_git_history": {"kind": "function", "payload": {"config": {
                "assigned_roles": ["submitter"], "allowed_tools": ["git/git_log"],
                "tool_scopes": {"git/git_log": SCOPE}}}},
        }  # fmt: skip
        for name, body in tags.items():
            put = await client.put(f"/v1/tags/{name}", json=body)
            assert put.status_code == 201, put.text
        yield client


@pytest_asyncio.fixture
async def submitter(policy_stack: Stack, pg_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A ``submitter`` key of the stack's tenant (start_stack names it e2e-<tag>)."""
    trace = TraceStore.from_url(pg_url, pool_size=1)
    try:
        _, key = await ApiKeyStore(trace.engine).create(f"e2e-{policy_stack.prefix[1:]}",
                                                        "submitter")  # fmt: skip
    finally:
        await trace.close()
    async with httpx.AsyncClient(base_url=policy_stack.url, timeout=30,
                                 headers={"Authorization": f"Bearer {key}"}) as client:  # fmt: skip
        yield client


async def run_to_end(client: httpx.AsyncClient, workflow: str, inputs: dict[str, Any]) -> Any:
    """Submit, wait (bounded) for the end; the job and its events."""
    r = await client.post("/v1/jobs", json={"workflow": workflow, "inputs": inputs})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]

    async def ended() -> bool:
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        return job["status"] in ("succeeded", "failed", "cancelled")

    await wait_until(ended, timeout_seconds=60, interval_seconds=0.05, what=f"job {job_id}")
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    stream = await client.get(f"/v1/jobs/{job_id}/events")  # ends after the terminal event
    events = [json.loads(line[5:]) for line in stream.text.splitlines()
              if line.startswith("data:")]  # fmt: skip
    return job, events


async def audit(admin: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await admin.get("/v1/audit", params=params)).json()["items"]
    return items


async def refusals(admin: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    """The job's ``tool.refused`` rows, once written (the tool plane writes them off the call's
    path, so they may follow the job's end by a moment)."""

    async def written() -> bool:
        return bool(await audit(admin, action="tool.refused", job_id=job_id))

    await wait_until(written, timeout_seconds=10, what="the refusal's audit row")
    return await audit(admin, action="tool.refused", job_id=job_id)


async def test_a_time_only_submitter_sees_time_tools_and_is_refused_git_once(
    admin: httpx.AsyncClient, submitter: httpx.AsyncClient, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path / "repo", commits=2)
    listed = (await submitter.get("/v1/tools")).json()["tools"]
    called = await submitter.post("/v1/tools/git/git_log:call",
                                  json={"repo_path": str(repo), "max_count": 1})  # fmt: skip
    job, events = await run_to_end(submitter, "e2e_tools_listed", {"repo_path": str(repo)})
    job_rows = await refusals(admin, job["job_id"])
    rows = await audit(admin, by=job_rows[0]["actor"])  # the API call's row came first

    assert sorted(t["name"] for t in listed) == TIME_TOOLS
    assert called.status_code == 403 and called.json()["error"]["code"] == "tool_forbidden"
    # one row per refusal: the API call's, and the step's (no generic 403 row beside them)
    api_rows = [r for r in rows if r["job_id"] is None]
    assert [(r["action"], r["details"]["tool"], r["details"]["tag"]) for r in api_rows] == [
        ("tool.refused", "git/git_log", "default")
    ]
    assert "intent" not in api_rows[0]["details"]  # the HTTP API decides with no intent

    assert job["status"] == "failed"
    progress = [e["data"] for e in events if e["type"] == "step.progress"]
    assert progress == [{"tools": TIME_TOOLS}]  # ctx.tools.list() in the worker process
    [step] = job["steps"]
    assert step["attempts"] == 1  # retries=2: a refusal is never retried
    assert job["error"]["details"]["error"]["code"] == "tool_forbidden"
    [row] = job_rows
    assert (row["details"]["tool"], row["details"]["tag"]) == ("git/git_log", "default")
    assert row["details"]["intent"] == "e2e_tools_listed"


async def test_a_scope_refuses_max_count_50_and_lets_5_through_to_mcp_server_git(
    admin: httpx.AsyncClient, submitter: httpx.AsyncClient, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path / "repo", commits=7)
    job, events = await run_to_end(submitter, "e2e_git_history", {"repo_path": str(repo)})
    [row] = await refusals(admin, job["job_id"])

    progress = [e["data"] for e in events if e["type"] == "step.progress"]
    # the function tag applies to this workflow's jobs (intent = workflow name)
    assert progress[0] == {"tools": sorted(["git/git_log", *TIME_TOOLS])}
    log = progress[1]["log"]
    assert log.count("commit number") == 5 and "commit number 6" in log  # the real server
    assert job["status"] == "failed"
    [step] = job["steps"]
    assert step["attempts"] == 1
    error = job["error"]["details"]["error"]
    assert error["code"] == "tool_forbidden"
    assert (error["details"]["tag"], error["details"]["argument"]) == ("e2e_git_history",
                                                                       "max_count")  # fmt: skip
    assert error["details"]["constraint"] == {"maximum": 5}
    assert row["details"]["tag"] == "e2e_git_history" and row["details"]["argument"] == "max_count"
    assert row["details"]["constraint"] == {"maximum": 5}


async def test_the_model_gets_exactly_the_allowed_tools_and_its_tool_use_round_trips(
    admin: httpx.AsyncClient, submitter: httpx.AsyncClient, llm_server: LLMServer
) -> None:
    """Issue 15: tools from ``ctx.tools`` go to the model in one argument, filtered by the
    submitter's policy; the model's tool use is called back through ``ctx.tools``."""
    tag = "seam-llm-tools"
    llm_server.rule([{"text": "", "tool_uses": [
        {"name": "time__get_current_time", "input": {"timezone": "UTC"}}]}], match=tag)  # fmt: skip
    job, _ = await run_to_end(submitter, "e2e_llm_tools", {"tag": tag})

    assert job["status"] == "succeeded", job
    [request] = llm_server.log(tag)
    assert sorted(request["tools"]) == ["time__convert_time", "time__get_current_time"]
    out = job["result"]["model_uses_tools"]
    assert out["offered"] == TIME_TOOLS
    [call] = out["calls"]
    assert (call["name"], call["input"]) == ("time/get_current_time", {"timezone": "UTC"})
    assert call["output"]["timezone"] == "UTC"  # answered by the real mcp-server-time

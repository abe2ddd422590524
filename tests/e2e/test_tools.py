"""End to end: steps use ``ctx.tools`` in a worker process, on real MCP servers (mcp-server-git
and mcp-server-time over stdio, the SDK-built test server over streamable HTTP), and their tool
calls survive a ``kill -9`` of the worker (DESIGN §13)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack
from tests.support.mcp_servers import (
    HttpServer,
    git_config,
    http_config,
    http_test_server,
    make_git_repo,
    time_config,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with http_test_server() as s:
        yield s


@pytest.fixture
def tool_stack(redis_url: str, pg_url: str, tmp_path: Path, server: HttpServer) -> Iterator[Stack]:
    servers = [git_config(), time_config(), http_config("t", server.url)]
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.mcp_flows",
                     extra_env={"ORCH_MCP__SERVERS": json.dumps(servers)}) as s:  # fmt: skip
        yield s


async def run_job(client: httpx.AsyncClient, workflow: str, inputs: dict[str, Any]) -> str:
    r = await client.post("/v1/jobs", json={"workflow": workflow, "inputs": inputs})
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


async def ended(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async def done() -> bool:
        r = await client.get(f"/v1/jobs/{job_id}")
        return r.json()["status"] in ("succeeded", "failed", "cancelled")

    await wait_until(done, timeout_seconds=60, interval_seconds=0.05, what=f"job {job_id}")
    job: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
    return job


async def test_a_step_in_a_worker_process_lists_and_calls_tools_of_stdio_and_http_servers(
    tool_stack: Stack, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path / "repo", commits=2)
    async with httpx.AsyncClient(base_url=tool_stack.url, headers=tool_stack.headers,
                                 timeout=30) as client:  # fmt: skip
        job = await ended(client, await run_job(client, "e2e_tools", {"repo_path": str(repo)}))
        listed = (await client.get("/v1/tools")).json()["tools"]
        called = await client.post("/v1/tools/t/echo:call", json={"text": "plugin"})

    assert job["status"] == "succeeded", job
    out = job["result"]["use_tools"]
    assert {"git/git_log", "time/get_current_time", "t/echo", "t/count"} <= set(out["names"])
    assert "commit number 1" in out["log"]
    assert out["timezone"] == "UTC" and out["echo"] == "from a step" and out["many"] == ["a", "b"]
    assert {"git/git_status", "t/sleep"} <= {t["name"] for t in listed}
    assert called.status_code == 200 and called.json()["content"][0]["text"] == "plugin"


async def test_after_kill_9_the_resumed_step_calls_the_server_only_for_the_third_call(
    tool_stack: Stack, server: HttpServer, tmp_path: Path, redis: Redis
) -> None:
    gate = tmp_path / "gate"
    async with httpx.AsyncClient(base_url=tool_stack.url, headers=tool_stack.headers,
                                 timeout=30) as client:  # fmt: skip
        job_id = await run_job(client, "e2e_durable_tools", {"gate": str(gate)})
        second_call = f"{tool_stack.prefix}:state:{job_id}:count_three:call:2"

        async def second_returned() -> bool:
            return server.stats()["count"] == 2 and bool(await redis.exists(second_call))

        await wait_until(second_returned, timeout_seconds=60, what="the second call's record")
        victim = tool_stack.workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        gate.touch()
        tool_stack.start_worker()
        job = await ended(client, job_id)

    assert job["status"] == "succeeded", job
    assert job["result"]["count_three"] == [
        {"count": 1, "replayed": True},
        {"count": 2, "replayed": True},
        {"count": 3, "replayed": False},
    ]
    assert server.stats()["calls"]["count"] == 3  # the server saw the third call only once more

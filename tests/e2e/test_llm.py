"""End to end: LLM calls inside steps, gateway and worker as separate processes (DESIGN §16).

What stands in for the Anthropic API: tests/support/llm_server.py, a local process speaking the
Messages API's SSE wire format; the worker's real ``anthropic`` SDK talks to it over HTTP
(``ORCH_LLM__ANTHROPIC_BASE_URL``). Nothing is monkeypatched. Requests are counted at the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from orchestrator.llm import Usage
from orchestrator.llm.pricing import price_usd
from orchestrator.trace.store import TraceStore
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT, Stack, start_stack
from tests.support.llm import LLMServer

pytestmark = pytest.mark.e2e

SONNET, HAIKU = "anthropic:claude-sonnet-4-5", "anthropic:claude-haiku-4-5"


def llm_env(server: LLMServer, **extra: str) -> dict[str, str]:
    return {
        "ORCH_LLM__DEFAULT_MODEL": SONNET,
        "ORCH_LLM__ANTHROPIC_API_KEY": "test-key",
        "ORCH_LLM__ANTHROPIC_BASE_URL": server.anthropic_url,
        "ORCH_LLM__MAX_RETRIES": "1",
        "ORCH_LLM__TIMEOUT_SECONDS": "30",
        **extra,
    }


@pytest.fixture
def llm_stack(
    redis_url: str,
    pg_url: str,
    tmp_path: Path,
    llm_server: LLMServer,
    request: pytest.FixtureRequest,
) -> Iterator[Stack]:
    """Gateway + one worker running tests/e2e/llm_flows.py against the local LLM server."""
    extra = getattr(request, "param", {})
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.llm_flows",
                     extra_env=llm_env(llm_server, **extra)) as s:  # fmt: skip
        yield s


def client_of(stack: Stack, key: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url, timeout=httpx.Timeout(30, read=60),
                             headers={"Authorization": f"Bearer {key or stack.key}"})  # fmt: skip


async def submit(client: httpx.AsyncClient, workflow: str, inputs: dict[str, Any]) -> str:
    r = await client.post("/v1/jobs", json={"workflow": workflow, "inputs": inputs})
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


async def ended(
    client: httpx.AsyncClient, job_id: str, status: str = "succeeded"
) -> dict[str, Any]:
    body: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal body
        body = (await client.get(f"/v1/jobs/{job_id}")).json()
        return body["status"] in ("succeeded", "failed", "cancelled")

    await wait_until(done, timeout_seconds=60, interval_seconds=0.05, what=f"job {job_id} to end")
    assert body["status"] == status, body
    return body


async def trace_of(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    """The ended job's trace once its rows are written: its end is in Redis first, and the
    worker's recorder writes its step rows with the job row's end after it (DESIGN §3.3)."""
    trace: dict[str, Any] = {}

    async def written() -> bool:
        nonlocal trace
        trace = (await client.get(f"/v1/jobs/{job_id}/trace")).json()
        return trace["finished_at"] is not None

    await wait_until(written, timeout_seconds=10, what=f"the step rows of job {job_id}")
    return trace


async def usage_of(client: httpx.AsyncClient, job_id: str, calls: int) -> dict[str, Any]:
    """The job's ``usage`` once its ``calls`` rows are written (they follow by a flush)."""
    usage: dict[str, Any] = {}

    async def written() -> bool:
        nonlocal usage
        usage = (await client.get(f"/v1/jobs/{job_id}")).json()["usage"]
        return bool(usage["calls"] >= calls)

    await wait_until(written, timeout_seconds=10, what="the llm_calls rows")
    return usage


async def test_a_streaming_step_publishes_deltas_live_and_meters_the_call(
    llm_stack: Stack, llm_server: LLMServer, pg_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    llm_server.rule([{"text": "alpha beta gamma delta", "gate": f"g-{tag}",
                      "usage": {"input_tokens": 1000, "output_tokens": 500, "cache_read": 200,
                                "cache_write": 100}}], match=f"stream {tag}")  # fmt: skip
    async with client_of(llm_stack) as client:
        job_id = await submit(client, "llm_stream", {"tag": tag})
        events: list[dict[str, Any]] = []
        async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
            async for sse in source.aiter_sse():
                event = json.loads(sse.data)
                events.append(event)
                if (
                    event["type"] == "step.chunk"
                    and len([e for e in events if e["type"] == "step.chunk"]) == 1
                ):
                    # The server holds the rest of its stream: the step cannot have ended.
                    assert not any(e["type"] == "step.succeeded" for e in events)
                    await asyncio.to_thread(llm_server.open_gate, f"g-{tag}")
                if event["type"] in ("job.succeeded", "job.failed"):
                    break
        chunks = [e["data"] for e in events if e["type"] == "step.chunk"]
        assert chunks == ["alpha", " beta", " gamma", " delta"]  # each delta once
        assert events[-1]["type"] == "job.succeeded"
        assert events[-1]["data"]["result"] == {"narrate": "alpha beta gamma delta"}

        usage = await usage_of(client, job_id, 1)
        expected_cost = price_usd("anthropic", "claude-sonnet-4-5", Usage(1000, 500, 200, 100))
        assert expected_cost is not None and expected_cost > 0
        assert {k: usage[k] for k in ("calls", "input_tokens", "output_tokens", "cache_read_tokens",
                                      "cache_write_tokens", "total_tokens")} == {
            "calls": 1, "input_tokens": 1000, "output_tokens": 500, "cache_read_tokens": 200,
            "cache_write_tokens": 100, "total_tokens": 1800}  # fmt: skip
        assert usage["cost_usd"] == pytest.approx(expected_cost)
        assert usage["steps"]["narrate"]["cost_usd"] == pytest.approx(expected_cost)

        for group_by in ("model", "workflow", "tenant", "user", "day"):
            report = (await client.get("/v1/usage", params={"group_by": group_by})).json()
            assert report["total"]["cost_usd"] == pytest.approx(expected_cost), group_by
            assert report["total"]["total_tokens"] == 1800
        by_model = (await client.get("/v1/usage", params={"group_by": "model"})).json()
        assert [g["key"] for g in by_model["groups"]] == [SONNET]

        trace = await trace_of(client, job_id)
        attempt = next(s for s in trace["steps"] if s["step"] == "narrate")
        assert attempt["llm"]["calls"] == 1 and attempt["llm"]["output_tokens"] == 500

    store = TraceStore.from_url(pg_url, pool_size=1)
    try:
        from sqlalchemy import select

        from orchestrator.trace.schema import llm_calls

        async with store.engine.connect() as conn:
            row = (await conn.execute(select(llm_calls).where(
                llm_calls.c.job_id == uuid.UUID(job_id)))).one()  # fmt: skip
        assert (row.provider, row.model, row.input_tokens, row.output_tokens) == (
            "anthropic",
            "claude-sonnet-4-5",
            1000,
            500,
        )
        assert row.cost_usd == pytest.approx(expected_cost)
        assert (
            row.time_to_first_token_ms is not None and row.latency_ms >= row.time_to_first_token_ms
        )
        assert row.replayed is False and row.attempt == 1 and row.seq == 1
    finally:
        await store.close()


async def test_a_killed_worker_resumes_the_step_without_paying_again_for_the_finished_call(
    llm_stack: Stack, llm_server: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    llm_server.rule([{"text": "one"}], match=f"first {tag}")
    llm_server.rule([{"text": "lost", "hold": f"h-{tag}"}, {"text": "two"}], match=f"second {tag}")
    async with client_of(llm_stack) as client:
        job_id = await submit(client, "llm_two_calls", {"tag": tag})

        async def second_sent() -> bool:
            return len(await asyncio.to_thread(llm_server.log, f"second {tag}")) == 1

        await wait_until(
            second_sent, timeout_seconds=30, what="the second call to reach the server"
        )
        victim = llm_stack.workers[0]
        os.kill(victim.pid, signal.SIGKILL)  # the first call has returned, the second is in flight
        victim.wait(10)
        sent_before = len(llm_server.log())
        llm_server.open_gate(f"h-{tag}")  # release the dead worker's request on the server side
        llm_stack.start_worker()
        body = await ended(client, job_id)
        assert body["result"] == {"two_calls": ["one", "two"]}
    assert len(llm_server.log(f"first {tag}")) == 1  # replayed from its durable record
    assert len(llm_server.log(f"second {tag}")) == 2
    assert len(llm_server.log()) - sent_before == 1  # the resumed step sent exactly one more


@pytest.mark.parametrize("llm_stack", [{
    "ORCH_LLM__MAX_RETRIES": "1",
}], indirect=True)  # fmt: skip
async def test_a_malformed_stream_or_a_persistent_429_fails_the_attempt_not_the_worker(
    llm_stack: Stack, llm_server: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    llm_server.rule(
        [{"text": "broken reply", "malformed": True}, {"text": "fine"}], match=f"fragile {tag}-a"
    )
    llm_server.rule([{"status": 429, "retry_after": "0.1"}, {"status": 429, "retry_after": "0.1"},
                     {"text": "after the limit"}], match=f"fragile {tag}-b")  # fmt: skip
    async with client_of(llm_stack) as client:
        for suffix, code, text in (
            ("a", "llm_protocol_error", "fine"),
            ("b", "llm_rate_limited", "after the limit"),
        ):
            job_id = await submit(client, "llm_fragile", {"tag": f"{tag}-{suffix}"})
            body = await ended(client, job_id)
            assert body["result"] == {"fragile": text}
            trace = await trace_of(client, job_id)
            attempts = [(s["attempt"], s["status"], (s["error"] or {}).get("code"))
                        for s in trace["steps"]]  # fmt: skip
            assert attempts == [(1, "failed", code), (2, "succeeded", None)]
    assert llm_stack.workers[0].poll() is None  # the same worker process ran both
    assert len(llm_server.log(f"fragile {tag}-b")) == 3  # 429, the SDK's retry (429), success


def create_key(stack: Stack, tenant: str) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "keys", "create", "--tenant", tenant,
         "--role", "admin", "--name", "llm"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


BUDGETS = {
    "ORCH_LLM__BUDGETS": json.dumps([{"tenant": "*", "window": "day", "max_cost_usd": 0.01}]),
    "ORCH_LLM__WORKFLOW_POLICIES": json.dumps({
        "llm_budget_fallback": {"policy": "fallback_model", "fallback_model": HAIKU},
        "llm_budget_reject": {"policy": "reject"},
    }),
}  # fmt: skip


@pytest.mark.parametrize("llm_stack", [BUDGETS], indirect=True)
async def test_budgets_fall_back_or_reject_mid_job_and_refuse_submits_once_spent(
    llm_stack: Stack, llm_server: LLMServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    big = {"text": "expensive", "usage": {"input_tokens": 4000, "output_tokens": 500}}  # $0.0195
    llm_server.rule([big], match=f"first {tag}")
    llm_server.rule([{"text": "cheap"}], match=f"second {tag}")
    fallback_key = create_key(llm_stack, f"fb-{tag}")
    reject_key = create_key(llm_stack, f"rj-{tag}")

    async with client_of(llm_stack, fallback_key) as client:
        job_id = await submit(client, "llm_budget_fallback", {"tag": tag})
        body = await ended(client, job_id)
        assert body["result"] == {"two_calls": ["expensive", "cheap"]}
        models = [(e["user"].split()[0], e["model"]) for e in llm_server.log(tag)]
        assert models == [("first", "claude-sonnet-4-5"), ("second", "claude-haiku-4-5")]
        events: list[dict[str, Any]] = []
        async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
            async for sse in source.aiter_sse():
                events.append(json.loads(sse.data))
        notices = [e["data"] for e in events if e["type"] == "step.progress"]
        assert [(n["event"], n["from"], n["to"]) for n in notices] == [
            ("llm.budget_fallback", SONNET, HAIKU)
        ]
        usage = await usage_of(client, job_id, 2)
        assert usage["fallbacks"] == 1

        refused = await client.post("/v1/jobs", json={"workflow": "llm_budget_fallback",
                                                      "inputs": {"tag": tag}})  # fmt: skip
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert error["details"]["window"] == "day" and error["details"]["resets_at"].endswith(
            "+00:00"
        )
        assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600

    before = len(llm_server.log())
    async with client_of(llm_stack, reject_key) as client:
        job_id = await submit(client, "llm_budget_reject", {"tag": tag})
        body = await ended(client, job_id, "failed")
        assert body["error"]["details"]["error"]["code"] == "budget_exceeded"
        trace = await trace_of(client, job_id)
        assert [s["attempt"] for s in trace["steps"]] == [1]  # not retried (retries=2)
    assert len(llm_server.log()) - before == 1  # the first call only; the second was refused

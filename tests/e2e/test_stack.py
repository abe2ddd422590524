"""End to end: gateway and worker as separate processes on real Redis and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from redis.asyncio import Redis
from websockets.asyncio.client import connect as ws_connect

from orchestrator.trace.store import TraceStore
from tests.conftest import wait_until
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

TERMINAL = {"job.succeeded", "job.failed", "job.cancelled"}
BRIEF_STEPS = ["fetch_left", "fetch_right", "combine", "render"]


async def submit(client: httpx.AsyncClient, workflow: str, inputs: dict[str, Any]) -> str:
    r = await client.post("/v1/jobs", json={"workflow": workflow, "inputs": inputs})
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


async def read_sse(
    client: httpx.AsyncClient, job_id: str, last_event_id: str | None = None
) -> list[dict[str, Any]]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[dict[str, Any]] = []
    async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events", headers=headers) as src:
        async for sse in src.aiter_sse():
            if sse.data:
                event = json.loads(sse.data)
                assert sse.id == event["id"]
                events.append(event)
    return events


def runs_of(marker_dir: Path, name: str) -> int:
    path = marker_dir / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def assert_well_ordered(events: list[dict[str, Any]]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "job.queued"
    assert events[-1]["type"] in TERMINAL
    assert sum(e["type"] in TERMINAL for e in events) == 1


@pytest.fixture
async def client(stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=stack.url, timeout=httpx.Timeout(30, read=60),
                                 headers=stack.headers) as c:
        yield c


async def test_a_job_streams_its_chunks_live_and_leaves_checkpoints_and_trace_rows(
    stack: Stack, client: httpx.AsyncClient, tmp_path: Path, redis: Redis, pg_url: str
) -> None:
    job_id = await submit(
        client, "e2e_brief", {"marker_dir": str(tmp_path), "topic": "ai", "gated": True}
    )
    events: list[dict[str, Any]] = []
    async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as src:
        async for sse in src.aiter_sse():
            event = json.loads(sse.data)
            events.append(event)
            if event["type"] == "step.chunk" and event["data"].startswith("[0]"):
                # The first chunk is here while the step still runs: streamed, not dumped.
                assert not any(e["type"] in TERMINAL for e in events)
                job = (await client.get(f"/v1/jobs/{job_id}")).json()
                assert job["status"] == "running"
                (tmp_path / "render-gate").touch()

    assert_well_ordered(events)
    assert events[-1]["type"] == "job.succeeded"
    types = [e["type"] for e in events]
    first_chunk = types.index("step.chunk")
    assert first_chunk < types.index("job.succeeded")
    chunks = [e["data"] for e in events if e["type"] == "step.chunk"]
    assert chunks == [f"[{i}] left about ai x3\n" for i in range(5)]
    for name in BRIEF_STEPS:
        started = next(i for i, e in enumerate(events) if e["type"] == "step.started" and e["step"] == name)
        done = next(i for i, e in enumerate(events) if e["type"] == "step.succeeded" and e["step"] == name)
        assert started < done
    assert events[-1]["data"]["result"] == {"render": "".join(chunks)}

    for name in BRIEF_STEPS:
        key = f"{stack.prefix}:state:{job_id}:{name}"
        assert await redis.exists(key) == 1, key
        assert 0 < await redis.ttl(key)

    trace = TraceStore.from_url(pg_url, pool_size=1)
    try:
        # The row follows the terminal event by one group commit (DESIGN §3.3: off the path).
        async def recorded() -> bool:
            row = await trace.get_job(job_id)
            return row is not None and row.status.is_terminal

        await wait_until(recorded, timeout_seconds=5.0, what="the jobs row to be final")
        row = await trace.get_job(job_id)
        assert row is not None and row.status.value == "succeeded"
        assert row.finished_at is not None and row.result == {"render": "".join(chunks)}
        runs = await trace.list_step_runs(job_id)
        assert sorted((r.step, r.attempt, r.status.value) for r in runs) == sorted(
            (n, 1, "succeeded") for n in BRIEF_STEPS
        )
    finally:
        await trace.close()


async def test_the_websocket_carries_the_same_events_as_sse(
    stack: Stack, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    job_id = await submit(
        client, "e2e_brief", {"marker_dir": str(tmp_path), "topic": "ws", "gated": True}
    )
    live: list[dict[str, Any]] = []
    ws_url = stack.url.replace("http://", "ws://") + f"/v1/jobs/{job_id}/ws"
    async with ws_connect(ws_url, open_timeout=10, additional_headers=stack.headers) as ws:
        async for message in ws:
            event = json.loads(message)
            live.append(event)
            if event["type"] == "step.chunk" and event["data"].startswith("[0]"):
                (tmp_path / "render-gate").touch()
        assert ws.close_code == 1000
    replayed = await read_sse(client, job_id)
    assert_well_ordered(live)
    assert live == replayed


async def test_an_sse_reconnect_with_last_event_id_gets_exactly_the_missed_events(
    stack: Stack, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    job_id = await submit(
        client, "e2e_brief", {"marker_dir": str(tmp_path), "topic": "re", "gated": True}
    )
    first: list[dict[str, Any]] = []
    async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as src:
        async for sse in src.aiter_sse():
            first.append(json.loads(sse.data))
            if first[-1]["type"] == "step.chunk":
                break  # drop the connection mid-stream
    (tmp_path / "render-gate").touch()
    rest = await read_sse(client, job_id, last_event_id=first[-1]["id"])
    everything = await read_sse(client, job_id)
    assert first + rest == everything
    assert len({e["id"] for e in first + rest}) == len(everything)
    assert rest[0]["seq"] == first[-1]["seq"] + 1


async def test_a_job_whose_worker_is_killed_resumes_on_a_new_worker_without_rerunning_finished_steps(
    stack: Stack, client: httpx.AsyncClient, tmp_path: Path, pg_url: str
) -> None:
    job_id = await submit(client, "e2e_crashy", {"marker_dir": str(tmp_path), "topic": "crash"})

    async def tail_started() -> bool:
        return runs_of(tmp_path, "slow_tail") == 1

    await wait_until(tail_started, timeout_seconds=30, what="slow_tail to start")
    victim = stack.workers[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    killed_at = time.monotonic()
    (tmp_path / "tail-gate").touch()
    stack.start_worker()

    async def finished() -> bool:
        r = await client.get(f"/v1/jobs/{job_id}")
        return bool(r.json()["status"] == "succeeded")

    await wait_until(finished, timeout_seconds=30, interval_seconds=0.05, what="the resumed job")
    resumed_after = time.monotonic() - killed_at
    assert resumed_after < 30  # the wait's bound; arq alone would take job_timeout + 10 s

    assert runs_of(tmp_path, "fetch_left") == 1
    assert runs_of(tmp_path, "fetch_right") == 1
    assert runs_of(tmp_path, "combine") == 1
    assert runs_of(tmp_path, "slow_tail") == 2  # the killed attempt, then the resumed one

    events = await read_sse(client, job_id)
    assert_well_ordered(events)
    starts = [e for e in events if e["type"] == "job.started"]
    assert [s["data"]["resumed"] for s in starts] == [False, True]
    assert events[-1]["data"]["result"] == {"slow_tail": "LEFT ABOUT CRASH X3"}

    trace = TraceStore.from_url(pg_url, pool_size=1)
    try:
        # The rows follow the terminal event by one group commit (DESIGN §3.3).
        async def recorded() -> bool:
            row = await trace.get_job(job_id)
            return row is not None and row.status.is_terminal

        await wait_until(recorded, timeout_seconds=5.0, what="the jobs row to be final")
        tail = [r for r in await trace.list_step_runs(job_id) if r.step == "slow_tail"]
        assert [(r.attempt, r.status.value) for r in tail] == [(1, "failed"), (2, "succeeded")]
        assert tail[0].error is not None and tail[0].error["code"] == "worker_lost"
    finally:
        await trace.close()


async def test_parallel_steps_overlap_and_a_step_without_parallel_runs_alone(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    job_id = await submit(client, "e2e_lanes", {"pause_seconds": 0.4})
    events = await read_sse(client, job_id)
    assert events[-1]["type"] == "job.succeeded"
    result = events[-1]["data"]["result"]
    (a0, a1), (b0, b1), (l0, l1) = result["lane_a"], result["lane_b"], result["lone"]
    assert a0 < b1 and b0 < a1, "the two parallel lanes should overlap"
    for s, e in ((a0, a1), (b0, b1)):
        assert e <= l0 or l1 <= s, "the lone step must not overlap a parallel one"

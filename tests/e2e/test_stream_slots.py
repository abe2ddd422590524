"""SSE clients that go away give their stream slot back (issue 11, defect 3).

Against a real gateway process (uvicorn, sockets): an ASGI-transport "disconnect" is not what a
closed TCP connection does to a running SSE response. Each stream is opened on a job that is
still running and aborted by the client after its first chunk; the principal's slot set in Redis
must be empty once they are gone, and the next stream is a 200 that runs to the job's end.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = 40
CAP = 8
"""The per-key cap in this test: a leak of a few slots shows as a 429 within the 40 streams."""


@pytest.fixture
def slot_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    env = {
        "ORCH_AUTH__MAX_STREAMS_PER_KEY": str(CAP),
        "ORCH_AUTH__STREAM_RATE_PER_KEY": "100000/minute",
        "ORCH_AUTH__STREAM_RATE_PER_TENANT": "100000/minute",
    }
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.hardening_flows",
                     extra_env=env) as s:  # fmt: skip
        yield s


async def slot_members(redis: Redis, prefix: str) -> int:
    """Open-stream members in every principal's slot set of this stack."""
    total = 0
    async for key in redis.scan_iter(match=f"{prefix}:streamslots:*"):
        total += int(await redis.zcard(key))
    return total


async def open_and_abort(url: str, headers: dict[str, str], job_id: str) -> int:
    """Open the job's SSE stream on a connection of its own, read up to the first chunk (the
    job is mid-run), then drop the connection. Returns the stream's HTTP status."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            if response.status_code != 200:
                return response.status_code
            async for line in response.aiter_lines():
                if line.startswith("data:") and json.loads(line[5:])["type"] == "step.chunk":
                    break
            return response.status_code  # leaving both blocks closes the socket mid-stream


async def hold_open(url: str, headers: dict[str, str], job_id: str) -> None:
    """Read the job's SSE stream until the server ends it."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            async for _ in response.aiter_lines():
                pass


async def test_forty_sse_streams_aborted_mid_job_leave_the_key_free(
    slot_stack: Stack, tmp_path: Path, redis: Redis
) -> None:
    async with httpx.AsyncClient(
        base_url=slot_stack.url, headers=slot_stack.headers, timeout=30
    ) as client:
        r = await client.post("/v1/jobs", json={"workflow": "hard_trickle", "inputs": {
            "marker_dir": str(tmp_path), "gate": "trickle-gate"}})  # fmt: skip
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        async def none_open() -> bool:
            return await slot_members(redis, slot_stack.prefix) == 0

        statuses: list[int] = []
        for _ in range(STREAMS // CAP):  # a full cap's worth at once, then wait for the releases
            statuses += await asyncio.gather(
                *(open_and_abort(slot_stack.url, slot_stack.headers, job_id) for _ in range(CAP))
            )
            await wait_until(none_open, timeout_seconds=10, interval_seconds=0.05,
                             what="the aborted streams' slots to be given back")  # fmt: skip
        assert statuses == [200] * STREAMS
        assert [k async for k in redis.scan_iter(match=f"{slot_stack.prefix}:streamslots:*")] == []

        # The key is free: the next stream is a 200 and runs to the job's end.
        (tmp_path / "trickle-gate").touch()
        types: list[str] = []
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    types.append(json.loads(line[5:])["type"])
        assert types[-1] == "job.succeeded"
        await wait_until(none_open, timeout_seconds=10, what="the last stream's slot")

        # A gateway shutting down ends its open streams and gives their slots back.
        r = await client.post("/v1/jobs", json={"workflow": "hard_trickle", "inputs": {
            "marker_dir": str(tmp_path), "gate": "held-gate"}})  # fmt: skip
        held_job = r.json()["job_id"]
        held = [
            asyncio.ensure_future(hold_open(slot_stack.url, slot_stack.headers, held_job))
            for _ in range(CAP)
        ]

        async def all_held() -> bool:
            return await slot_members(redis, slot_stack.prefix) == CAP

        await wait_until(all_held, timeout_seconds=15, what="the held streams to take slots")
        slot_stack.gateway.send_signal(signal.SIGTERM)
        slot_stack.gateway.wait(30)  # uvicorn re-raises SIGTERM after its graceful shutdown
        await asyncio.gather(*held, return_exceptions=True)
        assert await slot_members(redis, slot_stack.prefix) == 0

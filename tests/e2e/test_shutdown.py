"""Graceful shutdown: SIGTERM lets the running step finish and hands the job on, losing nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import Stack
from tests.e2e.test_stack import read_sse, runs_of, submit

pytestmark = pytest.mark.e2e


async def test_sigterm_mid_job_finishes_the_running_step_and_the_next_worker_runs_only_the_rest(
    stack: Stack, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, headers=stack.headers) as client:
        job_id = await submit(client, "e2e_drain", {"marker_dir": str(tmp_path)})

        async def middle_started() -> bool:
            return runs_of(tmp_path, "middle") == 1

        await wait_until(middle_started, timeout_seconds=30, what="the middle step to start")
        worker = stack.workers[0]
        worker.send_signal(signal.SIGTERM)
        (tmp_path / "middle-gate").touch()  # the running step finishes within the grace period
        assert worker.wait(30) == 0

        state = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert state["status"] == "queued"
        assert {s["name"]: s["status"] for s in state["steps"]}["middle"] == "succeeded"

        stack.start_worker()
        events = await read_sse(client, job_id)

    assert events[-1]["type"] == "job.succeeded"
    assert events[-1]["data"]["result"] == {"last": "123"}
    assert [runs_of(tmp_path, s) for s in ("first", "middle", "last")] == [1, 1, 1]
    requeued = [e for e in events if e["type"] == "job.queued" and e["data"]]
    assert requeued[-1]["data"] == {"reason": "worker shutting down"}

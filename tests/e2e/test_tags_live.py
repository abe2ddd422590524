"""A tag change made through the gateway reaches a running worker PROCESS without restart.

Gateway and worker are separate processes (``orchestrator gateway``, ``orchestrator worker``) on
the real Redis and PostgreSQL. The step polls ``ctx.policy`` every 10 ms (its own behaviour,
not the test's synchronisation); the test waits on a marker file and on the job's end, bounded.
The one-second bound is the issue's contract for invalidation (DESIGN §15), with the default
``ORCH_TAGS__GENERATION_CHECK_SECONDS`` of 0.25 s behind it.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

INVALIDATION_BOUND_SECONDS = 1.0


async def test_a_tag_change_reaches_a_running_workers_step_within_a_second(
    redis_url: str, pg_url: str, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.tags_flows") as stack:
        worker_pid = stack.workers[0].pid
        async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers,
                                     timeout=30) as client:  # fmt: skip
            put = await client.put(
                "/v1/tags/acme", json={"kind": "company", "payload": {"content": "Acme rules."}}
            )
            assert put.status_code == 201, put.text
            submitted = await client.post(
                "/v1/jobs",
                json={"workflow": "e2e_policy_watch", "inputs": {"marker_dir": str(markers)}},
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["job_id"]

            async def watching() -> bool:
                return (markers / "watching").exists()

            await wait_until(watching, timeout_seconds=30, what="the step to watch its policy")
            assert (markers / "watching").read_text() == "True"  # default allow
            changed = await client.put(
                "/v1/tags/acme",
                json={
                    "kind": "company",
                    "payload": {
                        "config": {"denied_tools": ["time/*"]},
                        "content": "Acme forbids clocks.",
                    },
                },
            )
            assert changed.status_code == 200, changed.text
            changed_at = time.time()

            async def ended() -> bool:
                job = (await client.get(f"/v1/jobs/{job_id}")).json()
                return job["status"] in ("succeeded", "failed")

            await wait_until(ended, timeout_seconds=30, what="the job to end")
            job = (await client.get(f"/v1/jobs/{job_id}")).json()

        assert job["status"] == "succeeded", job
        seen = job["result"]["watch_policy"]
        assert (seen["first"], seen["now"], seen["tag"]) == (True, False, "acme")
        assert seen["prompt"] == "Acme forbids clocks."
        print(f"tag change seen by the worker after {seen['seen_at'] - changed_at:.3f} s")
        assert seen["seen_at"] - changed_at < INVALIDATION_BOUND_SECONDS, seen
        # The same worker process, never restarted.
        assert [w.pid for w in stack.workers] == [worker_pid]
        assert stack.workers[0].poll() is None

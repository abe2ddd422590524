"""Cancelling a job that waits for human input (issue 11, defect 6).

A waiting job has no worker (it let go of the job when the step asked), so the cancel itself
ends it: the ``cancel`` answer is ``cancelled``, and by the time it is returned the job's status,
its ``job.cancelled`` event, its ``jobs`` row, the asking attempt's ``step_runs`` row and the
audit row are all there (no wait at all, so well within a second).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from orchestrator.trace.store import TraceStore
from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def approve_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.hardening_flows") as s:
        yield s


async def test_cancelling_a_waiting_job_ends_it_at_once_with_its_event_row_and_audit(
    approve_stack: Stack, pg_url: str
) -> None:
    async with httpx.AsyncClient(
        base_url=approve_stack.url, headers=approve_stack.headers, timeout=30
    ) as client:
        r = await client.post(
            "/v1/jobs", json={"workflow": "hard_approve", "inputs": {"topic": "q3"}}
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]

        async def waiting() -> bool:
            view = (await client.get(f"/v1/jobs/{job_id}")).json()
            return bool(view["status"] == "waiting")

        await wait_until(waiting, timeout_seconds=30, what="the job to wait for input")

        cancelled = await client.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json()["status"] == "cancelled"

        # Everything is in place when the answer arrives: no worker is involved.
        view = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert view["status"] == "cancelled"
        assert not view.get("questions")
        events: list[dict[str, Any]] = []
        async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as src:
            async for sse in src.aiter_sse():
                events.append(json.loads(sse.data))
        assert [e["type"] for e in events][-2:] == ["job.waiting", "job.cancelled"]
        audit = (await client.get("/v1/audit", params={"job_id": job_id})).json()["items"]
        cancels = [a for a in audit if a["action"] == "job.cancel"]
        assert len(cancels) == 1 and cancels[0]["details"]["outcome"] == "now_cancelled"
        trace = TraceStore.from_url(pg_url, pool_size=1)
        try:
            row = await trace.get_job(job_id)
            assert row is not None and row.status.value == "cancelled"
            assert row.finished_at is not None
            runs = await trace.list_step_runs(job_id)
            assert [(r.step, r.attempt, r.status.value) for r in runs] == [
                ("approval", 1, "cancelled")
            ]
        finally:
            await trace.close()

        late = await client.post(f"/v1/jobs/{job_id}/input", json={"answer": "yes"})
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "job_state_conflict"
        again = await client.post(f"/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409

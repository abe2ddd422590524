"""The trace converges after worker crashes (issue 11, defect 4).

A worker writes its step-run rows in batches (every 250 ms): ``kill -9`` loses what is in the
buffer, e.g. the ``succeeded`` row of a step that just finished and was checkpointed. Whoever
resumes (or reaps) the job rebuilds the rows from Redis. The test kills worker processes right
after a step of a chain finished, ten times, and checks every job's rows against its events.
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
from httpx_sse import aconnect_sse

from orchestrator.trace.store import TraceStore
from tests.conftest import wait_until
from tests.e2e.conftest import Stack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 10
TERMINAL_STEP = {"succeeded", "failed", "skipped", "cancelled"}


@pytest.fixture
def chain_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    with start_stack(redis_url, pg_url, tmp_path, workflows="tests.e2e.hardening_flows") as s:
        yield s


async def all_events(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as src:
        async for sse in src.aiter_sse():
            events.append(json.loads(sse.data))
    return events


def is_file(path: Path) -> bool:
    """A marker file exists (a cheap stat; the poll's bound is the test's)."""
    return path.exists()


def expected_attempts(events: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    """Per started attempt: ``succeeded`` when its event says so, else ``failed`` (the attempt
    died with its worker; the chain's steps never fail on their own)."""
    started = {(e["step"], e["attempt"]) for e in events if e["type"] == "step.started"}
    done = {(e["step"], e["attempt"]) for e in events if e["type"] == "step.succeeded"}
    return {(s, a, "succeeded" if (s, a) in done else "failed") for s, a in started}


async def test_after_ten_worker_kills_every_finished_jobs_step_runs_are_terminal_and_match_its_events(
    chain_stack: Stack, tmp_path: Path, pg_url: str
) -> None:
    jobs: list[str] = []
    async with httpx.AsyncClient(
        base_url=chain_stack.url, headers=chain_stack.headers, timeout=httpx.Timeout(30, read=90)
    ) as client:
        for k in range(KILLS):
            tag = f"j{k}"
            r = await client.post(
                "/v1/jobs",
                json={
                    "workflow": "hard_chain",
                    "inputs": {"marker_dir": str(tmp_path), "tag": tag, "pause_seconds": 0.15},
                },
            )
            assert r.status_code == 202, r.text
            jobs.append(r.json()["job_id"])
            # Kill as the next step starts: the previous one just succeeded, its row is buffered.
            victim_step = "link_b" if k % 2 == 0 else "link_c"
            marker = tmp_path / f"{tag}-{victim_step}"

            async def next_step_started(marker: Path = marker) -> bool:
                return is_file(marker)

            await wait_until(
                next_step_started,
                timeout_seconds=30,
                interval_seconds=0.005,
                what=f"{victim_step} of {tag} to start",
            )
            victim = chain_stack.workers[-1]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            chain_stack.start_worker()

        async def all_ended() -> bool:
            for job_id in jobs:
                status = (await client.get(f"/v1/jobs/{job_id}")).json()["status"]
                if status not in ("succeeded", "failed", "cancelled"):
                    return False
            return True

        await wait_until(
            all_ended,
            timeout_seconds=90,
            interval_seconds=0.2,
            what="every job to end after the kills",
        )
        trace = TraceStore.from_url(pg_url, pool_size=1)
        try:
            for job_id in jobs:
                events = await all_events(client, job_id)
                assert events[-1]["type"] == "job.succeeded", events[-1]
                want = expected_attempts(events)
                assert {s for s, _, _ in want} == {"link_a", "link_b", "link_c"}

                async def rows_match(
                    job_id: str = job_id, want: set[tuple[str, int, str]] = want
                ) -> bool:
                    rows = await trace.list_step_runs(job_id)
                    have = {(r.step, r.attempt, r.status.value) for r in rows}
                    return have == want

                await wait_until(
                    rows_match,
                    timeout_seconds=10,
                    interval_seconds=0.1,
                    what=f"step_runs of {job_id} to match its events",
                )
                rows = await trace.list_step_runs(job_id)
                for row in rows:
                    assert row.status.value in TERMINAL_STEP
                    assert row.finished_at is not None and row.started_at is not None
                    if row.status.value == "failed":
                        assert row.error is not None and row.error["code"] == "worker_lost"
                view = (await client.get(f"/v1/jobs/{job_id}/trace")).json()
                assert all(s["status"] in TERMINAL_STEP for s in view["steps"])
        finally:
            await trace.close()

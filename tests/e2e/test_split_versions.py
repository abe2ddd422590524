"""Split deployments (issue 11, defect 1): a gateway and workers started as separate processes
agree on the version of a workflow whose steps hold lambdas, nested functions and comprehensions,
and its cached step hits from another worker process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.e2e.conftest import Stack, start_stack

pytestmark = pytest.mark.e2e

FLOWS = "tests.e2e.hardening_flows"


@pytest.fixture
def hard_stack(redis_url: str, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    """Gateway + one long-lived worker running tests/e2e/hardening_flows.py."""
    with start_stack(redis_url, pg_url, tmp_path, workflows=FLOWS) as s:
        yield s


async def run_to_end(client: httpx.AsyncClient, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.post("/v1/jobs", json={"workflow": "hard_closures", "inputs": inputs})
    assert r.status_code == 202, r.text
    events: list[dict[str, Any]] = []
    async with aconnect_sse(client, "GET", f"/v1/jobs/{r.json()['job_id']}/events") as src:
        async for sse in src.aiter_sse():
            events.append(json.loads(sse.data))
    return events


async def test_a_workflow_with_closures_runs_on_a_separate_worker_and_its_cache_hits_from_another(
    hard_stack: Stack, tmp_path: Path
) -> None:
    inputs = {"values": [1, 2, 3], "label": "beta", "marker_dir": str(tmp_path)}
    async with httpx.AsyncClient(
        base_url=hard_stack.url, headers=hard_stack.headers, timeout=httpx.Timeout(30, read=60)
    ) as client:
        first = await run_to_end(client, inputs)
        assert first[-1]["type"] == "job.succeeded", first[-1]
        assert not any(e["type"] == "job.blocked" for e in first)
        assert first[-1]["data"]["result"] == {
            "closing": {"scaled": [2, 4, 6], "total": 6, "kinds": ["int"], "known": True}
        }
        assert (tmp_path / "summarized").read_text().count("\n") == 1

        # Another worker process (the first one stopped): the cached step is not run again.
        hard_stack.stop_worker(0)
        hard_stack.start_worker()
        second = await run_to_end(client, inputs)
        assert second[-1]["type"] == "job.succeeded", second[-1]
        done = next(
            e for e in second if e["type"] == "step.succeeded" and e["step"] == "summarized"
        )
        assert done["data"]["cache_hit"] is True
        assert (tmp_path / "summarized").read_text().count("\n") == 1

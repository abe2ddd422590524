"""``GET /v1/usage`` and the job's ``usage``: sums of llm_calls rows, scoped to the caller's tenant."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.llm import Usage
from orchestrator.llm.records import LLMCallRecord
from sdk import step, workflow
from tests.support.stack import in_process_stack


@step
async def noop() -> str:
    return "ok"


flow = workflow("usage_noop", noop)
DAY = datetime(2026, 11, 30, 12, tzinfo=UTC)


def call(tenant: str, user: str, model: str, cost: float | None, at: datetime, job: str = "",
         workflow_name: str = "wf") -> LLMCallRecord:  # fmt: skip
    return LLMCallRecord(job or str(uuid.uuid4()), "s", 1, 1, workflow_name, tenant, user,
                         "anthropic", model, None, Usage(100, 10, 5, 1), cost, 50.0, 10.0,
                         "end_turn", at)  # fmt: skip


async def test_usage_groups_the_callers_tenant_only_and_filters_by_time(
    isolated_settings: Callable[..., Settings],
) -> None:
    async with in_process_stack(isolated_settings(), WorkflowRegistry([flow]),
                                with_worker=False) as stack:  # fmt: skip
        me, other = stack.tenant, f"other-{uuid.uuid4().hex[:6]}"
        await stack.services.trace.insert_llm_calls([
            call(me, "u1", "claude-sonnet-4-5", 0.5, DAY),
            call(me, "u2", "claude-haiku-4-5", 0.25, DAY + timedelta(days=1)),
            call(me, "u2", "mystery-model", None, DAY + timedelta(days=1)),
            call(other, "u9", "claude-sonnet-4-5", 9.0, DAY),
        ])  # fmt: skip
        r = await stack.client.get("/v1/usage", params={"group_by": "model"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(g["key"], g["calls"], g["cost_usd"]) for g in body["groups"]] == [
            ("anthropic:claude-sonnet-4-5", 1, 0.5), ("anthropic:claude-haiku-4-5", 1, 0.25),
            ("anthropic:mystery-model", 1, 0.0)]  # fmt: skip
        assert body["total"]["calls"] == 3 and body["total"]["cost_usd"] == 0.75
        assert body["total"]["unpriced_calls"] == 1 and body["total"]["total_tokens"] == 3 * 116

        days = (await stack.client.get("/v1/usage", params={"group_by": "day"})).json()
        assert sorted(g["key"] for g in days["groups"]) == ["2026-11-30", "2026-12-01"]
        since = (await stack.client.get("/v1/usage", params={
            "group_by": "user", "since": (DAY + timedelta(hours=13)).isoformat()})).json()  # fmt: skip
        assert [(g["key"], g["calls"]) for g in since["groups"]] == [("u2", 2)]

        bad = await stack.client.get("/v1/usage", params={"group_by": "colour"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "request_invalid"


async def test_a_job_carries_the_usage_of_its_calls(
    isolated_settings: Callable[..., Settings],
) -> None:
    async with in_process_stack(isolated_settings(), WorkflowRegistry([flow]),
                                with_worker=False) as stack:  # fmt: skip
        r = await stack.client.post("/v1/jobs", json={"workflow": "usage_noop", "inputs": {}})
        job_id = r.json()["job_id"]
        empty = (await stack.client.get(f"/v1/jobs/{job_id}")).json()["usage"]
        assert empty["calls"] == 0 and empty["steps"] == {}
        await stack.services.trace.insert_llm_calls([
            call(stack.tenant, "u", "claude-sonnet-4-5", 0.5, DAY, job=job_id),
            call(stack.tenant, "u", "claude-sonnet-4-5", 0.25, DAY, job=job_id),
        ])  # fmt: skip
        usage = (await stack.client.get(f"/v1/jobs/{job_id}")).json()["usage"]
        assert (usage["calls"], usage["cost_usd"], usage["input_tokens"]) == (2, 0.75, 200)
        assert usage["steps"]["s"]["calls"] == 2

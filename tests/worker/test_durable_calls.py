"""Durable calls through a worker (DESIGN §13): a retried or answered step replays what returned."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.config import Settings
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support.jobs import submit, wait_for_end
from tests.support.stack import in_process_stack
from tests.worker import durable_flows
from tests.worker.durable_flows import SEEN, SERVED

SettingsFactory = Callable[..., Settings]


async def test_a_retried_step_replays_its_finished_calls_and_runs_as_its_submitter(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), durable_flows.registry()) as stack:
        job_id = await submit(stack, "durable_flaky")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {"flaky": [{"reply": 10}, {"reply": 20}, {"reply": 30}]}
        assert SERVED[job_id] == 3  # not 5: attempt 2 replayed calls 1 and 2
        assert SEEN[job_id]["replayed"] == 2
        assert SEEN[job_id]["principal"] == {
            "tenant_id": stack.tenant, "user_id": state.user_id, "role": "admin",
        }  # fmt: skip
        assert state.tenant_id == stack.tenant and (state.user_id or "").startswith("key:")


async def test_an_answered_step_replays_the_call_it_made_before_asking(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), durable_flows.registry()) as stack:
        job_id = await submit(stack, "durable_ask")

        async def waiting() -> bool:
            s = await stack.services.state.get_job(job_id)
            return s is not None and s.status is JobStatus.WAITING

        await wait_until(waiting, what="the job to wait for its answer")
        answered = await stack.client.post(f"/v1/jobs/{job_id}/input", json={"answer": True})
        assert answered.status_code == 202, answered.text
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {"asking": {"first": {"reply": 10}, "answer": True}}
        assert SERVED[job_id] == 1

"""Run control (issue 3) on real Redis and PostgreSQL: cancel, idempotency, retries, cache,
fan-out, human input, concurrency, priority, versions, large outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support.jobs import events_of, of_type, submit, wait_for_end, worker_running
from tests.support.stack import in_process_stack
from tests.worker import control_flows as flows
from tests.worker.control_flows import CALLS, PEAK
from worker.runner import run_worker

SettingsFactory = Callable[..., Settings]


async def wait_for_status(stack: Any, job_id: str, status: JobStatus) -> None:
    async def reached() -> bool:
        state = await stack.services.state.get_job(job_id)
        return state is not None and state.status is status

    await wait_until(reached, what=f"job {job_id} to be {status.value}")


# -- cancellation --------------------------------------------------------------------------------


async def test_cancel_during_running_parallel_steps_cancels_them_and_ends_the_job_cancelled(
    isolated_settings: SettingsFactory,
) -> None:
    # A long lease: its renewal (every 10 s) cannot be what delivers the cancel in time.
    settings = isolated_settings(lease={"ttl_seconds": 30})
    async with in_process_stack(settings, flows.registry()) as stack:
        job_id = await submit(stack, "blocking")

        async def both_running() -> bool:
            return CALLS[(job_id, "block_left")] == 1 and CALLS[(job_id, "block_right")] == 1

        await wait_until(both_running, what="both parallel steps to start")
        response = await stack.client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202 and response.json()["status"] == "cancelling"
        state = await wait_for_end(stack.services, job_id, timeout_seconds=5)

        assert state.status is JobStatus.CANCELLED
        assert {n: s.status for n, s in state.steps.items()} == {
            "block_left": "cancelled", "block_right": "cancelled", "after_blocks": "cancelled",
        }  # fmt: skip
        events = await events_of(stack.services, job_id)
        assert events[-1].type == "job.cancelled"
        runs = await stack.services.trace.list_step_runs(job_id)
        assert {(r.step, r.status.value) for r in runs} == {
            ("block_left", "cancelled"), ("block_right", "cancelled"),
        }
        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.CANCELLED
        again = await stack.client.post(f"/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "job_state_conflict"


# -- idempotency ---------------------------------------------------------------------------------


async def test_fifty_concurrent_duplicate_submits_with_one_key_make_one_job(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        body = {"workflow": "marked", "inputs": {"label": "x"}, "idempotency_key": "order-7"}
        responses = await asyncio.gather(
            *(stack.client.post("/v1/jobs", json=body) for _ in range(50))
        )
        assert {r.status_code for r in responses} == {202}
        ids = {r.json()["job_id"] for r in responses}
        assert len(ids) == 1
        replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
        assert len(replayed) == 49
        rows, _ = await stack.services.trace.list_jobs(workflow="marked", limit=500)
        assert [r.id for r in rows if r.idempotency_key == "order-7"] == list(ids)
        assert await stack.services.queue.depth() == 1

        other = await stack.client.post("/v1/jobs", json={**body, "idempotency_key": "order-8"})
        assert other.json()["job_id"] not in ids


# -- retries -------------------------------------------------------------------------------------


async def test_a_failed_job_retried_from_its_failed_step_does_not_rerun_finished_steps(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "retryable")
        state = await wait_for_end(stack.services, job_id)
        assert state.status is JobStatus.FAILED

        response = await stack.client.post(f"/v1/jobs/{job_id}/retry")
        assert response.status_code == 202
        assert response.json()["steps"] == ["flaky_once"]
        await wait_for_status(stack, job_id, JobStatus.SUCCEEDED)
        state = await wait_for_end(stack.services, job_id)

        assert state.result == {"flaky_once": 2}
        assert CALLS[(job_id, "prepare")] == 1
        assert CALLS[(job_id, "flaky_once")] == 2
        events = await events_of(stack.services, job_id)
        assert [e.type for e in events if e.type.startswith("job.")] == [
            "job.queued", "job.started", "job.failed", "job.queued", "job.started",
            "job.succeeded",
        ]  # fmt: skip
        again = await stack.client.post(f"/v1/jobs/{job_id}/retry")
        assert again.status_code == 409 and again.json()["error"]["code"] == "job_state_conflict"


async def test_an_exception_listed_in_no_retry_on_is_not_retried(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "no_retry")
        state = await wait_for_end(stack.services, job_id)
        assert state.status is JobStatus.FAILED
        assert CALLS[(job_id, "gives_up")] == 1
        assert of_type(await events_of(stack.services, job_id), "step.retrying") == []


# -- step cache ----------------------------------------------------------------------------------


async def test_a_cached_step_is_served_from_the_cache_to_another_job_and_says_so(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        doc = f"the quick brown fox {id(stack)}"
        first = await submit(stack, "cached", {"doc": doc})
        await wait_for_end(stack.services, first)
        second = await submit(stack, "cached", {"doc": doc})
        state = await wait_for_end(stack.services, second)

        assert state.result == {"parse_doc": {"words": 5}}
        assert CALLS[("cache", doc)] == 1
        hit = of_type(await events_of(stack.services, second), "step.succeeded", "parse_doc")
        miss = of_type(await events_of(stack.services, first), "step.succeeded", "parse_doc")
        assert (miss[0].data["cache_hit"], hit[0].data["cache_hit"]) == (False, True)
        runs = await stack.services.trace.list_step_runs(second)
        assert [r.cache_hit for r in runs if r.status.value == "succeeded"] == [True]


# -- fan-out -------------------------------------------------------------------------------------


async def test_a_fan_out_of_a_thousand_instances_completes_with_every_output_in_order(
    isolated_settings: SettingsFactory, redis: Redis
) -> None:
    settings = isolated_settings()
    async with in_process_stack(settings, flows.registry()) as stack:
        job_id = await submit(stack, "fanout", {"count": 1000})
        state = await wait_for_end(stack.services, job_id, timeout_seconds=60)

        assert state.status is JobStatus.SUCCEEDED, state.error
        result = state.result["join_contexts"]
        assert result["n"] == 1000
        assert result["all"] == [f"DOC-{i}" for i in range(1000)]
        prefix = settings.state.key_prefix
        for i in (0, 500, 999):
            assert await redis.exists(f"{prefix}:state:{job_id}:fetch_context[{i}]") == 1
        starts = of_type(await events_of(stack.services, job_id), "step.started")
        assert len([e for e in starts if e.step and e.step.startswith("fetch_context[")]) == 1000


async def test_a_map_over_input_takes_a_list_and_rejects_a_non_list_with_a_422(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "quotes", {"ticker": ["AAPL", "MSFT"]})
        state = await wait_for_end(stack.services, job_id)
        assert state.result == {"quote": ["AAPL:42", "MSFT:42"]}

        bad = await stack.client.post(
            "/v1/jobs", json={"workflow": "quotes", "inputs": {"ticker": "AAPL"}}
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["details"]["errors"][0]["parameter"] == "ticker"


async def test_a_map_over_an_upstream_output_that_is_not_a_list_is_a_clear_step_error(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "bad_fanout")
        state = await wait_for_end(stack.services, job_id)
        assert state.status is JobStatus.FAILED
        assert state.error["details"]["error"]["code"] == "map_over_not_a_list"


# -- human input ---------------------------------------------------------------------------------


async def test_a_job_asks_the_worker_exits_and_an_answer_resumes_it_without_rerunning_earlier_steps(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(worker={"idle_timeout_seconds": 10})
    registry = flows.registry()
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        job_id = await submit(stack, "approval", {"topic": "ai"})
        ran = await asyncio.wait_for(
            run_worker(settings, one_job=True, registry=registry, handle_signals=False), 30
        )
        assert ran == 1  # the one-job worker exited while the job waits
        state = await stack.services.state.get_job(job_id)
        assert state is not None and state.status is JobStatus.WAITING
        waiting = of_type(await events_of(stack.services, job_id), "job.waiting")
        assert waiting[0].data["prompt"] == "Publish 'draft about ai'?"
        assert waiting[0].data["schema"]["required"] == ["approved"]
        view = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
        assert view["status"] == "waiting" and view["questions"][0]["step"] == "review"

        bad = await stack.client.post(f"/v1/jobs/{job_id}/input", json={"answer": {"ok": 1}})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "answer_invalid"
        good = await stack.client.post(
            f"/v1/jobs/{job_id}/input", json={"answer": {"approved": True, "comment": "ship"}}
        )
        assert good.status_code == 202 and good.json()["step"] == "review"
        late = await stack.client.post(f"/v1/jobs/{job_id}/input", json={"answer": {}})
        assert late.status_code == 409

        await asyncio.wait_for(
            run_worker(settings, one_job=True, registry=registry, handle_signals=False), 30
        )
        state = await wait_for_end(stack.services, job_id)

        assert state.result == {
            "review": {"text": "draft about ai", "approved": True, "comment": "ship"}
        }
        assert CALLS[(job_id, "draft")] == 1
        assert CALLS[(job_id, "review")] == 2


# -- concurrency and priority -------------------------------------------------------------------


async def test_a_concurrency_limit_of_two_never_runs_three_at_once_and_fails_none(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(worker={"concurrency_retry_seconds": 0.05, "max_jobs": 8})
    PEAK["limited"] = 0
    async with in_process_stack(settings, flows.registry()) as stack:
        ids = [await submit(stack, "limited", {"pause_seconds": 0.15}) for _ in range(6)]
        states = [await wait_for_end(stack.services, i, timeout_seconds=30) for i in ids]

        assert [s.status for s in states] == [JobStatus.SUCCEEDED] * 6
        assert PEAK["limited"] == 2


async def test_a_higher_priority_job_runs_before_earlier_lower_priority_ones(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(worker={"max_jobs": 1})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        low = [await submit(stack, "marked", {"label": f"low{i}"}) for i in range(3)]
        response = await stack.client.post(
            "/v1/jobs", json={"workflow": "marked", "inputs": {"label": "high"}, "priority": 5}
        )
        high = response.json()["job_id"]
        async with worker_running(settings, flows.registry()):
            ended = [await wait_for_end(stack.services, i) for i in [*low, high]]
        started = {s.job_id: s.started_at or 0 for s in ended}
        assert started[high] < min(started[i] for i in low)

        bad = await stack.client.post(
            "/v1/jobs", json={"workflow": "marked", "inputs": {"label": "x"}, "priority": 10}
        )
        assert bad.status_code == 422


# -- versions ------------------------------------------------------------------------------------


async def test_a_worker_of_another_version_leaves_the_job_and_the_api_says_why(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(worker={"version_retry_seconds": 0.1})
    from sdk import step, workflow

    @step
    async def mark(label: str) -> str:  # same name, other code: another version
        return label.upper()

    other = WorkflowRegistry([workflow("marked", mark)])
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "marked", {"label": "v1"})
        async with worker_running(settings, other):

            async def blocked() -> bool:
                state = await stack.services.state.get_job(job_id)
                return state is not None and bool(state.blocked)

            await wait_until(blocked, what="the mismatched worker to leave the job")
            first = await stack.services.state.get_job(job_id)
            assert first is not None

            async def polled_again() -> bool:
                state = await stack.services.state.get_job(job_id)
                return state is not None and state.arq_job_id != first.arq_job_id

            await wait_until(polled_again, what="the mismatched worker to poll the job again")
        view = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
        assert view["status"] == "queued"
        assert "version mismatch" in view["blocked"]
        # The submitter's stream says why, once per change of reason (not once per poll).
        events = await stack.services.state.read_events(job_id)
        blocked_events = [e for e in events if e.type == "job.blocked"]
        assert len(blocked_events) == 1
        data = blocked_events[0].data
        assert isinstance(data, dict)
        assert data["reason"] == view["blocked"]
        assert data["version"] == view["version"]
        assert data["worker_versions"] == [other.get("marked").version]
        async with worker_running(settings, flows.registry()):
            state = await wait_for_end(stack.services, job_id)
        assert state.result == {"mark": "v1"}

        unknown = await stack.client.post(
            "/v1/jobs", json={"workflow": "marked", "inputs": {"label": "x"}, "version": "nope"}
        )
        assert unknown.status_code == 422
        assert unknown.json()["error"]["code"] == "version_unknown"


# -- large outputs -------------------------------------------------------------------------------


async def test_a_large_output_is_stored_compressed_and_the_result_carries_a_reference(
    isolated_settings: SettingsFactory, redis: Redis
) -> None:
    settings = isolated_settings(state={"compress_threshold_bytes": 1000})
    async with in_process_stack(settings, flows.registry()) as stack:
        job_id = await submit(stack, "large", {"size": 200_000})
        state = await wait_for_end(stack.services, job_id)

        ref = state.result["big"]
        assert ref == {"$ref": f"/v1/jobs/{job_id}/steps/big/output", "output_bytes": 200_002}
        stored = await redis.get(f"{settings.state.key_prefix}:state:{job_id}:big")
        assert stored is not None and len(stored) < 2_000
        output = (await stack.client.get(ref["$ref"])).json()["output"]
        assert output == "x" * 200_000


async def test_an_output_over_the_hard_limit_fails_the_step_with_output_too_large(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(state={"max_output_bytes": 10_000})
    async with in_process_stack(settings, flows.registry()) as stack:
        job_id = await submit(stack, "large", {"size": 20_000})
        state = await wait_for_end(stack.services, job_id)
        assert state.status is JobStatus.FAILED
        assert state.error["details"]["error"]["code"] == "output_too_large"


@pytest.mark.parametrize("size", [10])
async def test_a_small_output_is_inline_in_the_result(
    isolated_settings: SettingsFactory, size: int
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "large", {"size": size})
        state = await wait_for_end(stack.services, job_id)
        assert state.result == {"big": "x" * size}

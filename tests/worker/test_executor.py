"""The DAG executor through the in-process stack, on real Redis and PostgreSQL (DESIGN §2, §3, §7)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from arq import Worker
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.serialization import dumps
from orchestrator.state.base import NewEvent
from orchestrator.state.codec import step_field
from orchestrator.trace.records import StepRunRecord
from orchestrator.types import JobStatus, StepStatus
from tests.conftest import wait_until
from tests.support import jobs as jobs_support
from tests.support.jobs import events_of, of_type, submit, wait_for_end, wait_for_step_status
from tests.support.stack import in_process_stack
from tests.worker import flows
from tests.worker.flows import CALLS, SEEN

SettingsFactory = Callable[..., Settings]


@asynccontextmanager
async def worker_running(settings: Settings) -> AsyncIterator[Worker]:
    """A long-lived worker with this suite's workflows."""
    async with jobs_support.worker_running(settings, flows.registry()) as worker:
        yield worker


async def test_a_diamond_succeeds_with_its_sink_output_as_result_and_a_gapless_event_stream(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "diamond", {"x": 1})
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED
        assert state.result == {"join": {"left": 4, "right": 6, "sum": 10}}
        events = await events_of(stack.services, job_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[0].type == "job.queued"
        assert events[-1].type == "job.succeeded"
        assert events[-1].data == {"result": {"join": {"left": 4, "right": 6, "sum": 10}}}
        for name in ("source", "left", "right", "join"):
            kinds = [e.type for e in events if e.step == name]
            assert kinds == ["step.started", "step.succeeded"], (name, kinds)
            assert CALLS[(job_id, name)] == 1
        position = {(e.type, e.step): e.seq for e in events}
        assert position[("step.succeeded", "source")] < position[("step.started", "left")]
        assert position[("step.succeeded", "right")] < position[("step.started", "join")]

        outputs = {}
        for name in ("source", "left", "right", "join"):
            response = await stack.client.get(f"/v1/jobs/{job_id}/steps/{name}/output")
            assert response.status_code == 200, response.text
            assert response.json()["step"] == name
            outputs[name] = response.json()["output"]
        assert outputs == {
            "source": 2, "left": 4, "right": 6, "join": {"left": 4, "right": 6, "sum": 10},
        }  # fmt: skip

        view = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
        assert view["status"] == "succeeded"
        assert view["result"] == {"join": {"left": 4, "right": 6, "sum": 10}}
        assert {s["name"]: (s["status"], s["attempts"]) for s in view["steps"]} == {
            n: ("succeeded", 1) for n in ("source", "left", "right", "join")
        }


async def test_pydantic_models_round_trip_as_inputs_and_outputs(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "models", {"order": {"sku": "w-1", "quantity": 4}})
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert SEEN[(job_id, "price")] == "Order"
        assert SEEN[(job_id, "confirm")] == "Quote"
        assert state.result == {"confirm": {"sku": "w-1", "total": 10.0}}
        response = await stack.client.get(f"/v1/jobs/{job_id}/steps/price/output")
        assert response.json()["output"] == {"sku": "w-1", "total": 10.0}


# -- parallelism --------------------------------------------------------------------------


async def test_two_parallel_steps_overlap_in_time(isolated_settings: SettingsFactory) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "overlapping")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED
        (a_start, a_end), (b_start, b_end) = state.result["par_one"], state.result["par_two"]
        assert a_start < b_end and b_start < a_end


async def test_a_step_without_parallel_never_overlaps_another_step(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "exclusive")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED
        (p_start, p_end), (s_start, s_end) = state.result["par_one"], state.result["solo"]
        assert p_end <= s_start or s_end <= p_start


# -- sync steps and streams ---------------------------------------------------------------


async def test_sync_steps_and_generators_run_in_threads_and_stream_chunks_in_order(
    isolated_settings: SettingsFactory,
) -> None:
    loop_thread = threading.get_ident()
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "sync_and_streams")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {
            "sync_plain": {"value": 42},
            "sync_words": "alpha beta gamma",
            "async_mixed": [1, "two", {"three": 3}],
            "sync_mixed": [["x"], "y"],
        }
        assert loop_thread not in SEEN[(job_id, "sync_plain")]
        assert len(SEEN[(job_id, "sync_words")]) == 5
        assert loop_thread not in SEEN[(job_id, "sync_words")]

        events = await events_of(stack.services, job_id)
        chunks = {
            name: [e.data for e in of_type(events, "step.chunk", name)]
            for name in ("sync_words", "async_mixed", "sync_mixed")
        }
        assert chunks == {
            "sync_words": ["alpha", " ", "beta", " ", "gamma"],
            "async_mixed": [1, "two", {"three": 3}],
            "sync_mixed": [["x"], "y"],
        }
        for name in chunks:
            kinds = [e.type for e in events if e.step == name]
            assert kinds[0] == "step.started" and kinds[-1] == "step.succeeded", kinds
            assert set(kinds[1:-1]) == {"step.chunk"}

        response = await stack.client.get(f"/v1/jobs/{job_id}/steps/sync_words/output")
        assert response.json()["output"] == "alpha beta gamma"


# -- retries, failures, timeouts ------------------------------------------------------------


async def test_a_step_failing_twice_with_two_retries_succeeds_on_its_third_attempt(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "retrying")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED
        assert state.result == {"after_flaky": "ok on attempt 3!"}
        assert CALLS[(job_id, "flaky")] == 3
        assert state.steps["flaky"].attempt == 3
        events = await events_of(stack.services, job_id)
        retrying = of_type(events, "step.retrying", "flaky")
        assert [e.attempt for e in retrying] == [1, 2]
        # Exponential with equal jitter: attempt n waits between half and all of 0.01 * 2**(n-1).
        delays = [e.data["delay_seconds"] for e in retrying]
        assert 0.005 <= delays[0] <= 0.01 and 0.01 <= delays[1] <= 0.02
        assert [e.data["error"]["code"] for e in retrying] == ["step_failed", "step_failed"]
        assert all(isinstance(e.data["reason"], str) for e in retrying)
        assert [e.data["next_attempt"] for e in retrying] == [2, 3]
        assert [e.attempt for e in of_type(events, "step.started", "flaky")] == [1, 2, 3]
        assert [e.attempt for e in of_type(events, "step.succeeded", "flaky")] == [3]
        assert of_type(events, "step.failed") == []


async def test_a_step_failing_without_retries_fails_the_job_and_skips_its_downstream_steps(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "failing")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.FAILED
        assert state.error["code"] == "step_failed"
        assert state.error["details"]["step"] == "broken"
        assert state.error["details"]["error"]["code"] == "step_failed"
        assert CALLS[(job_id, "broken")] == 1
        assert CALLS[(job_id, "after_broken")] == 0
        assert CALLS[(job_id, "last_after_broken")] == 0
        assert state.steps["broken"].status == "failed"
        assert state.steps["after_broken"].status == "skipped"
        assert state.steps["last_after_broken"].status == "skipped"

        events = await events_of(stack.services, job_id)
        (failed,) = of_type(events, "step.failed", "broken")
        assert failed.attempt == 1
        assert failed.data["error"]["code"] == "step_failed"
        assert of_type(events, "step.retrying") == []
        assert events[-1].type == "job.failed"
        assert events[-1].data["error"]["code"] == "step_failed"

        view = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
        assert view["status"] == "failed"
        assert view["error"]["code"] == "step_failed"
        steps = {s["name"]: s for s in view["steps"]}
        assert steps["broken"]["error"]["code"] == "step_failed"
        assert steps["after_broken"]["status"] == "skipped"
        response = await stack.client.get(f"/v1/jobs/{job_id}/steps/broken/output")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "output_not_found"


async def test_raising_retry_with_after_seconds_retries_after_that_delay(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "retry_after")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED
        assert state.result == {"asks_retry": 2}
        events = await events_of(stack.services, job_id)
        (retrying,) = of_type(events, "step.retrying", "asks_retry")
        assert retrying.data["delay_seconds"] == 0.05
        assert retrying.data["error"]["code"] == "step_failed"
        second = of_type(events, "step.started", "asks_retry")[1]
        assert second.ts - retrying.ts >= 0.05


async def test_an_async_step_running_past_its_timeout_fails_with_step_timeout(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "timing_out")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.FAILED
        assert state.error["code"] == "step_failed"
        assert state.error["details"]["step"] == "sleepy"
        assert state.error["details"]["error"]["code"] == "step_timeout"
        events = await events_of(stack.services, job_id)
        (failed,) = of_type(events, "step.failed", "sleepy")
        assert failed.data["error"]["code"] == "step_timeout"
        assert state.steps["sleepy"].error["code"] == "step_timeout"


# -- checkpoints and resume -----------------------------------------------------------------


async def test_a_step_with_a_checkpoint_is_never_run_again(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings()
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "resumable")
        written = await stack.services.state.checkpoint(
            job_id,
            "A",
            b'"pre"',
            {step_field("A", "status"): "succeeded", step_field("A", "attempt"): 1},
            NewEvent("step.succeeded", "A", 1, None),
        )
        assert written is True

        async with worker_running(settings):
            state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert CALLS[(job_id, "A")] == 0
        assert SEEN[(job_id, "B")] == "pre"
        assert state.result == {"B": "B(pre)"}
        events = await events_of(stack.services, job_id)
        assert of_type(events, "step.started", "A") == []
        runs = await stack.services.trace.list_step_runs(job_id)
        assert [(r.step, r.attempt, r.status) for r in runs] == [("B", 1, StepStatus.SUCCEEDED)]


async def test_a_job_whose_worker_died_is_resumed_after_its_lease_lapses(
    isolated_settings: SettingsFactory, redis: Redis
) -> None:
    settings = isolated_settings(lease={"ttl_seconds": 0.5, "check_interval_seconds": 0.2})
    dead = "dead-host:1:cafe00"
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        state_store = stack.services.state
        job_id = await submit(stack, "three_steps")
        # A worker took the job, finished A, started B, and died: its arq job stays in progress.
        assert await state_store.acquire_lease(job_id, dead, 30) == "OK"
        await redis.set(in_progress_key_prefix + job_id, b"1", px=60_000)
        started = time.time()
        await state_store.update(
            job_id,
            {"status": "running", "runs": 1, "worker": dead, "started_at": repr(started)},
            NewEvent("job.started", attempt=1, data={"worker": dead, "resumed": False}),
            worker_id=dead,
        )
        await state_store.checkpoint(
            job_id, "A", dumps("from the dead worker"),
            {step_field("A", "status"): "succeeded", step_field("A", "attempt"): 1},
            NewEvent("step.succeeded", "A", 1, None), worker_id=dead,
        )  # fmt: skip
        await state_store.update(
            job_id,
            {step_field("B", "status"): "running", step_field("B", "attempt"): 1,
             step_field("B", "started_at"): repr(started)},
            NewEvent("step.started", "B", 1, None), worker_id=dead,
        )  # fmt: skip
        at = datetime.fromtimestamp(started, UTC)
        await stack.services.trace.upsert_step_runs([
            StepRunRecord(job_id, "A", 1, StepStatus.SUCCEEDED, at, at, 1.0, None, dead, 22),
            StepRunRecord(job_id, "B", 1, StepStatus.RUNNING, at, worker_id=dead),
        ])  # fmt: skip
        # Its lease now lapses within half a second.
        assert await state_store.acquire_lease(job_id, dead, 0.5) == "OK"

        async with worker_running(settings):
            state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {"C": "C(B(from the dead worker))"}
        assert CALLS[(job_id, "A")] == 0
        assert CALLS[(job_id, "B")] == 1
        assert state.steps["B"].attempt == 2
        assert state.runs == 2
        assert state.arq_job_id is not None and state.arq_job_id.startswith(f"{job_id}:resume:")
        assert await redis.zscore(settings.queue.name, job_id) is None

        events = await events_of(stack.services, job_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        job_started = of_type(events, "job.started")
        assert [(e.attempt, e.data["resumed"]) for e in job_started] == [(1, False), (2, True)]
        assert job_started[1].data["worker"] != dead
        assert [e.attempt for e in of_type(events, "step.started", "B")] == [1, 2]
        assert of_type(events, "step.started", "A") == []

        runs = await stack.services.trace.list_step_runs(job_id)
        rows = {(r.step, r.attempt): r for r in runs}
        assert set(rows) == {("A", 1), ("B", 1), ("B", 2), ("C", 1)}
        assert rows[("A", 1)].status is StepStatus.SUCCEEDED
        assert rows[("B", 1)].status is StepStatus.FAILED
        assert rows[("B", 1)].error is not None and rows[("B", 1)].error["code"] == "worker_lost"
        assert rows[("B", 2)].status is StepStatus.SUCCEEDED
        assert rows[("C", 1)].status is StepStatus.SUCCEEDED
        assert rows[("B", 2)].worker_id == rows[("C", 1)].worker_id == job_started[1].data["worker"]
        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.SUCCEEDED


async def test_a_lost_attempt_keeps_the_id_of_the_worker_that_ran_it(
    isolated_settings: SettingsFactory, redis: Redis
) -> None:
    settings = isolated_settings(lease={"ttl_seconds": 0.5, "check_interval_seconds": 0.2})
    dead = "dead-host:2:beef00"
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        state_store = stack.services.state
        job_id = await submit(stack, "resumable")
        assert await state_store.acquire_lease(job_id, dead, 30) == "OK"
        await redis.set(in_progress_key_prefix + job_id, b"1", px=60_000)
        started = time.time()
        await state_store.update(
            job_id,
            {"status": "running", "runs": 1, "worker": dead,
             step_field("A", "status"): "running", step_field("A", "attempt"): 1,
             step_field("A", "started_at"): repr(started)},
            NewEvent("step.started", "A", 1, None), worker_id=dead,
        )  # fmt: skip
        at = datetime.fromtimestamp(started, UTC)
        await stack.services.trace.upsert_step_runs(
            [StepRunRecord(job_id, "A", 1, StepStatus.RUNNING, at, worker_id=dead)]
        )
        assert await state_store.acquire_lease(job_id, dead, 0.5) == "OK"

        async with worker_running(settings):
            state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        rows = {(r.step, r.attempt): r for r in await stack.services.trace.list_step_runs(job_id)}
        assert rows[("A", 1)].status is StepStatus.FAILED
        assert rows[("A", 1)].worker_id == dead
        assert rows[("A", 2)].worker_id not in (None, dead)


# -- cancel ---------------------------------------------------------------------------------


async def test_cancelling_a_running_job_stops_it_and_cancels_its_pending_steps(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(lease={"ttl_seconds": 0.6, "check_interval_seconds": 0.2})
    async with in_process_stack(settings, flows.registry()) as stack:
        job_id = await submit(stack, "cancellable")
        await wait_for_step_status(stack.services, job_id, "blocker", "running")

        response = await stack.client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        assert response.json() == {"job_id": job_id, "status": "cancelling"}
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.CANCELLED
        assert SEEN[(job_id, "blocker")] == "cancelled"
        assert CALLS[(job_id, "never")] == 0
        assert {n: s.status for n, s in state.steps.items()} == {
            "warmup": "succeeded", "blocker": "cancelled", "never": "cancelled",
        }  # fmt: skip
        events = await events_of(stack.services, job_id)
        assert events[-1].type == "job.cancelled"
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.CANCELLED
        assert row.finished_at is not None

        again = await stack.client.post(f"/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "job_state_conflict"
        assert again.json()["error"]["details"]["status"] == "cancelled"


async def test_a_cancelled_attempt_is_not_left_running_in_the_trace(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(lease={"ttl_seconds": 0.6, "check_interval_seconds": 0.2})
    async with in_process_stack(settings, flows.registry()) as stack:
        job_id = await submit(stack, "cancellable")
        await wait_for_step_status(stack.services, job_id, "blocker", "running")
        assert (await stack.client.post(f"/v1/jobs/{job_id}/cancel")).status_code == 202
        await wait_for_end(stack.services, job_id)

        runs = await stack.services.trace.list_step_runs(job_id)
        assert [(r.step, r.status) for r in runs if r.status is StepStatus.RUNNING] == []
        blocker = next(r for r in runs if r.step == "blocker")
        assert blocker.status is StepStatus.CANCELLED
        assert blocker.finished_at is not None


async def test_cancelling_a_queued_job_cancels_it_at_once_and_no_worker_runs_it(
    isolated_settings: SettingsFactory, redis: Redis
) -> None:
    settings = isolated_settings()
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "resumable")

        response = await stack.client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        assert response.json() == {"job_id": job_id, "status": "cancelled"}
        state = await stack.services.state.get_job(job_id)
        assert state is not None and state.status is JobStatus.CANCELLED
        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.CANCELLED

        async with worker_running(settings):

            async def arq_job_done() -> bool:
                return await redis.zscore(settings.queue.name, job_id) is None

            await wait_until(arq_job_done, what="the worker to take the cancelled job's arq job")

        assert CALLS[(job_id, "A")] == 0 and CALLS[(job_id, "B")] == 0
        events = await events_of(stack.services, job_id)
        assert [e.type for e in events] == ["job.queued", "job.cancelled"]


# -- the trace in PostgreSQL ----------------------------------------------------------------


async def test_every_attempt_of_a_retried_step_has_its_own_step_run_row(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        before = datetime.now(UTC)
        job_id = await submit(stack, "retrying")
        state = await wait_for_end(stack.services, job_id)
        assert state.status is JobStatus.SUCCEEDED

        runs = await stack.services.trace.list_step_runs(job_id)
        flaky = [r for r in runs if r.step == "flaky"]
        assert [(r.attempt, r.status) for r in flaky] == [
            (1, StepStatus.FAILED), (2, StepStatus.FAILED), (3, StepStatus.SUCCEEDED),
        ]  # fmt: skip
        for r in runs:
            assert r.worker_id
            assert r.started_at is not None and r.finished_at is not None
            assert r.duration_ms is not None and r.duration_ms >= 0
        assert [r.error["code"] for r in flaky[:2]] == ["step_failed", "step_failed"]  # type: ignore[index]
        assert [r.output_bytes for r in flaky[:2]] == [None, None]
        assert flaky[2].output_bytes == len(dumps("ok on attempt 3"))
        assert flaky[2].error is None
        (after,) = [r for r in runs if r.step == "after_flaky"]
        assert after.status is StepStatus.SUCCEEDED and after.attempt == 1

        row = await stack.services.trace.get_job(job_id)
        assert row is not None
        assert row.status is JobStatus.SUCCEEDED
        assert row.result == {"after_flaky": "ok on attempt 3!"}
        assert row.started_at is not None and row.finished_at is not None
        assert before <= row.started_at <= row.finished_at

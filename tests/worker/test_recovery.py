"""Recovery without waiting for the lease TTL, and job ends whose worker died before the row."""

from __future__ import annotations

import time
from collections.abc import Callable

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.serialization import dumps
from orchestrator.state.base import NewEvent
from orchestrator.state.codec import step_field
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support import jobs as jobs_support
from tests.support.jobs import submit, wait_for_end
from tests.support.stack import in_process_stack
from tests.worker import flows
from tests.worker.flows import CALLS

SettingsFactory = Callable[..., Settings]


async def test_a_worker_restarted_under_its_stable_id_resumes_its_jobs_before_the_lease_lapses(
    isolated_settings: SettingsFactory, redis: Redis
) -> None:
    # A 30-s lease: only the reclaim by id can resume the job within the 5-s wait below.
    settings = isolated_settings(
        worker={"id": "pod-0"}, lease={"ttl_seconds": 30, "check_interval_seconds": 0.2}
    )
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        job_id = await submit(stack, "three_steps")
        # The previous process of pod-0 finished A and died running B.
        assert await store.acquire_lease(job_id, "pod-0", 30) == "OK"
        await redis.set(in_progress_key_prefix + job_id, b"1", px=60_000)
        await store.update(
            job_id, {"status": "running", "runs": 1, "worker": "pod-0"},
            NewEvent("job.started", attempt=1), worker_id="pod-0",
        )  # fmt: skip
        await store.checkpoint(
            job_id, "A", dumps("from the previous process"),
            {step_field("A", "status"): "succeeded", step_field("A", "attempt"): 1},
            NewEvent("step.succeeded", "A", 1, None), worker_id="pod-0",
        )  # fmt: skip
        started = time.monotonic()

        async with jobs_support.worker_running(settings, flows.registry()):
            state = await wait_for_end(stack.services, job_id, timeout_seconds=5.0)

        assert time.monotonic() - started < 30
        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {"C": "C(B(from the previous process))"}
        assert (CALLS[(job_id, "A")], CALLS[(job_id, "B")]) == (0, 1)
        assert state.arq_job_id is not None and state.arq_job_id.startswith(f"{job_id}:resume:")


async def test_a_worker_under_another_stable_id_leaves_a_live_lease_alone(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(
        worker={"id": "pod-1"}, lease={"ttl_seconds": 30, "check_interval_seconds": 0.2}
    )
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        job_id = await submit(stack, "three_steps")
        assert await store.acquire_lease(job_id, "pod-0", 30) == "OK"
        await store.update(job_id, {"status": "running"}, worker_id="pod-0")

        async with jobs_support.worker_running(settings, flows.registry()) as worker:
            # The worker tries the queued arq job and finds the lease held by pod-0.
            await wait_until(lambda: _tried(worker), what="the worker to try the job")

        state = await store.get_job(job_id)
        assert state is not None and state.status is JobStatus.RUNNING
        assert CALLS[(job_id, "A")] == 0


async def _tried(worker: object) -> bool:
    return int(getattr(worker, "jobs_complete", 0)) + int(getattr(worker, "jobs_retried", 0)) > 0


async def test_an_ended_job_whose_worker_died_before_its_row_gets_its_end_recorded(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(lease={"ttl_seconds": 0.5, "check_interval_seconds": 0.2})
    dead = "dead-host:3:f00d00"
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        job_id = await submit(stack, "three_steps")
        assert await store.acquire_lease(job_id, dead, 0.5) == "OK"
        await store.update(job_id, {"status": "running", "runs": 1}, worker_id=dead)
        # The terminal event is out; the worker dies before the trace row and the lease release.
        await store.finish(
            job_id, JobStatus.SUCCEEDED, [], {"result": dumps({"C": "done"}).decode()},
            {"result": {"C": "done"}}, worker_id=dead,
        )  # fmt: skip
        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.QUEUED

        async with jobs_support.worker_running(settings, flows.registry()):
            await wait_for_end(stack.services, job_id)  # the reaper let the job go

        row = await stack.services.trace.get_job(job_id)
        assert row is not None and row.status is JobStatus.SUCCEEDED
        assert row.result == {"C": "done"} and row.finished_at is not None
        assert CALLS[(job_id, "A")] == 0

"""An enqueue wakes an idle worker at once instead of waiting for its next poll."""

from __future__ import annotations

import time
from collections.abc import Callable

from arq.constants import in_progress_key_prefix

from orchestrator.config import Settings
from orchestrator.queue.arq import WAKE_TOKENS_MAX
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support.jobs import submit, wait_for_end, worker_running
from tests.support.stack import in_process_stack
from tests.worker import control_flows as flows
from tests.worker import flows as worker_flows

SettingsFactory = Callable[..., Settings]


async def test_a_worker_polling_every_thirty_seconds_still_starts_a_new_job_at_once(
    isolated_settings: SettingsFactory,
) -> None:
    # With arq's plain sleep between polls, the job would wait ~30 s; the wait's bound is 10 s.
    settings = isolated_settings(worker={"poll_delay_seconds": 30})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        async with worker_running(settings, flows.registry()):

            async def worker_idle() -> bool:  # past its first poll, blocked on the wake list
                clients = await stack.services.redis.client_list()
                return any(c.get("cmd") == "blpop" for c in clients)

            await wait_until(worker_idle, what="the worker to block between polls")
            job_id = await submit(stack, "marked", {"label": "now"})
            state = await wait_for_end(stack.services, job_id, timeout_seconds=10)
        assert state.status is JobStatus.SUCCEEDED


async def test_wake_tokens_are_capped_when_no_worker_takes_them(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        for i in range(WAKE_TOKENS_MAX + 10):
            await stack.services.queue.enqueue(f"job-{time.time()}-{i}")
        queue = stack.services.queue
        assert await stack.services.redis.llen(queue.wake_key) == WAKE_TOKENS_MAX
        assert 0 < await stack.services.redis.pttl(queue.wake_key) <= 10_000


async def test_two_workers_draining_one_queue_run_every_job_exactly_once(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(worker={"max_jobs": 4})
    registry = worker_flows.registry()
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        jobs = [await submit(stack, "three_steps") for _ in range(40)]
        async with worker_running(settings, registry), worker_running(settings, registry):
            ended = [await wait_for_end(stack.services, job_id) for job_id in jobs]

    assert all(state.status is JobStatus.SUCCEEDED for state in ended)
    assert [worker_flows.CALLS[(job_id, "A")] for job_id in jobs] == [1] * len(jobs)


async def test_a_job_in_progress_in_another_worker_is_not_started_again(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings()
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        taken = await submit(stack, "marked", {"label": "taken"})
        free = await submit(stack, "marked", {"label": "free"})
        # Another worker has marked the first arq job in progress (arq's own key).
        await stack.services.redis.set(in_progress_key_prefix + taken, b"1", px=60_000)
        async with worker_running(settings, flows.registry()):
            # Ids are read in queue order: once the later job ended, the first was passed over.
            await wait_for_end(stack.services, free)
            state = await stack.services.state.get_job(taken)

        assert state is not None and state.status is JobStatus.QUEUED
        assert await stack.services.redis.zscore(settings.queue.name, taken) is not None

"""The worker's own arq ``run_job`` (``worker/arq_run.py``) and when it falls back to arq's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from arq import Worker
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.cron import cron
from arq.worker import func

from orchestrator.config import Settings
from orchestrator.queue.arq import RUN_JOB
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support.jobs import submit, wait_for_end, worker_running
from tests.support.stack import in_process_stack
from tests.worker import flows as worker_flows
from worker import arq_run
from worker.tasks import run_job

SettingsFactory = Callable[..., Settings]


async def _noop(ctx: dict[str, object]) -> None:
    return None


def _worker(**kwargs: object) -> Worker:
    options: dict[str, object] = {"functions": [func(run_job, name=RUN_JOB)], "keep_result": 0}
    return Worker(**{**options, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.26.0", True), ("0.27.3", True), ("0.28.0", True), ("0.25.1", False),
     ("0.29.0", False), ("1.0.0", False), ("0.28.0b1", True), ("dev", False)],
)  # fmt: skip
def test_only_arq_026_to_028_runs_the_own_run_job(version: str, expected: bool) -> None:
    assert arq_run.supported(_worker(), version) is expected


@pytest.mark.parametrize(
    "options",
    [{"allow_abort_jobs": True}, {"keep_result": 60}, {"keep_result_forever": True},
     {"cron_jobs": [cron(_noop, minute=0)]}],
)  # fmt: skip
def test_a_worker_set_up_beyond_what_it_follows_runs_arqs_own(options: dict[str, object]) -> None:
    assert arq_run.supported(_worker(**options), "0.28.0") is False


async def test_an_ended_job_leaves_no_arq_keys_and_leaves_the_queue(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings()
    registry = worker_flows.registry()
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        job_id = await submit(stack, "three_steps")
        redis = stack.services.redis
        async with worker_running(settings, registry) as worker:
            assert getattr(worker, "own_run", False)
            state = await wait_for_end(stack.services, job_id)
            arq_keys = [k + job_id for k in (job_key_prefix, in_progress_key_prefix,
                                             retry_key_prefix)]  # fmt: skip

            async def removed() -> bool:
                return not await redis.exists(*arq_keys)

            await wait_until(removed, what="the arq job's keys to be removed")
        assert state.status is JobStatus.SUCCEEDED
        assert await redis.zscore(settings.queue.name, job_id) is None


async def test_a_restarted_redis_without_scripts_still_starts_and_ends_jobs(
    isolated_settings: SettingsFactory,
) -> None:
    """The start check and the arq finish are loaded again after a NOSCRIPT (SCRIPT FLUSH stands
    for a restarted Redis): the next job starts, ends and leaves the queue."""
    settings = isolated_settings()
    registry = worker_flows.registry()
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        redis = stack.services.redis
        async with worker_running(settings, registry):
            first = await submit(stack, "three_steps")
            assert (await wait_for_end(stack.services, first)).status is JobStatus.SUCCEEDED
            await redis.script_flush()
            second = await submit(stack, "three_steps")
            assert (await wait_for_end(stack.services, second)).status is JobStatus.SUCCEEDED

            async def dequeued() -> bool:
                return await redis.zscore(settings.queue.name, second) is None

            await wait_until(dequeued, what="the second job to leave the queue")


async def test_the_start_check_takes_our_job_up_in_the_same_call(
    isolated_settings: SettingsFactory,
) -> None:
    """START_READ_PICKUP on a real Redis: a due job is marked in progress, read, and its state
    and lease come back with it; a job another worker runs, and an arq job whose id is not a
    job's (a re-enqueue's), take no lease."""
    settings = isolated_settings()
    async with in_process_stack(settings, worker_flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "three_steps")
        services, redis = stack.services, stack.services.redis
        worker = _worker(queue_name=settings.queue.name, redis_pool=redis)
        script = redis.register_script(arq_run.START_READ_PICKUP)
        now_ms = str(int(time.time() * 1000))

        async def start(arq_id: str, worker_id: str) -> Any:
            keys, args = services.state.pickup_call(job_id if arq_id == job_id else arq_id,
                                                    worker_id, 30)  # fmt: skip
            return await script(keys=[*arq_run.start_keys(worker, arq_id), *keys],
                                args=[arq_id, now_ms, "60000", "100", *args])  # fmt: skip

        reply = await start(job_id, "w1")
        assert int(reply[1]) == 1 and reply[2]  # the first try, the job's bytes
        state, answer = services.state.picked_up(job_id, reply[3], reply[4])
        assert answer == "OK" and state is not None and state.workflow == "three_steps"
        assert await redis.get(services.keys.lease(job_id)) == b"w1"

        # In progress (marked above): another worker's start check neither starts nor takes it.
        assert await start(job_id, "w2") == -1
        assert await redis.get(services.keys.lease(job_id)) == b"w1"

        # An arq job under another id: no hash under that id, so no lease for it.
        other = f"{job_id}:drain:0001"
        await redis.zadd(settings.queue.name, {other: 1})
        await redis.set(job_key_prefix + other, b"raw")
        reply = await start(other, "w2")
        assert services.state.picked_up(other, reply[3], reply[4]) == (None, "MISSING")
        assert not await redis.exists(services.keys.lease(other))


async def test_a_job_arq_refuses_gives_back_the_lease_its_start_check_took(
    isolated_settings: SettingsFactory,
) -> None:
    """A job past arq's max tries is failed by arq without a run: the lease that the start check
    took for the run is released at once, not left to lapse (a reaper would resume it)."""
    settings = isolated_settings()
    registry = worker_flows.registry()
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        job_id = await submit(stack, "three_steps")
        redis = stack.services.redis
        await redis.set(retry_key_prefix + job_id, 5)  # the worker's max_tries: the next is 6
        async with worker_running(settings, registry) as worker:
            assert getattr(worker, "pickup", None) is not None

            async def refused() -> bool:
                return await redis.zscore(settings.queue.name, job_id) is None

            await wait_until(refused, what="arq to drop the job past its max tries")
            assert not await redis.exists(stack.services.keys.lease(job_id))
            assert await redis.zscore(stack.services.keys.leases(), job_id) is None
            assert not worker.pickup._picked  # type: ignore[attr-defined]

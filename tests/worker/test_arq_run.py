"""The worker's own arq ``run_job`` (``worker/arq_run.py``) and when it falls back to arq's."""

from __future__ import annotations

from collections.abc import Callable

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

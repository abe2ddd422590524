"""The trace recorder queues a job's end into a group commit that the job does not wait for."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from orchestrator.errors import TraceError
from orchestrator.trace.records import JobRecord
from orchestrator.trace.store import TraceStore
from orchestrator.types import JobStatus
from worker.hooks import JobRun
from worker.recorder import TraceRecorder


def a_run(job_id: str) -> JobRun:
    return JobRun(job_id=job_id, workflow="wf", run=1, worker_id="w1", trace={})


async def test_job_ends_are_queued_and_job_written_returns_once_their_batch_committed(
    pg_url: str,
) -> None:
    store = TraceStore.from_url(pg_url, pool_size=2)
    recorder = TraceRecorder(store, flush_interval_seconds=60)
    try:
        ids = [str(uuid.uuid4()) for _ in range(5)]
        for job_id in ids:
            await store.insert_job(JobRecord(id=job_id, workflow="wf", status=JobStatus.QUEUED,
                                             inputs={}, created_at=datetime.now(UTC)))
        for job_id in ids:  # concurrent ends, as a busy worker has them
            await recorder.on_job_end(a_run(job_id), JobStatus.SUCCEEDED, {"x": job_id}, None)

        await asyncio.wait_for(asyncio.gather(*(recorder.job_written(j) for j in ids)), 10)

        for job_id in ids:
            row = await store.get_job(job_id)
            assert row is not None and row.status is JobStatus.SUCCEEDED
            assert row.result == {"x": job_id}
    finally:
        await recorder.stop()
        await store.close()


async def test_job_written_raises_when_the_rows_cannot_be_written() -> None:
    store = TraceStore.from_url("postgresql+asyncpg://root@127.0.0.1:1/none")
    recorder = TraceRecorder(store, flush_interval_seconds=60)
    job_id = str(uuid.uuid4())
    try:
        await recorder.on_job_end(a_run(job_id), JobStatus.FAILED, None, {"code": "x"})

        with pytest.raises(TraceError):
            await asyncio.wait_for(recorder.job_written(job_id), 10)
    finally:
        with pytest.raises(TraceError):  # the end stayed queued for the next flush
            await recorder.stop()
        await store.close()

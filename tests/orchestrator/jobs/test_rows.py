"""Group commit of submit rows: a lone submit at once, concurrent ones together, a bad row
fails only its own submit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from orchestrator.errors import TraceError
from orchestrator.jobs.rows import RowGroupCommit
from orchestrator.trace.records import AuditRecord, JobRecord
from orchestrator.types import JobStatus
from tests.conftest import wait_until


class GatedStore:
    """Records each write; the first one waits for ``gate`` so that others pile up."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.writes: list[list[str]] = []
        self.bad: set[str] = set()

    async def insert_job(self, job: JobRecord, audit: AuditRecord | None = None) -> None:
        if not self.writes:
            await self.gate.wait()
        if job.id in self.bad:
            raise TraceError("duplicate", details={"operation": "insert_job"})
        self.writes.append([job.id])

    async def insert_jobs(self, batch: list[tuple[JobRecord, AuditRecord]]) -> None:
        if any(job.id in self.bad for job, _ in batch):
            raise TraceError("duplicate", details={"operation": "insert_jobs"})
        self.writes.append([job.id for job, _ in batch])


def rows() -> tuple[JobRecord, AuditRecord]:
    now = datetime.now(UTC)
    job_id = str(uuid.uuid4())
    job = JobRecord(id=job_id, workflow="w", status=JobStatus.QUEUED, inputs={}, created_at=now)
    return job, AuditRecord(at=now, actor="u", action="job.submit", job_id=job_id)


async def test_rows_arriving_during_a_write_are_committed_together_after_it() -> None:
    store = GatedStore()
    commit = RowGroupCommit(store)
    first, *others = [rows() for _ in range(4)]
    lone = asyncio.create_task(commit.insert(*first))
    await asyncio.sleep(0)  # the first write is in flight, held by the gate
    later = [asyncio.create_task(commit.insert(*r)) for r in others]
    await asyncio.sleep(0)
    assert not lone.done() and not any(t.done() for t in later)  # none answered before commit
    store.gate.set()
    await asyncio.gather(lone, *later)
    assert store.writes == [[first[0].id], [job.id for job, _ in others]]


async def test_a_bad_row_fails_its_own_submit_and_the_rest_of_its_group_is_written() -> None:
    store = GatedStore()
    commit = RowGroupCommit(store)
    first, good, bad, good2 = [rows() for _ in range(4)]
    store.bad.add(bad[0].id)
    lone = asyncio.create_task(commit.insert(*first))
    await asyncio.sleep(0)
    group = [asyncio.create_task(commit.insert(*r)) for r in (good, bad, good2)]
    store.gate.set()
    await lone
    results = await asyncio.gather(*group, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], TraceError)
    assert store.writes == [[first[0].id], [good[0].id], [good2[0].id]]


async def test_a_cancelled_submit_leaves_the_group_it_joined_alone() -> None:
    store = GatedStore()
    commit = RowGroupCommit(store)
    first, second = rows(), rows()
    lone = asyncio.create_task(commit.insert(*first))
    await asyncio.sleep(0)
    gone = asyncio.create_task(commit.insert(*second))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()
    await lone
    with pytest.raises(asyncio.CancelledError):
        await gone
    async def both_written() -> bool:
        return len(store.writes) == 2

    await wait_until(both_written, what="the cancelled submit's row")
    assert store.writes == [[first[0].id], [second[0].id]]  # its row was still committed


def test_a_commit_used_from_a_new_event_loop_starts_its_own_writer() -> None:
    store = GatedStore()
    commit = RowGroupCommit(store)
    first, second = rows(), rows()

    async def stuck() -> None:  # a loop that ends with its write still held by the gate
        task = asyncio.create_task(commit.insert(*first))
        await asyncio.sleep(0)
        task.cancel()

    asyncio.run(stuck())
    store.gate.set()
    asyncio.run(commit.insert(*second))
    assert [second[0].id] in store.writes

"""The trace recorder hook: job status and step runs into the trace store (PostgreSQL/SQLite).

Step runs are buffered and written in batches off the critical path (DESIGN §3.3): every
``flush_interval_seconds`` and whenever a job ends, in a group commit that the job's end does
not wait for (``job_written`` tells when its row is in). A crash loses at most one interval of
step runs; the resumed run records the attempt that died as ``worker_lost``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.errors import TraceError
from orchestrator.trace.deferred import ready
from orchestrator.trace.records import JobFinish, StepRunRecord
from orchestrator.types import JobStatus, StepStatus
from worker.hooks import AttemptRecord, ExecutionHook, JobRun

if TYPE_CHECKING:
    from orchestrator.trace.store import TraceStore

log = structlog.get_logger("worker.recorder")


def _consume(future: asyncio.Future[None]) -> None:
    """Mark a job end's failure as seen (it is logged once by the writer, not per future)."""
    if not future.cancelled():
        future.exception()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class TraceRecorder(ExecutionHook):
    """Writes job status and batched step runs to the trace store.

    Args:
        trace: The trace store.
        flush_interval_seconds: Longest time a step run waits in the buffer.
    """

    def __init__(self, trace: TraceStore, *, flush_interval_seconds: float) -> None:
        self.trace = trace
        self.flush_interval_seconds = flush_interval_seconds
        self._buffer: dict[tuple[str, str, int], StepRunRecord] = {}
        self._started: dict[str, datetime] = {}
        self._finishes: list[tuple[JobFinish, asyncio.Future[None] | None]] = []
        self._written: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._ends_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic flush."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="trace-flush")

    async def stop(self) -> None:
        """Stop the periodic flush and write what is buffered."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def flush(self) -> None:
        """Write every buffered step run and pending job end now.

        Raises:
            TraceError: The trace store failed; the runs stay buffered for the next flush.
        """
        await self._write()

    async def job_written(self, job_id: str) -> None:
        """Wait until the end of ``job_id`` queued by :meth:`on_job_end` is committed.

        Raises:
            TraceError: Its batch failed (it stays queued for the next periodic flush).
        """
        future = self._written.pop(job_id, None)
        if future is not None:
            await future

    async def _write(self) -> None:
        """Write the buffer and every pending job end in one batch (group commit).

        Whoever holds the lock writes what everyone queued meanwhile, so concurrent job ends
        cost one batch, not one each; each end's future resolves when its batch commits.
        """
        async with self._lock:
            if not self._buffer and not self._started and not self._finishes:
                return
            batch = list(self._buffer.values())
            started = list(self._started.items())
            finishes = list(self._finishes)
            self._buffer.clear()
            self._started.clear()
            self._finishes.clear()
            try:
                trace = await ready(self.trace)  # a deferred store is built off the loop
                await trace.write_batch(batch, started=started, finished=[f for f, _ in finishes])
            except TraceError as exc:
                for r in batch:
                    self._buffer.setdefault((r.job_id, r.step, r.attempt), r)
                for job_id, at in started:
                    self._started.setdefault(job_id, at)
                self._finishes[:0] = [(f, None) for f, _ in finishes]  # the periodic flush
                for _, future in finishes:
                    if future is not None and not future.done():
                        future.set_exception(exc)
                raise
            for _, future in finishes:
                if future is not None and not future.done():
                    future.set_result(None)

    async def _write_ends(self) -> None:
        while self._finishes:
            try:
                await self._write()
            except TraceError as exc:
                log.warning("job end rows failed; the periodic flush retries", error=str(exc))
                return

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_seconds)
            try:
                await self.flush()
            except TraceError as exc:
                log.warning("step run flush failed; will retry", error=str(exc))

    def _add(self, run: JobRun, r: AttemptRecord) -> None:
        self._buffer[(run.job_id, r.step, r.attempt)] = StepRunRecord(
            job_id=run.job_id,
            step=r.step,
            attempt=r.attempt,
            status=StepStatus(r.status),
            started_at=_dt(r.started_at),
            finished_at=_dt(r.finished_at),
            duration_ms=r.duration_ms,
            error=r.error,
            worker_id=r.worker_id or run.worker_id,
            output_bytes=r.output_bytes,
            cache_hit=r.cache_hit or None,
        )

    async def on_job_start(self, run: JobRun) -> None:
        # Buffered like step runs: the Redis state is live, the row follows within an interval.
        self._started.setdefault(run.job_id, datetime.now(UTC))

    async def on_step_start(self, run: JobRun, record: AttemptRecord) -> None:
        self._add(run, record)

    async def on_step_end(self, run: JobRun, record: AttemptRecord) -> None:
        self._add(run, record)

    async def on_job_suspend(self, run: JobRun, status: JobStatus) -> None:
        await self.flush()
        await (await ready(self.trace)).set_job_status(run.job_id, status)

    async def on_job_end(self, run: JobRun, status: JobStatus, result: Any, error: Any) -> None:
        # Queued, not awaited: the next group commit writes it with the buffer, and
        # job_written() tells when (the lease is freed only then).
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume)
        self._written[run.job_id] = future
        self._finishes.append(
            (JobFinish(run.job_id, status, datetime.now(UTC), result=result, error=error), future)
        )
        if self._ends_task is None or self._ends_task.done():
            self._ends_task = asyncio.get_running_loop().create_task(
                self._write_ends(), name="trace-job-ends"
            )


__all__ = ["TraceRecorder"]

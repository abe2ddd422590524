"""Step runs in the trace store: the batched writes of a worker, and a job's attempts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator.errors import TraceError
from orchestrator.trace.base import StoreBase
from orchestrator.trace.records import (
    JobFinish,
    StepRunRecord,
    parse_uuid,
    step_run_from_row,
    step_run_values,
    to_db,
)
from orchestrator.trace.schema import jobs, step_runs
from orchestrator.types import JobId, JobStatus

_UPSERT_CHUNK_ROWS = 1000
"""Rows per INSERT: 11 parameters each stays far below PostgreSQL's 32,767-parameter limit."""

_STEP_RUN_UPDATE_COLUMNS = (
    "status", "finished_at", "duration_ms", "error", "worker_id", "output_bytes", "cache_hit",
)  # fmt: skip


class StepRunQueries(StoreBase):
    """Writes and reads ``step_runs`` (and a job's start and end written with them)."""

    async def upsert_step_runs(self, runs: Sequence[StepRunRecord]) -> None:
        """Insert or update step attempts, keyed by ``(job_id, step, attempt)``, atomically.

        An existing attempt takes the new status, ``finished_at``, ``duration_ms``, ``error``,
        ``worker_id`` and ``output_bytes``; its ``started_at`` is replaced only by a non-null one.
        When the batch holds one key twice, the later record wins. An empty batch does nothing.

        Args:
            runs: The attempts; their jobs must exist.

        Raises:
            TraceError: The write failed (e.g. an unknown job); nothing was written.
            ValueError: A job id is not a UUID, or a datetime is naive.
        """
        if not runs:
            return
        async with self._transaction("upsert_step_runs") as conn:
            await self._upsert_runs(conn, runs)

    async def write_batch(
        self,
        runs: Sequence[StepRunRecord],
        *,
        started: Sequence[tuple[JobId, datetime]] = (),
        finished: JobFinish | Sequence[JobFinish] | None = None,
    ) -> None:
        """Write a worker's buffered trace: job starts, step attempts, and optionally a job's end.

        The statements run in autocommit, step attempts first and the job's end last: each is
        idempotent (a resumed run writes the same rows again), so a transaction's BEGIN and
        COMMIT would only add two round trips to every job's end. A job that starts and ends in
        one batch gets one UPDATE.

        Args:
            runs: Step attempts, as :meth:`upsert_step_runs`.
            started: ``(job_id, started_at)`` of jobs a worker started, as :meth:`mark_job_started`.
            finished: A job's end (or several), as :meth:`finish_job`.

        Raises:
            TraceError: The write failed; earlier statements of the batch may have been written
                (writing the batch again is safe).
            ValueError: As the single-purpose methods.
        """
        ends = [finished] if isinstance(finished, JobFinish) else list(finished or ())
        if not runs and not started and not ends:
            return
        for end in ends:
            if not JobStatus(end.status).is_terminal:
                raise ValueError(f"a job ends with a terminal status, got {end.status!r}")
        started_at = dict(started)
        ending = {end.job_id for end in ends}
        starts = [
            {"b_id": key, "b_started": to_db(at)}
            for job_id, at in started_at.items()
            if (key := parse_uuid(job_id)) is not None and job_id not in ending
        ]
        finishes = [
            {
                "b_id": key, "b_status": str(end.status), "b_result": end.result,
                "b_error": dict(end.error) if end.error is not None else None,
                "b_finished": to_db(end.finished_at),
                "b_started": to_db(started_at.get(end.job_id)),
            }
            for end in ends
            if (key := parse_uuid(end.job_id)) is not None
        ]  # fmt: skip
        async with self._autocommit("write_batch") as conn:
            # Each statement is one executemany of a cached statement: one round trip and one
            # compile per process, however many jobs the batch holds.
            if runs:
                await self._upsert_runs(conn, runs)
            if starts:
                await conn.execute(_MARK_STARTED, starts)
            if finishes:
                await conn.execute(_MARK_FINISHED, finishes)

    async def _upsert_runs(self, conn: AsyncConnection, runs: Sequence[StepRunRecord]) -> None:
        latest = {(run.job_id, run.step, run.attempt): run for run in runs}
        rows = [step_run_values(run) for run in latest.values()]
        statement = _step_run_upsert(self._engine.dialect.name)
        for start in range(0, len(rows), _UPSERT_CHUNK_ROWS):
            # executemany of one cached statement: compiled once per process, not per batch
            await conn.execute(statement, rows[start : start + _UPSERT_CHUNK_ROWS])

    async def list_step_runs(self, job_id: JobId) -> list[StepRunRecord]:
        """Return a job's step attempts ordered by ``started_at`` (unstarted last), step, attempt.

        An unknown or malformed id yields an empty list.
        """
        key = parse_uuid(job_id)
        if key is None:
            return []
        query = (
            select(step_runs).where(step_runs.c.job_id == key)
            .order_by(step_runs.c.started_at.asc().nulls_last(), step_runs.c.step,
                      step_runs.c.attempt)
        )  # fmt: skip
        async with self._transaction("list_step_runs") as conn:
            rows = (await conn.execute(query)).all()
        return [step_run_from_row(row) for row in rows]


_MARK_STARTED = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id", type_=jobs.c.id.type))
    .values(
        status=str(JobStatus.RUNNING),
        started_at=func.coalesce(jobs.c.started_at, bindparam("b_started", type_=jobs.c.started_at.type)),
    )
)
"""A job a worker started: running, and its first start time kept."""

_MARK_FINISHED = (
    update(jobs)
    .where(jobs.c.id == bindparam("b_id", type_=jobs.c.id.type))
    .values(
        status=bindparam("b_status", type_=jobs.c.status.type),
        result=bindparam("b_result", type_=jobs.c.result.type),
        error=bindparam("b_error", type_=jobs.c.error.type),
        finished_at=bindparam("b_finished", type_=jobs.c.finished_at.type),
        # A job that started and ended in one batch gets its start here (NULL keeps the row's).
        started_at=func.coalesce(jobs.c.started_at, bindparam("b_started", type_=jobs.c.started_at.type)),
    )
)
"""A job's end."""


@functools.cache
def _step_run_upsert(dialect: str) -> Any:
    if dialect == "postgresql":
        stmt: Any = pg_insert(step_runs)
    elif dialect == "sqlite":
        stmt = sqlite_insert(step_runs)
    else:
        raise TraceError(f"unsupported trace dialect {dialect!r}", details={"dialect": dialect})
    changes = {name: stmt.excluded[name] for name in _STEP_RUN_UPDATE_COLUMNS}
    changes["started_at"] = func.coalesce(stmt.excluded.started_at, step_runs.c.started_at)
    return stmt.on_conflict_do_update(
        index_elements=[step_runs.c.job_id, step_runs.c.step, step_runs.c.attempt], set_=changes
    )


__all__ = ["JobFinish", "StepRunQueries"]

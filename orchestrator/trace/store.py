"""The trace store: every query against the system of record (DESIGN §5).

One code path serves PostgreSQL (``postgresql+asyncpg://``) and SQLite (``sqlite+aiosqlite://``);
the only dialect branch is the ``INSERT ... ON CONFLICT`` construct of :meth:`upsert_step_runs`.
The schema comes from Alembic (:mod:`orchestrator.trace.migrate`), never from ``create_all``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.errors import TraceError
from orchestrator.trace.engine import create_engine
from orchestrator.trace.records import (
    AuditRecord,
    JobRecord,
    StepRunRecord,
    audit_from_row,
    audit_values,
    job_from_row,
    job_values,
    parse_uuid,
    step_run_from_row,
    step_run_values,
    to_db,
)
from orchestrator.trace.schema import audit_log, jobs, step_runs
from orchestrator.types import JobId, JobStatus, StepStatus

_UPSERT_CHUNK_ROWS = 1000
"""Rows per INSERT: 11 parameters each stays far below PostgreSQL's 32,767-parameter limit."""

_STEP_RUN_UPDATE_COLUMNS = (
    "status", "finished_at", "duration_ms", "error", "worker_id", "output_bytes", "cache_hit",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobFinish:
    """A job's end, for :meth:`TraceStore.write_batch`."""

    job_id: JobId
    status: JobStatus
    finished_at: datetime
    result: Any = None
    error: Mapping[str, Any] | None = None


class TraceStore:
    """Reads and writes jobs, step runs and the audit log through one SQLAlchemy async engine.

    Args:
        engine: An async engine for PostgreSQL (asyncpg) or SQLite (aiosqlite) whose database
            has been migrated to ``head``. The store owns it: :meth:`close` disposes of it.

    Every method raises :class:`~orchestrator.errors.TraceError` when the database or its driver
    fails (connection refused, constraint violated, ...), chained ``from`` the cause.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, echo: bool = False) -> TraceStore:
        """Build a store on a new engine (see :func:`orchestrator.trace.engine.create_engine`).

        Args:
            url: ``postgresql+asyncpg://...``, ``sqlite+aiosqlite:///path.db``, or
                ``sqlite+aiosqlite://`` for a private in-memory database.
            pool_size: Connections kept open (PostgreSQL only; ignored for SQLite).
            echo: Log every SQL statement (debugging).

        Returns:
            A store; no connection is opened until the first query.

        Raises:
            ConfigError: The URL is malformed or names a driver that is not installed.
        """
        return cls(create_engine(url, pool_size=pool_size, echo=echo))

    @property
    def engine(self) -> AsyncEngine:
        """The underlying async engine (for health checks and tests)."""
        return self._engine

    async def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """Run ``SELECT 1``.

        Raises:
            TraceError: The database cannot be reached.
        """
        async with self._transaction("ping") as conn:
            await conn.execute(text("SELECT 1"))

    async def insert_job(self, job: JobRecord, audit: AuditRecord | None = None) -> None:
        """Insert a new job, and optionally its audit entry, in one transaction.

        Args:
            job: The job; its id must be a UUID not yet stored.
            audit: An audit entry to commit atomically with the job (e.g. ``job.submit``).

        Raises:
            TraceError: The insert failed (including a duplicate id); nothing was written.
            ValueError: The id is not a UUID, or a datetime is naive.
        """
        values = job_values(job)
        async with self._transaction("insert_job") as conn:
            await conn.execute(jobs.insert().values(values))
            if audit is not None:
                await conn.execute(audit_log.insert().values(audit_values(audit)))

    async def mark_job_started(self, job_id: JobId, started_at: datetime) -> None:
        """Set a job ``running``; record ``started_at`` only on its first start.

        Args:
            job_id: The job's id; an unknown id updates nothing.
            started_at: When a worker picked the job up (aware datetime).
        """
        await self._update_job(
            "mark_job_started", job_id, status=str(JobStatus.RUNNING),
            started_at=func.coalesce(jobs.c.started_at, to_db(started_at)),
        )  # fmt: skip

    async def finish_job(
        self,
        job_id: JobId,
        status: JobStatus,
        *,
        result: Any = None,
        error: Mapping[str, Any] | None = None,
        finished_at: datetime,
    ) -> None:
        """Record a job's terminal status with its result or error.

        Args:
            job_id: The job's id; an unknown id updates nothing.
            status: A terminal status (``succeeded``, ``failed`` or ``cancelled``).
            result: The job's JSON output, if it succeeded.
            error: ``{"code", "message", "details"}``, if it failed.
            finished_at: When the job ended (aware datetime).

        Raises:
            ValueError: ``status`` is not terminal.
        """
        if not JobStatus(status).is_terminal:
            raise ValueError(f"finish_job needs a terminal status, got {status!r}")
        await self._update_job(
            "finish_job", job_id, status=str(status), result=result,
            error=dict(error) if error is not None else None, finished_at=to_db(finished_at),
        )  # fmt: skip

    async def set_job_status(self, job_id: JobId, status: JobStatus) -> None:
        """Set a job's status and nothing else (e.g. ``waiting`` while a step is parked).

        Args:
            job_id: The job's id; an unknown id updates nothing.
            status: The new status.
        """
        await self._update_job("set_job_status", job_id, status=str(status))

    async def get_job(self, job_id: str) -> JobRecord | None:
        """Return the job with this id, or ``None`` if there is none or the id is not a UUID."""
        key = parse_uuid(job_id)
        if key is None:
            return None
        async with self._transaction("get_job") as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == key))).first()
        return job_from_row(row) if row is not None else None

    async def list_jobs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> tuple[list[JobRecord], int]:
        """List jobs newest first, with the number of jobs matching the filters.

        Args:
            tenant_id: Only this tenant's jobs (the gateway always passes the caller's).
            user_id: Only jobs this user submitted (submitters see only their own).
            status: Only jobs with this status.
            workflow: Only jobs of this workflow.
            created_after: Only jobs created at or after this instant (aware datetime).
            created_before: Only jobs created strictly before this instant (aware datetime).
            limit: Page size, at least 0.
            offset: Rows skipped before the page, at least 0.

        Returns:
            ``(page, total)``: the page ordered by ``created_at`` descending, and the count of all
            matching jobs regardless of ``limit``/``offset``.

        Raises:
            ValueError: ``limit`` or ``offset`` is negative.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        where: list[ColumnElement[bool]] = []
        if tenant_id is not None:
            where.append(jobs.c.tenant_id == tenant_id)
        if user_id is not None:
            where.append(jobs.c.user_id == user_id)
        if status is not None:
            where.append(jobs.c.status == str(status))
        if workflow is not None:
            where.append(jobs.c.workflow == workflow)
        if created_after is not None:
            where.append(jobs.c.created_at >= to_db(created_after))
        if created_before is not None:
            where.append(jobs.c.created_at < to_db(created_before))
        page = (
            select(jobs).where(*where)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit).offset(offset)
        )  # fmt: skip
        count = select(func.count()).select_from(jobs).where(*where)
        async with self._transaction("list_jobs") as conn:
            rows = (await conn.execute(page)).all()
            total = (await conn.execute(count)).scalar_one()
        return [job_from_row(row) for row in rows], int(total)

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
        async with self._autocommit("write_batch") as conn:
            if runs:
                await self._upsert_runs(conn, runs)
            ending = {end.job_id for end in ends}
            for job_id, at in started_at.items():
                key = parse_uuid(job_id)
                if key is not None and job_id not in ending:
                    await conn.execute(
                        update(jobs).where(jobs.c.id == key).values(
                            status=str(JobStatus.RUNNING),
                            started_at=func.coalesce(jobs.c.started_at, to_db(at)),
                        )
                    )
            for end in ends:
                key = parse_uuid(end.job_id)
                if key is None:
                    continue
                values: dict[str, Any] = {
                    "status": str(end.status), "result": end.result,
                    "error": dict(end.error) if end.error is not None else None,
                    "finished_at": to_db(end.finished_at),
                }  # fmt: skip
                if end.job_id in started_at:
                    values["started_at"] = func.coalesce(
                        jobs.c.started_at, to_db(started_at[end.job_id])
                    )
                await conn.execute(update(jobs).where(jobs.c.id == key).values(**values))

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

    async def add_audit(self, record: AuditRecord) -> None:
        """Append one entry to the audit log (its ``id`` is ignored and assigned by the database).

        Raises:
            TraceError: The write failed.
            ValueError: ``job_id`` is not a UUID, or ``at`` is naive.
        """
        async with self._transaction("add_audit") as conn:
            await conn.execute(audit_log.insert().values(audit_values(record)))

    async def list_audit(
        self,
        *,
        tenant_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[AuditRecord], int]:
        """Audit entries newest first, filtered, with the count of all matching entries.

        Args:
            tenant_id: Only this tenant's entries (``None``: every tenant).
            action: Only this action (``job.submit``, ``job.cancel``, ...).
            actor: Only this actor (``key:<id>``, ``user:<sub>``, ...).
            job_id: Only entries about this job (a non-UUID matches nothing).
            since: At or after this instant (aware datetime).
            until: Strictly before this instant (aware datetime).
            limit: Page size, at least 0.
            offset: Entries skipped before the page, at least 0.

        Returns:
            ``(page, total)``.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        where: list[ColumnElement[bool]] = []
        if tenant_id is not None:
            where.append(audit_log.c.tenant_id == tenant_id)
        if action is not None:
            where.append(audit_log.c.action == action)
        if actor is not None:
            where.append(audit_log.c.actor == actor)
        if job_id is not None:
            key = parse_uuid(job_id)
            if key is None:
                return [], 0
            where.append(audit_log.c.job_id == key)
        if since is not None:
            where.append(audit_log.c.at >= to_db(since))
        if until is not None:
            where.append(audit_log.c.at < to_db(until))
        page = (
            select(audit_log).where(*where)
            .order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit).offset(offset)
        )  # fmt: skip
        count = select(func.count()).select_from(audit_log).where(*where)
        async with self._transaction("list_audit") as conn:
            rows = (await conn.execute(page)).all()
            total = (await conn.execute(count)).scalar_one()
        return [audit_from_row(row) for row in rows], int(total)

    async def count_jobs_by_status(self) -> dict[str, int]:
        """Return the number of jobs per status; every :class:`JobStatus` is present, maybe 0."""
        query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        async with self._transaction("count_jobs_by_status") as conn:
            rows = (await conn.execute(query)).all()
        counts = {str(status): 0 for status in JobStatus}
        counts.update({str(status): int(n) for status, n in rows})
        return counts

    async def step_latency_summary(self, *, limit_per_step: int = 1000) -> list[dict[str, Any]]:
        """Summarise succeeded step durations per ``(workflow, step)``.

        Percentiles use the nearest-rank method (the smallest sample with at least p% of samples
        at or below it) over each step's ``limit_per_step`` most recently finished runs; a window
        function picks them, so both dialects share one query.

        Args:
            limit_per_step: Most recent succeeded runs considered per step, at least 1.

        Returns:
            Dicts with ``workflow``, ``step``, ``count``, ``p50_ms``, ``p95_ms``, ``p99_ms`` and
            ``max_ms`` (milliseconds), ordered by workflow then step.
        """
        recency = func.row_number().over(
            partition_by=(jobs.c.workflow, step_runs.c.step),
            order_by=(step_runs.c.finished_at.desc().nulls_last(), step_runs.c.id.desc()),
        )
        recent = (
            select(jobs.c.workflow, step_runs.c.step, step_runs.c.duration_ms,
                   recency.label("recency"))
            .select_from(step_runs.join(jobs, step_runs.c.job_id == jobs.c.id))
            .where(step_runs.c.status == str(StepStatus.SUCCEEDED),
                   step_runs.c.duration_ms.is_not(None))
            .subquery()
        )  # fmt: skip
        query = select(recent.c.workflow, recent.c.step, recent.c.duration_ms).where(
            recent.c.recency <= max(1, limit_per_step)
        )
        async with self._transaction("step_latency_summary") as conn:
            rows = (await conn.execute(query)).all()
        samples: dict[tuple[str, str], list[float]] = {}
        for workflow, step, duration_ms in rows:
            samples.setdefault((workflow, step), []).append(float(duration_ms))
        return [_latency(workflow, step, sorted(values))
                for (workflow, step), values in sorted(samples.items())]  # fmt: skip

    async def _update_job(self, operation: str, job_id: JobId, **values: Any) -> None:
        key = parse_uuid(job_id)
        if key is None:
            return
        async with self._transaction(operation) as conn:
            await conn.execute(update(jobs).where(jobs.c.id == key).values(**values))

    @asynccontextmanager
    async def _autocommit(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield auto
        except (SQLAlchemyError, OSError) as exc:
            raise TraceError(
                f"trace store {operation} failed",
                details={"operation": operation, "error": type(exc).__name__},
            ) from exc

    @asynccontextmanager
    async def _transaction(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise TraceError(
                f"trace store {operation} failed",
                details={"operation": operation, "error": type(exc).__name__},
            ) from exc


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


def _latency(workflow: str, step: str, ordered_ms: list[float]) -> dict[str, Any]:
    def rank(percent: int) -> float:
        # Nearest rank is ceil(p/100 * n), 1-based; integer arithmetic avoids float round-up.
        return ordered_ms[max(1, -(-percent * len(ordered_ms) // 100)) - 1]

    return {
        "workflow": workflow, "step": step, "count": len(ordered_ms),
        "p50_ms": rank(50), "p95_ms": rank(95), "p99_ms": rank(99), "max_ms": ordered_ms[-1],
    }  # fmt: skip


__all__ = ["JobFinish", "TraceStore"]

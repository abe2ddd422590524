"""The trace store: every query against the system of record (DESIGN §5).

One code path serves PostgreSQL (``postgresql+asyncpg://``) and SQLite (``sqlite+aiosqlite://``);
the dialect branches are the ``INSERT ... ON CONFLICT`` construct of :meth:`upsert_step_runs` and
the one-statement job-and-audit insert of :meth:`insert_job` on PostgreSQL.
The schema comes from Alembic (:mod:`orchestrator.trace.migrate`), never from ``create_all``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select

from orchestrator.trace import direct
from orchestrator.trace.copy import copy_rows
from orchestrator.trace.records import (
    AuditRecord,
    JobRecord,
    audit_values,
    job_from_row,
    job_values,
    parse_uuid,
    to_db,
)
from orchestrator.trace.reports import ReportQueries
from orchestrator.trace.schema import audit_log, jobs
from orchestrator.trace.steps import JobFinish, StepRunQueries
from orchestrator.trace.usage import UsageQueries
from orchestrator.types import JobId, JobStatus


@functools.cache
def _insert_job_and_audit(job_cols: tuple[str, ...], audit_cols: tuple[str, ...]) -> Any:
    """``WITH j AS (INSERT INTO jobs ... RETURNING id) INSERT INTO audit_log ... SELECT ...``:
    the audit row exists only if the job row does (PostgreSQL; SQLite has no such CTE)."""
    inserted = (
        jobs.insert()
        .values({c: bindparam(f"j_{c}", type_=jobs.c[c].type) for c in job_cols})
        .returning(jobs.c.id)
        .cte("j")
    )
    chosen = select(
        *(bindparam(f"a_{c}", type_=audit_log.c[c].type) for c in audit_cols)
    ).select_from(inserted)
    return audit_log.insert().from_select(list(audit_cols), chosen)


class TraceStore(StepRunQueries, ReportQueries, UsageQueries):
    """Reads and writes jobs, step runs and the audit log through one SQLAlchemy async engine.

    Args:
        engine: An async engine for PostgreSQL (asyncpg) or SQLite (aiosqlite) whose database
            has been migrated to ``head``. The store owns it: :meth:`close` disposes of it.

    Every method raises :class:`~orchestrator.errors.TraceError` when the database or its driver
    fails (connection refused, constraint violated, ...), chained ``from`` the cause.
    """

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
        if audit is not None and self._engine.dialect.name == "postgresql":
            # One statement (a data-modifying CTE), so one round trip and one implicit
            # transaction instead of BEGIN, two INSERTs and COMMIT: the submit's hot path.
            entry = audit_values(audit)
            statement = _insert_job_and_audit(tuple(values), tuple(entry))
            params = {**{f"j_{k}": v for k, v in values.items()},
                      **{f"a_{k}": v for k, v in entry.items()}}
            if self._engine.dialect.driver == "asyncpg":
                # sent by asyncpg itself: SQLAlchemy's execution path was most of its cost
                async with self._connection("insert_job") as conn:
                    await direct.execute(conn, statement, params)
                return
            async with self._autocommit("insert_job") as conn:
                await conn.execute(statement, params)
            return
        async with self._transaction("insert_job") as conn:
            await conn.execute(jobs.insert().values(values))
            if audit is not None:
                await conn.execute(audit_log.insert().values(audit_values(audit)))

    async def insert_jobs(self, batch: Sequence[tuple[JobRecord, AuditRecord]]) -> None:
        """Insert many new jobs and their audit entries in one transaction (a batch submit).

        On PostgreSQL (asyncpg) the rows go in with ``COPY ... FROM STDIN`` (binary), the bulk
        path: SQLAlchemy's ``executemany`` ("insertmanyvalues" multi-row ``INSERT``s) spent
        most of a 1,000-job batch binding parameters and PostgreSQL parsing the statement. On
        other databases (SQLite in dev mode) it is that ``executemany``.

        Args:
            batch: ``(job, audit entry)`` pairs; each id a UUID not yet stored.

        Raises:
            TraceError: The insert failed; nothing was written.
            ValueError: An id is not a UUID, or a datetime is naive.
        """
        if not batch:
            return
        rows = [job_values(job) for job, _ in batch]
        entries = [audit_values(audit) for _, audit in batch]
        async with self._transaction("insert_jobs") as conn:
            if conn.dialect.driver == "asyncpg":
                await copy_rows(conn, [(jobs, rows), (audit_log, entries)])
                return
            await conn.execute(jobs.insert(), rows)
            await conn.execute(audit_log.insert(), entries)

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


__all__ = ["JobFinish", "TraceStore"]

"""The audit log and the summaries of the trace store (jobs by status, step latency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from orchestrator.trace.base import StoreBase
from orchestrator.trace.records import (
    AuditRecord,
    audit_from_row,
    audit_values,
    parse_uuid,
    to_db,
)
from orchestrator.trace.schema import audit_log, jobs, step_runs
from orchestrator.types import JobStatus, StepStatus


class ReportQueries(StoreBase):
    """Appends to and pages through ``audit_log``; counts and latency percentiles."""

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


def _latency(workflow: str, step: str, ordered_ms: list[float]) -> dict[str, Any]:
    def rank(percent: int) -> float:
        # Nearest rank is ceil(p/100 * n), 1-based; integer arithmetic avoids float round-up.
        return ordered_ms[max(1, -(-percent * len(ordered_ms) // 100)) - 1]

    return {
        "workflow": workflow, "step": step, "count": len(ordered_ms),
        "p50_ms": rank(50), "p95_ms": rank(95), "p99_ms": rank(99), "max_ms": ordered_ms[-1],
    }  # fmt: skip


__all__ = ["ReportQueries"]

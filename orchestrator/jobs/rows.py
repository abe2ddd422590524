"""Group commit of the submits' ``jobs`` and ``audit_log`` rows.

Every submit wrote its job row and its ``job.submit`` audit row in a statement and a commit of
its own: with 16 submits in flight, 16 statements, 16 WAL flushes and 16 pooled connections
(past the pool's size, connections opened and closed per submit). Here a submit hands its rows
to the process's :class:`RowGroupCommit` (a :mod:`group commit <orchestrator.jobs.grouped>`)
and waits for its own outcome. When no write is in flight its rows leave at once (a lone submit
pays nothing more than before); the rows that arrive while one is in flight leave together in
the next, as one transaction (:meth:`TraceStore.insert_jobs`: ``COPY`` on PostgreSQL). A
submit is answered only after its rows are committed, as before. If a group's transaction
fails, its rows are written again one by one, so that a bad row fails its own submit only.
"""

from __future__ import annotations

from typing import Protocol

from orchestrator.jobs.grouped import GroupCommit
from orchestrator.trace.records import AuditRecord, JobRecord

MAX_GROUP = 500
"""Rows of at most this many submits per transaction (the rest go in the next)."""


class _Rows(Protocol):
    async def insert_job(self, job: JobRecord, audit: AuditRecord | None = None) -> None: ...

    async def insert_jobs(self, batch: list[tuple[JobRecord, AuditRecord]]) -> None: ...


class RowGroupCommit:
    """Writes the rows of concurrent submits of one process in shared transactions
    (a :class:`~orchestrator.jobs.grouped.GroupCommit`; a failed group's rows again one by one).

    Args:
        trace: The trace store (``insert_job`` for one submit, ``insert_jobs`` for a group).
        max_group: Submits per transaction at most.
    """

    def __init__(self, trace: _Rows, *, max_group: int = MAX_GROUP) -> None:
        async def one(rows: tuple[JobRecord, AuditRecord]) -> None:
            await trace.insert_job(*rows)

        self._group = GroupCommit(one, trace.insert_jobs, max_group=max_group,
                                  retry_alone=True, name="job-rows-group-commit")  # fmt: skip

    async def insert(self, job: JobRecord, audit: AuditRecord) -> None:
        """Store a new job's row and its audit row; return once they are committed.

        Raises:
            TraceError: Their insert failed (nothing of this submit was written).
            ValueError: The id is not a UUID, or a datetime is naive.
        """
        await self._group.put((job, audit))


__all__ = ["MAX_GROUP", "RowGroupCommit"]

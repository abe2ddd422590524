"""Group commit of the submits' ``jobs`` and ``audit_log`` rows.

Every submit wrote its job row and its ``job.submit`` audit row in a statement and a commit of
its own: with 16 submits in flight, 16 statements, 16 WAL flushes and 16 pooled connections
(past the pool's size, connections opened and closed per submit). Here a submit hands its rows
to the process's :class:`RowGroupCommit` and waits for its own outcome. When no write is in
flight its rows leave at once (a lone submit pays nothing more than before); the rows that
arrive while one is in flight leave together in the next, as one transaction of two multi-row
``INSERT``s (:meth:`TraceStore.insert_jobs`). A submit is answered only after its rows are
committed, as before. If a group's transaction fails, its rows are written again one by one,
so that a bad row fails its own submit only.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from orchestrator.trace.records import AuditRecord, JobRecord

MAX_GROUP = 500
"""Rows of at most this many submits per transaction (the rest go in the next)."""


class _Rows(Protocol):
    async def insert_job(self, job: JobRecord, audit: AuditRecord | None = None) -> None: ...

    async def insert_jobs(self, batch: list[tuple[JobRecord, AuditRecord]]) -> None: ...


_Pending = tuple[JobRecord, AuditRecord, "asyncio.Future[None]"]


class RowGroupCommit:
    """Writes the rows of concurrent submits of one process in shared transactions.

    Args:
        trace: The trace store (``insert_job`` for one submit, ``insert_jobs`` for a group).
        max_group: Submits per transaction at most.
    """

    def __init__(self, trace: _Rows, *, max_group: int = MAX_GROUP) -> None:
        self._trace = trace
        self._max_group = max_group
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, job: JobRecord, audit: AuditRecord) -> None:
        """Store a new job's row and its audit row; return once they are committed.

        Raises:
            TraceError: Their insert failed (nothing of this submit was written).
            ValueError: The id is not a UUID, or a datetime is naive.
        """
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:
            # Used from another event loop than before (tests that run one loop per test):
            # what was left to the old loop's writer cannot be finished from this one.
            self._pending = [p for p in self._pending if p[2].get_loop() is loop]
            self._writer = None
        done: asyncio.Future[None] = loop.create_future()
        # Retrieved even when its submit was cancelled meanwhile (no "never retrieved" warning).
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((job, audit, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(
                self._write(), name="job-rows-group-commit"
            )
        # shield: a submit whose client went away must not cancel the others' group
        await asyncio.shield(done)

    async def _write(self) -> None:
        while self._pending:
            group, self._pending = (
                self._pending[: self._max_group],
                self._pending[self._max_group :],
            )
            if len(group) == 1:
                await self._one(*group[0])
                continue
            try:
                await self._trace.insert_jobs([(job, audit) for job, audit, _ in group])
            except Exception:  # each row again, alone: its own outcome
                for item in group:
                    await self._one(*item)
                continue
            for _, _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _one(self, job: JobRecord, audit: AuditRecord, done: asyncio.Future[None]) -> None:
        try:
            await self._trace.insert_job(job, audit)
        except Exception as exc:  # the submit that owns the row raises it
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(None)


__all__ = ["MAX_GROUP", "RowGroupCommit"]

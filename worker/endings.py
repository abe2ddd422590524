"""Job leases freed once the job's row is written, off the job's worker slot.

Once a job's terminal event is published the client has its result; what is left is its
PostgreSQL row (queued by the trace recorder's ``on_job_end`` into a group commit) and freeing
the lease, which must follow the row (DESIGN §3.3; ``state/scripts.py`` FINISH). Awaiting the
commit inside the job held its arq slot for the whole group commit: in a drain (issue 7 (b)) a
slot spent 35 ms of its 65 ms waiting for rows. Here each wait-then-release runs as a task; at
most ``limit`` are in flight (a slow database slows the worker down instead of piling up ends
in memory), and :meth:`JobEndings.settle` waits for them before the worker exits. An end whose
row cannot be written keeps its lease until it lapses; a reaper then records the end from Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from orchestrator.errors import OrchestratorError
from orchestrator.state.base import StateStore
from orchestrator.types import JobId
from worker.hooks import JobRun

log = structlog.get_logger("worker.endings")


class JobEndings:
    """Frees ended jobs' leases in the background once their rows are written, bounded.

    Args:
        store: The state store (lease release).
        written: ``written(job_id)`` returns when the job's row is committed, raising
            :class:`~orchestrator.errors.TraceError` when it failed (``None``: no trace hook;
            leases are freed at once).
        limit: Most ends in flight; :meth:`submit` waits for a free one beyond it.
    """

    def __init__(
        self,
        store: StateStore,
        written: Callable[[JobId], Awaitable[None]] | None,
        *,
        limit: int,
    ) -> None:
        self.store = store
        self.written = written
        self._free = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._due: list[tuple[JobId, str]] = []
        self._releaser: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._tasks)

    async def submit(self, run: JobRun) -> None:
        """Free the lease of ``run``'s ended job once its row is in, in the background.

        Waits only while ``limit`` ends are in flight. Must be called after the job's terminal
        event is published and its ``on_job_end`` hooks ran, by the lease holder.
        """
        await self._free.acquire()
        task = asyncio.get_running_loop().create_task(
            self._release(run), name=f"job-end:{run.job_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, run: JobRun) -> None:
        try:
            if self.written is not None:
                await self.written(run.job_id)
            # Rows commit in batches, so their leases are freed in batches: one round trip.
            self._due.append((run.job_id, run.worker_id))
            if self._releaser is None or self._releaser.done():
                self._releaser = asyncio.get_running_loop().create_task(self._release_due())
            await asyncio.shield(self._releaser)
        except OrchestratorError as exc:
            log.warning("job end not recorded; its lease lapses and a reaper records it",
                        job_id=run.job_id, error=str(exc))
        finally:
            self._free.release()

    async def _release_due(self) -> None:
        while self._due:
            due, self._due = self._due, []
            await self.store.release_leases(due)

    async def settle(self, timeout_seconds: float) -> None:
        """Wait up to ``timeout_seconds`` for the ends in flight (before the worker exits)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_seconds)


__all__ = ["JobEndings"]

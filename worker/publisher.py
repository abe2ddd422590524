"""A job's ordered event publisher: writes leave in the order they were put, batched.

Chunks, progress events and status changes of all the job's steps go through one publisher so
that their ``seq`` order is the order the code produced them. Whatever has piled up while a
round trip was in flight goes out in the next pipeline, so a fast generator costs one round
trip per batch rather than per chunk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

from orchestrator.state.base import NewEvent, StateStore, Write
from orchestrator.types import JobId


class EventPublisher:
    """Ordered, batched publication of one job's writes.

    Args:
        store: The state store.
        job_id: The job.
        worker_id: Fences every write with the job's lease.
    """

    def __init__(self, store: StateStore, job_id: JobId, worker_id: str) -> None:
        self._store = store
        self._job_id = job_id
        self._worker_id = worker_id
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._pending: list[Write] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._error: BaseException | None = None
        self._task = self._loop.create_task(self._drain(), name=f"publisher:{job_id}")

    def put(self, fields: Mapping[str, str | int | float], event: NewEvent | None) -> None:
        """Queue a write; callable from the event loop or, for sync steps, any thread."""
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.put, fields, event)
            return
        self._pending.append((fields, event))
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every queued write is stored.

        Raises:
            LeaseLostError: Another worker owns the job now.
            StateError: Redis failed.
        """
        await self._idle.wait()
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        """Flush and stop the background task."""
        try:
            await self.flush()
        finally:
            self._task.cancel()

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                if self._error is None:
                    try:
                        await self._store.apply_many(
                            self._job_id, batch, worker_id=self._worker_id
                        )
                    except Exception as exc:  # surfaced by flush()
                        self._error = exc
            self._idle.set()


__all__ = ["EventPublisher"]

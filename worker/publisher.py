"""A job's ordered publisher: writes leave in the order they were put, batched.

Chunks, progress events, status changes and checkpoints of all the job's steps go through one
publisher, so their ``seq`` order is the order the code produced them. Whatever piled up while a
round trip was in flight goes out in the next pipeline: a fast generator costs one round trip
per batch rather than per chunk, and a step's checkpoint usually shares its round trip with the
step's own ``step.started``. A batch leaves one event-loop turn after its first write, so the
writes of the job's other tasks in that turn join it: a fast first step's ``step.started`` and
checkpoint go with the job's ``job.started``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

from orchestrator.state.base import Checkpoint, NewEvent, StateStore, Write
from orchestrator.types import JobId, StepName

_Item = tuple[Write | Checkpoint, "asyncio.Future[str | None] | None"]


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
        self._pending: list[_Item] = []
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
        self._enqueue(((fields, event), None))

    async def checkpoint(
        self,
        step: StepName,
        output: bytes,
        fields: Mapping[str, str | int | float],
        event: NewEvent,
    ) -> bool:
        """Write a step's checkpoint after everything queued before it, and wait for it.

        Returns:
            ``False`` when the step already had a checkpoint (nothing was changed).

        Raises:
            LeaseLostError: Another worker owns the job now.
            StateError: Redis failed.
        """
        done: asyncio.Future[str | None] = self._loop.create_future()
        self._enqueue((Checkpoint(step, output, fields, event), done))
        return await done != "EXISTS"

    def _enqueue(self, item: _Item) -> None:
        self._pending.append(item)
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
            # One event-loop turn more: the writes that the job's other ready tasks make in this
            # turn leave with these (a fast step's step.started and checkpoint with the job's
            # job.started: one round trip, not two), at the cost of one turn's delay.
            await asyncio.sleep(0)
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                writes = [write for write, _ in batch]
                try:
                    if self._error is not None:
                        raise self._error
                    results = await self._store.apply_many(
                        self._job_id, writes, worker_id=self._worker_id
                    )
                except Exception as exc:  # surfaced by flush() and by checkpoint()
                    self._error = exc
                    for _, done in batch:
                        if done is not None and not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    if done is not None and not done.done():
                        done.set_result(result)
            self._idle.set()


__all__ = ["EventPublisher"]

"""The job's ordered publisher (``worker/publisher.py``) on a real Redis state store."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.config import Settings
from orchestrator.state.base import Checkpoint, NewEvent, StateStore, Write
from tests.support.stack import in_process_stack
from tests.worker import control_flows as flows
from worker.publisher import EventPublisher

SettingsFactory = Callable[..., Settings]


class _Counting:
    """The store, with each ``apply_many`` call's writes recorded (one call: one round trip)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.calls: list[int] = []

    async def apply_many(
        self, job_id: str, writes: Sequence[Write | Checkpoint], *, worker_id: str | None = None
    ) -> list[str | None]:
        self.calls.append(len(writes))
        return await self.store.apply_many(job_id, writes, worker_id=worker_id)


async def test_a_fast_steps_writes_leave_with_the_jobs_start_in_one_round_trip(
    isolated_settings: SettingsFactory,
) -> None:
    """``job.started`` is put, then a step task (ready in the same turn) puts its
    ``step.started`` and checkpoint: the publisher waits one event-loop turn before it sends,
    so the three leave in one call, in order (without the turn: two calls, the checkpoint a
    round trip later)."""
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        store = stack.services.state
        job_id = str(uuid.uuid4())
        await store.create_job(job_id, workflow="w", version="", inputs={},
                               created_at=time.time(), arq_job_id=job_id)  # fmt: skip
        assert await store.acquire_lease(job_id, "w1", 30) == "OK"
        counting = _Counting(store)
        publisher = EventPublisher(counting, job_id, "w1")  # type: ignore[arg-type]
        publisher.put({"status": "running"}, NewEvent("job.started"))

        async def step() -> Any:
            publisher.put({}, NewEvent("step.started", "s", 1))
            return await publisher.checkpoint("s", b"1", {}, NewEvent("step.succeeded", "s", 1))

        assert await asyncio.create_task(step())
        await publisher.close()
        assert counting.calls == [3]
        events = await store.read_events(job_id)
        assert [e.type for e in events] == ["job.queued", "job.started", "step.started",
                                             "step.succeeded"]  # fmt: skip

"""Durable-call records in a dict: unit tests and in-process runs (STYLE rule 2)."""

from __future__ import annotations

from orchestrator.durable.base import CallRecord
from orchestrator.types import JobId, StepName


class MemoryCallStore:
    """:class:`~orchestrator.durable.base.CallStore` in process memory (no TTL)."""

    def __init__(self) -> None:
        self.records: dict[tuple[JobId, StepName, int], bytes] = {}

    async def get_call(self, job_id: JobId, step: StepName, seq: int) -> CallRecord | None:
        raw = self.records.get((job_id, step, seq))
        return None if raw is None else CallRecord.decode(raw)

    async def put_call(self, job_id: JobId, step: StepName, seq: int, record: CallRecord) -> None:
        # Stored encoded, as in Redis: a result that is not JSON fails here too.
        self.records[(job_id, step, seq)] = record.encode()


__all__ = ["MemoryCallStore"]

"""Submitting many jobs in one call (``POST /v1/jobs/batch``, issue 19).

Each item is validated and answered on its own: a bad item gets its error, the others are
created. What the runtime promises of a single submit holds for each created job: its ``jobs``
row in PostgreSQL with its own ``job.submit`` audit row (one per job, as a single submit writes,
so the audit log reads the same whichever route created a job), its live state and
``job.queued`` event in Redis, then its queue entry. The round trips are per batch, not per
job: one ``SET NX`` pipeline for the idempotency keys, one transaction of two ``COPY``
statements (the rows) and, at the same time, one script call creating the live states, then one
script call enqueueing. The queue entries are sent only once the rows and the states are
written, so no job is queued without either; a batch whose rows are refused has its states
deleted (nothing was enqueued, and no one holds the new ids).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from orchestrator.dag.workflow import Workflow
from orchestrator.errors import OrchestratorError, StateError, VersionNotFoundError
from orchestrator.jobs.actor import Actor
from orchestrator.jobs.submission import (
    JobSubmission,
    check_storable,
    concurrency_key_of,
    trace_id_of,
)
from orchestrator.trace.records import AuditRecord, JobRecord
from orchestrator.types import JobStatus, JSONValue

log = structlog.get_logger("orchestrator.jobs")

MAX_BATCH_JOBS = 1000
"""The most jobs one batch may carry."""


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One job of a batch (the fields of a single submit)."""

    workflow: str
    inputs: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    priority: int = 0
    version: str | None = None


@dataclass(slots=True)
class BatchResult:
    """The answer for one item: ``record`` (and ``replayed``) or ``error``."""

    record: JobRecord | None = None
    replayed: bool = False
    error: OrchestratorError | None = None


@dataclass(slots=True)
class _New:
    index: int
    wf: Workflow
    clean: dict[str, JSONValue]
    item: BatchItem
    job_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class JobBatches(JobSubmission):
    """Creates many jobs per call."""

    async def submit_batch(
        self,
        items: Sequence[BatchItem | OrchestratorError],
        *,
        actor: Actor,
        trace: Mapping[str, str] | None = None,
    ) -> list[BatchResult]:
        """Validate each item, then record and enqueue the valid ones together.

        Args:
            items: The jobs; an item already refused by the caller (its shape) is passed as
                its error and answered with it.
            actor: Who submits (one ``job.submit`` audit row per created job).
            trace: W3C trace context carried by every job of the batch.

        Returns:
            One result per item, in order. A repeated idempotency key (within the window, per
            tenant, also repeated inside the batch) answers with the first job, ``replayed``.

        Raises:
            TraceError, StateError, QueueError: Infrastructure failed; the batch's
                idempotency keys are released and nothing is enqueued. Rows refused leave no
                live state; rows already written stay (like a single submit's whose enqueue
                failed).
        """
        results = [BatchResult() for _ in items]
        fresh: list[_New] = []
        for i, item in enumerate(items):
            if isinstance(item, OrchestratorError):
                results[i].error = item
                continue
            try:
                fresh.append(_New(i, *self._validated(item), item))
            except OrchestratorError as exc:
                results[i].error = exc
        fresh, repeats = await self._claim_keys(fresh, results, actor)
        claimed = [self._idem_key(actor, n.item) for n in fresh if n.item.idempotency_key]
        try:
            records = await self._create_many(fresh, actor, trace)
        except BaseException:
            if claimed:
                await self.services.redis.delete(*[k for k in claimed if k is not None])
            raise
        for n, record in zip(fresh, records, strict=True):
            results[n.index].record = record
        for index, first in repeats.items():
            results[index].record = results[first].record
        return results

    def _validated(self, item: BatchItem) -> tuple[Workflow, dict[str, JSONValue]]:
        wf = self.services.registry.get(item.workflow)
        if item.version is not None and item.version != wf.version:
            raise VersionNotFoundError(
                f"workflow {item.workflow!r} has no version {item.version!r}",
                details={"workflow": item.workflow, "version": item.version,
                         "known": [wf.version]},
            )  # fmt: skip
        check_storable(wf.name, item.inputs)
        clean = wf.validate_inputs(item.inputs)
        check_storable(wf.name, clean)
        return wf, clean

    def _idem_key(self, actor: Actor, item: BatchItem) -> str | None:
        if item.idempotency_key is None:
            return None
        return self.services.keys.idempotency(actor.tenant_id, item.idempotency_key)

    async def _claim_keys(
        self, fresh: list[_New], results: list[BatchResult], actor: Actor
    ) -> tuple[list[_New], dict[int, int]]:
        """``SET NX`` every idempotency key in one pipeline; items whose key is taken answer
        with the first job (an earlier submit's, filled in here, or the batch's own first item
        with that key: returned as ``{index: index of the first}``)."""
        keyed = [n for n in fresh if n.item.idempotency_key is not None]
        if not keyed:
            return fresh, {}
        window = self.services.settings.state.idempotency_window_seconds
        first_in_batch: dict[str, _New] = {}
        to_claim: list[_New] = []
        for n in keyed:
            key = self._idem_key(actor, n.item)
            assert key is not None
            if key in first_in_batch:
                continue
            first_in_batch[key] = n
            to_claim.append(n)
        async with self.services.redis.pipeline(transaction=False) as pipe:
            for key, n in first_in_batch.items():
                pipe.set(key, n.job_id, nx=True, ex=window)
            won = await pipe.execute()
        keep: set[int] = {n.index for n in fresh if n.item.idempotency_key is None}
        earlier: dict[str, JobRecord | None] = {}
        for n, ok in zip(to_claim, won, strict=True):
            key = self._idem_key(actor, n.item)
            assert key is not None
            if ok:
                keep.add(n.index)
                continue
            first = await self._first_of(key)
            if first is None:  # the first submit failed and released the key: take it
                await self.services.redis.set(key, n.job_id, ex=window)
                keep.add(n.index)
            earlier[key] = first
        repeats: dict[int, int] = {}
        for n in keyed:
            key = self._idem_key(actor, n.item)
            assert key is not None
            if n.index in keep:
                continue
            first_record = earlier.get(key)
            results[n.index].replayed = True
            if first_record is not None:
                results[n.index].record = first_record
            else:
                repeats[n.index] = first_in_batch[key].index
        return [n for n in fresh if n.index in keep], repeats

    async def _create_many(
        self, fresh: list[_New], actor: Actor, trace: Mapping[str, str] | None
    ) -> list[JobRecord]:
        now = datetime.now(UTC)
        pairs: list[tuple[JobRecord, AuditRecord]] = []
        for n in fresh:
            record = JobRecord(
                id=n.job_id, workflow=n.wf.name, status=JobStatus.QUEUED, inputs=n.clean,
                created_at=now, tenant_id=actor.tenant_id, user_id=actor.id,
                idempotency_key=n.item.idempotency_key, trace_id=trace_id_of(trace),
            )  # fmt: skip
            audit = AuditRecord(
                at=now, actor=actor.id, action="job.submit", tenant_id=actor.tenant_id,
                job_id=n.job_id, details={"workflow": n.wf.name, "batch": True},
                request_id=actor.request_id, client_ip=actor.client_ip,
            )  # fmt: skip
            pairs.append((record, audit))
        if not fresh:
            return []
        # The rows' transaction and the states' script run at once (neither needs the other);
        # the queue entries go only once both are written.
        rows = asyncio.ensure_future(self.services.trace.insert_jobs(pairs))
        try:
            await self._create_states(fresh, actor, trace, now)
        except BaseException:
            await asyncio.gather(rows, return_exceptions=True)  # its rows stay, as below
            raise
        try:
            await rows
        except BaseException:
            await self._drop_states(fresh)
            raise
        await self.services.queue.enqueue_many([(n.job_id, trace, n.item.priority) for n in fresh])
        return [record for record, _ in pairs]

    async def _create_states(
        self, fresh: list[_New], actor: Actor, trace: Mapping[str, str] | None, now: datetime
    ) -> None:
        specs = [
            (n.job_id, {
                "workflow": n.wf.name, "version": n.wf.version, "inputs": n.clean,
                "created_at": now.timestamp(), "arq_job_id": n.job_id, "trace": trace,
                "extra": {
                    "priority": n.item.priority,
                    "concurrency_key": concurrency_key_of(n.wf, n.clean, actor),
                    "tenant": actor.tenant_id or "", "user": actor.id, "role": actor.role or "",
                },
            })
            for n in fresh
        ]  # fmt: skip
        await self.services.state.create_jobs(specs)

    async def _drop_states(self, fresh: list[_New]) -> None:
        """The states of jobs whose rows were refused: no one will run them or ask for them."""
        try:
            await self.services.state.delete_jobs([n.job_id for n in fresh])
        except StateError as exc:  # they expire with their TTL; the rows' error is the answer
            log.warning("states of a refused batch left to expire", jobs=len(fresh),
                        error=str(exc))  # fmt: skip


__all__ = ["MAX_BATCH_JOBS", "BatchItem", "BatchResult", "JobBatches"]

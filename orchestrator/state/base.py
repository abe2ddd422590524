"""The state-store seam: job state, checkpoints, events and leases (DESIGN §4)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.events import Event
from orchestrator.state.records import JobState
from orchestrator.types import JobId, JobStatus, JSONValue, StepName


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to publish; ``id`` and ``seq`` are assigned on publication, ``ts`` (epoch
    seconds) when the event is created, i.e. when it happened, even if it is sent later."""

    type: str
    step: str | None = None
    attempt: int | None = None
    data: JSONValue = None
    ts: float = field(default_factory=time.time)


Write = tuple[Mapping[str, str | int | float], NewEvent | None]
"""Job-hash fields to set and an event to publish with them, as one atomic write."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A step's output with its fields and ``step.succeeded`` event, as one atomic write."""

    step: StepName
    output: bytes
    fields: Mapping[str, str | int | float]
    event: NewEvent


@dataclass(frozen=True, slots=True)
class Lapsed:
    """A job claimed by a reaper.

    Attributes:
        job_id: The job.
        arq_job_id: The arq job that carried the dead run ("" when none or ended).
        ended: The job had ended but its worker died before freeing the lease, so its trace
            row may be unwritten: record the end, do not resume.
    """

    job_id: JobId
    arq_job_id: str
    ended: bool = False


class StateStore(Protocol):
    """Where a job's live state lives; every method is atomic on its own.

    ``worker_id`` arguments fence writes: when given, the write happens only while that worker
    holds the job's lease, otherwise :class:`~orchestrator.errors.LeaseLostError` is raised.
    """

    async def create_job(
        self,
        job_id: JobId,
        *,
        workflow: str,
        version: str,
        inputs: Mapping[str, JSONValue],
        created_at: float,
        arq_job_id: str,
        trace: Mapping[str, str] | None = None,
        extra: Mapping[str, str | int | float] | None = None,
    ) -> str:
        """Create the job as ``queued`` and publish ``job.queued``; returns the event id."""
        ...

    async def get_job(self, job_id: JobId) -> JobState | None:
        """Return the job's live state, or ``None`` if unknown or expired."""
        ...

    async def update(
        self,
        job_id: JobId,
        fields: Mapping[str, str | int | float],
        event: NewEvent | None = None,
        *,
        worker_id: str | None = None,
    ) -> str | None:
        """Set job-hash fields and publish ``event`` atomically; returns the event id."""
        ...

    async def apply_many(
        self, job_id: JobId, writes: Sequence[Write | Checkpoint], *, worker_id: str | None = None
    ) -> list[str | None]:
        """Apply writes in order in one round trip; each stays atomic on its own.

        Returns:
            Per write: its event id; for a :class:`Checkpoint` that already existed, ``EXISTS``.
        """
        ...

    async def checkpoint(
        self,
        job_id: JobId,
        step: StepName,
        output: bytes,
        fields: Mapping[str, str | int | float],
        event: NewEvent,
        *,
        worker_id: str | None = None,
    ) -> bool:
        """Write a step's output, its fields and its event atomically.

        Returns:
            ``False`` (and changes nothing) when the step already had a checkpoint.
        """
        ...

    async def load_checkpoints(
        self, job_id: JobId, steps: Sequence[StepName]
    ) -> dict[StepName, bytes]:
        """Return the checkpointed outputs of those ``steps`` that have one."""
        ...

    async def get_answer(self, job_id: JobId, step: StepName, index: int) -> bytes | None:
        """The answer to the ``index``-th question of ``step`` (JSON), or ``None``."""
        ...

    async def answer(
        self, job_id: JobId, step: StepName, index: int, answer: bytes, data: JSONValue
    ) -> str:
        """Store the answer of a waiting job's open question and queue the job again.

        Returns:
            ``OK``, ``NOT_WAITING``, ``NO_QUESTION`` (none open for that step and index) or
            ``MISSING``.
        """
        ...

    async def requeue(
        self, job_id: JobId, arq_job_id: str, reset_steps: Sequence[StepName], data: JSONValue
    ) -> str:
        """Queue a failed or cancelled job again (``job.queued``), resetting those steps.

        Returns:
            ``OK``, ``MISSING``, or the job's status when it is neither failed nor cancelled.
        """
        ...

    async def get_cached(self, step: StepName, fingerprint: str) -> bytes | None:
        """Return a memoized output of ``step`` for that fingerprint, or ``None``."""
        ...

    async def put_cached(
        self, step: StepName, fingerprint: str, output: bytes, ttl_seconds: float
    ) -> None:
        """Memoize ``output`` for ``ttl_seconds``."""
        ...

    async def finish(
        self,
        job_id: JobId,
        status: JobStatus,
        steps: Sequence[StepName],
        fields: Mapping[str, str | int | float],
        data: JSONValue,
        *,
        worker_id: str | None = None,
    ) -> str:
        """End the job: status, terminal event and post-job TTLs; returns the event id.

        The lease stays held: call :meth:`release_lease` once the job's trace row is written.
        """
        ...

    async def request_cancel(self, job_id: JobId, data: JSONValue) -> str:
        """Cancel a queued or waiting job (no worker runs it) or flag a running one:
        ``now_cancelled``, ``requested``, the terminal status it already had, or ``missing``."""
        ...

    async def acquire_lease(self, job_id: JobId, worker_id: str, ttl_seconds: float) -> str:
        """Take the job's lease: ``OK``, ``HELD``, ``MISSING`` or the job's terminal status."""
        ...

    async def pickup(
        self, job_id: JobId, worker_id: str, ttl_seconds: float
    ) -> tuple[JobState | None, str]:
        """:meth:`get_job` and :meth:`acquire_lease` in one round trip: ``(state or None,
        answer)``; the lease is taken only when the answer is ``OK``."""
        ...

    async def renew_lease(
        self, job_id: JobId, worker_id: str, ttl_seconds: float, slot_key: str | None = None
    ) -> str:
        """Extend a held lease (and the job's concurrency slot, if any): ``OK``, ``CANCEL``
        (renewed, cancel requested) or ``LOST``."""
        ...

    async def acquire_slot(
        self, slot_key: str, job_id: JobId, limit: int, ttl_seconds: float
    ) -> bool:
        """Take one of ``limit`` concurrency slots for ``ttl_seconds`` (renewed with the lease)."""
        ...

    async def release_slot(self, slot_key: str, job_id: JobId) -> None:
        """Give a concurrency slot back."""
        ...

    async def release_lease(self, job_id: JobId, worker_id: str) -> None:
        """Free the lease if held and drop the job from the lease index."""
        ...

    async def release_leases(self, leases: Sequence[tuple[JobId, str]]) -> None:
        """:meth:`release_lease` for many ``(job_id, worker_id)`` pairs in one round trip."""
        ...

    async def claim_lapsed(
        self,
        *,
        now_ms: int,
        claim_seconds: float,
        limit: int = 100,
        own_worker_id: str | None = None,
    ) -> list[Lapsed]:
        """Claim jobs whose lease lapsed (and, with ``own_worker_id``, those whose lease that
        restarted worker id still holds) for ``claim_seconds``; at most ``limit`` lapsed ones."""
        ...

    async def read_events(
        self, job_id: JobId, after: str | None = None, count: int = 1000
    ) -> list[Event]:
        """Return stored events after the id ``after`` (from the start when ``None``)."""
        ...

    async def wait_events(
        self, job_id: JobId, after: str, *, timeout_seconds: float, count: int = 1000
    ) -> list[Event]:
        """Block until events after ``after`` exist or the timeout passes (then ``[]``)."""
        ...

    async def ping(self) -> None:
        """Raise :class:`~orchestrator.errors.StateError` when the store is unreachable."""
        ...


__all__ = ["Checkpoint", "Lapsed", "NewEvent", "StateStore", "Write"]

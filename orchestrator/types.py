"""Shared shapes named once: identifiers, JSON values and the status enums of DESIGN §3."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeAlias

JobId: TypeAlias = str
"""A job's id: a UUID4 in its canonical 36-character text form."""

StepName: TypeAlias = str
"""A step's name, unique within its workflow (``fetch_context``)."""

JSONValue: TypeAlias = Any
"""Any value that JSON can carry (dict, list, str, int, float, bool, None)."""


class JobStatus(StrEnum):
    """A job's lifecycle: ``queued → running → (waiting ⇄ running) → terminal``."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for the statuses a job never leaves."""
        return self in _TERMINAL_JOB


_TERMINAL_JOB = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class StepStatus(StrEnum):
    """A step's lifecycle: ``pending → running → (waiting ⇄ running) → succeeded | failed |
    skipped | cancelled``."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # asked a question (ctx.ask) and waits for the answer
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class EventType(StrEnum):
    """The event types of DESIGN §6, published on a job's event stream."""

    JOB_QUEUED = "job.queued"
    JOB_STARTED = "job.started"
    STEP_STARTED = "step.started"
    STEP_CHUNK = "step.chunk"
    STEP_PROGRESS = "step.progress"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRYING = "step.retrying"
    JOB_WAITING = "job.waiting"
    JOB_BLOCKED = "job.blocked"
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for the events after which a job's stream ends."""
        return self in _TERMINAL_EVENTS


_TERMINAL_EVENTS = frozenset({EventType.JOB_SUCCEEDED, EventType.JOB_FAILED, EventType.JOB_CANCELLED})

__all__ = ["EventType", "JSONValue", "JobId", "JobStatus", "StepName", "StepStatus"]

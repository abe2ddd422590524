"""Typed responses of the gateway's API (v1): what the SDK's clients return.

Every model accepts fields it does not know (``extra="allow"``), so a newer gateway that adds a
field does not break an older client; the fields named here are the ones DESIGN §6 fixes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.cancelled"})
"""Event types that end a job's stream."""

FINISHED_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
"""Job statuses that do not change any more (short of a retry)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Submitted(_Model):
    """The 202 answer to a submit: the new (or, for a repeated idempotency key, the first) job."""

    job_id: str
    status: str
    workflow: str
    created_at: datetime
    api_version: str = "v1"
    replayed: bool = Field(
        default=False, description="True when an idempotency key returned an existing job."
    )


class BatchAnswer(_Model):
    """The answer for one job of ``POST /v1/jobs/batch``: ``job_id`` (created: ``status_code``
    202; a repeated idempotency key: 200 and ``replayed``) or ``error``
    (``{"code", "message", "details"}`` with the status a single submit would get)."""

    index: int
    status_code: int
    job_id: str | None = None
    status: str | None = None
    workflow: str | None = None
    created_at: datetime | None = None
    replayed: bool = False
    error: dict[str, Any] | None = None


class JobStep(_Model):
    """A step of a job as ``GET /v1/jobs/{id}`` shows it (fan-out instances as ``step[i]``)."""

    name: str
    status: str
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: Any = None


class Question(_Model):
    """An open question of a waiting job (``ctx.ask``): its prompt and the answer's JSON schema."""

    step: str
    prompt: str = ""
    index: int = 0
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class Job(_Model):
    """``GET /v1/jobs/{id}``: a job with its steps, result, open questions and ``blocked`` reason."""

    job_id: str
    workflow: str
    status: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Any = None
    error: Any = None
    steps: list[JobStep] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    blocked: Any = Field(default=None, description="Why no worker runs the queued job.")
    version: str | None = None

    @property
    def finished(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.status in FINISHED_STATUSES


class JobSummary(_Model):
    """An item of ``GET /v1/jobs``."""

    job_id: str
    workflow: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobPage(_Model):
    """A page of ``GET /v1/jobs``, newest first; ``total`` counts every match."""

    items: list[JobSummary]
    total: int
    limit: int
    offset: int


class Event(_Model):
    """One event of a job's stream (DESIGN §6), as SSE and WebSocket carry it.

    Attributes:
        id: The stream id, also the SSE id (resume after it with ``last_event_id``).
        seq: Position in the job's stream, from 1, without gaps.
        ts: Publication time, epoch seconds.
        data: Type-specific payload: a chunk, progress, an error, the result, a question.
    """

    id: str
    job_id: str
    type: str
    step: str | None = None
    attempt: int | None = None
    seq: int = 0
    ts: float = 0.0
    data: Any = None

    @property
    def terminal(self) -> bool:
        """True for ``job.succeeded``, ``job.failed`` and ``job.cancelled``."""
        return self.type in TERMINAL_EVENTS


class TraceAttempt(_Model):
    """One step attempt of a job's waterfall (``offset_ms`` after the submit)."""

    step: str
    attempt: int
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    offset_ms: float | None = None
    duration_ms: float | None = None
    worker_id: str | None = None
    error: dict[str, Any] | None = None
    output_bytes: int | None = None
    cache_hit: bool | None = None


class Trace(_Model):
    """``GET /v1/jobs/{id}/trace``: every step attempt from the trace store, and the trace id."""

    job_id: str
    workflow: str
    status: str
    trace_id: str | None = None
    trace_url: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_wait_ms: float | None = None
    duration_ms: float | None = None
    steps: list[TraceAttempt] = Field(default_factory=list)


class WorkflowInfo(_Model):
    """A registered workflow's DAG: nodes with their options, edges, sinks, inputs JSON schema."""

    name: str
    version: str | None = None
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    edges: list[dict[str, Any]] = Field(default_factory=list)
    sinks: list[str] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | None = None
    concurrency_key: str | None = None


class Cancelled(_Model):
    """202 answer to a cancel: ``cancelled`` (had not started) or ``cancelling``."""

    job_id: str
    status: str


class Retried(_Model):
    """202 answer to a retry: the steps that will run again."""

    job_id: str
    status: str = "queued"
    steps: list[str] = Field(default_factory=list)


class Answered(_Model):
    """202 answer to an input: the step whose question it answered."""

    job_id: str
    step: str
    status: str = "queued"


class StepOutput(_Model):
    """A step's checkpointed output."""

    job_id: str
    step: str
    output: Any = None


__all__ = [
    "FINISHED_STATUSES",
    "TERMINAL_EVENTS",
    "Answered",
    "Cancelled",
    "Event",
    "Job",
    "JobPage",
    "JobStep",
    "JobSummary",
    "Question",
    "Retried",
    "StepOutput",
    "Submitted",
    "Trace",
    "TraceAttempt",
    "WorkflowInfo",
]

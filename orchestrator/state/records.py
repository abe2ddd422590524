"""The live state of a job as the state store returns it."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.types import JobId, JobStatus, JSONValue, StepName


@dataclass(slots=True)
class StepState:
    """A step's live status within a job.

    Attributes:
        status: A :class:`~orchestrator.types.StepStatus` value.
        attempt: Attempts started so far.
        started_at: Epoch seconds of the latest attempt's start, or ``None``.
        finished_at: Epoch seconds of the end, or ``None``.
        error: ``{"code", "message", "details"}`` of the latest failure, or ``None``.
    """

    status: str = "pending"
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: JSONValue = None


@dataclass(slots=True)
class JobState:
    """A job's live state (the ``orch:job:{job_id}`` hash).

    Attributes:
        job_id: The job.
        status: Current :class:`JobStatus`.
        workflow: Workflow name.
        version: Workflow fingerprint the job was submitted with.
        inputs: Validated inputs.
        created_at, started_at, finished_at: Epoch seconds, or ``None``.
        runs: How many times a worker started the job (1 unless resumed).
        cancel_requested: A cancel was asked for while it ran.
        arq_job_id: The arq job currently carrying the job.
        worker: The worker that last started a run of the job.
        result: ``{sink: output}`` when succeeded.
        error: ``{"code", "message", "details"}`` when failed.
        trace: W3C trace context of the submit.
        steps: ``{step: StepState}`` for steps that have started at least once.
        questions: Open questions, ``{step: {"index", "prompt", "schema"}}``.
        concurrency_key: The key of its workflow's concurrency limit ("" without a limit).
        blocked: Why no worker runs the queued job (e.g. a version mismatch), or ``None``.
        tenant_id, user_id, role: The submitting principal (``None`` when unknown).
        flow: The canonical JSON of the flow definition the job runs (``""`` for a Python
            workflow): stored with the job, so any worker runs it, pinned to what was submitted.
    """

    job_id: JobId
    status: JobStatus
    workflow: str
    version: str = ""
    inputs: dict[str, JSONValue] = field(default_factory=dict)
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    runs: int = 0
    cancel_requested: bool = False
    arq_job_id: str | None = None
    worker: str | None = None
    result: JSONValue = None
    error: JSONValue = None
    trace: dict[str, str] = field(default_factory=dict)
    steps: dict[StepName, StepState] = field(default_factory=dict)
    questions: dict[StepName, dict[str, JSONValue]] = field(default_factory=dict)
    concurrency_key: str = ""
    blocked: str | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    role: str | None = None
    flow: str = ""


__all__ = ["JobState", "StepState"]

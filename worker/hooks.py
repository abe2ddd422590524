"""Execution hooks: telemetry, metrics and the trace recorder plug in here, not as branches.

Modelled on Dramatiq's middleware: the executor calls every hook at fixed points; a hook that
raises fails the job run (hooks are part of the system of record, not best-effort).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.dag.context import StepContext
from orchestrator.types import JobId, JobStatus, JSONValue, StepName


@dataclass(frozen=True, slots=True)
class JobRun:
    """One worker's run of a job (a job is run again when resumed).

    Attributes:
        job_id: The job.
        workflow: Its workflow's name.
        run: 1 for the first run, 2 after one resume, ...
        worker_id: The worker running it.
        trace: W3C trace context from the submit.
        created_at: When the job was submitted (epoch seconds), for the queue wait.
        tenant_id, user_id, role: The submitting principal; steps act as this principal
            (tool policy, audit, metering), not as the worker.
    """

    job_id: JobId
    workflow: str
    run: int
    worker_id: str
    trace: dict[str, str]
    created_at: float | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """What one step attempt did.

    Attributes:
        step: Step name.
        attempt: Attempt number, from 1.
        status: ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        started_at: Epoch seconds.
        finished_at: Epoch seconds, ``None`` while running.
        duration_ms: Wall time in milliseconds, ``None`` while running.
        error: ``{"code", "message", "details"}`` for a failed attempt.
        output_bytes: Size of the serialized output, for a succeeded attempt.
        worker_id: The worker that ran it, when not the current run's worker.
        cache_hit: The output came from the step cache; the function did not run.
    """

    step: StepName
    attempt: int
    status: str
    started_at: float
    finished_at: float | None = None
    duration_ms: float | None = None
    error: JSONValue = None
    output_bytes: int | None = None
    worker_id: str | None = None  # set when another worker ran the attempt (a lost one)
    cache_hit: bool = False


class ExecutionHook:
    """Base class; override what you need. Every method is awaited by the executor."""

    async def on_job_start(self, run: JobRun) -> None:
        """Called when a worker starts (or resumes) running the job."""

    async def on_step_start(self, run: JobRun, record: AttemptRecord) -> None:
        """Called when a step attempt starts (``record.status == "running"``)."""

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        """Called with each attempt's :class:`StepContext` before the step runs: the agent
        layer attaches ``ctx.tools``, ``ctx.llm`` and ``ctx.policy`` here."""

    async def on_step_end(self, run: JobRun, record: AttemptRecord) -> None:
        """Called when a step attempt ends, whatever its outcome."""

    def on_step_chunk(self, run: JobRun, step: StepName, attempt: int, chunk: JSONValue) -> None:
        """Called for each streamed chunk, in the step's task; synchronous, so keep it cheap."""

    async def on_job_end(
        self, run: JobRun, status: JobStatus, result: JSONValue, error: JSONValue
    ) -> None:
        """Called right after the terminal event is published, in the job's task; the trace
        recorder only queues the row here (the lease is freed once it is written)."""

    async def on_job_suspend(self, run: JobRun, status: JobStatus) -> None:
        """Called when a run stops before the job ends: ``waiting`` for input, or ``queued``
        again after a graceful shutdown."""


class HookChain(ExecutionHook):
    """Calls several hooks in order."""

    def __init__(self, hooks: Sequence[ExecutionHook]) -> None:
        self.hooks = list(hooks)

    async def on_job_start(self, run: JobRun) -> None:
        for h in self.hooks:
            await h.on_job_start(run)

    async def on_step_start(self, run: JobRun, record: AttemptRecord) -> None:
        for h in self.hooks:
            await h.on_step_start(run, record)

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        for h in self.hooks:
            await h.on_step_context(run, ctx)

    async def on_step_end(self, run: JobRun, record: AttemptRecord) -> None:
        for h in self.hooks:
            await h.on_step_end(run, record)

    def on_step_chunk(self, run: JobRun, step: StepName, attempt: int, chunk: JSONValue) -> None:
        for h in self.hooks:
            h.on_step_chunk(run, step, attempt, chunk)

    async def on_job_end(
        self, run: JobRun, status: JobStatus, result: Any, error: Any
    ) -> None:
        for h in self.hooks:
            await h.on_job_end(run, status, result, error)

    async def on_job_suspend(self, run: JobRun, status: JobStatus) -> None:
        for h in self.hooks:
            await h.on_job_suspend(run, status)


__all__ = ["AttemptRecord", "ExecutionHook", "HookChain", "JobRun"]

"""Execution hooks for observability: a span per job run and per step attempt, and log context.

Span tree (DESIGN §9): the gateway's PRODUCER span ``enqueue <workflow>`` → one CONSUMER span
``job <workflow>`` per run of the job in a worker (a resumed job gets a second one under the same
parent) → one INTERNAL span ``step <name>`` per attempt. The parent comes from the W3C context the
submit stored with the job (:attr:`JobRun.trace`).

Where the hooks run decides what is current: ``on_job_start``/``on_job_end`` run in the job's
task and ``on_step_start``/``on_step_end`` in the step's own task (worker/executor.py), so the
job span is made current for the job's task (step tasks created afterwards inherit it) and each
step span for its step's task: spans and log lines made by step code join the step's span.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from orchestrator.serialization import dumps
from orchestrator.telemetry import Telemetry
from orchestrator.telemetry import attributes as attr
from orchestrator.types import JobStatus, StepStatus
from worker.hooks import AttemptRecord, ExecutionHook, JobRun

_RunKey = tuple[str, int, str]
_CHUNK_PREVIEW_CHARS = 256


def run_key(run: JobRun) -> _RunKey:
    """A job run's identity: ``(job_id, run, worker_id)`` (a :class:`JobRun` holds a dict)."""
    return (run.job_id, run.run, run.worker_id)


@dataclass(slots=True)
class _OpenJob:
    span: Span
    token: object | None = None
    steps: dict[tuple[str, int], tuple[Span, object]] = field(default_factory=dict)
    chunks: dict[tuple[str, int], int] = field(default_factory=dict)


def _attempt_attributes(record: AttemptRecord) -> dict[str, Any]:
    """End-of-attempt attributes; fields the record may gain later are read defensively."""
    values: dict[str, Any] = {attr.STEP_STATUS: record.status}
    if record.duration_ms is not None:
        values[attr.DURATION_MS] = round(record.duration_ms, 3)
    if record.output_bytes is not None:
        values[attr.OUTPUT_BYTES] = record.output_bytes
    if record.worker_id is not None:
        values[attr.WORKER_ID] = record.worker_id
    for name, key in (
        ("cache_hit", attr.CACHE_HIT),
        ("input_tokens", attr.INPUT_TOKENS),
        ("output_tokens", attr.OUTPUT_TOKENS),
        ("cost_usd", attr.COST_USD),
    ):
        value = getattr(record, name, None)
        if isinstance(value, bool | int | float):
            values[key] = value
    return values


def _mark_error(span: Span, error: Any, fallback: str) -> None:
    """Status ERROR plus an ``exception`` event from an ``{"code", "message", "details"}``."""
    err = error if isinstance(error, dict) else {}
    code = str(err.get("code") or fallback)
    message = str(err.get("message") or fallback)
    details = err.get("details")
    kind = details.get("type") if isinstance(details, dict) else None
    exception = {attr.EXCEPTION_TYPE: str(kind or code), attr.EXCEPTION_MESSAGE: message}
    span.set_attribute(attr.ERROR_CODE, code)
    try:
        span.add_event("exception", exception)
    except NotImplementedError:  # the Elastic bridge has no span events: labels instead
        span.set_attributes(exception)
    span.set_status(Status(StatusCode.ERROR, message))


class TracingHook(ExecutionHook):
    """Opens and closes the job and step spans of every run of this worker.

    Args:
        telemetry: The process's pipeline (``orchestrator.telemetry.current()``).
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._jobs: dict[_RunKey, _OpenJob] = {}

    def _job(self, run: JobRun) -> _OpenJob:
        key = run_key(run)
        job = self._jobs.get(key)
        if job is None:
            span = self.telemetry.start_span(
                f"job {run.workflow}",
                context=self.telemetry.extract(run.trace),
                kind=SpanKind.CONSUMER,
                attributes={
                    attr.JOB_ID: run.job_id,
                    attr.WORKFLOW: run.workflow,
                    attr.RUN: run.run,
                    attr.WORKER_ID: run.worker_id,
                    attr.MESSAGING_SYSTEM: "arq",
                    attr.MESSAGING_OPERATION: "process",
                    attr.MESSAGING_MESSAGE_ID: run.job_id,
                },
            )
            job = self._jobs[key] = _OpenJob(span)
            task = asyncio.current_task()
            if task is not None:
                # The run may end without on_job_end (lease lost, worker stopped): close it then.
                task.add_done_callback(lambda _: self._abandon(key))
        return job

    def _abandon(self, key: _RunKey) -> None:
        job = self._jobs.pop(key, None)
        if job is None:
            return
        reason = "the run ended before the job did (lease lost or worker stopped)"
        self._close_steps(job, reason)
        job.span.set_attribute(attr.JOB_STATUS, "abandoned")
        job.span.set_status(Status(StatusCode.ERROR, reason))
        self.telemetry.end_span(job.span)

    def _close_steps(self, job: _OpenJob, reason: str) -> None:
        for span, _ in job.steps.values():
            span.set_attribute(attr.STEP_STATUS, "abandoned")
            span.set_status(Status(StatusCode.ERROR, reason))
            self.telemetry.end_span(span)
        job.steps.clear()

    async def on_job_start(self, run: JobRun) -> None:
        """Open the run's CONSUMER span under the submit's and make it current for the job."""
        job = self._job(run)
        if job.token is None:
            job.token = self.telemetry.activate(job.span)

    async def on_step_start(self, run: JobRun, record: AttemptRecord) -> None:
        """Open the attempt's span under the job's and make it current in the step's task."""
        job = self._job(run)
        span = self.telemetry.start_span(
            f"step {record.step}",
            parent=job.span,
            attributes={
                attr.JOB_ID: run.job_id,
                attr.WORKFLOW: run.workflow,
                attr.STEP: record.step,
                attr.ATTEMPT: record.attempt,
                attr.WORKER_ID: run.worker_id,
            },
            start_time=record.started_at,
        )
        job.steps[(record.step, record.attempt)] = (span, self.telemetry.activate(span))

    async def on_step_end(self, run: JobRun, record: AttemptRecord) -> None:
        """Close the attempt's span with its outcome; a failed attempt is an ERROR span.

        An attempt that never started here (one a dead worker ran, recorded by the resuming
        run as ``worker_lost``) gets a span of its own with its recorded times.
        """
        job = self._job(run)
        entry = job.steps.pop((record.step, record.attempt), None)
        job.chunks.pop((record.step, record.attempt), None)
        if entry is None:
            span = self.telemetry.start_span(
                f"step {record.step}",
                parent=job.span,
                attributes={
                    attr.JOB_ID: run.job_id,
                    attr.WORKFLOW: run.workflow,
                    attr.STEP: record.step,
                    attr.ATTEMPT: record.attempt,
                },
                start_time=record.started_at,
            )
            token = None
        else:
            span, token = entry
        span.set_attributes(_attempt_attributes(record))
        if record.status == StepStatus.FAILED.value:
            _mark_error(span, record.error, "step_failed")
        self.telemetry.end_span(span, record.finished_at)
        if token is not None:
            self.telemetry.deactivate(token)

    def on_step_chunk(self, run: JobRun, step: str, attempt: int, chunk: Any) -> None:
        """Record a streamed chunk as an event of the attempt's span, when configured.

        Called by the step runner for each chunk it publishes.
        """
        if not self.telemetry.chunk_events:
            return
        job = self._jobs.get(run_key(run))
        entry = job.steps.get((step, attempt)) if job is not None else None
        if job is None or entry is None:
            return
        index = job.chunks.get((step, attempt), 0)
        job.chunks[(step, attempt)] = index + 1
        text = chunk if isinstance(chunk, str) else dumps(chunk).decode()
        entry[0].add_event(
            attr.CHUNK_EVENT,
            {
                attr.CHUNK_INDEX: index,
                attr.CHUNK_BYTES: len(text.encode()),
                attr.CHUNK_PREVIEW: text[:_CHUNK_PREVIEW_CHARS],
            },
        )

    async def on_job_end(
        self, run: JobRun, status: JobStatus, result: Any, error: Any
    ) -> None:
        """Close the run's span with the job's status; a failed job is an ERROR span."""
        job = self._jobs.pop(run_key(run), None)
        if job is None:
            return
        self._close_steps(job, "the job ended while the attempt was open")
        job.span.set_attribute(attr.JOB_STATUS, JobStatus(status).value)
        if JobStatus(status) is JobStatus.FAILED:
            _mark_error(job.span, error, "job_failed")
        self.telemetry.end_span(job.span)
        if job.token is not None:
            self.telemetry.deactivate(job.token)


class LogContextHook(ExecutionHook):
    """Binds ``job_id``/``workflow`` for the job's task and ``step``/``attempt`` for each step's.

    structlog's context variables are task-local copies, so a step's binding never leaks into
    another step; each binding is reset when its job or attempt ends.
    """

    def __init__(self) -> None:
        self._jobs: dict[_RunKey, Any] = {}
        self._steps: dict[tuple[_RunKey, str, int], Any] = {}

    async def on_job_start(self, run: JobRun) -> None:
        """Bind the job's identity for the job's task (and the step tasks it starts)."""
        key = run_key(run)
        self._jobs[key] = structlog.contextvars.bind_contextvars(
            job_id=run.job_id, workflow=run.workflow
        )
        _forget_when_done(self._jobs, key)

    async def on_step_start(self, run: JobRun, record: AttemptRecord) -> None:
        """Bind the step and attempt in the step's task."""
        key = (run_key(run), record.step, record.attempt)
        self._steps[key] = structlog.contextvars.bind_contextvars(
            job_id=run.job_id, step=record.step, attempt=record.attempt
        )
        _forget_when_done(self._steps, key)

    async def on_step_end(self, run: JobRun, record: AttemptRecord) -> None:
        """Unbind what :meth:`on_step_start` bound."""
        _reset(self._steps.pop((run_key(run), record.step, record.attempt), None))

    async def on_job_end(
        self, run: JobRun, status: JobStatus, result: Any, error: Any
    ) -> None:
        """Unbind what :meth:`on_job_start` bound."""
        _reset(self._jobs.pop(run_key(run), None))


def _forget_when_done(table: dict[Any, Any], key: Any) -> None:
    """Drop ``table[key]`` when the current task ends, had the end hook never run."""
    task = asyncio.current_task()
    if task is not None:
        task.add_done_callback(lambda _: table.pop(key, None))


def _reset(tokens: Any) -> None:
    if tokens is None:
        return
    try:
        structlog.contextvars.reset_contextvars(**tokens)
    except ValueError:
        pass  # bound in another context (a hook called from elsewhere): nothing to undo here


__all__ = ["LogContextHook", "TracingHook", "run_key"]

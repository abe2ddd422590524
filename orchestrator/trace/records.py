"""Immutable rows of the trace store, and their mapping to and from table rows.

Datetimes are timezone-aware UTC on the way out; on the way in any aware datetime is accepted and
converted to UTC, because SQLite keeps no offset and compares the stored text. The ``*_values`` and
``*_from_row`` functions are the store's row mapping, not part of the package's public surface.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.types import JobId, JobStatus, JSONValue, StepName, StepStatus


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job, as stored in the ``jobs`` table.

    Attributes:
        id: The job's UUID4 in canonical text form.
        workflow: The registered workflow's name.
        status: The job's lifecycle status.
        inputs: The validated inputs, a JSON object.
        created_at: When the job was accepted (UTC).
        result: The final output of a succeeded job, or ``None``.
        error: ``{"code", "message", "details"}`` of a failed job, or ``None``.
        tenant_id: The submitting tenant, if authentication names one.
        user_id: The submitting user, if known.
        idempotency_key: The client's ``Idempotency-Key``, if it sent one.
        started_at: When a worker first started the job (UTC); kept across resumes.
        finished_at: When the job reached a terminal status (UTC).
        trace_id: The OpenTelemetry trace id, 32 lowercase hex digits.
    """

    id: JobId
    workflow: str
    status: JobStatus
    inputs: dict[str, JSONValue]
    created_at: datetime
    result: JSONValue = None
    error: dict[str, Any] | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    idempotency_key: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class StepRunRecord:
    """One attempt of one step of a job, as stored in ``step_runs``.

    Attributes:
        job_id: The job's id.
        step: The step's name.
        attempt: The attempt number, starting at 1.
        status: The attempt's status.
        started_at: When the attempt started (UTC).
        finished_at: When it ended (UTC), ``None`` while running.
        duration_ms: Wall-clock run time in milliseconds.
        error: ``{"code", "message", "details"}`` of a failed attempt.
        worker_id: The worker that ran the attempt.
        output_bytes: Size of the checkpointed output in bytes.
        cache_hit: The output came from the step cache (the function did not run).
        id: The row's surrogate key; ``None`` before the row is stored.
    """

    job_id: JobId
    step: StepName
    attempt: int
    status: StepStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: dict[str, Any] | None = None
    worker_id: str | None = None
    output_bytes: int | None = None
    cache_hit: bool | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the append-only audit log.

    Attributes:
        at: When the action happened (UTC).
        actor: Who did it: a user id, an API-key name, or ``"system"``.
        action: What was done, e.g. ``"job.submit"`` or ``"job.cancel"``.
        tenant_id: The actor's tenant, if any.
        job_id: The job acted on, if any.
        details: Extra JSON context.
        request_id: The HTTP request's id, for correlating with logs.
        client_ip: The client's address (IPv4 or IPv6 text).
        id: The row's surrogate key; ``None`` before the row is stored.
    """

    at: datetime
    actor: str
    action: str
    tenant_id: str | None = None
    job_id: JobId | None = None
    details: dict[str, Any] | None = None
    request_id: str | None = None
    client_ip: str | None = None
    id: int | None = None


def parse_uuid(value: str) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or ``None`` if it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def to_db(moment: datetime | None) -> datetime | None:
    """Return an aware datetime converted to UTC, for writing or comparing.

    Raises:
        ValueError: ``moment`` is naive (its instant would be a guess).
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}; pass an aware (UTC) datetime")
    return moment.astimezone(UTC)


def from_db(moment: datetime | None) -> datetime | None:
    """Return a stored datetime as aware UTC (SQLite hands back naive UTC values)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def job_values(job: JobRecord) -> dict[str, Any]:
    """Return the ``jobs`` row for a record. Raises ``ValueError`` for a non-UUID id."""
    return {
        "id": uuid.UUID(job.id), "workflow": job.workflow, "status": str(job.status),
        "inputs": job.inputs, "result": job.result, "error": job.error,
        "tenant_id": job.tenant_id, "user_id": job.user_id,
        "idempotency_key": job.idempotency_key, "created_at": to_db(job.created_at),
        "started_at": to_db(job.started_at), "finished_at": to_db(job.finished_at),
        "trace_id": job.trace_id,
    }  # fmt: skip


def job_from_row(row: Any) -> JobRecord:
    """Return the record for a ``jobs`` row."""
    return JobRecord(
        id=str(row.id), workflow=row.workflow, status=JobStatus(row.status), inputs=row.inputs,
        created_at=from_db(row.created_at) or row.created_at, result=row.result,
        error=row.error, tenant_id=row.tenant_id, user_id=row.user_id,
        idempotency_key=row.idempotency_key, started_at=from_db(row.started_at),
        finished_at=from_db(row.finished_at), trace_id=row.trace_id,
    )  # fmt: skip


def step_run_values(run: StepRunRecord) -> dict[str, Any]:
    """Return the ``step_runs`` row for a record (without ``id``)."""
    return {
        "job_id": uuid.UUID(run.job_id), "step": run.step, "attempt": run.attempt,
        "status": str(run.status), "started_at": to_db(run.started_at),
        "finished_at": to_db(run.finished_at), "duration_ms": run.duration_ms,
        "error": run.error, "worker_id": run.worker_id, "output_bytes": run.output_bytes,
        "cache_hit": run.cache_hit,
    }  # fmt: skip


def step_run_from_row(row: Any) -> StepRunRecord:
    """Return the record for a ``step_runs`` row."""
    return StepRunRecord(
        job_id=str(row.job_id), step=row.step, attempt=row.attempt,
        status=StepStatus(row.status), started_at=from_db(row.started_at),
        finished_at=from_db(row.finished_at), duration_ms=row.duration_ms, error=row.error,
        worker_id=row.worker_id, output_bytes=row.output_bytes, cache_hit=row.cache_hit,
        id=row.id,
    )  # fmt: skip


def audit_values(record: AuditRecord) -> dict[str, Any]:
    """Return the ``audit_log`` row for a record (without ``id``)."""
    return {
        "at": to_db(record.at), "actor": record.actor, "tenant_id": record.tenant_id,
        "action": record.action, "details": record.details, "request_id": record.request_id,
        "client_ip": record.client_ip,
        "job_id": uuid.UUID(record.job_id) if record.job_id is not None else None,
    }  # fmt: skip


def audit_from_row(row: Any) -> AuditRecord:
    """Return the record for an ``audit_log`` row."""
    return AuditRecord(
        at=from_db(row.at) or row.at, actor=row.actor, action=row.action,
        tenant_id=row.tenant_id, job_id=str(row.job_id) if row.job_id is not None else None,
        details=row.details, request_id=row.request_id, client_ip=row.client_ip, id=row.id,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobFinish:
    """A job's end, for :meth:`TraceStore.write_batch`."""

    job_id: JobId
    status: JobStatus
    finished_at: datetime
    result: Any = None
    error: Mapping[str, Any] | None = None


__all__ = ["AuditRecord", "JobFinish", "JobRecord", "StepRunRecord"]

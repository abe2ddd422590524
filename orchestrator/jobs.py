"""Job operations behind the HTTP API: submit, read, cancel, step output (DESIGN §3, §6).

PostgreSQL is the system of record (the ``jobs`` row); Redis holds the live state, checkpoints
and events. A job view combines both: the row for identity and history, Redis for live steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import (
    JobNotFoundError,
    JobStateConflictError,
    OutputNotFoundError,
    StepNotFoundError,
    WorkflowNotFoundError,
)
from orchestrator.serialization import loads
from orchestrator.services import Services
from orchestrator.trace.records import AuditRecord, JobRecord
from orchestrator.types import JobId, JobStatus, JSONValue


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the audit trail's subject.

    Attributes:
        id: User or API-key id (``anonymous`` without auth).
        tenant_id: The tenant, if any.
        request_id: The HTTP request id.
        client_ip: The client's address.
    """

    id: str = "anonymous"
    tenant_id: str | None = None
    request_id: str | None = None
    client_ip: str | None = None


@dataclass(slots=True)
class JobView:
    """A job as ``GET /v1/jobs/{id}`` shows it."""

    job_id: JobId
    workflow: str
    status: str
    inputs: dict[str, JSONValue]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: JSONValue = None
    error: JSONValue = None
    steps: list[dict[str, Any]] = field(default_factory=list)


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def trace_id_of(trace: Mapping[str, str] | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<32 hex trace id>-<16 hex span id>-<flags>``).

    Source: W3C Trace Context, §3.2 (https://www.w3.org/TR/trace-context/).
    """
    parts = (trace or {}).get("traceparent", "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return None


class JobService:
    """Submits and reads jobs.

    Args:
        services: Connections and workflows of the gateway process.
    """

    def __init__(self, services: Services) -> None:
        self.services = services

    async def submit(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None,
        *,
        actor: Actor,
        idempotency_key: str | None = None,
        trace: Mapping[str, str] | None = None,
    ) -> JobRecord:
        """Validate, record, and enqueue a job.

        Args:
            workflow: A registered workflow's name.
            inputs: ``{parameter: value}``.
            actor: Who submits (audited).
            idempotency_key: Stored with the job (deduplication arrives with a later issue).
            trace: W3C trace context to carry to the worker.

        Returns:
            The stored ``jobs`` row (status ``queued``).

        Raises:
            WorkflowNotFoundError: Unknown workflow (nothing is stored).
            InputValidationError: Missing, ill-typed or unknown inputs (nothing is stored).
            TraceError, StateError, QueueError: Infrastructure failed.
        """
        wf = self.services.registry.get(workflow)
        clean = wf.validate_inputs(inputs)
        job_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        record = JobRecord(
            id=job_id,
            workflow=wf.name,
            status=JobStatus.QUEUED,
            inputs=clean,
            created_at=now,
            tenant_id=actor.tenant_id,
            user_id=actor.id,
            idempotency_key=idempotency_key,
            trace_id=trace_id_of(trace),
        )
        audit = AuditRecord(
            at=now,
            actor=actor.id,
            action="job.submit",
            tenant_id=actor.tenant_id,
            job_id=job_id,
            details={"workflow": wf.name},
            request_id=actor.request_id,
            client_ip=actor.client_ip,
        )
        await self.services.trace.insert_job(record, audit)
        await self.services.state.create_job(
            job_id,
            workflow=wf.name,
            version=wf.version,
            inputs=clean,
            created_at=now.timestamp(),
            arq_job_id=job_id,
            trace=trace,
        )
        await self.services.queue.enqueue(job_id, trace=trace)
        return record

    async def get(self, job_id: str) -> JobView:
        """Return the job with its steps.

        Raises:
            JobNotFoundError: No such job.
        """
        row = await self.services.trace.get_job(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}", details={"job_id": job_id})
        live = await self.services.state.get_job(row.id)
        view = JobView(
            job_id=row.id,
            workflow=row.workflow,
            status=row.status.value,
            inputs=row.inputs,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            result=row.result,
            error=row.error,
        )
        try:
            wf = self.services.registry.get(row.workflow)
            names = list(wf.steps)
        except WorkflowNotFoundError:
            names = []
        runs = await self.services.trace.list_step_runs(row.id)
        attempts: dict[str, int] = {}
        for r in runs:
            attempts[r.step] = max(attempts.get(r.step, 0), r.attempt)
        if live is not None:
            view.status = live.status.value  # Redis is ahead of the batched row while running
            view.started_at = view.started_at or _utc(live.started_at)
            for n in live.steps:
                if n not in names:
                    names.append(n)
        for n in names:
            st = live.steps.get(n) if live is not None else None
            last = next((r for r in reversed(runs) if r.step == n), None)
            view.steps.append(
                {
                    "name": n,
                    "status": st.status if st else (last.status.value if last else "pending"),
                    "attempts": st.attempt if st else attempts.get(n, 0),
                    "started_at": _utc(st.started_at) if st else (last.started_at if last else None),
                    "finished_at": _utc(st.finished_at) if st else (last.finished_at if last else None),
                    "duration_ms": last.duration_ms if last else None,
                    "error": st.error if st else (last.error if last else None),
                }
            )
        return view

    async def cancel(self, job_id: str, *, actor: Actor) -> str:
        """Cancel a queued job at once, or ask the worker running it to stop.

        Returns:
            ``cancelled`` (it had not started) or ``cancelling`` (the worker will stop it).

        Raises:
            JobNotFoundError: No such job.
            JobStateConflictError: The job already finished (``details["status"]``).
        """
        row = await self.services.trace.get_job(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}", details={"job_id": job_id})
        answer = await self.services.state.request_cancel(row.id, {"by": actor.id})
        if answer in ("succeeded", "failed", "cancelled") or (
            answer == "missing" and row.status.is_terminal
        ):
            status = answer if answer != "missing" else row.status.value
            raise JobStateConflictError(
                f"job {job_id} already finished as {status}",
                details={"job_id": job_id, "status": status},
            )
        if answer == "now_cancelled":
            await self.services.trace.finish_job(
                row.id, JobStatus.CANCELLED, finished_at=datetime.now(UTC)
            )
        await self.services.trace.add_audit(
            AuditRecord(
                at=datetime.now(UTC),
                actor=actor.id,
                action="job.cancel",
                tenant_id=actor.tenant_id,
                job_id=row.id,
                details={"outcome": answer},
                request_id=actor.request_id,
                client_ip=actor.client_ip,
            )
        )
        return "cancelled" if answer == "now_cancelled" else "cancelling"

    async def output(self, job_id: str, step: str) -> JSONValue:
        """Return a step's checkpointed output.

        Raises:
            JobNotFoundError: No such job.
            StepNotFoundError: The workflow has no such step.
            OutputNotFoundError: The step has not finished (or its checkpoint expired).
        """
        row = await self.services.trace.get_job(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}", details={"job_id": job_id})
        try:
            wf = self.services.registry.get(row.workflow)
            if step not in wf.steps:
                raise StepNotFoundError(
                    f"workflow {row.workflow!r} has no step {step!r}",
                    details={"step": step, "steps": list(wf.steps)},
                )
        except WorkflowNotFoundError:
            pass
        found = await self.services.state.load_checkpoints(row.id, [step])
        if step not in found:
            raise OutputNotFoundError(
                f"step {step!r} of job {job_id} has no checkpointed output",
                details={"job_id": job_id, "step": step},
            )
        return loads(found[step])

    async def exists(self, job_id: str) -> JobRecord:
        """Return the job's row.

        Raises:
            JobNotFoundError: No such job.
        """
        row = await self.services.trace.get_job(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}", details={"job_id": job_id})
        return row


__all__ = ["Actor", "JobService", "JobView"]

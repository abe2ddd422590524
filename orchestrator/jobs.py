"""Job operations behind the HTTP API: submit, read, cancel, step output (DESIGN §3, §6).

PostgreSQL is the system of record (the ``jobs`` row); Redis holds the live state, checkpoints
and events. A job view combines both: the row for identity and history, Redis for live steps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema

from orchestrator.dag.workflow import Workflow
from orchestrator.errors import (
    AnswerValidationError,
    JobNotFoundError,
    JobNotVisibleError,
    JobStateConflictError,
    OutputNotFoundError,
    StepNotFoundError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orchestrator.serialization import dumps, loads
from orchestrator.services import Services
from orchestrator.trace.records import AuditRecord, JobRecord
from orchestrator.types import JobId, JobStatus, JSONValue


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the audit trail's subject.

    Attributes:
        id: ``key:<id>`` or ``user:<sub>`` (``anonymous`` without auth); stored as the job's
            ``user_id``.
        tenant_id: The tenant, if any.
        request_id: The HTTP request id.
        client_ip: The client's address.
        own_jobs_only: Sees and acts on only the jobs it submitted (submitters).
        all_tenants: No tenant boundary (auth disabled, ``orchestrator dev``).
    """

    id: str = "anonymous"
    tenant_id: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    own_jobs_only: bool = False
    all_tenants: bool = False

    def sees(self, job: JobRecord) -> bool:
        """Whether this actor may see (and, given the permission, act on) ``job``."""
        if self.all_tenants:
            return True
        return job.tenant_id == self.tenant_id and (
            not self.own_jobs_only or job.user_id == self.id
        )


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
    questions: list[dict[str, Any]] = field(default_factory=list)
    blocked: str | None = None
    version: str | None = None


IDEMPOTENT_WAIT_SECONDS = 5.0
"""How long a duplicate submit waits for the first submit's row before giving up on it."""


def concurrency_key_of(wf: Workflow, inputs: Mapping[str, JSONValue], actor: Actor) -> str:
    """The workflow's ``concurrency_key`` template filled with ``tenant`` and the inputs."""
    if wf.concurrency is None:
        return ""
    if wf.concurrency_key is None:
        return "*"
    values = {**{k: v for k, v in inputs.items()}, "tenant": actor.tenant_id or "-"}
    try:
        return wf.concurrency_key.format(**values)
    except (KeyError, IndexError, ValueError):
        return wf.concurrency_key


def _check_answer(answer: JSONValue, schema: dict[str, Any]) -> None:
    """Validate an answer against its question's JSON schema (Draft 2020-12, via jsonschema).

    Raises:
        AnswerValidationError: With ``details["errors"]``: path and message of each problem.
    """
    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        {"path": "/".join(str(p) for p in e.absolute_path), "message": e.message}
        for e in validator.iter_errors(answer)
    ]
    if errors:
        raise AnswerValidationError(
            "the answer does not match the question's schema",
            details={"errors": errors, "schema": schema},
        )


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
        priority: int = 0,
        version: str | None = None,
    ) -> JobRecord:
        """Validate, record, and enqueue a job (or return the first job of an idempotency key).

        Args:
            workflow: A registered workflow's name.
            inputs: ``{parameter: value}``.
            actor: Who submits (audited).
            idempotency_key: Within ``state.idempotency_window_seconds``, a second submit with
                the same key (per tenant) returns the first job instead of creating one; a
                concurrent duplicate loses an atomic ``SET NX`` and waits for the winner's row.
            trace: W3C trace context to carry to the worker.
            priority: 0-9; higher runs sooner among due jobs.
            version: Pin the job to this workflow version; it must be the registered one.

        Returns:
            The stored ``jobs`` row; ``replayed`` tells whether it already existed.

        Raises:
            WorkflowNotFoundError: Unknown workflow (nothing is stored).
            InputValidationError: Missing, ill-typed or unknown inputs (nothing is stored).
            VersionNotFoundError: ``version`` is not the registered workflow's version.
            TraceError, StateError, QueueError: Infrastructure failed.
        """
        record, _ = await self.submit_once(
            workflow, inputs, actor=actor, idempotency_key=idempotency_key, trace=trace,
            priority=priority, version=version,
        )  # fmt: skip
        return record

    async def submit_once(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None,
        *,
        actor: Actor,
        idempotency_key: str | None = None,
        trace: Mapping[str, str] | None = None,
        priority: int = 0,
        version: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Like :meth:`submit`, and also tell whether the job was an idempotent replay.

        Returns:
            ``(job row, replayed)``.
        """
        wf = self.services.registry.get(workflow)
        if version is not None and version != wf.version:
            raise VersionNotFoundError(
                f"workflow {workflow!r} has no version {version!r}",
                details={"workflow": workflow, "version": version, "known": [wf.version]},
            )
        clean = wf.validate_inputs(inputs)
        job_id = str(uuid.uuid4())
        idem_key = None
        if idempotency_key is not None:
            idem_key = self.services.keys.idempotency(actor.tenant_id, idempotency_key)
            window = self.services.settings.state.idempotency_window_seconds
            if not await self.services.redis.set(idem_key, job_id, nx=True, ex=window):
                first = await self._first_of(idem_key)
                if first is not None:
                    return first, True
                await self.services.redis.set(idem_key, job_id, ex=window)
        try:
            record = await self._create(wf, clean, job_id, actor, idempotency_key, trace, priority)
        except BaseException:
            if idem_key is not None:
                await self.services.redis.delete(idem_key)
            raise
        return record, False

    async def _first_of(self, idem_key: str) -> JobRecord | None:
        """The job that claimed ``idem_key`` first, once its row exists (waits up to 5 s)."""
        deadline = time.monotonic() + IDEMPOTENT_WAIT_SECONDS
        while time.monotonic() < deadline:
            raw = await self.services.redis.get(idem_key)
            if raw is None:
                return None  # the first submit failed and released the key
            row = await self.services.trace.get_job(raw.decode())
            if row is not None:
                return row
            await asyncio.sleep(0.01)  # the winner is between SET NX and its INSERT
        return None

    async def _create(
        self,
        wf: Workflow,
        clean: dict[str, JSONValue],
        job_id: str,
        actor: Actor,
        idempotency_key: str | None,
        trace: Mapping[str, str] | None,
        priority: int,
    ) -> JobRecord:
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
            extra={"priority": priority, "concurrency_key": concurrency_key_of(wf, clean, actor)},
        )
        await self.services.queue.enqueue(job_id, trace=trace, priority=priority)
        return record

    async def get(self, job_id: str, actor: Actor | None = None) -> JobView:
        """Return the job with its steps.

        Args:
            job_id: The job.
            actor: Who asks; a job it may not see is not found. ``None``: internal, unscoped.

        Raises:
            JobNotFoundError: No such job (or one ``actor`` may not see).
        """
        row = await self.exists(job_id, actor)
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
            view.questions = [{"step": s, **q} for s, q in live.questions.items()]
            view.blocked = live.blocked
            view.version = live.version or None
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
        row = await self.exists(job_id, actor)
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

    async def answer(
        self, job_id: str, answer: JSONValue, *, actor: Actor, step: str | None = None
    ) -> str:
        """Answer a waiting job's open question and queue the job again.

        Args:
            job_id: The job.
            answer: The answer, validated against the question's JSON schema.
            actor: Who answers (audited).
            step: Which step's question; may be omitted when exactly one is open.

        Returns:
            The step whose question was answered.

        Raises:
            JobNotFoundError: No such job.
            JobStateConflictError: The job is not waiting, or ``step`` has no open question, or
                several are open and ``step`` is missing.
            AnswerValidationError: The answer does not match the schema (``details["errors"]``).
        """
        row = await self.exists(job_id, actor)
        live = await self.services.state.get_job(row.id)
        if live is None or live.status is not JobStatus.WAITING or not live.questions:
            status = live.status.value if live else row.status.value
            raise JobStateConflictError(
                f"job {job_id} is not waiting for input (it is {status})",
                details={"job_id": job_id, "status": status},
            )
        if step is None:
            if len(live.questions) > 1:
                raise JobStateConflictError(
                    "several questions are open: say which step you answer",
                    details={"job_id": job_id, "steps": sorted(live.questions)},
                )
            step = next(iter(live.questions))
        question = live.questions.get(step)
        if question is None:
            raise JobStateConflictError(
                f"step {step!r} of job {job_id} has no open question",
                details={"job_id": job_id, "step": step, "steps": sorted(live.questions)},
            )
        _check_answer(answer, question.get("schema") or {})
        index = int(question["index"])
        outcome = await self.services.state.answer(
            row.id, step, index, dumps(answer), {"reason": "input", "step": step}
        )
        if outcome != "OK":
            raise JobStateConflictError(
                f"the question of step {step!r} is no longer open ({outcome})",
                details={"job_id": job_id, "step": step, "outcome": outcome},
            )
        await self.services.trace.set_job_status(row.id, JobStatus.QUEUED)
        arq_job_id = f"{row.id}:input:{uuid.uuid4().hex[:8]}"
        await self.services.state.update(row.id, {"arq_job_id": arq_job_id})
        await self.services.queue.enqueue(row.id, arq_job_id=arq_job_id, trace=live.trace)
        await self._audit(actor, "job.input", row.id, {"step": step, "index": index})
        return step

    async def retry(self, job_id: str, *, actor: Actor) -> list[str]:
        """Queue a failed (or cancelled) job again from its unfinished steps.

        Finished steps keep their checkpoints and do not run again.

        Returns:
            The steps that will run again.

        Raises:
            JobNotFoundError: No such job.
            JobStateConflictError: The job is not failed or cancelled, or its state expired.
        """
        row = await self.exists(job_id, actor)
        live = await self.services.state.get_job(row.id)
        if live is None:
            raise JobStateConflictError(
                f"job {job_id}'s state has expired; it cannot be retried",
                details={"job_id": job_id, "status": row.status.value},
            )
        try:
            names = list(self.services.registry.get(live.workflow).steps)
        except WorkflowNotFoundError:
            names = list(live.steps)
        done = await self.services.state.load_checkpoints(row.id, names)
        again = [n for n in names if n not in done]
        arq_job_id = f"{row.id}:retry:{uuid.uuid4().hex[:8]}"
        outcome = await self.services.state.requeue(
            row.id, arq_job_id, again, {"reason": "retry", "steps": again}
        )
        if outcome != "OK":
            raise JobStateConflictError(
                f"job {job_id} is {outcome.lower()}; only failed or cancelled jobs are retried",
                details={"job_id": job_id, "status": outcome.lower()},
            )
        await self.services.trace.set_job_status(row.id, JobStatus.QUEUED)
        await self.services.queue.enqueue(row.id, arq_job_id=arq_job_id, trace=live.trace)
        await self._audit(actor, "job.retry", row.id, {"steps": again})
        return again

    async def _audit(
        self, actor: Actor, action: str, job_id: str, details: dict[str, Any]
    ) -> None:
        await self.services.trace.add_audit(
            AuditRecord(
                at=datetime.now(UTC), actor=actor.id, action=action, tenant_id=actor.tenant_id,
                job_id=job_id, details=details, request_id=actor.request_id,
                client_ip=actor.client_ip,
            )
        )  # fmt: skip

    async def output(self, job_id: str, step: str, actor: Actor | None = None) -> JSONValue:
        """Return a step's checkpointed output.

        Raises:
            JobNotFoundError: No such job (or one ``actor`` may not see).
            StepNotFoundError: The workflow has no such step.
            OutputNotFoundError: The step has not finished (or its checkpoint expired).
        """
        row = await self.exists(job_id, actor)
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

    async def exists(self, job_id: str, actor: Actor | None = None) -> JobRecord:
        """Return the job's row, if ``actor`` may see it.

        Args:
            job_id: The job.
            actor: Who asks (see :meth:`Actor.sees`); ``None``: internal, unscoped.

        Raises:
            JobNotFoundError: No such job.
            JobNotVisibleError: The job is another tenant's (or user's): to the caller the
                same 404 as an unknown job; the gateway audits it.
        """
        row = await self.services.trace.get_job(job_id)
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r}", details={"job_id": job_id})
        if actor is not None and not actor.sees(row):
            raise JobNotVisibleError(f"no job {job_id!r}", details={"job_id": job_id})
        return row


__all__ = ["Actor", "JobService", "JobView"]

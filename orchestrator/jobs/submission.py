"""Submitting jobs: validation, the ``jobs`` row, live state, the queue, idempotency keys."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.dag.workflow import Workflow

if TYPE_CHECKING:
    from orchestrator.flows.compiler import FlowWorkflow
from orchestrator.errors import InputValidationError, VersionNotFoundError
from orchestrator.jobs.actor import Actor
from orchestrator.jobs.launch import Launch, LaunchGroupCommit
from orchestrator.jobs.rows import RowGroupCommit
from orchestrator.services import Services
from orchestrator.storable import find_unstorable
from orchestrator.trace.records import AuditRecord, JobRecord
from orchestrator.types import JobStatus, JSONValue

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


def trace_id_of(trace: Mapping[str, str] | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<32 hex trace id>-<16 hex span id>-<flags>``).

    Source: W3C Trace Context, §3.2 (https://www.w3.org/TR/trace-context/).
    """
    parts = (trace or {}).get("traceparent", "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return None


def _check_storable(workflow: str, inputs: Mapping[str, Any] | None) -> None:
    """Refuse inputs the trace store cannot keep (NUL, lone surrogates, NaN and infinities).

    Raises:
        InputValidationError: ``details["errors"]`` names each input path with its ``type``.
    """
    if not inputs:  # nothing to store (the common no-input job, once per item of a batch)
        return
    problems = find_unstorable(dict(inputs))
    if problems:
        errors = [p.as_error() for p in problems]
        names = ", ".join(e["parameter"] for e in errors)
        raise InputValidationError(
            f"invalid inputs for workflow {workflow!r}: {names}",
            details={"workflow": workflow, "errors": errors},
        )


check_storable = _check_storable


class JobSubmission:
    """Creates jobs (or returns the first job of an idempotency key)."""

    services: Services

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
            InputValidationError: Missing, ill-typed or unknown inputs, or values no store can
                keep: NUL characters, lone surrogates, NaN or infinite numbers (nothing is
                stored; ``details["errors"]`` names each input path).
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
        flow: FlowWorkflow | None = None,
    ) -> tuple[JobRecord, bool]:
        """Like :meth:`submit`, and also tell whether the job was an idempotent replay.

        Args:
            flow: A compiled flow to run instead of the registered workflow ``workflow`` (its
                definition is stored with the job; ``workflow`` should be ``flow.name``).

        Returns:
            ``(job row, replayed)``.
        """
        wf: Workflow = flow if flow is not None else self.services.registry.get(workflow)
        if version is not None and version != wf.version:
            raise VersionNotFoundError(
                f"workflow {workflow!r} has no version {version!r}",
                details={"workflow": workflow, "version": version, "known": [wf.version]},
            )
        # Raw first (a hostile key must not reach the validator's error messages), then the
        # validated values (a float input turns the text "nan" into NaN).
        _check_storable(wf.name, inputs)
        clean = wf.validate_inputs(inputs)
        _check_storable(wf.name, clean)
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

    def _launches(self) -> LaunchGroupCommit:
        """This process's group commit of new jobs' states and queue entries (made on first
        use)."""
        launches: LaunchGroupCommit | None = getattr(self, "_launch_commit", None)
        if launches is None:
            launches = self._launch_commit = LaunchGroupCommit(self.services.state,
                                                               self.services.queue)
        return launches

    def _rows(self) -> RowGroupCommit:
        """This process's group commit of submit rows (made on first use)."""
        rows: RowGroupCommit | None = getattr(self, "_row_commit", None)
        if rows is None:
            rows = self._row_commit = RowGroupCommit(self.services.trace)
        return rows

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
        await self._rows().insert(record, audit)
        await self._launches().launch(Launch(
            job_id=job_id,
            workflow=wf.name,
            version=wf.version,
            inputs=clean,
            created_at=now.timestamp(),
            trace=trace,
            priority=priority,
            extra={
                "priority": priority,
                "concurrency_key": concurrency_key_of(wf, clean, actor),
                # the submitting principal: workers decide tool policy and meter as this user
                "tenant": actor.tenant_id or "",
                "user": actor.id,
                "role": actor.role or "",
                # a flow's definition travels with the job (FlowWorkflow.source): any worker runs it
                **({"flow": source} if isinstance(source := getattr(wf, "source", None), str)
                   else {}),
            },
        ))
        return record


__all__ = ["JobSubmission", "check_storable", "concurrency_key_of", "trace_id_of"]

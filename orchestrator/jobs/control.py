"""Controlling jobs after submit: cancel, answer a question, retry; each audited."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import (
    AnswerValidationError,
    DagError,
    JobStateConflictError,
    WorkflowNotFoundError,
)
from orchestrator.flows.jobs import workflow_of
from orchestrator.jobs.actor import Actor
from orchestrator.jobs.views import JobReader
from orchestrator.serialization import dumps
from orchestrator.storable import find_unstorable
from orchestrator.trace.records import AuditRecord
from orchestrator.types import JobStatus, JSONValue, StepStatus


def check_answer(answer: JSONValue, schema: dict[str, Any]) -> None:
    """Validate an answer against its question's JSON schema (Draft 2020-12, via jsonschema).

    Raises:
        AnswerValidationError: With ``details["errors"]``: path and message of each problem.
    """
    import jsonschema  # here: workers import this module at start, and answers are rare

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


class JobControl(JobReader):
    """Cancels, answers and retries jobs the actor may touch (found as :class:`JobReader` does)."""

    async def cancel(self, job_id: str, *, actor: Actor) -> str:
        """Cancel a job no worker runs (queued, or waiting for input) at once, or ask the worker
        running it to stop.

        Returns:
            ``cancelled`` (no worker ran it: it ended now, with its ``job.cancelled`` event) or
            ``cancelling`` (the worker will stop it).

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
            now = datetime.now(UTC)
            await self._cancel_open_attempts(row.id, now)
            await self.services.trace.finish_job(row.id, JobStatus.CANCELLED, finished_at=now)
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

    async def _cancel_open_attempts(self, job_id: str, now: datetime) -> None:
        """End the step_runs rows a waiting job left open (the attempts that asked)."""
        runs = await self.services.trace.list_step_runs(job_id)
        open_runs = [
            replace(r, status=StepStatus.CANCELLED, finished_at=now)
            for r in runs
            if r.status in (StepStatus.WAITING, StepStatus.RUNNING, StepStatus.PENDING)
        ]
        await self.services.trace.upsert_step_runs(open_runs)

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
            AnswerValidationError: The answer does not match the schema, or holds a lone
                surrogate or a NaN/infinite number (``details["errors"]``).
        """
        problems = find_unstorable(answer)
        if problems:  # an answer with a lone surrogate cannot be stored, NaN would become null
            raise AnswerValidationError(
                "the answer holds values that cannot be stored",
                details={"errors": [p.as_error("answer") for p in problems]},
            )
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
        check_answer(answer, question.get("schema") or {})
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
            names = list(workflow_of(self.services.registry, live).steps)
        except (WorkflowNotFoundError, DagError):
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


__all__ = ["JobControl", "check_answer"]

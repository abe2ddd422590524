"""Reading jobs: the view that combines the ``jobs`` row with live state, and step outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import (
    DagError,
    JobNotFoundError,
    JobNotVisibleError,
    OutputNotFoundError,
    StepNotFoundError,
    WorkflowNotFoundError,
)
from orchestrator.jobs.actor import Actor
from orchestrator.serialization import loads
from orchestrator.services import Services
from orchestrator.trace.records import JobRecord
from orchestrator.types import JobId, JSONValue


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


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class JobReader:
    """Reads jobs, their steps and outputs, as the actor may see them."""

    services: Services

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
            if live is not None and live.flow:  # a flow job: its stored definition's steps
                from orchestrator.flows.jobs import workflow_of

                wf = workflow_of(self.services.registry, live)
            else:
                wf = self.services.registry.get(row.workflow)
            names = list(wf.steps)
        except (WorkflowNotFoundError, DagError):
            names = []
        runs = await self.services.trace.list_step_runs(row.id)
        attempts: dict[str, int] = {}
        latest: dict[str, Any] = {}  # each step's last run in list order (one pass, not n²)
        for r in runs:
            attempts[r.step] = max(attempts.get(r.step, 0), r.attempt)
            latest[r.step] = r
        if live is not None:
            view.status = live.status.value  # Redis is ahead of the batched row while running
            if live.status.is_terminal and not row.status.is_terminal:
                # The terminal event precedes the row's end by a commit (DESIGN §3.3).
                view.result, view.error = live.result, live.error
                view.finished_at = _utc(live.finished_at)
            view.started_at = view.started_at or _utc(live.started_at)
            view.questions = [{"step": s, **q} for s, q in live.questions.items()]
            view.blocked = live.blocked
            view.version = live.version or None
            for n in live.steps:
                if n not in names:
                    names.append(n)
        for n in names:
            st = live.steps.get(n) if live is not None else None
            last = latest.get(n)
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


__all__ = ["JobReader", "JobView"]

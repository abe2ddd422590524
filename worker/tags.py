"""The tags execution hook: ``ctx.policy`` and ``ctx.prompt`` for every step attempt (DESIGN §15).

Each attempt gets a :class:`~orchestrator.tags.view.StepPolicy` deciding as the job's submitter
(``ctx.principal``), never as the worker, for the job's intent: its workflow's name. The first
resolution happens here, before the step runs (from the cache: no I/O in the common case), so a
step that may not run for policy reasons fails before its code runs only if it asks.
"""

from __future__ import annotations

from orchestrator.dag.context import StepContext
from orchestrator.tags.policy import TagPolicy, actor_of_principal
from orchestrator.tags.view import AuditSink, StepPolicy
from worker.hooks import ExecutionHook, JobRun


class TagPolicyHook(ExecutionHook):
    """Attaches ``ctx.policy`` (a live :class:`StepPolicy`) and ``ctx.prompt``.

    Args:
        policy: The process's tag policy (``Services.tags.policy``).
        audit: Where refusals are written (``TraceStore.add_audit``).
    """

    def __init__(self, policy: TagPolicy, audit: AuditSink | None = None) -> None:
        self.policy = policy
        self.audit = audit

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        """Resolve the submitter's policy for the job's intent and attach it to ``ctx``.

        Raises:
            StateError, TraceError: Redis or the database failed (the attempt fails and is
                retried like any failure of the step).
        """
        actor = actor_of_principal(ctx.principal)
        snapshot = await self.policy.effective(actor, intent=run.workflow)
        view = StepPolicy(self.policy, actor, run.workflow, snapshot, audit=self.audit,
                          job_id=run.job_id, step=ctx.step)  # fmt: skip
        ctx.policy = view
        ctx.prompter = view.prompt


__all__ = ["TagPolicyHook"]

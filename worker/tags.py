"""The tags execution hook: ``ctx.policy`` and ``ctx.prompt`` for every step attempt (DESIGN §15).

Each attempt gets a :class:`~orchestrator.tags.view.StepPolicy` deciding as the job's submitter
(``ctx.principal``), never as the worker, for the job's intent: its workflow's name. Nothing is
resolved here: the view resolves (through the cache) when the step first asks, so steps that do
not use tags cost no Redis or database round trip, and a resumed job's first step does not wait
for the trace store to be built.
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
        """Attach the submitter's policy view for the job's intent to ``ctx`` (no I/O).

        The view's methods raise ``StateError``/``TraceError`` when Redis or the database fail:
        the attempt fails and is retried like any failure of the step.
        """
        actor = actor_of_principal(ctx.principal)
        view = StepPolicy(self.policy, actor, run.workflow, audit=self.audit,
                          job_id=run.job_id, step=ctx.step)  # fmt: skip
        ctx.policy = view
        ctx.prompter = view.prompt


__all__ = ["TagPolicyHook"]

"""``ctx.policy``: a step's live view of its job submitter's effective tag policy.

The view decides as the submitter (``ctx.principal``), never as the worker, for the job's intent
(its workflow's name). Nothing is resolved until the step asks (a step that never uses tags
costs nothing); then every async method re-resolves through the cache, which costs no I/O
except one Redis read per tenant per ``ORCH_TAGS__GENERATION_CHECK_SECONDS``: so a long-running
step sees a tag change made anywhere within about that long, without a restart.
:attr:`StepPolicy.snapshot` is the policy as of the last call (``None`` before the first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import structlog

from orchestrator.errors import OrchestratorError
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.policy import ToolDecision
from orchestrator.tags.effective import EffectivePolicy
from orchestrator.tags.policy import TagPolicy, forbidden, refusal_audit
from orchestrator.trace.records import AuditRecord

AuditSink = Callable[[AuditRecord], Awaitable[None]]

log = structlog.get_logger("orchestrator.tags")


class StepPolicy:
    """The tag policy of one step attempt's principal.

    Args:
        policy: The process's :class:`~orchestrator.tags.policy.TagPolicy`.
        actor: The job's submitter.
        intent: The job's intent (its workflow's name).
        audit: Where :meth:`enforce` writes ``tool.refused`` rows (``TraceStore.add_audit``).
        job_id: The job, for audit rows.
        step: The step, for audit rows.
    """

    def __init__(
        self,
        policy: TagPolicy,
        actor: Actor,
        intent: str | None,
        *,
        audit: AuditSink | None = None,
        job_id: str | None = None,
        step: str | None = None,
    ) -> None:
        self._policy = policy
        self.actor = actor
        self.intent = intent
        self.snapshot: EffectivePolicy | None = None
        self._audit = audit
        self._job_id = job_id
        self._step = step

    async def current(self, intent: str | None = None) -> EffectivePolicy:
        """The effective policy now (for ``intent``, default the job's); refreshes
        :attr:`snapshot` when it is the job's intent."""
        wanted = intent if intent is not None else self.intent
        policy = await self._policy.effective(self.actor, intent=wanted)
        if wanted == self.intent:
            self.snapshot = policy
        return policy

    async def decide(self, tool: str, arguments: Mapping[str, Any] | None = None) -> ToolDecision:
        """Decide a tool use now (``arguments=None``: may the principal see it)."""
        return (await self.current()).decide(tool, arguments)

    async def visible(self, tools: Iterable[str]) -> list[str]:
        """The tools of ``tools`` the principal may see now, in their order."""
        return (await self.current()).visible(tools)

    async def enforce(self, tool: str, arguments: Mapping[str, Any] | None = None) -> ToolDecision:
        """Decide, and on a refusal write the ``tool.refused`` audit row and raise.

        Returns:
            The allowing decision.

        Raises:
            ToolForbiddenError: Refused (a non-retryable step error): ``details`` names the tool,
                the deciding tag and, for a scope violation, the argument and constraint.
        """
        decision = await self.decide(tool, arguments)
        if not decision.allowed:
            if self._audit is not None:
                record = refusal_audit(self.actor, tool, decision, intent=self.intent,
                                       job_id=self._job_id, step=self._step)  # fmt: skip
                try:
                    await self._audit(record)
                except (OrchestratorError, ValueError) as exc:
                    # The refusal stands (and stays non-retryable) even if its row is lost.
                    log.warning("tool.refused audit write failed", tool=tool,
                                error=type(exc).__name__)  # fmt: skip
            raise forbidden(tool, decision)
        return decision

    async def prompt(self, intent: str | None = None) -> str:
        """The assembled system prompt for ``intent`` (default: the job's)."""
        return (await self.current(intent)).prompt

    def __repr__(self) -> str:
        tags = len(self.snapshot.tags) if self.snapshot is not None else "?"
        return f"<StepPolicy {self.actor.id} intent={self.intent!r} tags={tags}>"


__all__ = ["AuditSink", "StepPolicy"]

"""``ctx.tools``: the tool plane as a step sees it, acting as the job's submitter (DESIGN §13, §14).

The policy decides for the job's intent, its workflow's name: the same principal and intent as
``ctx.policy`` (worker/tags.py), so ``ctx.tools.list()`` and ``ctx.policy.visible()`` agree.
An agent acts for its own intent (:meth:`StepTools.for_intent`).

Every call is a durable call: the ``n``-th tool call of a step attempt is checkpointed with its
request's fingerprint, and a later attempt of the step (retry, crash resume, answer to
``ctx.ask``) gets the recorded result back instead of calling the server again.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.jobs.actor import Actor
from orchestrator.mcp.tools import ToolInfo, ToolResult
from orchestrator.types import JobId

if TYPE_CHECKING:
    from orchestrator.durable.journal import CallJournal, CallSlot
    from orchestrator.mcp.base import ToolPlane

CallSpec = tuple[str, Mapping[str, Any] | None] | Mapping[str, Any]
"""One call of :meth:`StepTools.call_many`: ``("git/git_log", {...})`` or
``{"name": "git/git_log", "arguments": {...}}``."""


actor_of_principal = Actor.of_principal
"""The :class:`Actor` a step acts as: its job's submitter (:meth:`Actor.of_principal`)."""


class StepTools:
    """What ``ctx.tools`` is.

    Args:
        manager: The process's tool plane (:class:`~orchestrator.mcp.manager.McpManager`,
            any :class:`~orchestrator.mcp.base.ToolPlane`), or a function
            returning it (built on a step's first tool use: a worker that runs no tool
            never imports the MCP SDK).
        actor: Who calls (the job's submitter).
        journal: The attempt's durable-call journal (``ctx.calls``); ``None``: not durable.
        job_id: The job, for the audit rows.
        intent: What the calls are for, passed to the tool policy (in a worker: the job's
            workflow name, as ``ctx.policy`` uses).
    """

    def __init__(
        self,
        manager: ToolPlane | Callable[[], ToolPlane],
        actor: Actor,
        *,
        journal: CallJournal | None = None,
        job_id: JobId | None = None,
        intent: str | None = None,
    ) -> None:
        self._manager = manager
        self.actor = actor
        self.journal = journal
        self.job_id = job_id
        self.intent = intent

    def for_intent(self, intent: str | None) -> StepTools:
        """The same tools (plane, submitter, durable journal: one sequence of calls) decided for
        another intent, e.g. an agent's own (``code``) inside the ``agent`` workflow, so that
        the tags bound to that intent apply to its calls as to its prompt (DESIGN §15)."""
        if intent is None or intent == self.intent:
            return self
        return StepTools(self._manager, self.actor, journal=self.journal, job_id=self.job_id,
                         intent=intent)  # fmt: skip

    @property
    def manager(self) -> ToolPlane:
        """The process's manager."""
        if callable(self._manager):
            self._manager = self._manager()
        return self._manager

    async def list(self) -> list[ToolInfo]:
        """The tools this job's submitter may use for the job's intent (``name`` is
        ``server/tool``); hand them to ``ctx.llm.complete(..., tools=...)`` as they are."""
        return await self.manager.list_tools(self.actor, intent=self.intent)

    async def call(
        self, name: str, arguments: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> ToolResult:
        """Call a tool: ``await ctx.tools.call("git/git_log", repo_path=".", max_count=5)``
        or ``await ctx.tools.call("git/git_log", {"repo_path": ".", "max_count": 5})``.

        Args:
            name: ``server/tool``.
            arguments: The arguments as one mapping; keyword arguments are merged over it.

        Returns:
            The result (``.output``: structured content, else the text; ``.is_error``); a call
            recorded by an earlier attempt of this step comes back with ``replayed=True``.

        Raises:
            ToolNotFoundError, ToolForbiddenError, ToolArgumentsError: Never retried.
            ToolTimeoutError, McpUnavailableError: The step's retries apply.
            McpAuthRequiredError: Someone must log in (``orchestrator mcp login SERVER``).
        """
        args = {**(arguments or {}), **kwargs}
        slot = self._slot(name, args)  # taken now, in issue order
        return await self._run(slot, name, args)

    async def call_many(self, calls: Sequence[CallSpec]) -> builtins.list[ToolResult]:
        """Make several calls concurrently; results in the order of ``calls``.

        Args:
            calls: ``(name, arguments)`` pairs or ``{"name", "arguments"}`` mappings.

        Raises:
            ToolError: The first failed call's error (by position), once every call ended;
                the calls that succeeded are recorded and will not run again on a retry.
        """
        specs = [_spec(c) for c in calls]
        slots = [self._slot(name, args) for name, args in specs]  # sequence numbers in order
        outcomes = await asyncio.gather(
            *(self._run(slot, name, args) for slot, (name, args) in zip(slots, specs, strict=True)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return [o for o in outcomes if isinstance(o, ToolResult)]

    def _slot(self, name: str, args: dict[str, Any]) -> CallSlot | None:
        if self.journal is None:
            return None
        return self.journal.slot(f"tool:{name}", {"arguments": args})

    async def _run(self, slot: CallSlot | None, name: str, args: dict[str, Any]) -> ToolResult:
        if slot is not None:
            record = await slot.lookup()
            if record is not None and isinstance(record.result, dict):
                return ToolResult.from_dict(record.result, replayed=True)
        result = await self.manager.call(
            self.actor, name, args, job_id=self.job_id, intent=self.intent
        )
        if slot is not None:
            await slot.record(result.to_dict(), result.duration_ms)
        return result

    def __repr__(self) -> str:
        return f"<StepTools actor={self.actor.id}>"


def _spec(call: CallSpec) -> tuple[str, dict[str, Any]]:
    if isinstance(call, Mapping):
        return str(call["name"]), dict(call.get("arguments") or {})
    name, args = call
    return name, dict(args or {})


__all__ = ["CallSpec", "StepTools", "actor_of_principal"]

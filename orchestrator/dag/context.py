"""The :class:`StepContext` a step receives through a parameter annotated with it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.types import JobId, JSONValue, StepName

if TYPE_CHECKING:
    from orchestrator.durable.journal import CallJournal


class StepContext:
    """What a running step may know and do about its job.

    Attributes:
        job_id: The job's id.
        step: This step's name.
        attempt: The attempt number, from 1.
        inputs: The job's validated inputs (read-only mapping).
        logger: A structlog logger bound to ``job_id``, ``step`` and ``attempt``.
        principal: The job's submitter, ``{"tenant_id", "user_id", "role"}``; tools, policy
            and metering act as this principal, not as the worker.
        calls: The attempt's :class:`~orchestrator.durable.journal.CallJournal` (DESIGN §13),
            through which ``tools`` and ``llm`` make durable calls; ``None`` outside a worker.
        tools: The MCP tool plane as this principal (``orchestrator/mcp``), when configured.
        llm: LLM calls (``orchestrator/llm``), when configured.
        policy: The principal's tag policy (``orchestrator/tags``: a
            :class:`~orchestrator.tags.view.StepPolicy`, live), when configured.
        prompter: What :meth:`prompt` delegates to (set by the tags hook with ``policy``).
        agents: The agent layer's runtime (registry, settings, task store), when configured.
    """

    __slots__ = (
        "_ask", "_asked", "_emit", "agents", "attempt", "calls", "inputs", "job_id", "llm", "logger",
        "policy", "principal", "prompter", "step", "tools",
    )  # fmt: skip

    def __init__(
        self,
        *,
        job_id: JobId,
        step: StepName,
        attempt: int,
        inputs: Mapping[str, JSONValue],
        emit: Callable[[JSONValue], None],
        logger: Any,
        ask: Callable[[int, str, Any], Awaitable[Any]] | None = None,
        principal: Mapping[str, str | None] | None = None,
        calls: CallJournal | None = None,
    ) -> None:
        self.job_id = job_id
        self.step = step
        self.attempt = attempt
        self.inputs = inputs
        self.logger = logger
        self._emit = emit
        self._ask = ask
        self._asked = 0
        self.principal: Mapping[str, str | None] = principal or {
            "tenant_id": None, "user_id": None, "role": None,
        }  # fmt: skip
        self.calls = calls
        # Attached by the agent layer's execution hooks (worker.hooks.on_step_context).
        self.tools: Any = None
        self.llm: Any = None
        self.policy: Any = None
        self.prompter: Callable[[str | None], Awaitable[str]] | None = None
        self.agents: Any = None  # the agent layer (orchestrator/agents), for the agent workflow

    def emit(self, data: JSONValue) -> None:
        """Publish a ``step.progress`` event carrying ``data`` (any JSON value).

        Safe to call from a sync step's thread; events keep their order with the step's chunks.
        """
        self._emit(data)

    async def ask(self, prompt: str, *, schema: Any = None) -> Any:
        """Ask a human and return the answer (human-in-the-loop input).

        The first time, the job pauses in ``waiting`` and publishes ``job.waiting`` with the
        prompt and the answer's JSON schema; the worker checkpoints and releases the job. An
        answer (``POST /v1/jobs/{id}/input`` or the WebSocket's ``{"type": "input"}``) is
        validated against the schema and resumes the job: finished steps do not run again, and
        this step runs again from its start, its ``ask`` calls returning their answers in order.
        Put side effects that must not repeat in an upstream step.

        Args:
            prompt: The question shown to the user.
            schema: A pydantic model or type (the answer is validated into it), a JSON-schema
                dict, or ``None`` for any JSON value.

        Returns:
            The answer.

        Raises:
            WaitingForInput: Control flow (a ``BaseException``) that pauses the job; do not catch.
        """
        if self._ask is None:
            raise RuntimeError("ctx.ask() is available only while a worker runs the step")
        index = self._asked
        self._asked += 1
        return await self._ask(index, prompt, schema)

    async def prompt(self, intent: str | None = None) -> str:
        """The system prompt the job's submitter gets from tags for ``intent`` (default: the
        job's, its workflow's name): the applying tags' content in the order company, role,
        function, flow (DESIGN §15).

        Raises:
            RuntimeError: Outside a worker (no tag policy attached).
        """
        if self.prompter is None:
            raise RuntimeError("ctx.prompt() is available only while a worker runs the step")
        return await self.prompter(intent)

    def __repr__(self) -> str:
        return f"<StepContext job={self.job_id} step={self.step} attempt={self.attempt}>"


__all__ = ["StepContext"]

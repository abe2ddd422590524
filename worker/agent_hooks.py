"""The agent layer's execution hooks (``ctx.tools``, ``ctx.llm``, ``ctx.policy``), kept off the
path to a worker's first ``job.started`` (issue 19: a KEDA pod pays its start on every scale
from zero).

Importing the LLM and tags layers, the MCP SDK, genai-prices' data, a provider's SDK and
SQLAlchemy takes seconds of CPU on a busy machine. None of it is needed before a job's first
step, so nothing of it happens at the worker's start: the first job's start triggers a warm-up
in threads (the LLM and tags hooks built, the MCP SDK imported, the deferred trace store built),
and the first step context awaits only the two hooks it needs. An idle worker stays small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.dag.context import StepContext
from orchestrator.services import Services
from orchestrator.types import JobStatus
from worker.hooks import ExecutionHook, JobRun
from worker.tools import ToolsHook

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from worker.llm import LLMHook
    from worker.tags import TagPolicyHook

log = structlog.get_logger("worker.agent")


def _report(what: str) -> Callable[[asyncio.Future[Any]], None]:
    def report(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.warning(f"{what} failed", error=str(future.exception()))

    return report


class AgentHooks(ExecutionHook):
    """``ctx.tools``, ``ctx.llm`` and ``ctx.policy`` for every step attempt, in that order.

    Args:
        services: The worker's services.
        tools: The tools hook (built at once: it validates the MCP configuration at start).
        tracer: Spans of LLM calls.
        warm_trace: Builds the deferred trace store in a thread (called with the warm-up).
    """

    def __init__(
        self,
        services: Services,
        tools: ToolsHook,
        *,
        tracer: Tracer | None = None,
        warm_trace: Callable[[], None] | None = None,
    ) -> None:
        self.services = services
        self.tools = tools
        self.tracer = tracer
        self.warm_trace = warm_trace
        self.llm: LLMHook | None = None
        self.tags: TagPolicyHook | None = None
        self._building: asyncio.Future[tuple[LLMHook, TagPolicyHook]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warmed = False

    def _build(self) -> tuple[LLMHook, TagPolicyHook]:
        """Import and build the LLM and tags hooks (runs in a thread)."""
        from worker.llm import LLMHook
        from worker.tags import TagPolicyHook

        services = self.services
        llm = LLMHook(services, tracer=self.tracer)  # ctx.llm (DESIGN §16)
        # The audit sink resolves the (deferred) trace store only when a refusal is written.
        tags = TagPolicyHook(services.tags.policy, lambda record: services.trace.add_audit(record))
        return llm, tags

    async def ready(self) -> None:
        """Build the LLM and tags hooks if not yet built (in a thread), and start the LLM's
        flush loop."""
        if self.llm is not None:
            return
        if self._building is None:
            self._building = asyncio.get_running_loop().run_in_executor(None, self._build)
        llm, tags = await asyncio.shield(self._building)
        if self.llm is None:
            self.llm, self.tags = llm, tags
            llm.start(warm=False)
            if self._warmed:
                llm.warm()

    def build_now(self) -> None:
        """Build the LLM and tags hooks at once (a long-lived worker: its first step must not
        wait for them; :meth:`ready` then only starts the LLM hook's flush loop)."""
        if self._building is None and self.llm is None:
            future: asyncio.Future[tuple[LLMHook, TagPolicyHook]] = asyncio.Future()
            future.set_result(self._build())
            self._building = future

    def warm(self) -> None:
        """Start the warm-up in the background (once): the hooks, the MCP SDK, the LLM price
        data and default SDK, the trace store."""
        if self._warmed:
            return
        self._warmed = True
        if self.llm is not None:
            self.llm.warm()
        else:
            self._spawn(self.ready())  # warms the LLM's once built
        self._spawn(self.tools.warm())
        if self.warm_trace is not None:
            self.warm_trace()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_report("agent layer warm-up"))

    async def on_job_start(self, run: JobRun) -> None:
        # Scheduled, not run: job.started is published first.
        asyncio.get_running_loop().call_soon(self.warm)

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        await self.tools.on_step_context(run, ctx)
        await self.ready()
        assert self.llm is not None and self.tags is not None
        await self.llm.on_step_context(run, ctx)
        await self.tags.on_step_context(run, ctx)

    async def on_job_end(self, run: JobRun, status: JobStatus, result: Any, error: Any) -> None:
        if self.llm is not None:
            await self.llm.on_job_end(run, status, result, error)

    async def close(self) -> None:
        """Close the MCP manager (stdio servers terminated) and stop the LLM hook (its rows
        written, its clients closed)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.tools.close()
        if self.llm is None and self._building is not None and not self._building.cancelled():
            try:
                await self.ready()  # built meanwhile: stop it properly
            except Exception as exc:  # its failure was reported by the warm-up
                log.debug("agent hooks were never built", error=str(exc))
        if self.llm is not None:
            await self.llm.stop()


__all__ = ["AgentHooks"]

"""The LLM execution hook: ``ctx.llm`` for each step attempt, and its calls' rows and metrics.

Rows of ``llm_calls`` are buffered and written in batches off the step's path (like the trace
recorder's step runs, ``worker/recorder.py``): every ``ORCH_LLM__RECORD_FLUSH_INTERVAL_SECONDS``
and when a job ends. A crash loses at most one interval of rows; the calls stay in their durable
records (a resumed step replays them without a new row) and ``reconcile`` rebuilds the budget
counters from the rows that were written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from opentelemetry.trace import Tracer
from prometheus_client import Counter, Histogram

from orchestrator.config_agents import LLMWorkflowPolicy
from orchestrator.dag.context import StepContext
from orchestrator.errors import TraceError
from orchestrator.llm.budgets import BudgetGuard
from orchestrator.llm.errors import LLMConfigError
from orchestrator.llm.pricing import warm_up
from orchestrator.llm.records import LLMCallRecord
from orchestrator.llm.registry import ProviderRegistry
from orchestrator.llm.step import CallSite, StepLLM
from orchestrator.services import Services
from orchestrator.trace.deferred import ready
from orchestrator.types import JobStatus
from worker.hooks import ExecutionHook, JobRun
from worker.metrics import DURATION_BUCKETS_SECONDS

log = structlog.get_logger("worker.llm")

LLM_CALLS = Counter(
    "orchestrator_llm_calls_total", "LLM calls made for real, by provider and model.",
    ["provider", "model"],
)  # fmt: skip
LLM_TOKENS = Counter(
    "orchestrator_llm_tokens_total",
    "Tokens of LLM calls, by provider, model and type (input, output, cache_read, cache_write).",
    ["provider", "model", "type"],
)
LLM_COST = Counter(
    "orchestrator_llm_cost_usd_total", "Cost of priced LLM calls in USD (genai-prices).",
    ["provider", "model"],
)  # fmt: skip
LLM_TTFT = Histogram(
    "orchestrator_llm_time_to_first_token_seconds", "Time to the first token of an LLM call.",
    ["provider", "model"], buckets=DURATION_BUCKETS_SECONDS,
)  # fmt: skip


def _report_warm_up(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("LLM warm-up failed", error=str(future.exception()))


class LLMHook(ExecutionHook):
    """Attaches ``ctx.llm`` (a :class:`~orchestrator.llm.step.StepLLM`) and records its calls.

    Args:
        services: The worker's services (settings, Redis for budgets, the trace store).
        tracer: Spans of the calls (the worker's telemetry pipeline).
        registry: Providers (default: from ``ORCH_LLM__*``).
    """

    def __init__(
        self, services: Services, *, tracer: Tracer | None = None,
        registry: ProviderRegistry | None = None,
    ) -> None:  # fmt: skip
        self.settings = services.settings.llm
        # each workflow's budget policy, built once (settings do not change in a process)
        self._policies: dict[str, LLMWorkflowPolicy] = {}
        self.trace = services.trace
        self.tracer = tracer
        self.registry = registry or ProviderRegistry.from_settings(self.settings)
        self.guard = (
            BudgetGuard(services.redis, services.keys, self.settings.budgets)
            if self.settings.budgets else None
        )  # fmt: skip
        self._buffer: list[LLMCallRecord] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self, *, warm: bool = True) -> None:
        """Start the periodic flush of ``llm_calls`` rows, and (``warm``) :meth:`warm`."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._loop(), name="llm-calls-flush")
        if warm:
            self.warm()

    def warm(self) -> None:
        """Warm up in a thread: the price data and the default model's SDK (imports of seconds
        on a busy machine, which would otherwise stall the first call's event loop, and the
        lease heartbeat with it)."""
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, self._warm_up).add_done_callback(_report_warm_up)

    def _warm_up(self) -> None:
        warm_up()
        try:
            self.registry.resolve(None)
        except LLMConfigError:
            pass  # no key for the default model: its steps fail with llm_config_invalid

    async def stop(self) -> None:
        """Stop the flush, write what is buffered, close the providers' clients."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._pending, return_exceptions=True)
        try:
            await self.flush()
        except TraceError as exc:
            log.error("llm_calls rows lost at shutdown", error=str(exc), rows=len(self._buffer))
        await self.registry.aclose()

    async def flush(self) -> None:
        """Write the buffered rows in one statement.

        Raises:
            TraceError: The write failed; the rows stay buffered for the next flush.
        """
        async with self._lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                await (await ready(self.trace)).insert_llm_calls(batch)
            except TraceError:
                self._buffer[:0] = batch
                raise

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.record_flush_interval_seconds)
            try:
                await self.flush()
            except TraceError as exc:
                log.warning("llm_calls flush failed; will retry", error=str(exc))

    def _on_call(self, record: LLMCallRecord) -> None:
        self._buffer.append(record)
        labels = (record.provider, record.model)
        LLM_CALLS.labels(*labels).inc()
        u = record.usage
        for kind, count in (
            ("input", u.input_tokens),
            ("output", u.output_tokens),
            ("cache_read", u.cache_read_tokens),
            ("cache_write", u.cache_write_tokens),
        ):
            if count:
                LLM_TOKENS.labels(*labels, kind).inc(count)
        if record.cost_usd:
            LLM_COST.labels(*labels).inc(record.cost_usd)
        if record.time_to_first_token_ms is not None:
            LLM_TTFT.labels(*labels).observe(record.time_to_first_token_ms / 1000)

    async def on_step_context(self, run: JobRun, ctx: StepContext) -> None:
        ctx.llm = StepLLM(
            self.registry,
            CallSite(run.job_id, ctx.step, ctx.attempt, run.workflow, run.tenant_id, run.user_id),
            journal=ctx.calls, guard=self.guard, policy=self._policy(run.workflow),
            emit=ctx.emit, on_call=self._on_call, tracer=self.tracer,
            default_max_tokens=self.settings.max_tokens,
        )  # fmt: skip

    def _policy(self, workflow: str) -> LLMWorkflowPolicy:
        policy = self._policies.get(workflow)
        if policy is None:
            policy = self._policies[workflow] = self.settings.policy_for(workflow)
        return policy

    async def on_job_end(self, run: JobRun, status: JobStatus, result: Any, error: Any) -> None:
        # Not awaited: the job's end does not wait for its usage rows.
        if self._buffer:
            task = asyncio.get_running_loop().create_task(self._flush_quietly())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _flush_quietly(self) -> None:
        try:
            await self.flush()
        except TraceError as exc:
            log.warning("llm_calls flush failed; the periodic flush retries", error=str(exc))


__all__ = ["LLM_CALLS", "LLM_COST", "LLM_TOKENS", "LLM_TTFT", "LLMHook"]

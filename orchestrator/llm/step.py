"""``ctx.llm``: LLM calls of a step attempt, durable, metered and under budget (DESIGN §16).

A thin surface (STYLE rule 18): the provider comes from the
:class:`~orchestrator.llm.registry.ProviderRegistry`, durability from the attempt's
:class:`~orchestrator.durable.journal.CallJournal` (a slot per call: ``lookup()`` before,
``record()`` after the stream), price from ``genai-prices``, spend from the
:class:`~orchestrator.llm.budgets.BudgetGuard`. What happens to each finished call (a row in
``llm_calls``, metrics) is the ``on_call`` callback's business.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from orchestrator.llm.base import (
    LLMRequest,
    LLMResult,
    StopEvent,
    TextDelta,
    ToolInputDelta,
    ToolUse,
    ToolUseEvent,
    Usage,
    UsageEvent,
    tool_specs,
)
from orchestrator.llm.errors import BudgetExceededError
from orchestrator.llm.pricing import price_usd
from orchestrator.llm.records import LLMCallRecord

if TYPE_CHECKING:
    from orchestrator.config import LLMWorkflowPolicy
    from orchestrator.durable.journal import CallJournal
    from orchestrator.llm.budgets import BudgetGuard
    from orchestrator.llm.registry import ProviderRegistry

_log = structlog.get_logger("orchestrator.llm")


def token_usage_histogram(meter: metrics.Meter) -> metrics.Histogram:
    """The OpenTelemetry GenAI metric ``gen_ai.client.token.usage`` on ``meter``."""
    return meter.create_histogram(
        "gen_ai.client.token.usage", unit="{token}",
        description="Tokens per LLM call, by gen_ai.token.type (input, output)",
    )  # fmt: skip


TOKEN_USAGE = token_usage_histogram(metrics.get_meter("orchestrator.llm"))
"""The metric on the global meter provider (a no-op unless the process installs one)."""


@dataclass(frozen=True, slots=True)
class CallSite:
    """Who makes the calls: the step attempt and its job's submitter.

    Attributes:
        job_id, step, attempt: The step attempt.
        workflow: The job's workflow (its budget policy, usage reports).
        tenant_id, user_id: The submitter (budgets, usage reports).
    """

    job_id: str
    step: str
    attempt: int
    workflow: str | None = None
    tenant_id: str | None = None
    user_id: str | None = None


class StepLLM:
    """``ctx.llm`` of one step attempt.

    Args:
        registry: Providers by model reference.
        site: The step attempt.
        journal: The attempt's durable calls (``ctx.calls``); ``None``: no durability.
        guard: Budgets; ``None``: none.
        policy: What an over-budget call does (``reject`` or ``fallback_model``).
        emit: Publishes a ``step.progress`` event (``ctx.emit``), for a budget fallback.
        on_call: Called with the record of every real call (not of replays).
        tracer: Spans are made with it (default: the global tracer provider's).
        meter: ``gen_ai.client.token.usage`` is recorded on it (default: the global meter's).
        default_max_tokens: ``max_tokens`` of a call that names none.
    """

    def __init__(
        self,
        registry: ProviderRegistry,
        site: CallSite,
        *,
        journal: CallJournal | None = None,
        guard: BudgetGuard | None = None,
        policy: LLMWorkflowPolicy | None = None,
        emit: Callable[[Any], None] | None = None,
        on_call: Callable[[LLMCallRecord], None] | None = None,
        tracer: Tracer | None = None,
        meter: metrics.Meter | None = None,
        default_max_tokens: int = 1024,
    ) -> None:
        self.registry = registry
        self.site = site
        self.journal = journal
        self.guard = guard
        self.policy = policy
        self._emit = emit
        self._on_call = on_call
        self._tracer = tracer or trace.get_tracer("orchestrator.llm")
        self._tokens = TOKEN_USAGE if meter is None else token_usage_histogram(meter)
        self.default_max_tokens = default_max_tokens
        self.results: list[LLMResult] = []

    async def complete(
        self,
        messages: list[dict[str, Any]] | str,
        *,
        model: str | None = None,
        system: str | None = None,
        tools: Iterable[Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        tool_choice: Mapping[str, Any] | None = None,
        on_tool_input: Callable[[str, str], None] | None = None,
    ) -> LLMResult:
        """Make one call and return its result (text, tool uses, usage, cost).

        Args:
            messages: Anthropic-shaped messages (``[{"role": "user", "content": "..."}]``;
                ``tool_use``/``tool_result`` blocks for tool turns), or one user message's text.
            model: A model reference ``provider:model``; ``None``: ``ORCH_LLM__DEFAULT_MODEL``.
            system: The system prompt.
            tools: Tools offered to the model: ``ToolSpec``s, dicts or objects with ``name``,
                ``description``, ``input_schema`` (e.g. what ``ctx.tools.list()`` returns).
            max_tokens: Upper bound on generated tokens (default ``ORCH_LLM__MAX_TOKENS``).
            temperature: Sampling temperature.
            tool_choice: ``{"type": "auto"|"any"|"tool", "name": ...}`` (Anthropic's shape).
            on_tool_input: Called with ``(tool name, piece of its arguments' JSON text)`` as the
                model writes a tool use (for showing it live; a replayed call makes no calls).
                Not part of the call's fingerprint.

        Returns:
            The :class:`LLMResult`; ``replayed`` when an earlier attempt's record answered.

        Raises:
            LLMRateLimitedError, LLMUnavailableError, LLMProtocolError, LLMRequestError: The
                call failed (the step attempt fails with that code).
            BudgetExceededError: Over budget under the ``reject`` policy (not retried).
            LLMConfigError: Unknown provider, or its key is not configured.
        """
        stream = self.stream(messages, model=model, system=system, tools=tools,
                             max_tokens=max_tokens, temperature=temperature,
                             tool_choice=tool_choice, on_tool_input=on_tool_input)  # fmt: skip
        async for _ in stream:
            pass
        assert stream.result is not None
        return stream.result

    def stream(
        self,
        messages: list[dict[str, Any]] | str,
        *,
        model: str | None = None,
        system: str | None = None,
        tools: Iterable[Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        tool_choice: Mapping[str, Any] | None = None,
        on_tool_input: Callable[[str, str], None] | None = None,
    ) -> LLMStream:
        """Make one call, yielding its text deltas as they arrive.

        ``async for text in ctx.llm.stream(...): yield text`` in a ``streams=True`` step makes
        each delta one ``step.chunk`` event; the stream itself publishes nothing. The result
        (tool uses, usage, cost) is ``stream.result`` once the loop ends. A replayed call
        yields its recorded text as one delta. Arguments and errors as :meth:`complete`.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return LLMStream(self, model, {
            "messages": list(messages), "system": system, "tools": tool_specs(tools),
            "max_tokens": max_tokens or self.default_max_tokens, "temperature": temperature,
            "tool_choice": dict(tool_choice) if tool_choice else None,
        }, on_tool_input)  # fmt: skip

    @property
    def usage(self) -> Usage:
        """Tokens of this attempt's calls so far (replayed ones included)."""
        total = Usage()
        for result in self.results:
            total = total + result.usage
        return total

    async def _budget(self, requested: str) -> str | None:
        """The fallback model reference when over budget under ``fallback_model``, else None.

        Raises:
            BudgetExceededError: Over budget under ``reject`` (or no fallback configured).
        """
        if self.guard is None:
            return None
        try:
            await self.guard.check(self.site.tenant_id, self.site.user_id)
        except BudgetExceededError as exc:
            policy = self.policy
            if policy is None or policy.policy != "fallback_model" or not policy.fallback_model:
                raise
            if policy.fallback_model == requested:
                return None  # already the cheap model: let it run
            if self._emit is not None:
                self._emit(
                    {
                        "event": "llm.budget_fallback",
                        "from": requested,
                        "to": policy.fallback_model,
                        "budget": exc.details,
                    }
                )
            _log.warning(
                "over budget: falling back to the cheaper model",
                requested=requested,
                fallback=policy.fallback_model,
                **exc.details,
            )
            return policy.fallback_model
        return None


class LLMStream:
    """An async iterator of a call's text deltas; :attr:`result` is set when it ends.

    Iterate it once. Leaving the loop early abandons the call (nothing is recorded).
    """

    def __init__(
        self, llm: StepLLM, model: str | None, args: dict[str, Any],
        on_tool_input: Callable[[str, str], None] | None = None,
    ) -> None:  # fmt: skip
        self._llm = llm
        self._model = model
        self._args = args
        self._on_tool_input = on_tool_input
        self._used = False
        self.result: LLMResult | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        if self._used:
            raise RuntimeError("an LLM stream can be iterated once")
        self._used = True
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        llm = self._llm
        _, ref = await llm.registry.aresolve(self._model)
        requested = str(ref)
        fingerprinted = {"model": requested, **self._args}
        slot = llm.journal.slot(f"llm:{requested}", fingerprinted) if llm.journal else None
        if slot is not None:
            record = await slot.lookup()
            if record is not None and isinstance(record.result, dict):
                result = LLMResult.from_json(record.result, replayed=True)
                self._trace_replay(result)
                self.result = result
                llm.results.append(result)
                if result.text:
                    yield result.text
                return
        fallback = await llm._budget(requested)
        provider, ref = await llm.registry.aresolve(fallback or requested)
        request = LLMRequest(model=ref.model, **self._args)
        span = llm._tracer.start_span(
            f"chat {ref.model}", kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider.name,
                "gen_ai.request.model": ref.model, "gen_ai.request.max_tokens": request.max_tokens,
                "orchestrator.llm.replayed": False,
                **({"orchestrator.llm.fallback_from": requested} if fallback else {}),
                **({"durable_call.seq": slot.seq} if slot is not None else {}),
            },
        )  # fmt: skip
        texts: list[str] = []
        tool_uses: list[ToolUse] = []
        usage = Usage()
        stop: StopEvent | None = None
        t0 = time.perf_counter()
        first: float | None = None
        try:
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    first = first or time.perf_counter()
                    texts.append(event.text)
                    yield event.text
                elif isinstance(event, ToolInputDelta):
                    first = first or time.perf_counter()
                    if self._on_tool_input is not None:
                        self._on_tool_input(event.name, event.partial_json)
                elif isinstance(event, ToolUseEvent):
                    first = first or time.perf_counter()
                    tool_uses.append(event.tool_use)
                elif isinstance(event, UsageEvent):
                    usage = event.usage
                elif isinstance(event, StopEvent):
                    stop = event
        except BaseException as exc:
            span.set_status(StatusCode.ERROR, str(exc)[:200])
            span.set_attribute("error.type", getattr(exc, "code", type(exc).__name__))
            span.end()
            raise
        latency_ms = (time.perf_counter() - t0) * 1000
        model = stop.model if stop is not None and stop.model else ref.model
        cost = price_usd(provider.name, model, usage)
        result = LLMResult(
            text="".join(texts), tool_uses=tool_uses, usage=usage, cost_usd=cost,
            model=f"{provider.name}:{model}", provider=provider.name,
            stop_reason=stop.stop_reason if stop else "", fallback_from=requested if fallback else None,
            latency_ms=round(latency_ms, 3),
            time_to_first_token_ms=round((first - t0) * 1000, 3) if first else None,
        )  # fmt: skip
        _finish_span(span, result, model)
        if slot is not None:
            await slot.record(result.to_json(), latency_ms)
        self.result = result
        llm.results.append(result)
        await self._account(result, model, slot.seq if slot is not None else len(llm.results))

    async def _account(self, result: LLMResult, model: str, seq: int) -> None:
        llm, site = self._llm, self._llm.site
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": result.provider,
                      "gen_ai.request.model": model}  # fmt: skip
        llm._tokens.record(result.usage.input_tokens + result.usage.cache_read_tokens
                           + result.usage.cache_write_tokens,
                           {**attributes, "gen_ai.token.type": "input"})  # fmt: skip
        llm._tokens.record(
            result.usage.output_tokens, {**attributes, "gen_ai.token.type": "output"}
        )
        if llm.guard is not None:
            try:
                await llm.guard.add(site.tenant_id, site.user_id, cost_usd=result.cost_usd,
                                    tokens=result.usage.total_tokens)  # fmt: skip
            except Exception as exc:  # the call is paid; reconcile() catches the counter up
                _log.warning("budget spend not counted", error=str(exc))
        if llm._on_call is not None:
            llm._on_call(LLMCallRecord(
                job_id=site.job_id, step=site.step, attempt=site.attempt, seq=seq,
                workflow=site.workflow, tenant_id=site.tenant_id, user_id=site.user_id,
                provider=result.provider, model=model, requested_model=result.fallback_from,
                usage=result.usage, cost_usd=result.cost_usd, latency_ms=result.latency_ms,
                time_to_first_token_ms=result.time_to_first_token_ms,
                stop_reason=result.stop_reason, created_at=datetime.now(UTC),
            ))  # fmt: skip

    def _trace_replay(self, result: LLMResult) -> None:
        provider, _, model = result.model.partition(":")
        span = self._llm._tracer.start_span(
            f"chat {model}", kind=SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
                        "gen_ai.request.model": model, "orchestrator.llm.replayed": True},
        )  # fmt: skip
        _finish_span(span, result, model)


def _finish_span(span: trace.Span, result: LLMResult, model: str) -> None:
    """GenAI semantic-convention attributes of a finished call, then end the span."""
    u = result.usage
    span.set_attributes({
        "gen_ai.response.model": model,
        "gen_ai.response.finish_reasons": [result.stop_reason] if result.stop_reason else [],
        "gen_ai.usage.input_tokens": u.input_tokens + u.cache_read_tokens + u.cache_write_tokens,
        "gen_ai.usage.output_tokens": u.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": u.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": u.cache_write_tokens,
        **({"orchestrator.llm.cost_usd": result.cost_usd} if result.cost_usd is not None else {}),
        **({"orchestrator.llm.time_to_first_token_ms": result.time_to_first_token_ms}
           if result.time_to_first_token_ms is not None else {}),
    })  # fmt: skip
    span.end()


__all__ = ["TOKEN_USAGE", "CallSite", "LLMStream", "StepLLM", "token_usage_histogram"]

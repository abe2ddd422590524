"""``ctx.llm`` (StepLLM) over the scripted in-memory provider: durability, cost, budgets, spans.

What stands in for a paid API here: :class:`orchestrator.llm.memory.MemoryProvider` (the seam's
in-memory implementation); the SDK providers are tested against a wire-format server in
test_providers.py. Budgets use the real Redis.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from orchestrator.config import LLMBudget, LLMWorkflowPolicy
from orchestrator.durable.journal import CallJournal
from orchestrator.durable.memory import MemoryCallStore
from orchestrator.keys import Keys
from orchestrator.llm import BudgetExceededError, LLMConfigError, LLMError, StepLLM, ToolUse, Usage
from orchestrator.llm.budgets import BudgetGuard
from orchestrator.llm.memory import MemoryProvider, Reply
from orchestrator.llm.records import LLMCallRecord
from orchestrator.llm.registry import ProviderRegistry
from orchestrator.llm.step import CallSite
from orchestrator.telemetry.memory import in_memory_pipeline


def make(
    provider: MemoryProvider,
    store: MemoryCallStore,
    *,
    attempt: int = 1,
    guard: BudgetGuard | None = None,
    policy: LLMWorkflowPolicy | None = None,
    tracer: Any = None,
) -> tuple[StepLLM, list[LLMCallRecord], list[Any]]:
    registry = ProviderRegistry("memory:claude-sonnet-4-5")
    registry.register(provider)
    rows: list[LLMCallRecord] = []
    events: list[Any] = []
    llm = StepLLM(
        registry, CallSite("00000000-0000-0000-0000-000000000001", "s", attempt, "wf", "t1", "u1"),
        journal=CallJournal(store, "00000000-0000-0000-0000-000000000001", "s"),
        guard=guard, policy=policy, emit=events.append, on_call=rows.append, tracer=tracer,
    )  # fmt: skip
    return llm, rows, events


async def test_complete_returns_text_tool_uses_usage_and_a_cost_from_genai_prices() -> None:
    provider = MemoryProvider([Reply(
        text="the answer", tool_uses=(ToolUse("t1", "git/git_log", {"max_count": 2}),),
        usage=Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200))])  # fmt: skip
    llm, rows, _ = make(provider, MemoryCallStore())
    result = await llm.complete(
        "question?",
        tools=[{"name": "git/git_log", "description": "log", "input_schema": {"type": "object"}}],
    )
    assert result.text == "the answer"
    assert result.tool_uses == [ToolUse("t1", "git/git_log", {"max_count": 2})]
    # claude-sonnet-4-5 (genai-prices): 1000 x $3/M + 200 cache reads x $0.30/M + 500 x $15/M
    assert result.cost_usd == pytest.approx(0.01056)
    assert result.model == "memory:claude-sonnet-4-5" and result.stop_reason == "tool_use"
    assert provider.requests[0].tools[0].name == "git/git_log"
    assert [(r.seq, r.usage.input_tokens, r.cost_usd) for r in rows] == [(1, 1000, result.cost_usd)]


async def test_a_retried_attempt_replays_finished_calls_and_pays_only_for_new_ones() -> None:
    store = MemoryCallStore()
    provider = MemoryProvider([Reply(text="first"), Reply(text="second")])
    llm, _, _ = make(provider, store)
    assert (await llm.complete("one")).text == "first"
    assert len(provider.requests) == 1  # the attempt dies before its second call

    provider.script([Reply(text="second, for real")])
    llm2, rows2, _ = make(provider, store, attempt=2)
    replayed = await llm2.complete("one")
    fresh = await llm2.complete("two")
    assert replayed.replayed and replayed.text == "first"
    assert not fresh.replayed and fresh.text == "second"
    assert [r.messages[0]["content"] for r in provider.requests] == ["one", "two"]
    assert [r.seq for r in rows2] == [2]  # a replay writes no row


async def test_a_stream_yields_deltas_then_has_its_result_and_a_replay_yields_the_text_once() -> (
    None
):
    store = MemoryCallStore()
    llm, _, _ = make(MemoryProvider([Reply(text="a b c")]), store)
    stream = llm.stream([{"role": "user", "content": "go"}], system="terse")
    assert [d async for d in stream] == ["a", " b", " c"]
    assert stream.result is not None and stream.result.usage.output_tokens == 3

    provider = MemoryProvider()
    llm2, _, _ = make(provider, store, attempt=2)
    again = llm2.stream([{"role": "user", "content": "go"}], system="terse")
    assert [d async for d in again] == ["a b c"]
    assert again.result is not None and again.result.replayed and provider.requests == []


async def test_a_different_request_is_called_again_not_replayed() -> None:
    store = MemoryCallStore()
    llm, _, _ = make(MemoryProvider([Reply(text="x")]), store)
    await llm.complete("one")
    provider = MemoryProvider([Reply(text="y")])
    llm2, _, _ = make(provider, store, attempt=2)
    assert (await llm2.complete("another")).text == "y"
    assert len(provider.requests) == 1


async def test_a_model_unknown_to_genai_prices_has_no_cost() -> None:
    llm, rows, _ = make(MemoryProvider([Reply(text="x")]), MemoryCallStore())
    result = await llm.complete("q", model="memory:no-such-model-xyz")
    assert result.cost_usd is None and rows[0].cost_usd is None


async def test_an_unknown_provider_is_a_config_error_that_is_not_retried() -> None:
    llm, _, _ = make(MemoryProvider(), MemoryCallStore())
    with pytest.raises(LLMConfigError) as caught:
        await llm.complete("q", model="nope:model")
    assert caught.value.code == "llm_config_invalid"
    assert caught.value.retryable is False


async def test_provider_errors_fail_the_call_and_are_not_recorded() -> None:
    from orchestrator.llm.errors import LLMUnavailableError

    store = MemoryCallStore()
    provider = MemoryProvider([Reply(error=LLMUnavailableError("down")), Reply(text="up")])
    llm, rows, _ = make(provider, store)
    with pytest.raises(LLMError) as caught:
        await llm.complete("q")
    assert caught.value.code == "llm_unavailable" and rows == [] and store.records == {}
    llm2, _, _ = make(provider, store, attempt=2)
    assert (await llm2.complete("q")).text == "up"


@pytest.fixture
def guard(redis: Redis) -> BudgetGuard:
    return BudgetGuard(
        redis,
        Keys(f"t{uuid.uuid4().hex[:8]}"),
        [LLMBudget(tenant="*", window="day", max_cost_usd=0.01)],
    )


async def test_over_budget_the_reject_policy_fails_the_call_without_retries(
    guard: BudgetGuard,
) -> None:
    await guard.add("t1", "u1", cost_usd=0.02, tokens=10)
    provider = MemoryProvider()
    llm, _, _ = make(
        provider, MemoryCallStore(), guard=guard, policy=LLMWorkflowPolicy(policy="reject")
    )
    with pytest.raises(BudgetExceededError) as caught:
        await llm.complete("q")
    assert caught.value.code == "budget_exceeded" and caught.value.retryable is False
    assert caught.value.details["window"] == "day" and provider.requests == []


async def test_over_budget_the_fallback_policy_calls_the_cheaper_model_and_says_so(
    guard: BudgetGuard,
) -> None:
    provider = MemoryProvider([Reply(text="big", usage=Usage(input_tokens=4000, output_tokens=500)),
                               Reply(text="small")])  # fmt: skip
    llm, rows, events = make(
        provider,
        MemoryCallStore(),
        guard=guard,
        policy=LLMWorkflowPolicy(policy="fallback_model", fallback_model="memory:claude-haiku-4-5"),
    )
    first = await llm.complete("one")  # $0.0195: crosses the $0.01 daily budget
    second = await llm.complete("two")
    assert first.fallback_from is None and second.fallback_from == "memory:claude-sonnet-4-5"
    assert [r.model for r in provider.requests] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert (
        events[0]["event"] == "llm.budget_fallback" and events[0]["to"] == "memory:claude-haiku-4-5"
    )
    assert rows[1].requested_model == "memory:claude-sonnet-4-5"
    spent, tokens = await guard.spent("t1", None, "day")
    assert spent == pytest.approx(first.cost_usd + second.cost_usd)  # type: ignore[operator]
    assert tokens == 4500 + rows[1].usage.total_tokens


async def test_each_call_is_a_span_with_the_gen_ai_attributes() -> None:
    pipeline, exporter = in_memory_pipeline()
    provider = MemoryProvider([Reply(text="x y", usage=Usage(100, 2, 50, 25))])
    store = MemoryCallStore()
    llm, _, _ = make(provider, store, tracer=pipeline.tracer)
    await llm.complete("q", max_tokens=64)
    llm2, _, _ = make(MemoryProvider(), store, attempt=2, tracer=pipeline.tracer)
    await llm2.complete("q", max_tokens=64)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat claude-sonnet-4-5"] * 2
    a = dict(spans[0].attributes or {})
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "memory"
    assert a["gen_ai.request.model"] == "claude-sonnet-4-5" and a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.usage.input_tokens"] == 175 and a["gen_ai.usage.output_tokens"] == 2
    assert a["gen_ai.usage.cache_read.input_tokens"] == 50
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 25
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["orchestrator.llm.cost_usd"] > 0 and a["orchestrator.llm.replayed"] is False
    assert dict(spans[1].attributes or {})["orchestrator.llm.replayed"] is True
    pipeline.shutdown()


async def test_each_call_records_the_gen_ai_client_token_usage_metric() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    registry = ProviderRegistry("memory:claude-sonnet-4-5")
    registry.register(MemoryProvider([Reply(text="a b", usage=Usage(30, 2, 5, 0))]))
    llm = StepLLM(registry, CallSite("j", "s", 1), meter=provider.get_meter("test"))
    await llm.complete("q")
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert metric.name == "gen_ai.client.token.usage" and metric.unit == "{token}"
    sums = {p.attributes["gen_ai.token.type"]: p.sum for p in metric.data.data_points}
    assert sums == {"input": 35, "output": 2}
    point = metric.data.data_points[0]
    assert point.attributes["gen_ai.provider.name"] == "memory"
    assert point.attributes["gen_ai.operation.name"] == "chat"
    provider.shutdown()

"""``ctx.llm`` inside a worker: the LLM hook, its span under the step's, its llm_calls row.

In-process stack (gateway app and worker in this loop, STYLE rule 15's in-memory span exporter);
what stands in for the Anthropic API is tests/support/llm_server.py, reached over HTTP by the
worker's real ``anthropic`` SDK (``ORCH_LLM__ANTHROPIC_BASE_URL``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.telemetry import setup_telemetry
from sdk import StepContext, step, workflow
from tests.conftest import wait_until
from tests.support.jobs import wait_for_end
from tests.support.llm import LLMServer
from tests.support.stack import in_process_stack


@step(streams=True)
async def speak(topic: str, ctx: StepContext) -> AsyncIterator[str]:
    async for text in ctx.llm.stream(messages=[{"role": "user", "content": f"speak {topic}"}]):
        yield text


speaking = workflow("llm_speaking", speak)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    shutdown = setup_telemetry(Settings(), "orchestrator-test", span_exporter=exporter,
                               set_global=False)  # fmt: skip
    try:
        yield exporter
    finally:
        shutdown()


async def test_a_steps_llm_call_is_a_client_span_under_the_step_span_with_gen_ai_attributes(
    isolated_settings: Callable[..., Settings], spans: InMemorySpanExporter, llm_server: LLMServer
) -> None:
    llm_server.rule([{"text": "hello there", "usage": {"input_tokens": 40, "output_tokens": 2,
                                                        "cache_read": 10}}])  # fmt: skip
    settings = isolated_settings(llm={"anthropic_api_key": "test",
                                      "anthropic_base_url": llm_server.anthropic_url})  # fmt: skip
    async with in_process_stack(settings, WorkflowRegistry([speaking])) as stack:
        r = await stack.client.post("/v1/jobs", json={"workflow": "llm_speaking",
                                                      "inputs": {"topic": "otel"}})  # fmt: skip
        job_id = r.json()["job_id"]
        state = await wait_for_end(stack.services, job_id)
        assert state.status.value == "succeeded"

        async def row_written() -> bool:
            return bool((await stack.services.trace.job_usage(job_id))["calls"] == 1)

        await wait_until(row_written, what="the llm_calls row")
        usage = await stack.services.trace.job_usage(job_id)
        assert (usage["input_tokens"], usage["cache_read_tokens"], usage["output_tokens"]) == (
            40,
            10,
            2,
        )

    finished = spans.get_finished_spans()
    step_ids = {s.context.span_id for s in finished if s.name == "step speak"}
    chat = next(s for s in finished if s.name == "chat claude-sonnet-4-5")
    assert chat.kind is SpanKind.CLIENT
    assert chat.parent is not None and chat.parent.span_id in step_ids
    a = dict(chat.attributes or {})
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["gen_ai.request.model"]) == (
        "chat",
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (50, 2)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 10 and a["orchestrator.llm.cost_usd"] > 0

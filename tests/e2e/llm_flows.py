"""Workflows whose steps call ``ctx.llm`` (ORCH_WORKFLOWS=tests.e2e.llm_flows).

The provider is whatever ``ORCH_LLM__*`` points at: in the tests, the local wire-format server
(tests/support/llm_server.py) through the real ``anthropic`` SDK. Each prompt carries the
test's ``tag`` so the server's rules and request log tell the tests' requests apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sdk import StepContext, step, workflow


@step(streams=True)
async def narrate(tag: str, ctx: StepContext) -> AsyncIterator[str]:
    async for text in ctx.llm.stream(
        messages=[{"role": "user", "content": f"stream {tag}"}], system="Narrate.", max_tokens=256
    ):
        yield text


@step(retries=2, retry_backoff_seconds=0.05)
async def two_calls(tag: str, ctx: StepContext) -> list[str]:
    first = await ctx.llm.complete(f"first {tag}")
    second = await ctx.llm.complete(f"second {tag}")
    return [first.text, second.text]


@step(retries=1, retry_backoff_seconds=0.05)
async def fragile(tag: str, ctx: StepContext) -> str:
    return (await ctx.llm.complete(f"fragile {tag}")).text


llm_stream = workflow("llm_stream", narrate)
llm_two_calls = workflow("llm_two_calls", two_calls)
llm_fragile = workflow("llm_fragile", fragile)
llm_budget_fallback = workflow("llm_budget_fallback", two_calls)  # policy in ORCH_LLM__*
llm_budget_reject = workflow("llm_budget_reject", two_calls)

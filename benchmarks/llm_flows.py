"""The workflow of ``benchmarks.llm_ttft``: one streaming step whose text comes from ``ctx.llm``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sdk import StepContext, step, workflow


@step(streams=True)
async def relay(prompt: str, ctx: StepContext) -> AsyncIterator[str]:
    async for text in ctx.llm.stream(messages=[{"role": "user", "content": prompt}], max_tokens=64):
        yield text


llm_relay = workflow("llm_relay", relay)

"""Workflows the dashboard's browser tests run in a separate worker process.

``ui_brief`` has the seed example's shape (two parallel fetches, an LLM-like step, a streaming
render) with a gate: ``render_doc`` yields its first chunk and then waits for the file
``<marker_dir>/render-gate`` (and ``run_llm`` waits for ``llm-gate`` first, so ``render_doc``
is seen pending), so a test sees the run *while* it streams without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from sdk import StepContext, step, workflow
from tests.e2e.flows import wait_for_gate


@step(parallel=True)
async def fetch_context(topic: str) -> str:
    return f"context about {topic}"


@step(parallel=True)
def fetch_capiq(topic: str, count: int = 3) -> dict[str, int]:
    return {"count": count}


@step(depends_on=[fetch_context, fetch_capiq])
async def run_llm(context: str, financials: dict[str, int], marker_dir: str) -> str:
    await wait_for_gate(marker_dir, "llm-gate")
    return f"{context} x{financials['count']}"


@step(depends_on=[run_llm], streams=True)
async def render_doc(llm_output: str, marker_dir: str) -> AsyncIterator[str]:
    yield f"chunk-0 {llm_output}\n"
    await wait_for_gate(marker_dir, "render-gate")
    for i in range(1, 4):
        yield f"chunk-{i}\n"


ui_brief = workflow("ui_brief", render_doc)


@step
async def approve(topic: str, ctx: StepContext) -> dict[str, object]:
    answer = await ctx.ask(
        f"Publish the brief on {topic}?",
        schema={
            "type": "object",
            "properties": {
                "reviewer": {"type": "string", "title": "Reviewer"},
                "approved": {"type": "boolean", "title": "Approved"},
                "level": {"enum": ["low", "high"], "title": "Level"},
                "copies": {"type": "integer", "minimum": 1},
            },
            "required": ["reviewer", "level", "copies"],
        },
    )
    return dict(answer)


ui_ask = workflow("ui_ask", approve)


@step
async def hold(marker_dir: str) -> str:
    await wait_for_gate(marker_dir, "hold-gate")
    return "released"


ui_hold = workflow("ui_hold", hold)


@step
async def make_items(n: int) -> list[int]:
    return list(range(n))


@step(depends_on=[make_items], map_over="item", parallel=True, max_concurrency=64)
async def work(item: int) -> int:
    return item * 2


@step(depends_on=[work])
async def total(values: list[int]) -> int:
    return sum(values)


ui_fanout = workflow("ui_fanout", total)


@step(streams=True)
async def chatter(n: int, mode: Literal["short", "long"] = "short") -> AsyncIterator[str]:
    for i in range(n):
        yield f"t{i} "
        if i % 100 == 99:
            # A real stream awaits its source between tokens; a loop that never awaits starves
            # the worker's lease heartbeat on a busy machine, and the job would be resumed.
            await asyncio.sleep(0)


ui_chunks = workflow("ui_chunks", chatter)

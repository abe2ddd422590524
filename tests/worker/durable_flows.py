"""Workflows of the durable-call tests: a fake side-effecting service counts real calls."""

from __future__ import annotations

from collections import Counter
from typing import Any

from orchestrator.dag.registry import WorkflowRegistry
from sdk import StepContext, step, workflow

SERVED: Counter[str] = Counter()
"""Real calls made to the fake service, by job id."""

SEEN: dict[str, Any] = {}


async def _service(job_id: str, n: int) -> dict[str, Any]:
    SERVED[job_id] += 1
    return {"reply": n * 10}


@step(retries=1, retry_backoff_seconds=0.01)
async def flaky(ctx: StepContext) -> list[Any]:
    """Two calls, then a failure on the first attempt; three calls on the second."""
    assert ctx.calls is not None
    out = []
    for n in (1, 2):
        out.append(await ctx.calls.call("svc:echo", {"n": n}, lambda n=n: _service(ctx.job_id, n)))
    if ctx.attempt == 1:
        raise ConnectionError("the network blinked after two calls")
    out.append(await ctx.calls.call("svc:echo", {"n": 3}, lambda: _service(ctx.job_id, 3)))
    SEEN[ctx.job_id] = {"principal": dict(ctx.principal), "replayed": ctx.calls.replayed}
    return out


@step
async def asking(ctx: StepContext) -> dict[str, Any]:
    """One call, then a question; after the answer the call is replayed, not repeated."""
    assert ctx.calls is not None
    first = await ctx.calls.call("svc:echo", {"n": 1}, lambda: _service(ctx.job_id, 1))
    answer = await ctx.ask("Go on?", schema={"type": "boolean"})
    return {"first": first, "answer": answer}


def registry() -> WorkflowRegistry:
    return WorkflowRegistry([workflow("durable_flaky", flaky), workflow("durable_ask", asking)])

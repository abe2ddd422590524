"""A workflow with every feature ``run_local`` must keep: fan-out, a retry, a question, a stream."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel

from sdk import Retry, StepContext, step, workflow

CALLS: Counter[str] = Counter()


class Approval(BaseModel):
    approved: bool
    reviewer: str = "anon"


@step
async def list_items(count: int) -> list[str]:
    CALLS["list_items"] += 1
    return [f"item-{i}" for i in range(count)]


@step(depends_on=[list_items], map_over="item", parallel=True, max_concurrency=2)
async def fetch(item: str) -> str:
    CALLS["fetch"] += 1
    return item.upper()


@step(depends_on=[fetch], retries=2, retry_backoff_seconds=0.01)
async def summarize(fetched: list[str], ctx: StepContext) -> str:
    CALLS["summarize"] += 1
    if ctx.attempt == 1:
        raise Retry(after_seconds=0.01)
    if ctx.attempt == 2:
        raise RuntimeError("flaky upstream")
    return ", ".join(fetched)


@step(depends_on=[summarize])
async def approve(summary: str, ctx: StepContext) -> dict[str, object]:
    CALLS["approve"] += 1
    answer = await ctx.ask(f"Publish {summary}?", schema=Approval)
    return {"summary": summary, "approved": answer.approved, "by": answer.reviewer}


@step(depends_on=[approve], streams=True)
async def render(decision: dict[str, object]):
    verdict = "published" if decision["approved"] else "held back"
    for part in (f"{decision['summary']}", f" {verdict}", f" by {decision['by']}"):
        yield part


pipeline = workflow("local_pipeline", render)

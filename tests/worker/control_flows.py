"""Workflows of the run-control suite (issue 3). Steps count their calls in ``CALLS``."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pydantic import BaseModel

from orchestrator.dag.registry import WorkflowRegistry
from sdk import StepContext, step, workflow

CALLS: Counter[tuple[str, str]] = Counter()
RUNNING: Counter[str] = Counter()
PEAK: Counter[str] = Counter()
GATES: dict[str, asyncio.Event] = {}


def gate(job_id: str) -> asyncio.Event:
    """An event a test sets to let a blocked step of ``job_id`` go on."""
    return GATES.setdefault(job_id, asyncio.Event())


# -- cancellation of parallel steps ------------------------------------------------------------


@step(parallel=True)
async def block_left(ctx: StepContext) -> str:
    CALLS[(ctx.job_id, "block_left")] += 1
    await gate(ctx.job_id).wait()
    return "left"


@step(parallel=True)
async def block_right(ctx: StepContext) -> str:
    CALLS[(ctx.job_id, "block_right")] += 1
    await gate(ctx.job_id).wait()
    return "right"


@step(depends_on=[block_left, block_right])
async def after_blocks(left: str, right: str) -> str:
    return left + right


blocking = workflow("blocking", after_blocks)

# -- fan-out -------------------------------------------------------------------------------------


@step
async def list_docs(count: int) -> list[str]:
    return [f"doc-{i}" for i in range(count)]


@step(depends_on=[list_docs], map_over="doc_id", parallel=True, max_concurrency=50)
async def fetch_context(doc_id: str) -> str:
    return doc_id.upper()


@step(depends_on=[fetch_context])
async def join_contexts(contexts: list[str]) -> dict[str, Any]:
    return {"n": len(contexts), "first": contexts[0], "last": contexts[-1], "all": contexts}


fanout = workflow("fanout", join_contexts)


@step(map_over="ticker")
def quote(ticker: str) -> str:
    return f"{ticker}:42"


quotes = workflow("quotes", quote)


@step
async def not_a_list() -> dict[str, int]:
    return {"a": 1}


@step(depends_on=[not_a_list], map_over="item")
async def per_item(item: Any) -> Any:
    return item


bad_fanout = workflow("bad_fanout", per_item)

# -- human input ---------------------------------------------------------------------------------


class Approval(BaseModel):
    approved: bool
    comment: str = ""


@step
async def draft(topic: str, ctx: StepContext) -> str:
    CALLS[(ctx.job_id, "draft")] += 1
    return f"draft about {topic}"


@step(depends_on=[draft])
async def review(text: str, ctx: StepContext) -> dict[str, Any]:
    CALLS[(ctx.job_id, "review")] += 1
    answer = await ctx.ask(f"Publish {text!r}?", schema=Approval)
    assert isinstance(answer, Approval)
    return {"text": text, "approved": answer.approved, "comment": answer.comment}


approval = workflow("approval", review)

# -- cache, retry, large outputs ---------------------------------------------------------------


@step(cache_ttl_seconds=60)
async def parse_doc(doc: str, ctx: StepContext) -> dict[str, Any]:
    CALLS[("cache", doc)] += 1
    return {"words": len(doc.split())}


cached = workflow("cached", parse_doc)

FAIL_ONCE: set[str] = set()


@step
async def prepare(ctx: StepContext) -> int:
    CALLS[(ctx.job_id, "prepare")] += 1
    return 1


@step(depends_on=[prepare])
async def flaky_once(n: int, ctx: StepContext) -> int:
    CALLS[(ctx.job_id, "flaky_once")] += 1
    if ctx.job_id not in FAIL_ONCE:
        FAIL_ONCE.add(ctx.job_id)
        raise RuntimeError("first run fails")
    return n + 1


retryable = workflow("retryable", flaky_once)


class Permanent(Exception):
    """Never worth retrying."""


@step(retries=5, retry_backoff_seconds=0.01, no_retry_on=[Permanent])
async def gives_up(ctx: StepContext) -> None:
    CALLS[(ctx.job_id, "gives_up")] += 1
    raise Permanent("bad data")


no_retry = workflow("no_retry", gives_up)


@step
async def big(size: int) -> str:
    return "x" * size


large = workflow("large", big)

# -- concurrency and priority --------------------------------------------------------------------


@step
async def occupy(pause_seconds: float = 0.15) -> float:
    RUNNING["limited"] += 1
    PEAK["limited"] = max(PEAK["limited"], RUNNING["limited"])
    try:
        await asyncio.sleep(pause_seconds)
    finally:
        RUNNING["limited"] -= 1
    return pause_seconds


limited = workflow("limited", occupy, concurrency=2)


@step
async def mark(label: str) -> str:
    return label


marked = workflow("marked", mark)


def registry() -> WorkflowRegistry:
    return WorkflowRegistry(
        [blocking, fanout, quotes, bad_fanout, approval, cached, retryable, no_retry, large,
         limited, marked]
    )

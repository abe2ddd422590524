"""Workflows of the executor tests.

Steps record what happened to them in module-level maps keyed by ``(job_id, step)``, so a test
can tell whether (and how often, and in which thread) a step ran without sharing state with other
tests' jobs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

from pydantic import BaseModel

from orchestrator.dag.registry import WorkflowRegistry
from sdk import Retry, StepContext, step, workflow

CALLS: Counter[tuple[str, str]] = Counter()
"""How many times each ``(job_id, step)`` was called."""

SEEN: dict[tuple[str, str], Any] = {}
"""What a step saw: an argument, a thread id, a cancellation."""


def called(ctx: StepContext) -> None:
    CALLS[(ctx.job_id, ctx.step)] += 1


async def timed_sleep() -> list[float]:
    start = time.monotonic()
    await asyncio.sleep(0.3)
    return [start, time.monotonic()]


# -- a diamond: source -> {left, right} -> join --------------------------------------------


@step
async def source(x: int, ctx: StepContext) -> int:
    called(ctx)
    return x + 1


@step(depends_on=[source], parallel=True)
async def left(n: int, ctx: StepContext) -> int:
    called(ctx)
    return n * 2


@step(depends_on=[source], parallel=True)
async def right(n: int, ctx: StepContext) -> int:
    called(ctx)
    return n * 3


@step(depends_on=[left, right])
async def join(left: int, right: int, ctx: StepContext) -> dict[str, int]:
    called(ctx)
    return {"left": left, "right": right, "sum": left + right}


diamond = workflow("diamond", join)


# -- pydantic models in and out -------------------------------------------------------------


class Order(BaseModel):
    sku: str
    quantity: int


class Quote(BaseModel):
    sku: str
    total: float


@step
async def price(order: Order, ctx: StepContext) -> Quote:
    SEEN[(ctx.job_id, "price")] = type(order).__name__
    return Quote(sku=order.sku, total=order.quantity * 2.5)


@step(depends_on=[price])
async def confirm(quote: Quote, ctx: StepContext) -> dict[str, Any]:
    SEEN[(ctx.job_id, "confirm")] = type(quote).__name__
    return {"sku": quote.sku, "total": quote.total}


models = workflow("models", confirm)


# -- parallelism ----------------------------------------------------------------------------


@step(parallel=True)
async def par_one() -> list[float]:
    return await timed_sleep()


@step(parallel=True)
async def par_two() -> list[float]:
    return await timed_sleep()


@step
async def solo() -> list[float]:
    return await timed_sleep()


overlapping = workflow("overlapping", par_one, par_two)
exclusive = workflow("exclusive", par_one, solo)


# -- sync steps, sync and async generators ---------------------------------------------------


@step
def sync_plain(ctx: StepContext) -> dict[str, Any]:
    SEEN[(ctx.job_id, "sync_plain")] = [threading.get_ident()]
    return {"value": 42}


@step(streams=True)
def sync_words(ctx: StepContext) -> Any:
    threads = SEEN.setdefault((ctx.job_id, "sync_words"), [])
    for word in ["alpha", " ", "beta", " ", "gamma"]:
        threads.append(threading.get_ident())
        yield word


@step(streams=True)
async def async_mixed() -> Any:
    yield 1
    yield "two"
    yield {"three": 3}


@step(streams=True)
def sync_mixed() -> Any:
    yield ["x"]
    yield "y"


sync_and_streams = workflow("sync_and_streams", sync_plain, sync_words, async_mixed, sync_mixed)


# -- retries, failures, timeouts --------------------------------------------------------------


@step(retries=2, retry_backoff_seconds=0.01)
async def flaky(ctx: StepContext) -> str:
    called(ctx)
    if ctx.attempt < 3:
        raise ValueError(f"flaky attempt {ctx.attempt}")
    return f"ok on attempt {ctx.attempt}"


@step(depends_on=[flaky])
async def after_flaky(flaky: str) -> str:
    return flaky + "!"


retrying = workflow("retrying", after_flaky)


@step
async def broken(ctx: StepContext) -> str:
    called(ctx)
    raise ValueError("broken on purpose")


@step(depends_on=[broken])
async def after_broken(broken: str, ctx: StepContext) -> str:
    called(ctx)
    return broken


@step(depends_on=[after_broken])
async def last_after_broken(value: str, ctx: StepContext) -> str:
    called(ctx)
    return value


failing = workflow("failing", last_after_broken)


@step(retries=1)
async def asks_retry(ctx: StepContext) -> int:
    called(ctx)
    if ctx.attempt == 1:
        raise Retry(after_seconds=0.05, reason="not ready yet")
    return ctx.attempt


retry_after = workflow("retry_after", asks_retry)


@step(timeout_seconds=0.1)
async def sleepy(ctx: StepContext) -> str:
    called(ctx)
    await asyncio.sleep(30)
    return "woke up"


timing_out = workflow("timing_out", sleepy)


# -- checkpoints and resume -------------------------------------------------------------------


@step(name="A")
async def step_a(ctx: StepContext) -> str:
    called(ctx)
    return "fresh"


@step(name="B", depends_on=[step_a])
async def step_b(a: str, ctx: StepContext) -> str:
    called(ctx)
    SEEN[(ctx.job_id, "B")] = a
    return f"B({a})"


@step(name="C", depends_on=[step_b])
async def step_c(b: str, ctx: StepContext) -> str:
    called(ctx)
    return f"C({b})"


resumable = workflow("resumable", step_b)
three_steps = workflow("three_steps", step_c)


# -- cancel -------------------------------------------------------------------------------------


@step
async def warmup(ctx: StepContext) -> int:
    called(ctx)
    return 1


@step(depends_on=[warmup])
async def blocker(warmup: int, ctx: StepContext) -> int:
    called(ctx)
    try:
        await asyncio.Event().wait()  # never set: only a cancel ends it
    except asyncio.CancelledError:
        SEEN[(ctx.job_id, "blocker")] = "cancelled"
        raise
    return warmup


@step(depends_on=[blocker])
async def never(blocker: int, ctx: StepContext) -> int:
    called(ctx)
    return blocker


cancellable = workflow("cancellable", never)


REGISTRY_WORKFLOWS = [
    diamond,
    models,
    overlapping,
    exclusive,
    sync_and_streams,
    retrying,
    failing,
    retry_after,
    timing_out,
    resumable,
    three_steps,
    cancellable,
]


def registry() -> WorkflowRegistry:
    """A fresh registry of every workflow above."""
    return WorkflowRegistry(REGISTRY_WORKFLOWS)

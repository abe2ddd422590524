"""Workflows of the production-hardening tests (issue 11), run in separate worker processes.

``ORCH_WORKFLOWS=tests.e2e.hardening_flows``. Steps record their runs with :func:`mark` like
tests/e2e/flows.py, so a test can count them across processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sdk import StepContext, step, workflow
from tests.e2e.flows import mark, wait_for_gate

# -- defect 1: code whose constants hold nested code objects and string sets -----------------


@step(parallel=True)
async def scaled(values: list[int], factor: int = 2) -> list[int]:
    """A lambda and a list comprehension (both nested code objects on 3.11)."""
    scale = lambda v: v * factor  # noqa: E731 - the lambda is the point of the test
    return [scale(v) for v in values]


@step(parallel=True, cache_ttl_seconds=600)
def summarized(values: list[int], label: str, marker_dir: str) -> dict[str, Any]:
    """A nested function, a set comprehension, a generator and a frozenset-of-str constant
    (whose iteration order follows the per-process hash seed); its output is cached."""
    mark(marker_dir, "summarized")

    def total(xs: list[int]) -> int:
        return sum(x for x in xs)

    kinds = sorted({type(v).__name__ for v in values})
    return {"total": total(values), "kinds": kinds, "known": label in {"alpha", "beta", "gamma"}}


@step(depends_on=[scaled, summarized])
async def closing(scaled: list[int], summarized: dict[str, Any]) -> dict[str, Any]:
    return {"scaled": scaled, **summarized}


closures = workflow("hard_closures", closing)


# -- defects 2 and 4: a short chain, each step a checkpoint ------------------------------------


@step
async def link_a(marker_dir: str, tag: str, pause_seconds: float = 0.0) -> str:
    mark(marker_dir, f"{tag}-link_a")
    await asyncio.sleep(pause_seconds)
    return "a"


@step(depends_on=[link_a])
async def link_b(a: str, marker_dir: str, tag: str, pause_seconds: float = 0.0) -> str:
    mark(marker_dir, f"{tag}-link_b")
    await asyncio.sleep(pause_seconds)
    return a + "b"


@step(depends_on=[link_b])
async def link_c(b: str, marker_dir: str, tag: str, pause_seconds: float = 0.0) -> str:
    mark(marker_dir, f"{tag}-link_c")
    await asyncio.sleep(pause_seconds)
    return b + "c"


chain = workflow("hard_chain", link_c)


# -- defect 3: a stream that stays open until the test opens its gate ----------------------------


@step(streams=True)
async def trickle(marker_dir: str, gate: str):
    yield "first"
    await wait_for_gate(marker_dir, gate)
    yield "last"


trickling = workflow("hard_trickle", trickle)


# -- defect 6: a job that waits for a human --------------------------------------------------


@step
async def approval(topic: str, ctx: StepContext) -> str:
    answer = await ctx.ask(f"Publish {topic}?")
    return f"{topic}: {answer}"


approve = workflow("hard_approve", approval)

"""Calling a step's function: a streaming step that never awaits still lets the loop run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from orchestrator.dag.step import step
from worker.invoke import YIELD_EVERY_SECONDS, invoke


@step(streams=True)
async def busy() -> AsyncIterator[str]:
    """100 chunks, each after 0.1 ms of CPU work, never awaiting (the heartbeat's enemy)."""
    for i in range(100):
        until = time.perf_counter() + 0.0001
        while time.perf_counter() < until:
            pass
        yield f"{i},"


async def test_a_generator_that_never_awaits_gives_the_loop_back_while_it_runs() -> None:
    ticks = 0
    seen: list[int] = []

    async def heartbeat() -> None:  # stands in for the lease renewal task
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.ensure_future(heartbeat())
    await asyncio.sleep(0)
    start = ticks
    try:
        out = await invoke(busy, {}, lambda chunk: seen.append(ticks))
    finally:
        beat.cancel()
    assert out == "".join(f"{i}," for i in range(100))
    # 10 ms of work, the loop given back every YIELD_EVERY_SECONDS (2 ms): the other task ran
    # during the stream (without it, not once before the generator's end)
    assert YIELD_EVERY_SECONDS <= 0.004
    assert seen[-1] - start >= 2, seen

"""Workflows the end-to-end tests run in separate worker processes (ORCH_WORKFLOWS=tests.e2e.flows).

Steps record their side effects by appending a line to ``<marker_dir>/<step>``, so a test can
count how many times each really ran, across processes and crashes. A "gate" is a file the test
creates to let a waiting step continue; steps wait on it with a bounded poll.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sdk import StepContext, step, workflow

GATE_TIMEOUT_SECONDS = 60.0


def mark(marker_dir: str, name: str) -> None:
    """Record one run of step ``name``."""
    with open(Path(marker_dir) / name, "a") as f:
        f.write(f"{time.time()}\n")


async def wait_for_gate(marker_dir: str, gate: str) -> None:
    """Wait until ``<marker_dir>/<gate>`` exists (bounded)."""
    path = Path(marker_dir) / gate
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        await asyncio.sleep(0.01)


@step(parallel=True)
async def fetch_left(marker_dir: str, topic: str) -> str:
    mark(marker_dir, "fetch_left")
    return f"left about {topic}"


@step(parallel=True)
def fetch_right(marker_dir: str, count: int = 3) -> dict[str, int]:
    mark(marker_dir, "fetch_right")
    return {"count": count}


@step(depends_on=[fetch_left, fetch_right])
async def combine(left: str, right: dict[str, int], marker_dir: str, ctx: StepContext) -> str:
    mark(marker_dir, "combine")
    ctx.emit({"stage": "combined"})
    return f"{left} x{right['count']}"


@step(depends_on=[combine], streams=True)
async def render(text: str, marker_dir: str, gated: bool = False, chunks: int = 5):
    """Yields ``chunks`` chunks; with ``gated`` it waits for the gate after the first one."""
    mark(marker_dir, "render")
    for i in range(chunks):
        yield f"[{i}] {text}\n"
        if gated and i == 0:
            await wait_for_gate(marker_dir, "render-gate")


brief = workflow("e2e_brief", render)


@step(depends_on=[combine])
async def slow_tail(text: str, marker_dir: str) -> str:
    """Announces itself, then waits for the gate: the test kills its worker meanwhile."""
    mark(marker_dir, "slow_tail")
    await wait_for_gate(marker_dir, "tail-gate")
    return text.upper()


crashy = workflow("e2e_crashy", slow_tail)


@step(parallel=True)
async def lane_a(pause_seconds: float = 0.4) -> list[float]:
    start = time.time()
    await asyncio.sleep(pause_seconds)
    return [start, time.time()]


@step(parallel=True)
async def lane_b(pause_seconds: float = 0.4) -> list[float]:
    start = time.time()
    await asyncio.sleep(pause_seconds)
    return [start, time.time()]


@step
async def lone(pause_seconds: float = 0.4) -> list[float]:
    start = time.time()
    await asyncio.sleep(pause_seconds)
    return [start, time.time()]


lanes = workflow("e2e_lanes", lane_a, lane_b, lone)


@step
async def first(marker_dir: str) -> str:
    mark(marker_dir, "first")
    return "1"


@step(depends_on=[first])
async def middle(one: str, marker_dir: str) -> str:
    """Announces itself, then waits for the gate: the test sends SIGTERM meanwhile."""
    mark(marker_dir, "middle")
    await wait_for_gate(marker_dir, "middle-gate")
    return one + "2"


@step(depends_on=[middle])
async def last(two: str, marker_dir: str) -> str:
    mark(marker_dir, "last")
    return two + "3"


drained = workflow("e2e_drain", last)
